"""Helpers for the escalation tests: a deterministic stand-in for the triage model, storing
and processing messages through the real ingest and processor, and reading rows."""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from app.clock import ManualClock
from app.db import unit_of_work
from inbox.channels import ChannelInfo
from inbox.ingest import store_delivery
from inbox.normalize import Kind, NormalizedAuthor, NormalizedMessage
from inbox.platforms.base import ChannelCredentials
from people.models import Role, TeamMembership, TokenKind, User
from people.service import get_or_create_team, issue_token

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
_ids = itertools.count(1)


@dataclass(frozen=True)
class FakeResult:
    urgency: int
    categories: dict[str, float]
    sentiment: str
    sentiment_scores: dict[str, float]
    language: str
    reasons: list[str]
    model_version: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fake_triage(text: str) -> FakeResult:
    """Critical for injuries and lawyers, a negative complaint for prices, calm otherwise."""
    lowered = text.lower()
    categories = dict.fromkeys(
        (
            "safety", "threat", "legal", "press", "outage", "complaint", "toxic",
            "question", "praise", "spam", "fact_claim",
        ),
        0.02,
    )  # fmt: skip
    urgency, sentiment, reasons = 10, "neutral", []
    if "krankenhaus" in lowered or "hospital" in lowered:
        categories["safety"] = 0.93
        urgency, sentiment = 96, "negative"
        reasons.append("mentions an injury")
    if "anwalt" in lowered or "lawyer" in lowered:
        categories["legal"] = 0.88
        urgency, sentiment = max(urgency, 90), "negative"
        reasons.append("mentions a lawyer")
    if "preis" in lowered or "price" in lowered:
        categories["complaint"] = 0.81
        urgency, sentiment = max(urgency, 40), "negative"
        reasons.append("complains about prices")
    if "danke" in lowered or "love" in lowered:
        categories["praise"] = 0.9
        sentiment = "positive"
    return FakeResult(
        urgency=urgency,
        categories=categories,
        sentiment=sentiment,
        sentiment_scores={"negative": 0.1, "neutral": 0.8, "positive": 0.1},
        language="de" if any(w in lowered for w in ("euer", "mein", "preis", "danke")) else "en",
        reasons=reasons,
        model_version="fake-1",
    )


class FakeTriager:
    model_version = "fake-1"

    def score(self, items: list[Any]) -> list[FakeResult]:
        return [fake_triage(item.text) for item in items]


async def add_user(
    services: Any, email: str, role: Role = Role.agent, teams: list[str] | None = None
) -> tuple[int, str]:
    """A user with an API token and no password (skips the deliberately slow hashing of
    ``tests.helpers.add_user``); returns (user id, token)."""
    async with unit_of_work(services.sessionmaker) as session:
        user = User(email=email, role=role, display_name=email.split("@")[0])
        session.add(user)
        await session.flush()
        assert user.id is not None
        for name in teams or []:
            team = await get_or_create_team(session, name=name)
            assert team.id is not None
            session.add(TeamMembership(user_id=user.id, team_id=team.id))
        token, _ = await issue_token(session, user=user, kind=TokenKind.api)
        return user.id, token


async def store(
    services: Any,
    channel: Any,
    text: str,
    *,
    thread: str | None = None,
    followers: int | None = None,
    author: str = "kundin",
) -> int:
    """Store one message through the real ingest; returns its id (not yet processed)."""
    n = next(_ids)
    info = ChannelInfo(
        id=channel.id,
        platform=channel.platform,
        team_id=channel.team_id,
        credentials=ChannelCredentials(None, None),
    )
    async with unit_of_work(services.sessionmaker) as session:
        result = await store_delivery(
            session,
            channel=info,
            messages=[
                NormalizedMessage(
                    external_id=f"m-{n}",
                    thread_key=thread or f"t-{n}",
                    kind=Kind.comment,
                    text=text,
                    author=NormalizedAuthor(
                        platform_id=f"a-{author}", display_name=author, reach_followers=followers
                    ),
                )
            ],
        )
    (message_id,) = result.created
    return message_id


async def store_and_process(services: Any, channel: Any, text: str, **kwargs: Any) -> int:
    message_id = await store(services, channel, text, **kwargs)
    await services.processor.process([message_id])
    return message_id


def manual_clock(services: Any, start: datetime = T0) -> ManualClock:
    clock = ManualClock(start)
    services.escalation.clock = clock
    return clock


async def rows(services: Any, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with services.sessionmaker() as session:
        result = await session.execute(sa.text(sql), params)
        return [dict(r._mapping) for r in result]


async def scalar(services: Any, sql: str, **params: Any) -> Any:
    async with services.sessionmaker() as session:
        return (await session.execute(sa.text(sql), params)).scalar()


def json_value(value: Any) -> Any:
    """A JSON column read with raw SQL: parsed on PostgreSQL, text on SQLite."""
    return json.loads(value) if isinstance(value, str) else value


async def notified_levels(services: Any, incident_id: int | None = None) -> list[tuple[int, int]]:
    """(incident id, level) of every escalation.notified entry, in order."""
    found = await rows(
        services,
        "SELECT incident_id, data FROM incident_event WHERE kind = 'escalation.notified' "
        "ORDER BY id",
    )
    return [
        (r["incident_id"], json_value(r["data"])["level"])
        for r in found
        if incident_id is None or r["incident_id"] == incident_id
    ]


async def timeline(services: Any, incident_id: int) -> list[str]:
    return [
        r["kind"]
        for r in await rows(
            services,
            "SELECT kind FROM incident_event WHERE incident_id = :i ORDER BY id",
            i=incident_id,
        )
    ]


CRITICAL_RULE: dict[str, Any] = {
    "name": "Safety or legal threat",
    "conditions": {
        "all": [
            {"field": "urgency", "op": "gte", "value": 80},
            {
                "any": [
                    {"field": "category.safety", "op": "gte", "value": 0.6},
                    {"field": "category.legal", "op": "gte", "value": 0.6},
                ]
            },
        ]
    },
    "actions": [
        {"type": "set_priority", "urgency": 100},
        {"type": "add_labels", "labels": ["krise"]},
        {
            "type": "open_incident",
            "title": "Kritisch auf {platform}: {excerpt}",
            "severity": "critical",
            "dedup_key": "critical:{channel_id}:{top_category}",
            "window_minutes": 60,
        },
    ],
}
