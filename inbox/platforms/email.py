"""Inbound e-mail: Mailgun routes (``forward()``) and SendGrid Inbound Parse.

Mailgun (SPEC.md §9): the route POSTs ``application/x-www-form-urlencoded``, or
``multipart/form-data`` when the mail has attachments, with the parsed message
(``from``, ``subject``, ``recipient``, ``message-headers`` as a JSON list of pairs,
``body-plain``, ``body-html``, ``attachment-N`` files) or, for a URL ending in ``mime``, the
raw message in ``body-mime``. Verification: ``signature`` must equal
hex(HMAC-SHA256(key = the webhook signing key = the channel secret, msg = timestamp +
token)); a subaccount's ``parent-signature`` is accepted too. A timestamp more than five
minutes from now is refused as stale (a replay). There is no GET handshake.

SendGrid Inbound Parse (SPEC.md §10): ``multipart/form-data`` (CRLF or LF line endings)
with ``headers`` (the raw header block), ``from``, ``to``, ``subject``, ``text``, ``html``,
``charsets`` (JSON), ``attachmentN`` files, or, in "raw" mode, the whole message in
``email``. SendGrid's inbound security policy (signature or OAuth headers) is not
documented in SPEC.md, so the endpoint is protected by a URL token: the operator enters
the webhook URL with ``?token=<channel verify token>``.

Normalisation (both): ``Kind.email``, inbound. Raw MIME is parsed with the standard
``email`` package (``policy=email.policy.default``).

- external_id: the Message-ID, normalised (the first ``<id>``, brackets stripped,
  lower-cased); a mail without one gets ``"sha256:" +`` the SHA-256 of its content (From,
  Subject, Date, bodies, attachment list): not of the HTTP body, whose boundary, signature
  and timestamp change when the provider retries.
- thread_key: the first id of References (the thread's root), else In-Reply-To, else the
  message's own id, all normalised the same way; parent_external_id: In-Reply-To.
- text: the text part (``body-plain`` / ``text``); only when it is empty, the HTML reduced
  to readable text (scripts and styles dropped, block elements broken into lines).
- author: the From header parsed with ``email.utils.parseaddr``: platform_id = the
  lower-cased address, display_name = the name.
- attachments: ``{"filename", "content_type", "size_bytes"}`` per attached file; their
  bytes are never kept. raw: the text fields of the form only (never ``body-mime`` /
  ``email``; for those, the message's header list as ``mime_headers``).
- context: ``subject``, and for replies and threading: ``message_id`` (as written),
  ``references``, ``to``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from inbox.normalize import NormalizedMessage
from inbox.platforms._json import load_json
from inbox.platforms._mail import (
    Form,
    Mail,
    normalize,
    parse_form,
    parse_headers,
    parse_mime,
)
from inbox.platforms._url_token import verify_url_token
from inbox.platforms.base import (
    ChannelCredentials,
    HandshakeRefused,
    HandshakeReply,
    MalformedPayload,
    SignatureInvalid,
    SignatureMissing,
)

TOLERANCE_S = 5 * 60
_UNIX_SECONDS = re.compile(r"[0-9]{1,15}")
_MAILGUN_BODY_FIELDS = ("body-plain", "body-html", "body-mime", "stripped-text")


def mailgun_signature(signing_key: str, timestamp: str, token: str) -> str:
    signed = (timestamp + token).encode("utf-8", "surrogatepass")
    return hmac.new(signing_key.encode(), signed, hashlib.sha256).hexdigest()


class _NoHandshake:
    def handshake(self, creds: ChannelCredentials, query: Mapping[str, str]) -> HandshakeReply:
        raise HandshakeRefused("e-mail providers have no verification handshake")


# --- Mailgun --------------------------------------------------------------------------------


class MailgunAdapter(_NoHandshake):
    platforms: ClassVar[tuple[str, ...]] = ("mailgun",)
    content_types: ClassVar[tuple[str, ...]] = (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
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
        try:
            form = parse_form(body, headers.get("content-type"))
        except MalformedPayload:
            raise SignatureMissing("the body carries no readable signature fields") from None
        timestamp, token, signature = (
            form.text(name) for name in ("timestamp", "token", "signature")
        )
        if not timestamp or not token or not signature:
            raise SignatureMissing("timestamp, token and signature fields are required")
        if not creds.secret:
            raise SignatureInvalid("the channel has no webhook signing key")
        if not _UNIX_SECONDS.fullmatch(timestamp):
            raise SignatureInvalid("timestamp must be unix seconds")
        expected = mailgun_signature(creds.secret, timestamp, token).encode()
        candidates = (signature, form.text("parent-signature") or "")
        if not any(
            hmac.compare_digest(expected, candidate.strip().lower().encode("utf-8", "replace"))
            for candidate in candidates
        ):
            raise SignatureInvalid("signature does not match timestamp + token")
        if abs(now_s - int(timestamp)) > TOLERANCE_S:
            raise SignatureInvalid(f"timestamp is more than {TOLERANCE_S} s from now (a replay?)")

    def parse(self, body: bytes, headers: Mapping[str, str]) -> list[NormalizedMessage]:
        form = parse_form(body, headers.get("content-type"))
        if not any(name in form.fields for name in _MAILGUN_BODY_FIELDS):
            raise MalformedPayload("not an inbound e-mail: no body-plain, body-html or body-mime")
        raw: dict[str, Any] = form.texts(skip=frozenset({"body-mime"}))
        mime = form.fields.get("body-mime")
        if mime is not None:
            mail = parse_mime(mime)
            raw["mime_headers"] = mail.headers
        else:
            mail = _mailgun_fields(form)
        mail.sender = form.text("from") or mail.sender
        mail.subject = form.text("subject") or mail.subject
        mail.recipient = form.text("recipient") or mail.recipient
        return [normalize(mail, raw=raw)]


def _mailgun_fields(form: Form) -> Mail:
    header_list: list[list[str]] = []
    encoded = form.text("message-headers")
    if encoded:
        pairs = load_json(encoded, "message-headers")
        if not isinstance(pairs, list):
            raise MalformedPayload("message-headers must be a JSON list of [name, value] pairs")
        header_list = [
            [pair[0], pair[1]]
            for pair in pairs
            if isinstance(pair, list)
            and len(pair) == 2
            and isinstance(pair[0], str)
            and isinstance(pair[1], str)
        ]
    # The first occurrence of a header wins; Mailgun also posts some headers as fields.
    lookup: dict[str, str] = {}
    for name, value in [*header_list, *form.texts().items()]:
        lookup.setdefault(name.lower(), value)
    return Mail(
        message_id=lookup.get("message-id"),
        in_reply_to=lookup.get("in-reply-to"),
        references=lookup.get("references"),
        sender=lookup.get("from"),
        recipient=lookup.get("to"),
        subject=lookup.get("subject"),
        date=lookup.get("date"),
        text=form.text("body-plain") or "",
        html=form.text("body-html"),
        attachments=[upload.record() for upload in form.files],
    )


# --- SendGrid -------------------------------------------------------------------------------


class SendGridAdapter(_NoHandshake):
    platforms: ClassVar[tuple[str, ...]] = ("sendgrid",)
    content_types: ClassVar[tuple[str, ...]] = ("multipart/form-data",)

    def verify(
        self,
        creds: ChannelCredentials,
        headers: Mapping[str, str],
        body: bytes,
        *,
        now_s: float,
        query: Mapping[str, str] | None = None,
    ) -> None:
        verify_url_token(creds, query)

    def parse(self, body: bytes, headers: Mapping[str, str]) -> list[NormalizedMessage]:
        form = parse_form(body, headers.get("content-type"))
        charsets = _charsets(form)
        raw: dict[str, Any] = form.texts(skip=frozenset({"email"}))
        mime = form.fields.get("email")
        if mime is not None:
            mail = parse_mime(mime)
            raw["mime_headers"] = mail.headers
        elif any(name in form.fields for name in ("headers", "text", "html")):
            mail = parse_headers(form.fields.get("headers", b""))
            mail.text = form.text("text", charsets.get("text")) or ""
            mail.html = form.text("html", charsets.get("html"))
            mail.attachments = [upload.record() for upload in form.files]
        else:
            raise MalformedPayload("not an Inbound Parse delivery: no email, headers or text")
        mail.sender = form.text("from", charsets.get("from")) or mail.sender
        mail.subject = form.text("subject", charsets.get("subject")) or mail.subject
        mail.recipient = form.text("to", charsets.get("to")) or mail.recipient
        return [normalize(mail, raw=raw)]


def _charsets(form: Form) -> dict[str, str]:
    """SendGrid's ``charsets`` field: which charset each text field is in."""
    encoded = form.text("charsets")
    if not encoded:
        return {}
    try:
        charsets = load_json(encoded, "charsets")
    except MalformedPayload:
        return {}
    if not isinstance(charsets, dict):
        return {}
    return {name: value for name, value in charsets.items() if isinstance(value, str)}
