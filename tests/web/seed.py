"""Data for the dashboard tests: people, channels, and conversations with triage results,
written straight into the database so that history (the last 7 days) can be backdated and
10,000 conversations take a second, not a minute of webhooks."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from app.db import unit_of_work, utcnow
from inbox.channels import create_channel
from inbox.ingest import reindex_conversations
from inbox.models import Author, Channel, Conversation, Message
from people.models import Role, TokenKind
from people.service import create_user, issue_token

PASSWORD = "correct horse battery"
CATEGORIES = (
    "safety", "threat", "legal", "press", "outage", "complaint",
    "toxic", "question", "praise", "spam", "fact_claim",
)  # fmt: skip

author_t = Author.__table__  # type: ignore[attr-defined]
conversation_t = Conversation.__table__  # type: ignore[attr-defined]
message_t = Message.__table__  # type: ignore[attr-defined]


@dataclass
class Person:
    id: int
    email: str
    name: str
    role: Role
    token: str


@dataclass
class Seeded:
    people: dict[str, Person] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    conversations: dict[str, int] = field(default_factory=dict)
    messages: dict[str, int] = field(default_factory=dict)


def triage(
    urgency: int,
    categories: dict[str, float],
    reasons: list[str],
    *,
    sentiment: str = "neutral",
    language: str = "de",
) -> dict[str, Any]:
    """A triage result in the shape the model writes (triage.model.TriageResult)."""
    return {
        "urgency": urgency,
        "categories": {c: categories.get(c, 0.02) for c in CATEGORIES},
        "sentiment": sentiment,
        "sentiment_scores": {"negative": 0.1, "neutral": 0.8, "positive": 0.1},
        "language": language,
        "reasons": reasons,
        "model_version": "test-fixture",
    }


async def seed_people(services: Any) -> dict[str, Person]:
    people: dict[str, Person] = {}
    spec = [
        ("admin", "anna@example.com", "Anna Admin", Role.admin, ["Social"]),
        ("pr", "paul@example.com", "Paul Presse", Role.pr, ["PR"]),
        ("pr2", "petra@example.com", "Petra Pohl", Role.pr, ["PR"]),
        ("agent", "lena@example.com", "Lena Agent", Role.agent, ["Social"]),
    ]
    async with unit_of_work(services.sessionmaker) as session:
        for key, email, name, role, teams in spec:
            user = await create_user(
                session,
                email=email,
                password=PASSWORD,
                role=role,
                display_name=name,
                team_names=teams,
                locale="de",
            )
            token, _ = await issue_token(session, user=user, kind=TokenKind.api)
            assert user.id is not None
            people[key] = Person(user.id, email, name, role, token)
    return people


async def seed_channels(services: Any) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    spec = [
        ("facebook", "Facebook: Babybrei GmbH"),
        ("instagram", "Instagram: @babybrei"),
        ("whatsapp", "WhatsApp Kundenservice"),
        ("standard-webhooks", "Shop-Bewertungen"),
    ]
    async with unit_of_work(services.sessionmaker) as session:
        for platform, name in spec:
            channels[platform] = await create_channel(
                session,
                platform=platform,
                name=name,
                secret=None if platform == "standard-webhooks" else secrets.token_hex(16),
            )
    return channels


# (key, platform, kind, author, handle, followers, language, text, urgency, categories,
#  reasons, sentiment, minutes ago, context)
INBOX: list[tuple[Any, ...]] = [
    ("critical", "facebook", "comment", "Sandra Keller", None, 1200, "de",
     "Euer Babybrei hat meinen Sohn ins Krankenhaus gebracht, mein Anwalt meldet sich",
     94, {"safety": 0.97, "legal": 0.93, "complaint": 0.81},
     ["erwähnt Krankenhaus und Anwalt", "looks like a safety or health incident (97%) and a "
      "legal threat (93%)"], "negative", 3, {}),
    ("press", "standard-webhooks", "review", "Daily Ledger", "dledger", 48000, "en",
     "Hi, I'm a reporter at the Daily Ledger working on a story about your recall. Could "
     "someone call me today?", 86, {"press": 0.99, "question": 0.7},
     ["mentions the press", "author has 48k followers"], "neutral", 12, {"stars": 2}),
    ("outage", "instagram", "comment", "Jonas Weber", "jonas.w", 310, "en",
     "The app has been down since this morning, I can't log in at all!",
     71, {"outage": 0.96, "complaint": 0.88},
     ["mentions an outage", "looks like a complaint (88%)"], "negative", 35, {}),
    ("complaint", "whatsapp", "dm", "Mehmet Yilmaz", None, None, "de",
     "Meine Bestellung 48213 ist seit zwei Wochen unterwegs, was ist da los?",
     52, {"complaint": 0.93, "question": 0.61},
     ["looks like a complaint (93%)"], "negative", 95, {}),
    ("storm", "facebook", "comment", "Fan 12", None, 85, "de",
     "Preiserhöhung um 15% – ich kaufe ab jetzt bei der Konkurrenz",
     44, {"complaint": 0.9, "toxic": 0.52},
     ["looks like a complaint (90%)", "sounds abusive (52%)"], "negative", 50, {}),
    ("question", "instagram", "comment", "Lea Fischer", "lea_f", 2300, "de",
     "Gibt es den Haferbrei auch glutenfrei?", 12, {"question": 0.98},
     ["looks like a question (98%)"], "neutral", 140, {}),
    ("review", "standard-webhooks", "review", "Marie Schulz", None, 40, "de",
     "Super Qualität, schnelle Lieferung – gerne wieder!", 3, {"praise": 0.97},
     ["looks like praise (97%)"], "positive", 300, {"stars": 5}),
    ("spam", "instagram", "comment", "promo_king", "promo_king", 15, "en",
     "Earn 5000 dollars a week from home!!! Click the link in my bio", 1, {"spam": 0.99},
     ["looks like spam (99%)"], "neutral", 20, {}),
]  # fmt: skip


async def seed_inbox(services: Any, seeded: Seeded, *, now: datetime | None = None) -> None:
    """The conversations every test sees, most urgent first, plus 7 days of history."""
    now = now or utcnow()
    async with unit_of_work(services.sessionmaker) as session:
        for row in INBOX:
            (key, platform, kind, name, handle, followers, language, text, urgency, cats,
             reasons, sentiment, minutes, context) = row  # fmt: skip
            at = now - timedelta(minutes=minutes)
            author_id = (
                await session.execute(
                    sa.insert(author_t)
                    .values(
                        platform=platform,
                        platform_id=f"{key}-{secrets.token_hex(3)}",
                        handle=handle,
                        display_name=name,
                        reach_followers=followers,
                        first_seen_at=at,
                        updated_at=at,
                    )
                    .returning(author_t.c.id)
                )
            ).scalar_one()
            channel = seeded.channels[platform]
            conversation_id = (
                await session.execute(
                    sa.insert(conversation_t)
                    .values(
                        channel_id=channel.id,
                        platform=platform,
                        thread_key=f"thread-{key}",
                        kind=kind,
                        subject=text[:120],
                        status="open",
                        urgency=urgency,
                        language=language,
                        team_id=None,
                        author_id=author_id,
                        message_count=1,
                        waiting_since=at,
                        last_message_at=at,
                        created_at=at,
                        updated_at=at,
                    )
                    .returning(conversation_t.c.id)
                )
            ).scalar_one()
            message_id = (
                await session.execute(
                    sa.insert(message_t)
                    .values(
                        **_message(
                            channel.id,
                            conversation_id,
                            author_id,
                            f"msg-{key}",
                            kind,
                            text,
                            language,
                            at,
                            triage(urgency, cats, reasons, sentiment=sentiment, language=language),
                            context=context,
                        )
                    )
                    .returning(message_t.c.id)
                )
            ).scalar_one()
            seeded.conversations[key] = conversation_id
            seeded.messages[key] = message_id
        await _history(session, seeded, now)
        # Written around ingest and the worker: bring search and categories in step.
        ids = [cid for (cid,) in await session.execute(sa.select(conversation_t.c.id))]
        await reindex_conversations(session, ids)


def _message(
    channel_id: str,
    conversation_id: int,
    author_id: int | None,
    external_id: str,
    kind: str,
    text: str,
    language: str,
    at: datetime,
    result: dict[str, Any] | None,
    *,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "channel_id": channel_id,
        "conversation_id": conversation_id,
        "external_id": external_id,
        "author_id": author_id,
        "direction": "inbound",
        "kind": kind,
        "text": text,
        "language": language,
        "attachments": [],
        "context": context or {},
        "raw": {},
        "platform_created_at": at,
        "received_at": at,
        "processed_at": at,
        "urgency": result["urgency"] if result else None,
        "triage": result,
        "model_version": result["model_version"] if result else None,
    }


async def _history(session: Any, seeded: Seeded, now: datetime) -> None:
    """Resolved conversations over the last 7 days, with a daily rhythm and one busy
    afternoon, so the overview's charts have a shape."""
    rng = random.Random(11)
    weights = {"facebook": 5, "instagram": 3, "whatsapp": 2, "standard-webhooks": 1}
    conversations: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for hour in range(7 * 24):
        at_hour = now - timedelta(hours=hour)
        local_hour = (at_hour.hour + 1) % 24
        base = 0.3 if local_hour < 7 else 2.5 if local_hour < 18 else 1.2
        if 20 <= hour <= 23:
            base *= 4  # yesterday's shitstorm
        for platform, weight in weights.items():
            for _ in range(int(rng.expovariate(1 / (base * weight / 2)))):
                at = at_hour - timedelta(minutes=rng.randrange(60))
                urgency = min(100, int(rng.betavariate(1.3, 4) * 100))
                thread = f"hist-{len(conversations)}"
                conversations.append(
                    {
                        "channel_id": seeded.channels[platform].id,
                        "platform": platform,
                        "thread_key": thread,
                        "kind": "comment",
                        "subject": "…",
                        "status": "resolved",
                        "urgency": urgency,
                        "language": "de",
                        "message_count": 1,
                        "waiting_since": at,
                        "last_message_at": at,
                        "created_at": at,
                        "updated_at": at,
                        "_urgency": urgency,
                        "_at": at,
                    }
                )
    for chunk_start in range(0, len(conversations), 500):
        chunk = conversations[chunk_start : chunk_start + 500]
        rows = [{k: v for k, v in c.items() if not k.startswith("_")} for c in chunk]
        ids = (
            await session.execute(
                sa.insert(conversation_t).returning(
                    conversation_t.c.id, sort_by_parameter_order=True
                ),
                rows,
            )
        ).scalars()
        for conversation_id, c in zip(ids, chunk, strict=True):
            result = triage(c["_urgency"], {"question": 0.6}, ["looks like a question (60%)"])
            messages.append(
                _message(
                    c["channel_id"],
                    conversation_id,
                    None,
                    f"hist-msg-{conversation_id}",
                    "comment",
                    "Historische Nachricht",
                    "de",
                    c["_at"],
                    result,
                )
            )
    if messages:
        await session.execute(sa.insert(message_t), messages)


