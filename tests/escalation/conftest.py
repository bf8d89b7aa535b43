"""Fixtures of the escalation tests: the app with a deterministic triage stand-in and no
background loops (tests drive the processor, the scheduler and the dispatcher)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from people.models import Role
from tests.conftest import Running, make_settings, serve
from tests.escalation.support import FakeTriager, add_user


@dataclass
class Staff:
    admin_id: int
    admin: str
    pr_id: int
    pr: str
    agent_id: int
    agent: str


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[Running]:
    async with serve(
        make_settings(database_url), triager=FakeTriager(), run_worker=False
    ) as running:
        yield running


@pytest.fixture
async def staff(app: Running) -> Staff:
    admin_id, admin = await add_user(app.services, "admin@example.com", Role.admin)
    pr_id, pr = await add_user(app.services, "pr@example.com", Role.pr, teams=["PR"])
    agent_id, agent = await add_user(app.services, "agent@example.com", Role.agent, teams=["Care"])
    return Staff(admin_id, admin, pr_id, pr, agent_id, agent)


def ids(response: Any) -> list[int]:
    return [item["id"] for item in response.json()["items"]]
