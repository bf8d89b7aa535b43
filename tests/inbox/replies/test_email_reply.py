"""An e-mail reply arrives at a local SMTP server (aiosmtpd) with the thread's headers; a
refused recipient fails the reply with the server's words. SQLite and PostgreSQL."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from inbox.normalize import Kind, NormalizedAuthor, NormalizedMessage
from inbox.platforms._mail import message_id_key
from people.models import Role
from tests.conftest import serve
from tests.helpers import add_user, bearer
from tests.inbox.replies.conftest import post_reply, reply_settings, seed, settled
from tests.inbox.replies.platform_server import PlatformServer

REFUSED = "gone@example.de"


class Mailbox:
    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], EmailMessage]] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address == REFUSED:
            return "550 5.1.1 <gone@example.de>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def inbound(author: str, message_id: str) -> NormalizedMessage:
    """An e-mail as inbox.platforms.email stores it."""
    return NormalizedMessage(
        external_id=message_id_key(message_id) or message_id,
        thread_key="root-1@mail.kunde.de",
        kind=Kind.email,
        text="Meine Lieferung 4711 ist seit einer Woche überfällig.",
        author=NormalizedAuthor(platform_id=author, display_name="Erika Mustermann"),
        parent_external_id="root-1@mail.kunde.de",
        context={
            "subject": "Re: Lieferung 4711",
            "message_id": message_id,
            "references": "<root-1@mail.kunde.de> <mid-2@brand.example>",
            "to": "Kundendienst <support@brand.example>",
        },
    )


async def test_email_reply_is_threaded(
    database_url: str, platform: PlatformServer, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp
    settings = reply_settings(
        database_url,
        platform.url,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_starttls=False,
        smtp_from="noreply@leitstand.example",
    )
    async with serve(settings) as app:
        _, token = await add_user(app.services, "agent@example.com", Role.agent)
        original = "<CAF-3@mail.kunde.de>"
        _, conversation_id, _ = await seed(
            app, "mailgun", [inbound("erika@kunde.de", original)], secret="signing-key"
        )
        response = await post_reply(app, token, conversation_id, "Sie ist heute unterwegs.")
        assert response.status_code == 202, response.text
        sent = await settled(app, token, response.json()["id"])
        assert sent["delivery_status"] == "sent", sent
        assert sent["kind"] == "email"

        ((mail_from, rcpt_tos, mail),) = mailbox.received
        assert mail_from == "support@brand.example"  # the address the customer wrote to
        assert rcpt_tos == ["erika@kunde.de"]
        assert mail["From"] == "mailgun test <support@brand.example>"
        assert mail["To"] == "Erika Mustermann <erika@kunde.de>"
        assert mail["Subject"] == "Re: Lieferung 4711"  # not "Re: Re:"
        assert mail["In-Reply-To"] == original
        assert mail["References"].split() == [
            "<root-1@mail.kunde.de>",
            "<mid-2@brand.example>",
            original,
        ]
        message_id = mail["Message-ID"]
        assert message_id.startswith("<") and message_id.endswith("@brand.example>")
        assert mail.get_content().strip() == "Sie ist heute unterwegs."
        # Recorded under the key inbound mail uses, so a copy coming back is a duplicate.
        assert sent["external_id"] == message_id_key(message_id)

        _, refused_id, _ = await seed(
            app, "mailgun", [inbound(REFUSED, "<x-9@kunde.de>")], secret="signing-key"
        )
        response = await post_reply(app, token, refused_id, "Hallo?")
        failed = await settled(app, token, response.json()["id"])
        assert failed["delivery_status"] == "failed"
        assert (
            "550" in failed["delivery_error"] and "mailbox unavailable" in failed["delivery_error"]
        )
        thread = await app.client.get(f"/api/v1/conversations/{refused_id}", headers=bearer(token))
        assert "mailbox unavailable" in thread.json()["messages"][-1]["delivery_error"]
        assert len(mailbox.received) == 1
