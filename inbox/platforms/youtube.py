"""YouTube: WebSub (PubSubHubbub) push notifications of a channel's videos.

Handshake (SPEC.md §3, W3C WebSub): the hub verifies intent with a GET carrying
``hub.mode`` (``subscribe`` / ``unsubscribe``), ``hub.topic``, ``hub.challenge`` and
``hub.lease_seconds``; we answer 200 with exactly the challenge, as
``application/octet-stream`` with ``X-Content-Type-Options: nosniff`` (both MUSTs).
``hub.mode=denied`` (the hub refused a subscription) is acknowledged with an empty 200.
Intent checks, since an adapter keeps no record of the subscriptions it asked for: the
topic must be a YouTube channel video feed, and if the channel has a verify token, the
``hub.verify_token`` that Google's hub echoes (PubSubHubbub 0.3/0.4, as entered at
subscription) must equal it. A refusal is a 403 (WebSub suggests 404).

Deliveries: a POST of an Atom feed, signed (when subscribed with ``hub.secret``) with
``X-Hub-Signature: <method>=<hex>``, an HMAC of the raw body with sha1 (what most hubs use),
sha256, sha384 or sha512. A delivery without a valid signature is refused (401/403):
WebSub lets subscribers answer 2xx and drop it, but refusing writes nothing either and
keeps the behaviour of every other platform.

Payload: each ``<entry>`` is a video upload, title change or description change (YouTube
sends no comments by push; those need polling). There is no "video" kind, so an entry
becomes a ``Kind.mention`` whose text is the video title, context ``{"video_id",
"channel_id", "event": "video_published"}``, author the uploading channel. external_id and
thread_key are the video id: a later title or description change of the same video is a
duplicate and adds nothing. ``<at:deleted-entry ref="yt:video:ID">`` marks it deleted.

XML safety: the feed is parsed with expat directly, refusing any DOCTYPE (so no entity can
be declared: no entity expansion, no external entities) whatever the document's encoding,
and building an ``xml.etree.ElementTree`` tree from the events.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit
from xml.parsers import expat

from inbox.normalize import Action, Kind, NormalizedMessage
from inbox.platforms._json import fit_key, make_author
from inbox.platforms.base import (
    ChannelCredentials,
    HandshakeRefused,
    HandshakeReply,
    MalformedPayload,
    SignatureInvalid,
    SignatureMissing,
)

SIGNATURE_HEADER = "x-hub-signature"
_ALGORITHMS = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}
_HEX = re.compile(r"[0-9a-fA-F]+")
_NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "yt": "http://www.youtube.com/xml/schemas/2015",
    "at": "http://purl.org/atompub/tombstones/1.0",
}
_VIDEO_REF = "yt:video:"
_FEED_HOSTS = frozenset({"www.youtube.com", "youtube.com"})
_FEED_PATH = "/xml/feeds/videos.xml"


class YouTubeAdapter:
    platforms: ClassVar[tuple[str, ...]] = ("youtube",)
    content_types: ClassVar[tuple[str, ...]] = (
        "application/atom+xml",
        "application/xml",
        "text/xml",
    )

    def handshake(self, creds: ChannelCredentials, query: Mapping[str, str]) -> HandshakeReply:
        mode = query.get("hub.mode")
        if mode == "denied":
            return HandshakeReply(body=b"")
        if mode not in ("subscribe", "unsubscribe"):
            raise HandshakeRefused("hub.mode must be 'subscribe', 'unsubscribe' or 'denied'")
        challenge = query.get("hub.challenge")
        if not challenge:
            raise HandshakeRefused("hub.challenge is missing")
        if not _is_video_feed(query.get("hub.topic", "")):
            raise HandshakeRefused("hub.topic is not a YouTube channel video feed")
        if creds.verify_token:
            token = query.get("hub.verify_token", "")
            if not hmac.compare_digest(token.encode(), creds.verify_token.encode()):
                raise HandshakeRefused("hub.verify_token does not match")
        return HandshakeReply(
            body=challenge.encode(),
            media_type="application/octet-stream",
            headers={"X-Content-Type-Options": "nosniff"},
        )

    def verify(
        self,
        creds: ChannelCredentials,
        headers: Mapping[str, str],
        body: bytes,
        *,
        now_s: float,
        query: Mapping[str, str] | None = None,
    ) -> None:
        signature = headers.get(SIGNATURE_HEADER)
        if not signature:
            raise SignatureMissing("X-Hub-Signature header is missing")
        if not creds.secret:
            raise SignatureInvalid("the channel has no hub secret")
        method, _, digest_hex = signature.partition("=")
        algorithm = _ALGORITHMS.get(method.lower())
        if algorithm is None or not _HEX.fullmatch(digest_hex):
            raise SignatureInvalid(
                "X-Hub-Signature must be '<sha1|sha256|sha384|sha512>=<hex digest>'"
            )
        expected = hmac.new(creds.secret.encode(), body, algorithm).hexdigest()
        if not hmac.compare_digest(expected.encode(), digest_hex.lower().encode()):
            raise SignatureInvalid("X-Hub-Signature does not match the body")

    def parse(self, body: bytes, headers: Mapping[str, str]) -> list[NormalizedMessage]:
        feed = parse_xml(body)
        if feed.tag != f"{{{_NS['atom']}}}feed":
            raise MalformedPayload("the body is not an Atom feed")
        messages = [_video(entry) for entry in feed.findall("atom:entry", _NS)]
        messages.extend(_deleted(entry) for entry in feed.findall("at:deleted-entry", _NS))
        return messages


def _is_video_feed(topic: str) -> bool:
    try:
        parts = urlsplit(topic)
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and parts.hostname in _FEED_HOSTS
        and parts.path == _FEED_PATH
        and bool(parse_qs(parts.query).get("channel_id"))
    )


# --- XML ------------------------------------------------------------------------------------


class _Refused(Exception):
    pass


def parse_xml(body: bytes) -> ET.Element:
    """Parse XML into an ElementTree, refusing DOCTYPE (and so every entity declaration)."""
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")

    def refuse(*_: Any) -> Any:
        raise _Refused

    def start(tag: str, attributes: dict[str, str]) -> None:
        builder.start(_qualified(tag), {_qualified(k): v for k, v in attributes.items()})

    def end(tag: str) -> None:
        builder.end(_qualified(tag))

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    parser.buffer_text = True
    try:
        parser.Parse(body, True)
        root = builder.close()
    except _Refused:
        raise MalformedPayload("XML with a DOCTYPE or entity declarations is refused") from None
    except (expat.ExpatError, ValueError, AssertionError, RecursionError) as exc:
        # AssertionError: TreeBuilder.close() without a root element.
        raise MalformedPayload(f"the body is not well-formed XML: {exc}") from None
    return root


def _qualified(name: str) -> str:
    # expat gives "namespace}local"; ElementTree writes "{namespace}local".
    return "{" + name if "}" in name else name


# --- entries --------------------------------------------------------------------------------


def _text(element: ET.Element, path: str) -> str | None:
    found = element.find(path, _NS)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=parsed.tzinfo or UTC).astimezone(UTC)


def _video(entry: ET.Element) -> NormalizedMessage:
    video_id = _text(entry, "yt:videoId")
    if video_id is None:
        entry_id = _text(entry, "atom:id") or ""
        video_id = entry_id.removeprefix(_VIDEO_REF) if entry_id.startswith(_VIDEO_REF) else None
    if not video_id:
        raise MalformedPayload("an entry has no yt:videoId")
    channel_id = _text(entry, "yt:channelId")
    author_name = _text(entry, "atom:author/atom:name")
    author_id = channel_id or _channel_from_uri(_text(entry, "atom:author/atom:uri"))
    link = entry.find("atom:link[@rel='alternate']", _NS)
    href = link.get("href") if link is not None else None
    context: dict[str, Any] = {"video_id": video_id, "event": "video_published"}
    if channel_id:
        context["channel_id"] = channel_id
    key = fit_key(video_id)
    return NormalizedMessage(
        external_id=key,
        thread_key=key,
        kind=Kind.mention,
        text=_text(entry, "atom:title") or "",
        author=(make_author(author_id, display_name=author_name) if author_id else None),
        platform_created_at=_time(_text(entry, "atom:published") or _text(entry, "atom:updated")),
        url=href if href and urlsplit(href).scheme in ("http", "https") else None,
        context=context,
        raw=_entry_raw(entry),
    )


def _deleted(entry: ET.Element) -> NormalizedMessage:
    ref = entry.get("ref") or ""
    video_id = ref.removeprefix(_VIDEO_REF)
    if not video_id:
        raise MalformedPayload("a deleted-entry has no ref")
    key = fit_key(video_id)
    return NormalizedMessage(
        external_id=key,
        thread_key=key,
        kind=Kind.mention,
        action=Action.delete,
        platform_created_at=_time(entry.get("when")),
        context={"video_id": video_id, "event": "video_deleted"},
        raw={"ref": ref, "when": entry.get("when")},
    )


def _channel_from_uri(uri: str | None) -> str | None:
    if uri and "/channel/" in uri:
        return uri.rsplit("/channel/", 1)[1].strip("/") or None
    return None


def _entry_raw(entry: ET.Element) -> dict[str, Any]:
    """The entry's fields as JSON: local tag name -> text (links by rel -> href)."""
    raw: dict[str, Any] = {}
    for child in entry:
        name = child.tag.rsplit("}", 1)[-1]
        if name == "link":
            raw.setdefault("links", {})[child.get("rel") or "alternate"] = child.get("href")
        elif name == "author":
            raw["author"] = {
                grandchild.tag.rsplit("}", 1)[-1]: (grandchild.text or "").strip()
                for grandchild in child
            }
        else:
            raw[name] = (child.text or "").strip()
    return raw
