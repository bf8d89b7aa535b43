"""A conversation's urgency is the highest among its open messages: inbound and not deleted
(``inbox.processing.refresh_conversation_urgency``); on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from app.db import unit_of_work
from inbox.channels import ChannelInfo
from inbox.ingest import store_delivery
from inbox.models import Conversation
from inbox.normalize import Action, Direction, Kind, NormalizedMessage
from inbox.platforms.base import ChannelCredentials
from tests.conftest import Running
from tests.helpers import add_channel


@dataclass(frozen=True)
class _Result:
    urgency: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "urgency": self.urgency,
            "categories": {},
            "reasons": [],
            "sentiment": "neutral",
            "language": "de",
            "model_version": "fake",
        }


class UrgencyByWord:
    """Urgency by what the text says: "krankenhaus" 90, "anwalt" 95, else 10."""

    def score(self, inputs: list[Any]) -> list[_Result]:
        out = []
        for item in inputs:
            text = item.text.lower()
            out.append(_Result(95 if "anwalt" in text else 90 if "krankenhaus" in text else 10))
        return out


def _message(
    external_id: str,
    text: str,
    *,
    action: Action = Action.create,
    direction: Direction = Direction.inbound,
) -> NormalizedMessage:
    return NormalizedMessage(
        external_id=external_id,
        thread_key="t-a",
        kind=Kind.comment,
        text=text,
        action=action,
        direction=direction,
    )


async def _store_and_process(running: Running, channel: ChannelInfo, *msgs: Any) -> None:
    async with unit_of_work(running.services.sessionmaker) as session:
        stored = await store_delivery(session, channel=channel, messages=msgs)
    processor = running.services.processor
    processor.triager = UrgencyByWord()
    await processor.process(stored.to_process)


async def _urgency(running: Running) -> int:
    async with running.services.sessionmaker() as session:
        value = (
            await session.execute(
                sa.select(Conversation.urgency).where(Conversation.thread_key == "t-a")
            )
        ).scalar_one()
    return int(value)


async def test_urgency_rises_with_a_more_urgent_message_and_drops_when_it_is_deleted(
    running: Running,
) -> None:
    row = await add_channel(running.services, "facebook", secret="s")
    channel = ChannelInfo(row.id, row.platform, None, ChannelCredentials(None, None))

    await _store_and_process(running, channel, _message("m1", "Wann öffnet ihr?"))
    assert await _urgency(running) == 10

    await _store_and_process(running, channel, _message("m2", "Mein Sohn ist im Krankenhaus"))
    assert await _urgency(running) == 90

    # our own (outbound) messages are not what makes a conversation urgent, even when an
    # edit of one sends it through triage
    await _store_and_process(
        running, channel, _message("o1", "Gute Besserung", direction=Direction.outbound)
    )
    await _store_and_process(
        running,
        channel,
        _message(
            "o1", "Unser Anwalt meldet sich", action=Action.edit, direction=Direction.outbound
        ),
    )
    assert await _urgency(running) == 90
    await _store_and_process(
        running, channel, _message("m1", "Wann öffnet ihr heute?", action=Action.edit)
    )
    assert await _urgency(running) == 90

    # the urgent message is removed on the platform: the conversation falls back
    await _store_and_process(running, channel, _message("m2", "", action=Action.delete))
    assert await _urgency(running) == 10

    # nothing open is left: no urgency
    await _store_and_process(running, channel, _message("m1", "", action=Action.delete))
    assert await _urgency(running) == 0


async def test_a_message_deleted_before_it_is_processed_does_not_count(running: Running) -> None:
    row = await add_channel(running.services, "facebook", secret="s")
    channel = ChannelInfo(row.id, row.platform, None, ChannelCredentials(None, None))
    await _store_and_process(running, channel, _message("m1", "Wann öffnet ihr?"))
    async with unit_of_work(running.services.sessionmaker) as session:
        stored = await store_delivery(
            session, channel=channel, messages=[_message("m2", "Krankenhaus! Anwalt!")]
        )
        await store_delivery(
            session, channel=channel, messages=[_message("m2", "", action=Action.delete)]
        )
    await running.services.processor.process(stored.to_process)
    assert await _urgency(running) == 10
