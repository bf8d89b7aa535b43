"""Property tests: whatever arrives, an adapter answers with messages or a 4xx error.

``parse`` may only raise ``MalformedPayload``; ``verify`` only ``SignatureMissing`` or
``SignatureInvalid``. Anything else would be a 500 and a retry storm from the platform.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import NotFound
from inbox.normalize import NormalizedMessage
from inbox.platforms.base import (
    ChannelCredentials,
    MalformedPayload,
    PlatformAdapter,
    SignatureInvalid,
    SignatureMissing,
)
from inbox.platforms.registry import ADAPTERS, adapter_for

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
UNIQUE_ADAPTERS = list({id(adapter): adapter for adapter in ADAPTERS.values()}.values())
CREDS = ChannelCredentials(secret="whsec_c2VjcmV0LXNpZ25pbmcta2V5", verify_token="token")

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**20, max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["", "0", "1700000000", "1700000000123", "TIMESTAMP", "2026-01-01T00:00Z"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the plausible value, one time in 40 anything at all."""
    return st.integers(min_value=0, max_value=39).flatmap(
        lambda roll: json_values if roll == 0 else values
    )


def obj(
    required: dict[str, st.SearchStrategy[Any]] | None = None, **optional: st.SearchStrategy[Any]
) -> st.SearchStrategy[dict[str, Any]]:
    """A JSON object: ``required`` keys always there, the others may be absent."""
    return st.fixed_dictionaries(
        {key: maybe(value) for key, value in (required or {}).items()},
        optional={key: maybe(value) for key, value in optional.items()},
    )


ids = st.one_of(
    st.text(min_size=1, max_size=12), st.integers(min_value=0), st.sampled_from(["111", "0"])
)
times = st.one_of(
    st.integers(), st.text(max_size=12), st.floats(), st.sampled_from(["1700000000", "TIMESTAMP"])
)
words = st.text(max_size=30)
verbs = st.sampled_from(["add", "add", "add", "edited", "remove", "hide", "unhide", "update"])
page_author = {
    "from": obj({"id": ids}, name=words),
    "sender_id": ids,
    "sender_name": words,
}


