"""What the e-mail adapters share: form bodies, MIME, HTML to text, threading headers.

Everything here is pure and total: malformed input raises ``MalformedPayload`` and nothing
else. MIME is parsed with the standard library (``email.policy.default``); the stdlib
parser records defects instead of failing, and the few exceptions its header parsers are
known to raise on hostile input are caught where headers are read.
"""

from __future__ import annotations

import email.errors
import email.policy
import email.utils
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesParser
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote_to_bytes

from inbox.normalize import Kind, NormalizedMessage
from inbox.platforms._json import fit_key, make_author
from inbox.platforms.base import MalformedPayload

# What the email package may raise on hostile input (header parsers, charsets, payloads).
_MIME_ERRORS = (
    email.errors.MessageError,
    ValueError,
    LookupError,
    TypeError,
    IndexError,
    AttributeError,
    AssertionError,
    RecursionError,
)
_MAX_FORM_FIELDS = 1000
# RFC 2046 boundary characters.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")


# --- form bodies ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FormFile:
    field: str
    filename: str | None
    content_type: str
    size_bytes: int

    def record(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "size_bytes": self.size_bytes,
        }


@dataclass(slots=True)
class Form:
    """A form body: text fields (first value of each name, as bytes) and uploaded files."""

    fields: dict[str, bytes] = field(default_factory=dict)
    files: list[FormFile] = field(default_factory=list)

    def text(self, name: str, charset: str | None = "utf-8") -> str | None:
        value = self.fields.get(name)
        return None if value is None else decode_text(value, charset)

    def texts(self, skip: frozenset[str] = frozenset()) -> dict[str, str]:
        return {name: decode_text(value) for name, value in self.fields.items() if name not in skip}


def parse_form(body: bytes, content_type: str | None) -> Form:
    media_type, _, parameters = (content_type or "").partition(";")
    media_type = media_type.strip().lower()
    if media_type == "application/x-www-form-urlencoded":
        return _urlencoded(body)
    if media_type == "multipart/form-data":
        boundary = _parameter(parameters, "boundary")
        if boundary is None or not _BOUNDARY.fullmatch(boundary):
            raise MalformedPayload("multipart/form-data without a valid boundary")
        return _multipart(body, boundary)
    raise MalformedPayload(f"a form body cannot be {media_type or 'untyped'}")


def _parameter(parameters: str, name: str) -> str | None:
    for item in parameters.split(";"):
        key, _, value = item.strip().partition("=")
        if key.strip().lower() == name:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            return value
    return None


def _urlencoded(body: bytes) -> Form:
    form = Form()
    pairs = [pair for pair in body.split(b"&") if pair]
    if len(pairs) > _MAX_FORM_FIELDS:
        raise MalformedPayload(f"more than {_MAX_FORM_FIELDS} form fields")
    for pair in pairs:
        name, _, value = pair.partition(b"=")
        key = decode_text(unquote_to_bytes(name.replace(b"+", b" ")))
        form.fields.setdefault(key, unquote_to_bytes(value.replace(b"+", b" ")))
    return form


def _multipart(body: bytes, boundary: str) -> Form:
    head = f'Content-Type: multipart/form-data; boundary="{boundary}"\r\n\r\n'.encode()
    form = Form()
    try:
        container = BytesParser(policy=email.policy.default).parsebytes(head + body)
        parts = container.get_payload() if container.is_multipart() else []
        if not isinstance(parts, list) or len(parts) > _MAX_FORM_FIELDS:
            raise MalformedPayload(f"the form has no parts or more than {_MAX_FORM_FIELDS}")
        for part in parts:
            if not isinstance(part, Message):
                continue
            name = part.get_param("name", header="content-disposition")
            if isinstance(name, tuple):  # RFC 2231 encoded
                name = email.utils.collapse_rfc2231_value(name)
            if not isinstance(name, str) or not name:
                continue
            payload = _payload_bytes(part)
            filename = part.get_filename()
            if filename is not None:
                # An upload: record what it is, never keep its bytes.
                form.files.append(FormFile(name, filename, part.get_content_type(), len(payload)))
            else:
                form.fields.setdefault(name, payload)
    except _MIME_ERRORS as exc:
        raise MalformedPayload(f"the multipart form cannot be read: {exc}") from None
    return form


