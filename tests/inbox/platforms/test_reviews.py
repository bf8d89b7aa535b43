"""GoogleBusinessAdapter and TrustpilotAdapter: URL tokens, Pub/Sub push, Trustpilot events.

Expected values were written by reading ``../shared/webhooks/trustpilot`` and SPEC.md §4/§8.
There is no Google Business Profile fixture (none was published): those payloads are written
here from the Pub/Sub push format and the notification names SPEC.md lists.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from inbox.normalize import Action, Kind, NormalizedAuthor, NormalizedMessage
from inbox.platforms.base import (
    ChannelCredentials,
    HandshakeRefused,
    MalformedPayload,
    SignatureInvalid,
    SignatureMissing,
)
from inbox.platforms.reviews import GoogleBusinessAdapter, TrustpilotAdapter
from tests.fixtures_shared import shared_path

GOOGLE = GoogleBusinessAdapter()
TRUSTPILOT = TrustpilotAdapter()
URL_TOKEN = "review-url-token-9f2c"
CREDS = ChannelCredentials(secret=None, verify_token=URL_TOKEN)
REVIEW_NAME = "accounts/111/locations/222/reviews/AbFvOqk"


def at(
    year: int, month: int, day: int, hour: int, minute: int, second: int, microsecond: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


# --- URL token (both) ---------------------------------------------------------------------------


@pytest.mark.parametrize("adapter", [GOOGLE, TRUSTPILOT])
def test_url_token_verifies(adapter: Any) -> None:
    adapter.verify(CREDS, {}, b"{}", now_s=0, query={"token": URL_TOKEN})


@pytest.mark.parametrize("adapter", [GOOGLE, TRUSTPILOT])
@pytest.mark.parametrize(
    ("creds", "query", "error"),
    [
        (CREDS, {"token": "guess"}, SignatureInvalid),
        (CREDS, {"token": URL_TOKEN.upper()}, SignatureInvalid),
        (CREDS, {"other": URL_TOKEN}, SignatureMissing),
        (CREDS, None, SignatureMissing),
        (
            ChannelCredentials(secret=URL_TOKEN, verify_token=None),
            {"token": URL_TOKEN},
            SignatureInvalid,
        ),
    ],
)
def test_url_token_refused(
    adapter: Any,
    creds: ChannelCredentials,
    query: dict[str, str] | None,
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        adapter.verify(creds, {}, b"{}", now_s=0, query=query)


@pytest.mark.parametrize("adapter", [GOOGLE, TRUSTPILOT])
def test_there_is_no_handshake(adapter: Any) -> None:
    with pytest.raises(HandshakeRefused):
        adapter.handshake(CREDS, {"hub.challenge": "x"})


# --- Google Business Profile (Pub/Sub push) --------------------------------------------------


def push(notification: Any, pubsub_id: str = "1234567890123", **message: Any) -> dict[str, Any]:
    data = base64.b64encode(json.dumps(notification).encode()).decode()
    return {
        "message": {
            "data": data,
            "attributes": {},
            "messageId": pubsub_id,
            "publishTime": "2026-11-23T08:00:00.123Z",
        }
        | message,
        "subscription": "projects/leitstand/subscriptions/gbp-reviews",
    }


def parse_google(payload: Any) -> list[NormalizedMessage]:
    return GOOGLE.parse(json.dumps(payload).encode(), {})


NEW_REVIEW = {
    "notificationType": "NEW_REVIEW",
    "reviewName": REVIEW_NAME,
    "locationName": "accounts/111/locations/222",
}
# The review's content is not in the notification: the connector fetches it.
GOOGLE_REVIEW = NormalizedMessage(
    external_id="1234567890123",
    thread_key=REVIEW_NAME,
    kind=Kind.review,
    text="",
    platform_created_at=at(2026, 11, 23, 8, 0, 0, 123000),
    context={
        "needs_fetch": True,
        "review_name": REVIEW_NAME,
        "notification_type": "NEW_REVIEW",
        "location_name": "accounts/111/locations/222",
    },
)


def test_google_new_review_needs_fetching() -> None:
    payload = push(NEW_REVIEW)
    [message] = parse_google(payload)
    assert message == replace(
        GOOGLE_REVIEW,
        raw={
            "attributes": {},
            "messageId": "1234567890123",
            "publishTime": "2026-11-23T08:00:00.123Z",
            "data": NEW_REVIEW,
            "subscription": "projects/leitstand/subscriptions/gbp-reviews",
        },
    )


def test_google_v1_spelling_and_update_share_the_review_thread() -> None:
    updated = {"type": "UPDATED_REVIEW", "review_name": REVIEW_NAME, "location_name": "l"}
    [first] = parse_google(push(NEW_REVIEW))
    [second] = parse_google(push(updated, pubsub_id="1234567890124"))
    assert first.thread_key == second.thread_key == REVIEW_NAME
    assert second.external_id == "1234567890124"  # a fresh fetch for the new version
    assert second.context == {
        "needs_fetch": True,
        "review_name": REVIEW_NAME,
        "notification_type": "UPDATED_REVIEW",
        "location_name": "l",
    }


def test_google_review_as_an_object_and_urlsafe_unpadded_data() -> None:
    notification = {"type": "NEW_REVIEW", "review": {"name": REVIEW_NAME}}
    data = base64.urlsafe_b64encode(json.dumps(notification).encode()).decode().rstrip("=")
    [message] = parse_google(push({}, data=data, messageId=None, message_id="77"))
    assert (message.external_id, message.thread_key) == ("77", REVIEW_NAME)


def test_google_repeat_has_the_same_dedup_key() -> None:
    assert parse_google(push(NEW_REVIEW)) == parse_google(push(NEW_REVIEW))


@pytest.mark.parametrize(
    "notification",
    [
        {"notificationType": "NEW_CUSTOMER_MEDIA", "mediaName": "accounts/1/media/2"},
        {"notificationType": "GOOGLE_UPDATE", "locationName": "accounts/1/locations/2"},
        {"notificationType": "NEW_REVIEW"},  # no review named
    ],
)
def test_google_other_notifications_produce_nothing(notification: dict[str, Any]) -> None:
    assert parse_google(push(notification)) == []


def test_google_push_without_data_produces_nothing() -> None:
    assert parse_google(push({}, data=None)) == []


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        (b"", "not valid JSON"),
        (b"{}", "body.message is missing"),
        (b'{"message": {"data": "e30="}}', "messageId is missing"),
        (b'{"message": {"messageId": "1", "data": "%%%"}}', "not base64"),
        (b'{"message": {"messageId": "1", "data": "bm90IGpzb24="}}', "data is not valid JSON"),
        (b'{"message": {"messageId": "1", "data": "W10="}}', "data must be a JSON object"),
        (b'{"message": {"messageId": "1", "data": 5}}', "data must be a string"),
    ],
)
def test_google_malformed(payload: bytes, complaint: str) -> None:
    with pytest.raises(MalformedPayload, match=complaint):
        GOOGLE.parse(payload, {})


# --- Trustpilot -------------------------------------------------------------------------------

TRUSTPILOT_REVIEW = NormalizedMessage(
    external_id="53bffd360000640002975387",
    thread_key="53bffd360000640002975387",
    kind=Kind.review,
    text="Great service\n\nNothing other than excellent customer service.",
    author=NormalizedAuthor(platform_id="53bffc3900006400017e5db8", display_name="Customer"),
    platform_created_at=at(2017, 5, 20, 9, 34, 44),
    language="en",
    context={"stars": 5, "title": "Great service"},
)


def as_is(body: bytes) -> bytes:
    return body


BodyBuilder = Callable[[bytes], bytes]
SHARED_TRUSTPILOT_CASES: dict[str, tuple[BodyBuilder, list[NormalizedMessage]]] = {
    "trustpilot/service_review_created.json": (as_is, [TRUSTPILOT_REVIEW]),
}


@pytest.mark.parametrize("fixture", sorted(SHARED_TRUSTPILOT_CASES))
def test_shared_trustpilot_fixture(fixture: str) -> None:
    body = shared_path("webhooks", *fixture.split("/")).read_bytes()
    build, expected = SHARED_TRUSTPILOT_CASES[fixture]
    events = json.loads(body)["events"]
    assert TRUSTPILOT.parse(build(body), {}) == [
        replace(message, raw=event) for message, event in zip(expected, events, strict=True)
    ]


def test_every_trustpilot_fixture_has_a_case() -> None:
    present = {
        f"trustpilot/{path.name}" for path in shared_path("webhooks", "trustpilot").glob("*")
    }
    assert present == set(SHARED_TRUSTPILOT_CASES)


def trustpilot_event(name: str, **data: Any) -> dict[str, Any]:
    review = {
        "id": "r-1",
        "language": "de",
        "title": "Nie wieder",
        "text": "Seit drei Wochen keine Antwort.",
        "stars": 1,
        "createdAt": "2026-11-23T08:00:00.000Z",
        "consumer": {"id": "c-1", "name": "Max M."},
    }
    return {"eventName": name, "version": "1", "eventData": review | data}


def test_own_batch_with_update_delete_and_unknown_event() -> None:
    events = [
        trustpilot_event("service-review-updated", title=None, text="Jetzt geht es."),
        trustpilot_event("service-review-deleted"),
        trustpilot_event("product-review-created"),
    ]
    updated, deleted = TRUSTPILOT.parse(json.dumps({"events": events}).encode(), {})
    assert (updated.external_id, updated.action, updated.text, updated.context) == (
        "r-1",
        Action.edit,
        "Jetzt geht es.",
        {"stars": 1},
    )
    assert (deleted.external_id, deleted.action, deleted.language) == (
        "r-1",
        Action.delete,
        "de",
    )


def test_own_deletion_with_only_an_id() -> None:
    event = {"eventName": "service-review-deleted", "eventData": {"id": "r-2"}}
    [deleted] = TRUSTPILOT.parse(json.dumps({"events": [event]}).encode(), {})
    assert deleted == NormalizedMessage(
        external_id="r-2",
        thread_key="r-2",
        kind=Kind.review,
        action=Action.delete,
        raw=event,
    )


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        (b"[]", "body must be a JSON object"),
        (b"{}", "body.events must be a list"),
        (b'{"events": [1]}', r"events\[0\] must be a JSON object"),
        (b'{"events": [{"eventName": "service-review-created"}]}', "eventData is missing"),
        (
            b'{"events": [{"eventName": "service-review-created", "eventData": {}}]}',
            "id is missing",
        ),
        (
            b'{"events": [{"eventName": "service-review-created", "eventData": {"id": "1", '
            b'"stars": "five"}}]}',
            "stars must be an integer",
        ),
    ],
)
def test_trustpilot_malformed(payload: bytes, complaint: str) -> None:
    with pytest.raises(MalformedPayload, match=complaint):
        TRUSTPILOT.parse(payload, {})
