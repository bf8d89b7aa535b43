"""MailgunAdapter and SendGridAdapter: signatures, URL tokens, forms, MIME and threading.

Expected values were written by reading ``../shared/webhooks/{mailgun,sendgrid}`` and SPEC.md
§9/§10. The SendGrid fixtures carry no Message-ID, so their ids are the documented content
hash; the Mailgun fixture is a signature object only, so the inbound e-mails Mailgun posts
are written here from its documentation (no sample was published).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from inbox.normalize import Kind, NormalizedAuthor, NormalizedMessage
from inbox.platforms._mail import html_to_text, message_id_key, reference_keys
from inbox.platforms.base import (
    ChannelCredentials,
    HandshakeRefused,
    MalformedPayload,
    SignatureInvalid,
    SignatureMissing,
)
from inbox.platforms.email import MailgunAdapter, SendGridAdapter
from tests.fixtures_shared import shared_path

MAILGUN = MailgunAdapter()
SENDGRID = SendGridAdapter()
SIGNING_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
MAILGUN_CREDS = ChannelCredentials(secret=SIGNING_KEY, verify_token=None)
URL_TOKEN = "sendgrid-url-token-5b1d"
SENDGRID_CREDS = ChannelCredentials(secret=None, verify_token=URL_TOKEN)
BOUNDARY = "xYzZY"
SENDGRID_CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
FORM = "application/x-www-form-urlencoded"
NOW_S = 1_795_420_800  # 2026-11-23 08:00:00 UTC


def at(year: int, month: int, day: int, hour: int, minute: int, second: int) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def mailgun_signed(timestamp: int, token: str = "a" * 50, key: str = SIGNING_KEY) -> dict[str, str]:
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"timestamp": str(timestamp), "token": token, "signature": signature}


def multipart(
    fields: dict[str, str],
    files: Sequence[tuple[str, str, str, bytes]] = (),
    *,
    boundary: str = BOUNDARY,
    newline: bytes = b"\r\n",
) -> bytes:
    """A multipart/form-data body; files are (field, filename, content type, bytes)."""
    chunks: list[bytes] = []
    for name, value in fields.items():
        chunks += [
            b"--" + boundary.encode(),
            f'Content-Disposition: form-data; name="{name}"'.encode(),
            b"",
            value.encode(),
        ]
    for name, filename, content_type, data in files:
        chunks += [
            b"--" + boundary.encode(),
            f'Content-Disposition: form-data; name="{name}"; filename="{filename}"'.encode(),
            f"Content-Type: {content_type}".encode(),
            b"",
            data,
        ]
    chunks.append(b"--" + boundary.encode() + b"--")
    return newline.join(chunks) + newline


# An inbound e-mail as a Mailgun route posts it (fields per "Receiving Messages via HTTP").
MAILGUN_HEADERS = [
    ["Received", "by mx.example.org"],
    ["Message-Id", "<CAF=Reply.42@Mail.Example.ORG>"],
    ["In-Reply-To", "<Original.1@stadtwerke.example>"],
    ["References", "<Root.0@stadtwerke.example> <Original.1@stadtwerke.example>"],
    ["Date", "Mon, 23 Nov 2026 09:00:00 +0100"],
    ["From", "Erika Muster <Erika@Example.org>"],
    ["Subject", "Re: Stromausfall"],
]
MAILGUN_FIELDS = {
    "recipient": "support@stadtwerke.example",
    "sender": "bounce+erika=example.org@mail.example.org",
    "from": "Erika Muster <Erika@Example.org>",
    "subject": "Re: Stromausfall",
    "body-plain": "Seit zwei Stunden kein Strom.\r\nMein Kühlschrank taut ab!\r\n",
    "stripped-text": "Seit zwei Stunden kein Strom.",
    "message-headers": json.dumps(MAILGUN_HEADERS),
}
MAILGUN_MESSAGE = NormalizedMessage(
    external_id="caf=reply.42@mail.example.org",
    thread_key="root.0@stadtwerke.example",  # the first id of References
    kind=Kind.email,
    text="Seit zwei Stunden kein Strom.\nMein Kühlschrank taut ab!",
    author=NormalizedAuthor(platform_id="erika@example.org", display_name="Erika Muster"),
    parent_external_id="original.1@stadtwerke.example",
    platform_created_at=at(2026, 11, 23, 8, 0, 0),
    context={
        "subject": "Re: Stromausfall",
        "message_id": "<CAF=Reply.42@Mail.Example.ORG>",
        "references": "<Root.0@stadtwerke.example> <Original.1@stadtwerke.example>",
        "to": "support@stadtwerke.example",
    },
)


def mailgun_delivery(timestamp: int = NOW_S, **fields: str) -> bytes:
    return urlencode(MAILGUN_FIELDS | mailgun_signed(timestamp) | fields).encode()


# --- Mailgun: the signature ---------------------------------------------------------------------


def load_signature_object() -> dict[str, str]:
    raw = shared_path("webhooks", "mailgun", "docs_signature_object.json").read_bytes()
    fields: dict[str, str] = json.loads(raw)
    return fields


def test_docs_signature_object_does_not_verify_with_any_key_of_ours() -> None:
    # "example values only": neither signature matches, at the object's own timestamp.
    fields = load_signature_object()
    body = urlencode(fields).encode()
    with pytest.raises(SignatureInvalid):
        MAILGUN.verify(MAILGUN_CREDS, {"content-type": FORM}, body, now_s=int(fields["timestamp"]))


def test_docs_token_and_timestamp_signed_with_our_key_verify_in_the_window() -> None:
    fields = load_signature_object()
    timestamp = int(fields["timestamp"])
    ours = fields | mailgun_signed(timestamp, fields["token"])
    body = urlencode(ours).encode()
    for now_s in (timestamp, timestamp + 300, timestamp - 300):
        MAILGUN.verify(MAILGUN_CREDS, {"content-type": FORM}, body, now_s=now_s)
    for now_s in (timestamp + 301, timestamp - 301):
        with pytest.raises(SignatureInvalid, match="replay"):
            MAILGUN.verify(MAILGUN_CREDS, {"content-type": FORM}, body, now_s=now_s)


def test_docs_parent_signature_is_accepted_when_it_matches() -> None:
    fields = load_signature_object()
    timestamp = int(fields["timestamp"])
    parent = mailgun_signed(timestamp, fields["token"])["signature"]
    body = urlencode(fields | {"parent-signature": parent}).encode()
    MAILGUN.verify(MAILGUN_CREDS, {"content-type": FORM}, body, now_s=timestamp)


def test_mailgun_signature_in_a_multipart_body() -> None:
    body = multipart(MAILGUN_FIELDS | mailgun_signed(NOW_S))
    MAILGUN.verify(MAILGUN_CREDS, {"content-type": SENDGRID_CONTENT_TYPE}, body, now_s=NOW_S)


@pytest.mark.parametrize(
    "fields",
    [
        mailgun_signed(NOW_S, key="another-key"),
        mailgun_signed(NOW_S) | {"token": "b" * 50},
        mailgun_signed(NOW_S) | {"timestamp": str(NOW_S + 1)},
        mailgun_signed(NOW_S) | {"timestamp": "soon"},
        mailgun_signed(NOW_S) | {"signature": "zz"},
    ],
)
def test_mailgun_forged_signature_is_403(fields: dict[str, str]) -> None:
    body = urlencode(MAILGUN_FIELDS | fields).encode()
    with pytest.raises(SignatureInvalid):
        MAILGUN.verify(MAILGUN_CREDS, {"content-type": FORM}, body, now_s=NOW_S)


@pytest.mark.parametrize("missing", ["timestamp", "token", "signature"])
def test_mailgun_missing_signature_field_is_401(missing: str) -> None:
    fields = {k: v for k, v in mailgun_signed(NOW_S).items() if k != missing}
    with pytest.raises(SignatureMissing):
        MAILGUN.verify(
            MAILGUN_CREDS, {"content-type": FORM}, urlencode(fields).encode(), now_s=NOW_S
        )


def test_mailgun_unreadable_body_has_no_signature() -> None:
    with pytest.raises(SignatureMissing):
        MAILGUN.verify(
            MAILGUN_CREDS, {"content-type": "multipart/form-data"}, b"--x--", now_s=NOW_S
        )


def test_mailgun_channel_without_signing_key_accepts_nothing() -> None:
    with pytest.raises(SignatureInvalid):
        MAILGUN.verify(
            ChannelCredentials(secret=None, verify_token=None),
            {"content-type": FORM},
            mailgun_delivery(),
            now_s=NOW_S,
        )


def test_there_is_no_handshake() -> None:
    for adapter in (MAILGUN, SENDGRID):
        with pytest.raises(HandshakeRefused):
            adapter.handshake(MAILGUN_CREDS, {})


# --- Mailgun: the e-mail ------------------------------------------------------------------------


def test_mailgun_urlencoded_email() -> None:
    body = mailgun_delivery()
    [message] = MAILGUN.parse(body, {"content-type": FORM})
    assert message == replace(MAILGUN_MESSAGE, raw=MAILGUN_FIELDS | mailgun_signed(NOW_S))


def test_mailgun_multipart_email_records_attachments_but_never_their_bytes() -> None:
    photo = b"\xff\xd8\xff\xe0" + b"\x00\r\n--xYz" * 100
    body = multipart(
        MAILGUN_FIELDS | mailgun_signed(NOW_S) | {"attachment-count": "2"},
        [
            ("attachment-1", "zaehler.jpg", "image/jpeg", photo),
            ("attachment-2", "Rechnung.pdf", "application/pdf", b"%PDF-1.4"),
        ],
    )
    [message] = MAILGUN.parse(body, {"content-type": SENDGRID_CONTENT_TYPE})
    assert message.attachments == (
        {"filename": "zaehler.jpg", "content_type": "image/jpeg", "size_bytes": len(photo)},
        {"filename": "Rechnung.pdf", "content_type": "application/pdf", "size_bytes": 8},
    )
    assert message.raw == MAILGUN_FIELDS | mailgun_signed(NOW_S) | {"attachment-count": "2"}
    assert replace(message, attachments=(), raw={}) == MAILGUN_MESSAGE


def test_mailgun_html_only_email_is_reduced_to_text() -> None:
    html = (
        "<html><head><style>p {color: red}</style><title>x</title></head><body>"
        "<p>Guten Tag,</p><p>der Z&auml;hler l&auml;uft <b>r&uuml;ckw&auml;rts</b>.</p>"
        "<script>alert('x')</script><ul><li>Eins</li><li>Zwei</li></ul></body></html>"
    )
    body = mailgun_delivery(**{"body-plain": "", "body-html": html})
    [message] = MAILGUN.parse(body, {"content-type": FORM})
    assert message.text == "Guten Tag,\n\nder Zähler läuft rückwärts.\n\nEins\nZwei"


def test_mailgun_headers_posted_as_fields_when_message_headers_is_absent() -> None:
    fields = {
        "from": "max@example.org",
        "subject": "Frage",
        "body-plain": "Hallo",
        "Message-Id": "<M1@example.org>",
        "In-Reply-To": "<M0@example.org>",
    }
    [message] = MAILGUN.parse(urlencode(fields).encode(), {"content-type": FORM})
    assert (message.external_id, message.thread_key, message.parent_external_id) == (
        "m1@example.org",
        "m0@example.org",  # no References: In-Reply-To
        "m0@example.org",
    )
    assert message.author == NormalizedAuthor(platform_id="max@example.org")


MIME = (
    b"From: =?utf-8?q?J=C3=BCrgen?= <juergen@example.org>\r\n"
    b"To: support@stadtwerke.example\r\n"
    b"Subject: =?utf-8?q?Geb=C3=BChren?=\r\n"
    b"Date: Mon, 23 Nov 2026 08:00:00 +0000\r\n"
    b"Message-ID: <Mime.1@example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n'
    b"\r\n"
    b"--b1\r\n"
    b"Content-Type: text/html; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"<div>Warum sind die Geb=FChren gestiegen?</div><div>Gr=FC=DFe</div>\r\n"
    b"--b1\r\n"
    b'Content-Type: application/pdf; name="brief.pdf"\r\n'
    b'Content-Disposition: attachment; filename="brief.pdf"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"JVBERi0xLjQK\r\n"
    b"--b1--\r\n"
)


def test_mailgun_raw_mime_mode() -> None:
    fields = mailgun_signed(NOW_S) | {
        "recipient": "support@stadtwerke.example",
        "from": "Jürgen <juergen@example.org>",
        "subject": "Gebühren",
        "body-mime": MIME.decode(),
    }
    body = urlencode(fields).encode()
    [message] = MAILGUN.parse(body, {"content-type": FORM})
    assert replace(message, raw={}) == NormalizedMessage(
        external_id="mime.1@example.org",
        thread_key="mime.1@example.org",  # a new thread: its own id
        kind=Kind.email,
        text="Warum sind die Gebühren gestiegen?\nGrüße",
        author=NormalizedAuthor(platform_id="juergen@example.org", display_name="Jürgen"),
        platform_created_at=at(2026, 11, 23, 8, 0, 0),
        attachments=(
            {"filename": "brief.pdf", "content_type": "application/pdf", "size_bytes": 9},
        ),
        context={
            "subject": "Gebühren",
            "message_id": "<Mime.1@example.org>",
            "to": "support@stadtwerke.example",
        },
    )
    assert "body-mime" not in message.raw
    assert ["Message-ID", "<Mime.1@example.org>"] in message.raw["mime_headers"]


@pytest.mark.parametrize(
    ("body", "content_type", "complaint"),
    [
        (b"timestamp=1&token=2&signature=3", FORM, "not an inbound e-mail"),
        (b"body-plain=x&message-headers=%7B", FORM, "message-headers is not valid JSON"),
        (b"body-plain=x&message-headers=%7B%7D", FORM, "JSON list"),
        (b"body-plain=x", "application/json", "cannot be application/json"),
        (b"body-plain=x", "multipart/form-data", "boundary"),
        (b"body-plain=x", 'multipart/form-data; boundary="a\r\nb"', "boundary"),
        (b"a=1&" * 2000, FORM, "more than 1000 form fields"),
    ],
)
def test_mailgun_malformed(body: bytes, content_type: str, complaint: str) -> None:
    with pytest.raises(MalformedPayload, match=complaint):
        MAILGUN.parse(body, {"content-type": content_type})


# --- SendGrid: the URL token ----------------------------------------------------------------


def test_sendgrid_url_token_verifies() -> None:
    SENDGRID.verify(SENDGRID_CREDS, {}, b"", now_s=0, query={"token": URL_TOKEN})


@pytest.mark.parametrize(
    ("creds", "query", "error"),
    [
        (SENDGRID_CREDS, {"token": "wrong"}, SignatureInvalid),
        (SENDGRID_CREDS, {"token": URL_TOKEN + "x"}, SignatureInvalid),
        (SENDGRID_CREDS, {}, SignatureMissing),
        (SENDGRID_CREDS, None, SignatureMissing),
        (ChannelCredentials(secret=None, verify_token=None), {"token": "x"}, SignatureInvalid),
    ],
)
def test_sendgrid_url_token_refused(
    creds: ChannelCredentials, query: dict[str, str] | None, error: type[Exception]
) -> None:
    with pytest.raises(error):
        SENDGRID.verify(creds, {}, b"", now_s=0, query=query)


# --- SendGrid: every fixture in ../shared/webhooks/sendgrid ----------------------------------

EXAMPLE_USER = NormalizedAuthor(platform_id="test@example.com", display_name="Example User")
# No Message-ID in these samples: the id is "sha256:" + the hash of their content.
SENDGRID_DEFAULT = NormalizedMessage(
    external_id="sha256:a36b0c6116214f5a283a336b58300eaf6f5b7689f475aa3a0f62bb118d28568d",
    thread_key="sha256:a36b0c6116214f5a283a336b58300eaf6f5b7689f475aa3a0f62bb118d28568d",
    kind=Kind.email,
    text="Hello Twilio SendGrid!",
    author=EXAMPLE_USER,
    platform_created_at=at(2016, 8, 11, 1, 10, 13),
    # SendGrid's own subject field wins over the (different) Subject in the sample headers.
    context={"subject": "Testing non-raw", "to": "inbound@inbound.example.com"},
)
SENDGRID_RAW = NormalizedMessage(
    external_id="sha256:ae29d53bcf20a6554bd4f8036243cda2ac511cedfc8bbbcf73ae2b01deedbf25",
    thread_key="sha256:ae29d53bcf20a6554bd4f8036243cda2ac511cedfc8bbbcf73ae2b01deedbf25",
    kind=Kind.email,
    text="Hello Twilio SendGrid!",
    author=EXAMPLE_USER,
    platform_created_at=at(2016, 8, 10, 21, 44, 21),
    context={"subject": "Testing with Request.bin", "to": "inbound@inbound.inbound.com"},
)


def as_is(body: bytes) -> bytes:
    return body


BodyBuilder = Callable[[bytes], bytes]
# fixture -> (how it is posted, expected messages without raw)
SHARED_SENDGRID_CASES: dict[str, tuple[BodyBuilder, list[NormalizedMessage]]] = {
    "sendgrid/inbound_parse_default_multipart.txt": (as_is, [SENDGRID_DEFAULT]),
    "sendgrid/inbound_parse_raw_multipart.txt": (as_is, [SENDGRID_RAW]),
    "sendgrid/inbound_parse_raw_with_attachments_multipart.txt": (
        as_is,
        [
            replace(
                SENDGRID_RAW,
                external_id="sha256:068f8ed7a29fbc02f7d1f9782a7a37ca211f0f87974a3d61964ea81db18aee00",
                thread_key="sha256:068f8ed7a29fbc02f7d1f9782a7a37ca211f0f87974a3d61964ea81db18aee00",
                platform_created_at=at(2016, 8, 15, 20, 47, 21),
                attachments=(
                    {"filename": "SendGrid.jpg", "content_type": "image/jpeg", "size_bytes": 10295},
                ),
                context={"subject": "Raw Payload", "to": "inbound@inbound.inbound.com"},
            )
        ],
    ),
}
SENDGRID_RAW_FIELDS = {
    "sendgrid/inbound_parse_default_multipart.txt": {
        "headers", "dkim", "to", "html", "from", "text", "sender_ip", "envelope",
        "attachments", "subject", "charsets", "SPF",
    },
    "sendgrid/inbound_parse_raw_multipart.txt": {
        "dkim", "to", "from", "sender_ip", "envelope", "subject", "charsets", "SPF",
        "mime_headers",
    },
}  # fmt: skip
SENDGRID_RAW_FIELDS["sendgrid/inbound_parse_raw_with_attachments_multipart.txt"] = (
    SENDGRID_RAW_FIELDS["sendgrid/inbound_parse_raw_multipart.txt"]
)


def parse_sendgrid(body: bytes) -> list[NormalizedMessage]:
    return SENDGRID.parse(body, {"content-type": SENDGRID_CONTENT_TYPE})


@pytest.mark.parametrize("fixture", sorted(SHARED_SENDGRID_CASES))
def test_shared_sendgrid_fixture(fixture: str) -> None:
    body = shared_path("webhooks", *fixture.split("/")).read_bytes()
    build, expected = SHARED_SENDGRID_CASES[fixture]
    messages = parse_sendgrid(build(body))
    assert [replace(message, raw={}) for message in messages] == expected
    [message] = messages
    # raw holds the text fields only: never the raw MIME, never attachment bytes.
    assert set(message.raw) == SENDGRID_RAW_FIELDS[fixture]
    assert len(json.dumps(message.raw)) < 2000


@pytest.mark.parametrize("fixture", sorted(SHARED_SENDGRID_CASES))
def test_shared_sendgrid_fixture_with_crlf_line_endings(fixture: str) -> None:
    lf = shared_path("webhooks", *fixture.split("/")).read_bytes()
    assert b"\r\n" not in lf  # the published samples use LF
    crlf = lf.replace(b"\n", b"\r\n")
    _, expected = SHARED_SENDGRID_CASES[fixture]
    # Same message, same id: line endings are not part of its identity.
    assert [replace(m, raw={}) for m in parse_sendgrid(crlf)] == expected


def test_every_email_fixture_has_a_case() -> None:
    present = {f"sendgrid/{path.name}" for path in shared_path("webhooks", "sendgrid").glob("*")}
    assert present == set(SHARED_SENDGRID_CASES)
    mailgun = {path.name for path in shared_path("webhooks", "mailgun").glob("*")}
    assert mailgun == {"docs_signature_object.json"}  # covered by the signature tests above


# --- SendGrid: our own deliveries ---------------------------------------------------------------


def test_own_sendgrid_reply_threads_on_references_and_decodes_charsets() -> None:
    headers = (
        "Message-ID: <SG.2@example.org>\r\n"
        "In-Reply-To: <SG.1@stadtwerke.example>\r\n"
        "References: <SG.0@stadtwerke.example>\r\n <SG.1@stadtwerke.example>\r\n"
        "Date: Mon, 23 Nov 2026 08:00:00 +0000\r\n"
    )
    fields = {
        "headers": headers,
        "from": "Anna <anna@example.org>",
        "to": "support@stadtwerke.example",
        "subject": "AW: Abschlag",
        "charsets": json.dumps({"text": "iso-8859-1", "subject": "UTF-8"}),
    }
    body = multipart(fields, [("attachment1", "foto.png", "image/png", b"\x89PNG....")])
    body = body.replace(
        b"--xYzZY--",
        b'--xYzZY\r\nContent-Disposition: form-data; name="text"'
        b"\r\n\r\nGr\xfc\xdfe aus K\xf6ln\r\n--xYzZY--",
    )
    [message] = parse_sendgrid(body)
    assert replace(message, raw={}) == NormalizedMessage(
        external_id="sg.2@example.org",
        thread_key="sg.0@stadtwerke.example",
        kind=Kind.email,
        text="Grüße aus Köln",
        author=NormalizedAuthor(platform_id="anna@example.org", display_name="Anna"),
        parent_external_id="sg.1@stadtwerke.example",
        platform_created_at=at(2026, 11, 23, 8, 0, 0),
        attachments=({"filename": "foto.png", "content_type": "image/png", "size_bytes": 8},),
        context={
            "subject": "AW: Abschlag",
            "message_id": "<SG.2@example.org>",
            "references": "<SG.0@stadtwerke.example> <SG.1@stadtwerke.example>",
            "to": "support@stadtwerke.example",
        },
    )


def test_own_sendgrid_email_without_any_date_or_sender() -> None:
    [message] = parse_sendgrid(multipart({"text": "nur Text"}))
    assert (message.author, message.platform_created_at, message.text) == (None, None, "nur Text")
    assert message.external_id.startswith("sha256:")


@pytest.mark.parametrize(
    ("body", "content_type", "complaint"),
    [
        (multipart({"dkim": "pass"}), SENDGRID_CONTENT_TYPE, "not an Inbound Parse delivery"),
        (b"", SENDGRID_CONTENT_TYPE, "not an Inbound Parse delivery"),
        (multipart({"text": "x"}), "multipart/form-data; boundary=", "boundary"),
    ],
)
def test_sendgrid_malformed(body: bytes, content_type: str, complaint: str) -> None:
    with pytest.raises(MalformedPayload, match=complaint):
        SENDGRID.parse(body, {"content-type": content_type})


# --- threading and HTML helpers -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("<ABC@Example.org>", "abc@example.org"),
        ("  <abc@example.org>  (comment)", "abc@example.org"),
        ("abc@example.org", "abc@example.org"),
        ("<>", None),
        ("", None),
        (None, None),
    ],
)
def test_message_id_key(value: str | None, key: str | None) -> None:
    assert message_id_key(value) == key


def test_reference_keys_keep_their_order() -> None:
    assert reference_keys("<R0@x>\r\n <R1@x> <R2@x>") == ["r0@x", "r1@x", "r2@x"]
    assert reference_keys("r0@x r1@x") == ["r0@x", "r1@x"]


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>a</p><p>b</p>", "a\n\nb"),
        ("a<br>b<br/>c", "a\nb\nc"),
        ("<div>  viele    Leerzeichen\n und Zeilen </div>", "viele Leerzeichen und Zeilen"),
        ("<pre>  code\n  block</pre>", "code\n  block"),
        ("<style>x{}</style><script>if (a < b) {}</script>sichtbar", "sichtbar"),
        ("&lt;kein Tag&gt; &amp; &#x1F600;", "<kein Tag> & 😀"),
        ("<table><tr><td>1</td><td>2</td></tr><tr><td>3</td></tr></table>", "1 2\n3"),
        ("<div>Zeile</div><div>Zeile</div><p>Absatz</p>", "Zeile\nZeile\n\nAbsatz"),
        ("<p>offen", "offen"),
        ("<<<>>>", "<<<>>>"),
        ("", ""),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_raw_never_holds_the_mime() -> None:
    body = shared_path(
        "webhooks", "sendgrid", "inbound_parse_raw_with_attachments_multipart.txt"
    ).read_bytes()
    [message] = parse_sendgrid(body)
    assert "email" not in message.raw
    assert "CiiigAooooAKKKKACiiigAooooAKKKKACiiigAooooA" not in json.dumps(message.raw)