def _payload_bytes(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def decode_text(value: bytes, charset: str | None = "utf-8") -> str:
    try:
        return value.decode(charset or "utf-8", "replace")
    except LookupError:
        return value.decode("utf-8", "replace")


# --- MIME -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Mail:
    """The parts of an e-mail the inbox keeps, from MIME or from a provider's fields."""

    message_id: str | None = None
    in_reply_to: str | None = None
    references: str | None = None
    sender: str | None = None  # the From header
    recipient: str | None = None
    subject: str | None = None
    date: str | None = None
    text: str = ""
    html: str | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    headers: list[list[str]] = field(default_factory=list)


def parse_headers(block: bytes) -> Mail:
    """A header block (SendGrid's ``headers`` field) without a body."""
    try:
        message = BytesParser(policy=email.policy.default).parsebytes(block, headersonly=True)
        return _headers_of(message)
    except _MIME_ERRORS as exc:
        raise MalformedPayload(f"the e-mail headers cannot be read: {exc}") from None


def parse_mime(data: bytes) -> Mail:
    """A whole message (SendGrid's raw ``email`` field, Mailgun's ``body-mime``)."""
    try:
        # policy.default builds EmailMessage objects (with get_body).
        message = BytesParser(policy=email.policy.default).parsebytes(data)
        mail = _headers_of(message)
        plain = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        mail.text = _part_text(plain) if plain is not None else ""
        mail.html = _part_text(html) if html is not None else None
        for part in _leaves(message):
            if part is plain or part is html:
                continue
            if part is message and not message.is_multipart():
                continue  # a single-part message that is not text: no body, no attachment
            mail.attachments.append(
                {
                    "filename": part.get_filename(),
                    "content_type": part.get_content_type(),
                    "size_bytes": _part_size(part),
                }
            )
    except _MIME_ERRORS as exc:
        raise MalformedPayload(f"the e-mail cannot be read: {exc}") from None
    return mail


def _headers_of(message: Message) -> Mail:
    def get(name: str) -> str | None:
        value = message.get(name)
        return None if value is None else str(value).strip() or None

    return Mail(
        message_id=get("Message-ID"),
        in_reply_to=get("In-Reply-To"),
        references=get("References"),
        sender=get("From"),
        recipient=get("To"),
        subject=get("Subject"),
        date=get("Date"),
        headers=[[name, str(value)] for name, value in message.items()],
    )


def _leaves(message: Message) -> list[Message]:
    """The message's non-multipart parts; an attached message counts as one part."""
    found: list[Message] = []
    stack = [message]
    while stack:
        part = stack.pop()
        if part.get_content_type() != "message/rfc822" and part.is_multipart():
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend(child for child in reversed(children) if isinstance(child, Message))
            continue
        found.append(part)
    return found


def _part_text(part: Message) -> str:
    return decode_text(_payload_bytes(part), part.get_content_charset())


def _part_size(part: Message) -> int:
    if part.is_multipart():  # an attached message/rfc822
        return len(part.as_bytes())
    return len(_payload_bytes(part))


# --- HTML -----------------------------------------------------------------------------------

# Boundaries that end a paragraph (a blank line) or a line; cells are separated by a space.
_PARAGRAPHS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "dl", "figure", "footer", "form"),
        *("h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "main", "nav", "ol", "p"),
        *("pre", "section", "table", "ul"),
    }
)
_LINES = frozenset({"dd", "div", "dt", "figcaption", "li", "tbody", "tfoot", "thead", "tr"})
_CELLS = frozenset({"td", "th"})
_SKIPPED = frozenset({"script", "style", "head", "title", "template", "noscript"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.skipping = 0
        self.preformatted = 0
        self.newlines = 0  # line breaks owed before the next text
        self.space = False  # a cell boundary owes a space

    def _boundary(self, tag: str) -> None:
        if tag in _PARAGRAPHS:
            self.newlines = max(self.newlines, 2)
        elif tag in _LINES:
            self.newlines = max(self.newlines, 1)
        elif tag in _CELLS:
            self.space = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self.skipping += 1
        elif tag == "br":
            self.chunks.append("\n")
        else:
            self._boundary(tag)
            self.preformatted += tag == "pre"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.chunks.append("\n")
        elif tag not in _SKIPPED:
            self._boundary(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self.skipping = max(0, self.skipping - 1)
            return
        self._boundary(tag)
        if tag == "pre":
            self.preformatted = max(0, self.preformatted - 1)

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        text = data if self.preformatted else re.sub(r"\s+", " ", data)
        if not self.preformatted and not text.strip():
            return
        if self.chunks and self.newlines:
            self.chunks.append("\n" * self.newlines)
        elif self.chunks and self.space:
            self.chunks.append(" ")
        if not self.preformatted and (not self.chunks or self.chunks[-1].endswith("\n")):
            text = text.lstrip()
        self.newlines, self.space = 0, False
        self.chunks.append(text)


def html_to_text(html: str) -> str:
    """Readable text from HTML: no tags, scripts or styles; block elements break lines."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except (AssertionError, ValueError, RecursionError):
        pass  # keep what was extracted before the parser gave up
    text = "\n".join(line.rstrip() for line in "".join(extractor.chunks).splitlines())
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# --- the normalised message -----------------------------------------------------------------


def message_id_key(value: str | None) -> str | None:
    """A Message-ID as a key: the first ``<id>`` (or the bare value), lower-cased."""
    if not value:
        return None
    match = _MESSAGE_ID.search(value)
    key = match.group(1) if match else value.strip().strip("<>").strip()
    return key.lower() or None


def reference_keys(value: str | None) -> list[str]:
    if not value:
        return []
    found = _MESSAGE_ID.findall(value) or value.split()
    return [key for key in (message_id_key(item) for item in found) if key]


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed.replace(tzinfo=parsed.tzinfo or UTC).astimezone(UTC)


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def normalize(mail: Mail, *, raw: dict[str, Any]) -> NormalizedMessage:
    """One inbound e-mail as a message (threading per the module docs of ``email``)."""
    own_key = message_id_key(mail.message_id)
    parent_key = message_id_key(mail.in_reply_to)
    references = reference_keys(mail.references)
    text = _lf(mail.text).strip()
    html = _lf(mail.html) if mail.html else None
    if not text and html:
        text = html_to_text(html)
    if own_key is None:
        # No Message-ID: the content itself is the identity (not the HTTP body, whose
        # multipart boundary, line endings, signature and timestamp may change when the
        # provider retries).
        identity = json.dumps(
            [mail.sender, mail.subject, mail.date, text, html, mail.attachments], default=str
        )
        own_key = "sha256:" + hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()
    name, address = email.utils.parseaddr(mail.sender or "")
    context: dict[str, Any] = {}
    if mail.subject:
        context["subject"] = mail.subject
    if mail.message_id:
        context["message_id"] = mail.message_id
    if mail.references:
        context["references"] = mail.references
    if mail.recipient:
        context["to"] = mail.recipient
    return NormalizedMessage(
        external_id=fit_key(own_key),
        thread_key=fit_key(references[0] if references else parent_key or own_key),
        kind=Kind.email,
        text=text,
        author=make_author(address.lower(), display_name=name or None) if address else None,
        parent_external_id=fit_key(parent_key) if parent_key else None,
        platform_created_at=_date(mail.date),
        attachments=tuple(mail.attachments),
        context=context,
        raw=raw,
    )
