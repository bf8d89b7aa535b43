"""Typed, path-aware access to JSON deliveries, shared by the non-Meta adapters.

Every accessor either returns the documented type (or ``None`` when absent) or raises
``MalformedPayload`` naming the path of the offending value, so a parser built on it can
only ever fail with a 400. (The same idea as ``_Node`` in :mod:`inbox.platforms.meta`.)
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from inbox.normalize import NormalizedAuthor
from inbox.platforms.base import MalformedPayload

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Above this a unix time must be in milliseconds: as seconds it would be the year 5138.
_MIN_UNIX_MS = 100_000_000_000
_UNIX_TIME = re.compile(r"-?[0-9]+(\.[0-9]+)?")
# Column limits: message.external_id / conversation.thread_key, author ids and names,
# message.language; author.reach_followers is a signed 64-bit integer.
MAX_KEY_CHARS = 300
MAX_AUTHOR_ID_CHARS = 200
MAX_HANDLE_CHARS = 200
MAX_NAME_CHARS = 300
MAX_LANGUAGE_CHARS = 8
_MAX_BIGINT = 2**63 - 1


def _no_constants(name: str) -> Any:
    # Python reads NaN and Infinity; JSON (RFC 8259) and PostgreSQL's jsonb do not.
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e999: stored again it would be written as Infinity
        raise ValueError(f"{text} is out of range")
    return value


def load_json(body: bytes | str, what: str = "body") -> Any:
    try:
        return json.loads(body, parse_constant=_no_constants, parse_float=_finite)
    except (ValueError, RecursionError) as exc:
        raise MalformedPayload(f"{what} is not valid JSON") from exc


def fit_key(key: str, limit: int = MAX_KEY_CHARS) -> str:
    """A key that fits the id columns: long ones are replaced by their SHA-256."""
    if len(key) <= limit:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def make_author(
    platform_id: str,
    *,
    handle: str | None = None,
    display_name: str | None = None,
    followers: int | None = None,
) -> NormalizedAuthor:
    """An author whose fields fit the author table (ids hashed, names clipped)."""
    return NormalizedAuthor(
        platform_id=fit_key(platform_id, MAX_AUTHOR_ID_CHARS),
        handle=handle[:MAX_HANDLE_CHARS] if handle else None,
        display_name=display_name[:MAX_NAME_CHARS] if display_name else None,
        reach_followers=followers
        if followers is not None and 0 <= followers <= _MAX_BIGINT
        else None,
    )


def language_code(code: str | None) -> str | None:
    """An ISO 639 / BCP 47 language code, or None ("und", empty, or too long to store)."""
    if not code or code.lower() == "und" or not 2 <= len(code) <= MAX_LANGUAGE_CHARS:
        return None
    return code


def to_utc(value: int | float | str) -> datetime | None:
    """Unix seconds or milliseconds (number or digit string), or ISO 8601, as aware UTC.

    Unreadable values (docs placeholders, out-of-range numbers) become ``None``."""
    try:
        if isinstance(value, str):
            if not _UNIX_TIME.fullmatch(value):
                parsed = datetime.fromisoformat(value)
                return parsed.replace(tzinfo=parsed.tzinfo or UTC).astimezone(UTC)
            value = float(value) if "." in value else int(value)
        if value != value:  # NaN
            return None
        if abs(value) >= _MIN_UNIX_MS:
            return _EPOCH + timedelta(milliseconds=value)
        return _EPOCH + timedelta(seconds=value)
    except (ValueError, OverflowError):
        return None


@dataclass(frozen=True, slots=True)
class Node:
    """A JSON object and its path in the delivery, so every error names where it is."""

    data: dict[str, Any]
    path: str

    @classmethod
    def of(cls, value: object, path: str) -> Node:
        if not isinstance(value, dict):
            raise MalformedPayload(f"{path} must be a JSON object")
        return cls(value, path)

    def where(self, key: str) -> str:
        return f"{self.path}.{key}"

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def child(self, key: str) -> Node | None:
        value = self.data.get(key)
        return None if value is None else Node.of(value, self.where(key))

    def required_child(self, key: str) -> Node:
        node = self.child(key)
        if node is None:
            raise MalformedPayload(f"{self.where(key)} is missing")
        return node

    def children(self, key: str, *, required: bool = False) -> list[Node]:
        value = self.data.get(key)
        if value is None and not required:
            return []
        if not isinstance(value, list):
            raise MalformedPayload(f"{self.where(key)} must be a list")
        return [Node.of(item, f"{self.where(key)}[{index}]") for index, item in enumerate(value)]

    def mapping(self, key: str) -> dict[str, Node]:
        """An object of objects keyed by id, such as X's ``users`` map."""
        node = self.child(key)
        if node is None:
            return {}
        return {name: Node.of(value, node.where(name)) for name, value in node.data.items()}

    def optional_id(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        # bool is an int subclass; JSON true is never an id.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str) and value:
            return value
        raise MalformedPayload(f"{self.where(key)} must be a non-empty string or an integer")

    def id(self, key: str) -> str:
        value = self.optional_id(key)
        if value is None:
            raise MalformedPayload(f"{self.where(key)} is missing")
        return value

    def text(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None or isinstance(value, str):
            return value
        raise MalformedPayload(f"{self.where(key)} must be a string")

    def required_text(self, key: str) -> str:
        value = self.text(key)
        if value is None:
            raise MalformedPayload(f"{self.where(key)} is missing")
        return value

    def integer(self, key: str) -> int | None:
        """An integer, or a string of digits (X and others send counts both ways)."""
        value = self.data.get(key)
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 20:
            return int(value)
        raise MalformedPayload(f"{self.where(key)} must be an integer")

    def flag(self, key: str) -> bool:
        value = self.data.get(key, False)
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        # Old X payloads write booleans as strings ("user_has_blocked": "false").
        if value in ("true", "false"):
            return value == "true"
        raise MalformedPayload(f"{self.where(key)} must be true or false")

    def time(self, key: str) -> datetime | None:
        """Unix seconds or milliseconds (number or digit string), or ISO 8601, as UTC."""
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise MalformedPayload(f"{self.where(key)} must be a unix time or ISO 8601")
        return to_utc(value)
