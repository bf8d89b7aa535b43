"""The one message model every platform parser produces.

Parsers are pure: bytes in, ``NormalizedMessage`` values out. Storage, threading and
deduplication happen in :mod:`inbox.ingest`, which only ever sees these types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    comment = "comment"
    reply = "reply"
    dm = "dm"
    mention = "mention"
    review = "review"
    email = "email"


class Direction(StrEnum):
    inbound = "inbound"
    outbound = "outbound"


class Action(StrEnum):
    """What a delivery says happened to a piece of content."""

    create = "create"  # new content; a repeat of the same id adds nothing
    edit = "edit"  # the content's text changed; updates the stored row
    delete = "delete"  # the content was removed; marks the stored row


@dataclass(frozen=True, slots=True)
class NormalizedAuthor:
    platform_id: str
    handle: str | None = None
    display_name: str | None = None
    reach_followers: int | None = None


@dataclass(frozen=True, slots=True)
class NormalizedMessage:
    """One piece of content (or a change to it) taken from a delivery.

    ``external_id`` is the platform's content id: unique per channel, the dedup key.
    ``thread_key`` names the platform thread the message belongs to (a post's comments,
    a DM thread, an e-mail thread): one conversation per (channel, thread_key).
    """

    external_id: str
    thread_key: str
    kind: Kind
    action: Action = Action.create
    direction: Direction = Direction.inbound
    text: str = ""
    author: NormalizedAuthor | None = None
    parent_external_id: str | None = None
    platform_created_at: datetime | None = None
    language: str | None = None
    url: str | None = None
    attachments: tuple[dict[str, Any], ...] = ()
    # Platform context worth showing next to the text (review stars, media type, ...).
    context: dict[str, Any] = field(default_factory=dict)
    # The fragment of the delivery this message came from, stored verbatim.
    raw: dict[str, Any] = field(default_factory=dict)