def change(field: str, value: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return obj({"field": st.just(field), "value": value})


page_changes = st.one_of(
    change(
        "feed",
        obj(
            {"item": st.sampled_from(["comment", "status"]), "verb": verbs, "comment_id": ids},
            post_id=ids,
            parent_id=ids,
            message=words,
            photo=words,
            created_time=times,
            **page_author,
        ),
    ),
    change(
        "mention",
        obj(
            {"item": st.sampled_from(["post", "comment"]), "verb": verbs, "post_id": ids},
            comment_id=ids,
            message=words,
            created_time=times,
            **page_author,
        ),
    ),
    change(
        "ratings",
        obj(
            {"item": st.sampled_from(["rating", "comment", "like"]), "verb": verbs},
            open_graph_story_id=ids,
            comment_id=ids,
            post_id=ids,
            parent_id=ids,
            reviewer_id=ids,
            reviewer_name=words,
            rating=st.integers(min_value=1, max_value=5),
            recommendation_type=st.sampled_from(["POSITIVE", "NEGATIVE"]),
            review_text=words,
            created_time=times,
            **page_author,
        ),
    ),
    obj(field=st.sampled_from(["parking", "photos"])),  # changed_fields-style, no value
)
instagram_changes = st.one_of(
    *(
        change(
            field,
            obj(
                {"id": ids},
                text=words,
                parent_id=ids,
                media=obj({"id": ids}, media_product_type=words),
                **{"from": obj({"id": ids}, username=words)},
            ),
        )
        for field in ("comments", "live_comments")
    ),
    change("mentions", obj({"media_id": ids}, comment_id=ids)),
)
whatsapp_message = obj(
    {
        "id": ids,
        "type": st.sampled_from(["text", "text", "image", "reaction", "location", "sticker"]),
        "from": ids,
        "text": obj({"body": words}),
    },
    timestamp=times,
    group_id=ids,
    from_user_id=ids,
    image=obj({"id": ids}, caption=words, mime_type=words),
    sticker=obj({"id": ids}),
    context=obj({"id": ids}),
)
whatsapp_changes = change(
    "messages",
    obj(
        metadata=obj(phone_number_id=ids),
        contacts=st.lists(
            obj(wa_id=ids, user_id=ids, profile=obj(name=words, username=words)), max_size=2
        ),
        messages=st.lists(whatsapp_message, max_size=3),
        statuses=st.lists(obj(id=ids, status=words, timestamp=times), max_size=2),
    ),
)


def messaging(event: str, content: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return obj(
        {"sender": obj({"id": ids}), "recipient": obj({"id": ids}), event: content},
        timestamp=times,
    )


messaging_item = st.one_of(
    messaging(
        "message",
        obj(
            {"mid": ids},
            text=words,
            is_echo=st.booleans(),
            is_deleted=st.booleans(),
            reply_to=obj({"mid": ids}),
            attachments=st.lists(obj(type=words, payload=obj(url=words)), max_size=2),
        ),
    ),
    messaging("message_edit", obj({"mid": ids}, text=words)),
    messaging("read", obj(mid=ids)),
)


def delivery(object_type: str, changes: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    entry = obj(
        {"id": ids},
        time=times,
        changes=st.lists(changes, min_size=1, max_size=3),
        messaging=st.lists(messaging_item, max_size=3),
        standby=st.lists(messaging_item, max_size=2),
    )
    return obj({"object": st.just(object_type), "entry": st.lists(entry, min_size=1, max_size=3)})


meta_delivery = st.one_of(
    delivery("page", page_changes),
    delivery("instagram", instagram_changes),
    delivery("whatsapp_business_account", whatsapp_changes),
    delivery("user", page_changes),
)
standard_event = obj(
    {
        "type": st.sampled_from(["message.created", "message.updated", "message.deleted"]),
        "data": obj(
            {
                "id": ids,
                "text": words,
                "author": obj({"id": ids, "name": words}, handle=words, followers=st.integers()),
            },
            thread_id=ids,
            parent_id=ids,
            kind=st.sampled_from(["comment", "reply", "dm", "shout"]),
            url=st.sampled_from(["https://example.org/x", "javascript:x"]),
            language=st.sampled_from(["de", "en", "x"]),
            created_at=st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01T00:00:00", "soon"]),
        ),
    },
    timestamp=st.sampled_from(["2026-01-01T00:00:00Z"]),
)


def parse_or_malformed(adapter: PlatformAdapter, body: bytes) -> list[NormalizedMessage]:
    try:
        messages = adapter.parse(body, {})
    except MalformedPayload:
        return []
    for message in messages:
        assert isinstance(message, NormalizedMessage)
        assert isinstance(message.external_id, str)
        assert message.external_id
        assert isinstance(message.thread_key, str)
        assert message.thread_key
        created = message.platform_created_at
        assert created is None or (isinstance(created, datetime) and created.tzinfo is not None)
    return messages


@FUZZ
@given(body=st.binary(max_size=200))
def test_arbitrary_bytes(body: bytes) -> None:
    for adapter in UNIQUE_ADAPTERS:
        parse_or_malformed(adapter, body)


@FUZZ
@given(value=json_values)
def test_arbitrary_json(value: Any) -> None:
    body = json.dumps(value).encode()
    for adapter in UNIQUE_ADAPTERS:
        parse_or_malformed(adapter, body)


@FUZZ
@given(payload=meta_delivery)
def test_plausible_meta_deliveries(payload: Any) -> None:
    body = json.dumps(payload).encode()
    for adapter in UNIQUE_ADAPTERS:
        parse_or_malformed(adapter, body)


@FUZZ
@given(payload=standard_event)
def test_plausible_standard_webhooks_events(payload: Any) -> None:
    body = json.dumps(payload).encode()
    for adapter in UNIQUE_ADAPTERS:
        parse_or_malformed(adapter, body)


# Starlette decodes header values as latin-1, so that is the alphabet a request can carry.
header_values = st.text(st.characters(codec="latin-1"), max_size=40)


@FUZZ
@given(
    headers=st.dictionaries(
        st.sampled_from(
            ["x-hub-signature-256", "webhook-id", "webhook-timestamp", "webhook-signature"]
        ),
        header_values | st.sampled_from(["sha256=" + "a" * 64, "v1,AAAA", "1800000000"]),
    ),
    body=st.binary(max_size=64),
    now_s=st.floats(allow_nan=False, allow_infinity=False),
)
def test_verify_raises_only_signature_errors(
    headers: dict[str, str], body: bytes, now_s: float
) -> None:
    for adapter in UNIQUE_ADAPTERS:
        with pytest.raises((SignatureMissing, SignatureInvalid)):
            adapter.verify(CREDS, headers, body, now_s=now_s)


def test_registry_names_every_platform_of_its_adapters() -> None:
    for name, adapter in ADAPTERS.items():
        assert name in adapter.platforms
        assert adapter_for(name) is adapter
        assert all(ADAPTERS[platform] is adapter for platform in adapter.platforms)


def test_unknown_platform_is_not_found() -> None:
    with pytest.raises(NotFound):
        adapter_for("myspace")
