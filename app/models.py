"""Imports every table module so that ``SQLModel.metadata`` knows them all."""

from __future__ import annotations

from sqlmodel import SQLModel

import escalation.models
import inbox.models
import people.models
import realtime.models

metadata = SQLModel.metadata

__all__ = ["escalation", "inbox", "metadata", "people", "realtime"]
