"""Replies as the inbox sees them: in the thread at once, the conversation answered, who may
reply, what is refused, retries and their limits, echoes, duplicates and lost jobs.
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

import sqlalchemy as sa

from app.db import unit_of_work, utcnow
from app.queue import Job
from inbox.models import Conversation, Message
from inbox.normalize import Kind, NormalizedMessage
from inbox.queries import Visibility
from inbox.replies import create_reply, reply_requested_job
from people.models import Role
from realtime.models import Event
from tests.conftest import Running, serve, wait_for
from tests.helpers import add_user, bearer, count_rows, meta_headers
from tests.inbox.replies.cases import CASES, TEXT, Case
from tests.inbox.replies.conftest import post_reply, reply_settings, seed, settled
from tests.inbox.replies.platform_server import Answer, PlatformServer, Recorded

MESSENGER: Case = next(c for c in CASES if c.id == "messenger-dm")
FACEBOOK: Case = next(c for c in CASES if c.id == "facebook-comment")
X_REPLY: Case = next(c for c in CASES if c.id == "x-reply")


async def seed_case(app: Running, case: Case, **kwargs: object) -> tuple[str, int, list[int]]:
    return await seed(
        app,
        case.platform,
        [case.answered],
        secret=case.secret,
        credentials=case.credentials,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_reply_is_in_the_thread_at_once_and_answers_the_conversation(
    app: Running, platform: PlatformServer, agent: str
) -> None:
    _, conversation_id, _ = await seed_case(app, MESSENGER)
    async with app.services.sessionmaker() as session:
        before = await session.get(Conversation, conversation_id)
    assert before is not None and before.first_response_at is None
    platform.answer(replace_delay(MESSENGER.success, 0.5))

    started = utcnow()
    response = await post_reply(app, agent, conversation_id, TEXT)
    assert response.status_code == 202
    reply = response.json()
    thread = (
        await app.client.get(f"/api/v1/conversations/{conversation_id}", headers=bearer(agent))
    ).json()
    assert thread["messages"][-1]["id"] == reply["id"]
    assert thread["messages"][-1]["delivery_status"] == "queued"  # the platform is still busy
    assert thread["messages"][-1]["author"]["platform_id"] == "1001"  # the Page, from the key
    assert thread["status"] == "open"  # kept as it was
    assert thread["message_count"] == 2
    assert datetime.fromisoformat(thread["waiting_since"]) >= started - timedelta(seconds=1)
    assert thread["first_response_at"] is not None
    assert thread["waiting_since"] > before.waiting_since.isoformat()

    sent = await settled(app, agent, reply["id"])
    assert sent["delivery_status"] == "sent" and sent["sent_by_user_id"] is not None
    async with app.services.sessionmaker() as session:
        events = (await session.execute(sa.select(Event.type, Event.data).order_by(Event.id))).all()
    types = [t for t, _ in events]
    assert "message.created" in types and "conversation.updated" in types
    statuses = [d for t, d in events if t == "reply.status"]
    assert statuses[-1]["delivery_status"] == "sent"
    assert statuses[-1]["external_id"] == MESSENGER.external_id


def replace_delay(answer: Answer, delay_s: float) -> Answer:
    return Answer(answer.status, answer.json, answer.headers, delay_s=delay_s)


async def test_who_may_reply_and_what_is_refused(app: Running, agent: str) -> None:
    services = app.services
    _, care_token = await add_user(services, "care@example.com", Role.agent, teams=["care"])
    _, pr_token = await add_user(services, "pr@example.com", Role.pr)
    async with services.sessionmaker() as session:
        team_id = (await session.execute(sa.text("SELECT id FROM team"))).scalar_one()
    _, private_id, _ = await seed_case(app, FACEBOOK, team_id=team_id)
    # An agent outside the conversation's team does not see it: 404, as for reading it.
    outsider = await post_reply(app, agent, private_id, TEXT)
    assert outsider.status_code == 404
    assert (await post_reply(app, care_token, private_id, TEXT)).status_code == 202
    assert (await post_reply(app, pr_token, private_id, TEXT)).status_code == 202
    assert (await post_reply(app, "not-a-token", private_id, TEXT)).status_code == 401

    # Platforms without a connector, and channels without credentials.
    review = NormalizedMessage(external_id="r1", thread_key="r1", kind=Kind.review, text="1/5")
    _, review_id, _ = await seed(app, "trustpilot", [review])
    refused = await post_reply(app, agent, review_id, TEXT)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "replies_unsupported"
    _, bare_id, _ = await seed(app, "facebook", [FACEBOOK.answered], secret="s")
    unconfigured = await post_reply(app, agent, bare_id, TEXT)
    assert unconfigured.status_code == 422
    assert unconfigured.json()["error"]["code"] == "channel_not_configured"
    assert "page_access_token" in unconfigured.json()["error"]["message"]

    _, x_id, _ = await seed_case(app, X_REPLY)
    assert (await post_reply(app, agent, x_id, "x" * 281)).status_code == 422
    assert (await post_reply(app, agent, x_id, "   ")).status_code == 422
    other = await post_reply(app, agent, x_id, TEXT, reply_to=999_999)
    assert other.status_code == 422 and "not in conversation" in other.text
    assert (await post_reply(app, agent, x_id, TEXT, key="k1")).status_code == 202
    reused = await post_reply(app, agent, x_id, TEXT + "!", key="k1")
    assert reused.status_code == 409
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert (await post_reply(app, agent, 424242, TEXT)).status_code == 404
    counts = await count_rows(services, "message")
    assert counts["message"] == 4 + 3  # seeded + the replies that were accepted


async def test_server_errors_and_retry_after_are_obeyed(
    app: Running, platform: PlatformServer, agent: str
) -> None:
    _, conversation_id, _ = await seed_case(app, X_REPLY)
    platform.answer(
        Answer(500, {"title": "Internal Server Error"}),
        Answer(429, {"title": "Too Many Requests"}, {"retry-after": "1"}),
        X_REPLY.success,
    )
    response = await post_reply(app, agent, conversation_id, TEXT)
    sent = await settled(app, agent, response.json()["id"])
    assert sent["delivery_status"] == "sent" and sent["external_id"] == X_REPLY.external_id
    assert sent["delivery_attempts"] == 3
    first, second, third = platform.requests
    assert third.at_s - second.at_s >= 0.9  # Retry-After: 1
    assert first.json == second.json == third.json


async def test_gives_up_after_the_attempts_and_an_agent_can_retry(
    database_url: str, platform: PlatformServer
) -> None:
    settings = reply_settings(database_url, platform.url, reply_max_attempts=2)
    async with serve(settings) as app:
        _, token = await add_user(app.services, "agent@example.com", Role.agent)
        _, conversation_id, _ = await seed_case(app, FACEBOOK)
        platform.answer(Answer(503, {}), Answer(502, {}))
        response = await post_reply(app, token, conversation_id, TEXT)
        failed = await settled(app, token, response.json()["id"])
        assert failed["delivery_status"] == "failed"
        assert "gave up after 2 attempts" in failed["delivery_error"]

        platform.answer(FACEBOOK.success)
        retried = await app.client.post(
            f"/api/v1/messages/{failed['id']}/retry", headers=bearer(token)
        )
        assert retried.status_code == 202 and retried.json()["delivery_status"] == "queued"
        sent = await settled(app, token, failed["id"])
        assert sent["delivery_status"] == "sent" and sent["delivery_error"] is None
        assert len(platform.requests) == 3
        again = await app.client.post(
            f"/api/v1/messages/{failed['id']}/retry", headers=bearer(token)
        )
        assert again.status_code == 409


def messenger_delivery(*events: dict[str, object]) -> bytes:
    return json.dumps(
        {
            "object": "page",
            "entry": [{"id": "1001", "time": 1_700_000_000_000, "messaging": list(events)}],
        }
    ).encode()


def messenger_event(mid: str, text: str, *, echo: bool) -> dict[str, object]:
    sender, recipient = ("1001", "PSID9") if echo else ("PSID9", "1001")
    message: dict[str, object] = {"mid": mid, "text": text}
    if echo:
        message |= {"is_echo": True, "app_id": 1517776481860111}
    return {
        "sender": {"id": sender},
        "recipient": {"id": recipient},
        "timestamp": 1_700_000_000_000,
        "message": message,
    }


async def test_echoes_of_our_replies_are_not_duplicates(
    app: Running, platform: PlatformServer, agent: str
) -> None:
    """Messenger echoes a Page's message by webhook; it may even arrive before the Send API
    has answered us. Either way the thread holds the reply once."""
    channel_id, conversation_id, _ = await seed_case(app, MESSENGER)

    async def deliver(body: bytes) -> None:
        response = await app.client.post(
            f"/webhooks/{channel_id}",
            content=body,
            headers=meta_headers(MESSENGER.secret or "", body),
        )
        assert response.status_code == 200, response.text

    async def echo_first(request: Recorded) -> None:
        await deliver(messenger_delivery(messenger_event("m_out_1", TEXT, echo=True)))

    platform.answer(Answer(200, MESSENGER.success.json, before=echo_first))
    early = await post_reply(app, agent, conversation_id, TEXT)
    assert (await settled(app, agent, early.json()["id"]))["external_id"] == "m_out_1"

    platform.answer(Answer(200, {"recipient_id": "PSID9", "message_id": "m_out_2"}))
    late = await post_reply(app, agent, conversation_id, "Noch etwas?")
    assert (await settled(app, agent, late.json()["id"]))["external_id"] == "m_out_2"
    await deliver(messenger_delivery(messenger_event("m_out_2", "Noch etwas?", echo=True)))
    await deliver(messenger_delivery(messenger_event("m_out_1", TEXT, echo=True)))

    thread = (
        await app.client.get(f"/api/v1/conversations/{conversation_id}", headers=bearer(agent))
    ).json()
    outbound = [m for m in thread["messages"] if m["direction"] == "outbound"]
    assert [m["external_id"] for m in outbound] == ["m_out_1", "m_out_2"]
    assert all(m["delivery_status"] == "sent" for m in outbound)
    assert thread["message_count"] == 3 == len(thread["messages"])


async def test_duplicate_jobs_and_concurrent_senders_send_once(
    app: Running, platform: PlatformServer, agent: str
) -> None:
    _, conversation_id, _ = await seed_case(app, FACEBOOK)
    platform.answer(replace_delay(FACEBOOK.success, 0.3))
    response = await post_reply(app, agent, conversation_id, TEXT)
    reply_id = response.json()["id"]
    replies = app.services.replies
    await app.services.queue.enqueue([reply_requested_job(reply_id, None)] * 3)
    assert await asyncio.gather(replies.deliver(reply_id), replies.deliver(reply_id)) in (
        [None, None],
        ["sent", None],
        [None, "sent"],
    )
    assert (await settled(app, agent, reply_id))["delivery_status"] == "sent"
    await app.services.queue.enqueue([reply_requested_job(reply_id, None)])
    assert await replies.deliver(reply_id) is None  # sent: never again
    await asyncio.sleep(0.2)
    assert len(platform.requests) == 1


class DroppingQueue:
    """A queue that loses every job (the process died between commit and enqueue)."""

    async def enqueue(self, jobs: list[Job]) -> None:
        return None


async def test_lost_jobs_and_dead_senders_are_taken_over(
    database_url: str, platform: PlatformServer
) -> None:
    settings = reply_settings(database_url, platform.url, reply_requeue_grace_s=0.3)
    async with serve(settings) as app:
        user_id, token = await add_user(app.services, "agent@example.com", Role.agent)
        _, conversation_id, _ = await seed_case(app, FACEBOOK)
        async with unit_of_work(app.services.sessionmaker) as session:
            lost = await create_reply(
                session,
                conversation_id=conversation_id,
                text=TEXT,
                user_id=user_id,
                visibility=Visibility(everything=True),
                queue=DroppingQueue(),  # type: ignore[arg-type]
            )
            orphan = await create_reply(
                session,
                conversation_id=conversation_id,
                text="zweite Antwort",
                user_id=user_id,
                visibility=Visibility(everything=True),
                queue=DroppingQueue(),  # type: ignore[arg-type]
            )
            # A sender claimed this one, then died: its lease ran out.
            await session.execute(
                sa.update(Message)
                .where(Message.id == orphan.message_id)
                .values(delivery_attempts=1, delivery_lease_until=utcnow() - timedelta(seconds=1))
            )
        platform.answer(FACEBOOK.success, Answer(200, {"id": "1001_2002_3005"}))
        for reply in (lost, orphan):
            assert (await settled(app, token, reply.message_id))["delivery_status"] == "sent"
        assert len(platform.requests) == 2

        async def no_queued() -> bool:
            async with app.services.sessionmaker() as session:
                queued = await session.execute(
                    sa.select(sa.func.count()).where(Message.delivery_status == "queued")
                )
                return queued.scalar_one() == 0

        await wait_for(no_queued)
