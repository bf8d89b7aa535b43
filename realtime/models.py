"""The event log: every realtime event is a row, written in the transaction that caused it.

The row id is the event's sequence number and the client's cursor: a client that
reconnects with its last id gets what it missed from here.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.db import BigIntId, JsonType, UTCDateTime, utcnow


class Audience(StrEnum):
    inbox = "inbox"  # conversation work: admins, PR, and agents of the conversation's team
    staff = "staff"  # incidents and escalations: PR and admins
    users = "users"  # addressed to named users only (an alert for the on-call person)


class Event(SQLModel, table=True):
    __tablename__ = "event"
    __table_args__ = (sa.Index("ix_event_created_at", "created_at"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntId)
    type: str = Field(max_length=64)
    audience: str = Field(max_length=16)
    team_id: int | None = None
    assignee_id: int | None = None
    user_ids: list[int] = Field(default_factory=list, sa_type=JsonType)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JsonType)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
