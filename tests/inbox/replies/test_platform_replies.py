"""For each platform with replies: a reply through the API reaches the (local) platform as
exactly the documented request; a rate limit then success posts once; the same
Idempotency-Key twice sends once; a permanent error is the agent's to read. SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from tests.conftest import Running
from tests.helpers import bearer
from tests.inbox.replies.cases import CASES, TEXT, Case
from tests.inbox.replies.conftest import post_reply, seed, settled
from tests.inbox.replies.platform_server import PlatformServer, Recorded

pytestmark = pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])


def assert_documented_request(case: Case, request: Recorded) -> None:
    assert request.method == "POST"
    assert request.path == case.path
    assert request.query == case.query
    assert request.headers["content-type"] == "application/json"
    assert request.json == case.body
    if case.auth_in_header:
        assert request.headers["authorization"] == f"Bearer {case.token}"
    else:
        assert "authorization" not in request.headers
    # Tokens travel in headers (Telegram's in its documented path), never in the query.
    assert case.token not in str(request.query)


async def test_reply_goes_out_as_documented(
    case: Case, app: Running, platform: PlatformServer, agent: str
) -> None:
    """A permanent error first (in one thread), then 429-then-200 with an Idempotency-Key
    sent twice (in another): one app per case and database keeps the matrix quick."""
    await permanent_error_is_visible_to_the_agent(case, app, platform, agent)
    platform.reset()
    await rate_limited_then_sent_once_and_idempotent(case, app, platform, agent)


async def rate_limited_then_sent_once_and_idempotent(
    case: Case, app: Running, platform: PlatformServer, agent: str
) -> None:
    _, conversation_id, (answered_id,) = await seed(
        app, case.platform, [case.answered], secret=case.secret, credentials=case.credentials
    )
    platform.answer(case.rate_limited, case.success)

    first = await post_reply(app, agent, conversation_id, TEXT, key="reply-1")
    assert first.status_code == 202, first.text
    queued = first.json()
    assert queued["direction"] == "outbound" and queued["text"] == TEXT
    assert queued["delivery_status"] == "queued"
    assert queued["external_id"].startswith("out:")
    again = await post_reply(app, agent, conversation_id, TEXT, key="reply-1")
    assert again.status_code == 200 and again.json()["id"] == queued["id"]
    assert again.headers["idempotent-replayed"] == "true"

    sent = await settled(app, agent, queued["id"])
    assert sent["delivery_status"] == "sent", sent
    assert sent["external_id"] == case.external_id
    assert sent["delivery_attempts"] == 2
    assert sent["parent_external_id"] == case.answered.external_id
    await asyncio.sleep(0.2)  # scheduler ticks: nothing more may be sent
    assert len(platform.requests) == 2  # the rate-limited attempt and the one that went out
    for request in platform.requests:
        assert_documented_request(case, request)

    thread = await app.client.get(f"/api/v1/conversations/{conversation_id}", headers=bearer(agent))
    messages = thread.json()["messages"]
    assert [m["id"] for m in messages] == [answered_id, queued["id"]]
    assert messages[1]["delivery_status"] == "sent"
    assert messages[1]["kind"] == ("dm" if case.answered.kind == "dm" else "reply")


async def permanent_error_is_visible_to_the_agent(
    case: Case, app: Running, platform: PlatformServer, agent: str
) -> None:
    message = replace(case.answered, thread_key=f"{case.answered.thread_key}0")
    if case.platform == "telegram":  # the chat is part of Telegram's message key
        message = replace(message, external_id=f"{message.thread_key}:55")
    _, conversation_id, _ = await seed(
        app, case.platform, [message], secret=case.secret, credentials=case.credentials
    )
    platform.answer(case.permanent)
    response = await post_reply(app, agent, conversation_id, TEXT)
    assert response.status_code == 202, response.text
    failed = await settled(app, agent, response.json()["id"])
    assert failed["delivery_status"] == "failed"
    assert failed["delivery_attempts"] == 1
    await asyncio.sleep(0.1)
    assert len(platform.requests) == 1
    thread = await app.client.get(f"/api/v1/conversations/{conversation_id}", headers=bearer(agent))
    (reply,) = [m for m in thread.json()["messages"] if m["direction"] == "outbound"]
    assert reply["delivery_status"] == "failed"
    assert case.error_text in reply["delivery_error"]
    assert case.token not in reply["delivery_error"]