async def seed_many_open(
    services: Any, channel: Channel, count: int, *, now: datetime | None = None
) -> None:
    """``count`` open conversations with one triaged message each, in one transaction."""
    now = now or utcnow()
    rng = random.Random(5)
    texts = [
        "Wann öffnet ihr am Samstag?",
        "My order never arrived and nobody answers my e-mails.",
        "Die App stürzt beim Bezahlen ab.",
        "Is the porridge suitable for babies under 6 months?",
        "Euer Kundenservice ist großartig, danke!",
    ]
    async with unit_of_work(services.sessionmaker) as session:
        rows = []
        for i in range(count):
            at = now - timedelta(seconds=rng.randrange(7 * 24 * 3600))
            rows.append(
                {
                    "channel_id": channel.id,
                    "platform": channel.platform,
                    "thread_key": f"bulk-{i}",
                    "kind": "comment",
                    "subject": texts[i % len(texts)],
                    "status": "open",
                    "urgency": rng.randrange(100),
                    "language": "de" if i % 3 else "en",
                    "message_count": 1,
                    "waiting_since": at,
                    "last_message_at": at,
                    "created_at": at,
                    "updated_at": at,
                }
            )
        ids = list(
            (
                await session.execute(
                    sa.insert(conversation_t).returning(
                        conversation_t.c.id, sort_by_parameter_order=True
                    ),
                    rows,
                )
            ).scalars()
        )
        messages = [
            _message(
                channel.id,
                conversation_id,
                None,
                f"bulk-msg-{conversation_id}",
                "comment",
                row["subject"],
                row["language"],
                row["waiting_since"],
                triage(row["urgency"], {"question": 0.7}, ["looks like a question (70%)"]),
            )
            for conversation_id, row in zip(ids, rows, strict=True)
        ]
        await session.execute(sa.insert(message_t), messages)
