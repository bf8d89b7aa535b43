"""Replies by e-mail (the mailgun and sendgrid channels), through SMTP.

The reply answers the last e-mail of the thread (or the one the agent picked):

- ``From``: the channel credential ``from_address``, else the address the customer wrote
  to (the inbound mail's recipient), else ``LEITSTAND_SMTP_FROM``; the channel's name is
  the display name.
- ``To``: the author of the e-mail answered.
- ``Subject``: its subject with ``Re: `` in front (not doubled: ``Re:``, ``AW:``, ``SV:``,
  ``Antw:`` are kept as they are).
- ``In-Reply-To``: its Message-ID; ``References``: its References plus its Message-ID
  (RFC 5322 §3.6.4), so that mail clients and :mod:`inbox.platforms.email` thread it.
- ``Message-ID``: ``<uuid@sender-domain>``, derived from the reply's placeholder id, so every
  retry of one reply carries the same Message-ID (receivers that deduplicate on it see one
  mail). The reply is recorded under that Message-ID, normalised as inbound mail is, so a
  copy coming back through the inbound route is recognised as a duplicate.

SMTP: the server from ``LEITSTAND_SMTP_*``; a channel may override it with the credentials
``smtp_host``, ``smtp_port``, ``smtp_username``, ``smtp_password``, ``smtp_starttls``. Port
465 means implicit TLS; otherwise STARTTLS when enabled. The blocking ``smtplib`` client runs
in a worker thread. 4xx answers, disconnects and network errors are retried; 5xx answers
(a refused recipient, a failed login) are permanent.
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any, ClassVar

from inbox.connectors.base import DeliveryFailed, OutboundReply, SendResult, SmtpConfig, Transport

TEXT_LIMIT = 100_000
_REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|antw|wg)\s*:", re.IGNORECASE)
_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
_MAX_REFERENCES = 20


def message_id_key(value: str) -> str:
    """A Message-ID as inbound mail keys it (``inbox.platforms._mail.message_id_key``)."""
    match = _MESSAGE_ID.search(value)
    return (match.group(1) if match else value.strip().strip("<>").strip()).lower()


def reply_subject(subject: str | None) -> str:
    subject = (subject or "").strip()
    if not subject:
        return "Re: your message"
    return subject if _REPLY_PREFIX.match(subject) else f"Re: {subject}"


def _bracketed(message_id: str) -> str:
    message_id = message_id.strip()
    return message_id if message_id.startswith("<") else f"<{message_id}>"


def _first_address(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    addresses = [address for _, address in email.utils.getaddresses([value]) if "@" in address]
    return addresses[0] if addresses else None


def smtp_config(base: SmtpConfig, credentials: Mapping[str, str]) -> SmtpConfig:
    """The service's SMTP settings with the channel's own overrides applied."""
    config = base
    if credentials.get("smtp_host"):
        config = replace(config, host=credentials["smtp_host"])
    if credentials.get("smtp_port", "").isdigit():
        config = replace(config, port=int(credentials["smtp_port"]))
    if credentials.get("smtp_username"):
        config = replace(
            config,
            username=credentials["smtp_username"],
            password=credentials.get("smtp_password"),
        )
    if credentials.get("smtp_starttls"):
        config = replace(
            config, starttls=credentials["smtp_starttls"].lower() in ("1", "true", "yes")
        )
    return config


def build_reply_mail(reply: OutboundReply, default_from: str | None) -> EmailMessage:
    target = reply.target
    if target is None or not target.author_platform_id or "@" not in target.author_platform_id:
        raise DeliveryFailed(
            "the e-mail answered has no sender address to reply to", retryable=False
        )
    context = target.context
    from_address = (
        reply.credentials.get("from_address") or _first_address(context.get("to")) or default_from
    )
    if not from_address:
        raise DeliveryFailed(
            "no sender address: set the channel credential from_address or LEITSTAND_SMTP_FROM",
            retryable=False,
        )
    domain = from_address.rpartition("@")[2] or "leitstand.local"
    own_id = f"<{reply.placeholder_id.removeprefix('out:')}@{domain}>"
    parent_id = _bracketed(str(context.get("message_id") or target.external_id))
    references = _MESSAGE_ID.findall(str(context.get("references") or ""))
    chain = [f"<{ref}>" for ref in references if f"<{ref}>" != parent_id][-_MAX_REFERENCES:]

    mail = EmailMessage()
    mail["From"] = email.utils.formataddr((reply.channel_name, from_address))
    mail["To"] = email.utils.formataddr((target.author_name or "", target.author_platform_id))
    mail["Subject"] = reply_subject(str(context.get("subject") or reply.subject or ""))
    mail["Date"] = email.utils.format_datetime(datetime.now(UTC))
    mail["Message-ID"] = own_id
    mail["In-Reply-To"] = parent_id
    mail["References"] = " ".join([*chain, parent_id])
    mail.set_content(reply.text)
    return mail


def _send_sync(config: SmtpConfig, mail: EmailMessage) -> None:
    assert config.host is not None
    smtp: smtplib.SMTP
    if config.port == 465:
        smtp = smtplib.SMTP_SSL(
            config.host,
            config.port,
            timeout=config.timeout_s,
            context=ssl.create_default_context(),
        )
    else:
        smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout_s)
    with smtp:
        if config.port != 465 and config.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if config.username:
            smtp.login(config.username, config.password or "")
        smtp.send_message(mail)


def _smtp_failure(exc: Exception, secrets: tuple[str | None, ...]) -> DeliveryFailed:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        text = "; ".join(
            f"{rcpt}: {code} {msg.decode(errors='replace')}"
            for rcpt, (code, msg) in exc.recipients.items()
        )
        return DeliveryFailed(
            f"the mail server refused the recipient: {text}",
            retryable=all(400 <= code < 500 for code in codes),
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        message = exc.smtp_error
        text = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
        for secret in secrets:
            if secret:
                text = text.replace(secret, "***")
        return DeliveryFailed(
            f"the mail server answered {exc.smtp_code}: {text}",
            retryable=400 <= exc.smtp_code < 500,
            status_code=exc.smtp_code,
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return DeliveryFailed(f"the mail server does not support this: {exc}", retryable=False)
    return DeliveryFailed(
        f"could not reach the mail server: {type(exc).__name__}: {exc}", retryable=True
    )


class EmailConnector:
    platforms: ClassVar[tuple[str, ...]] = ("mailgun", "sendgrid")
    credential_keys: ClassVar[tuple[str, ...]] = (
        "from_address",
        "smtp_host",
        "smtp_port",
        "smtp_username",
        "smtp_password",
        "smtp_starttls",
    )

    def text_limit(self, platform: str, conversation_kind: str) -> int:
        return TEXT_LIMIT

    def missing_credentials(self, platform: str, credentials: Mapping[str, str]) -> list[str]:
        # The server and sender may come from the service's settings instead.
        return []

    def account_id(
        self, platform: str, credentials: Mapping[str, str], thread_key: str
    ) -> str | None:
        address = credentials.get("from_address")
        return address.lower() if address else None

    async def send(self, reply: OutboundReply, transport: Transport) -> SendResult:
        config = smtp_config(transport.smtp, reply.credentials)
        if not config.host:
            raise DeliveryFailed(
                "no SMTP server: set LEITSTAND_SMTP_HOST or the channel credential smtp_host",
                retryable=False,
            )
        mail = build_reply_mail(reply, config.from_address)
        try:
            await asyncio.to_thread(_send_sync, config, mail)
        except (smtplib.SMTPException, OSError) as exc:
            raise _smtp_failure(exc, (config.password,)) from None
        message_id = str(mail["Message-ID"])
        return SendResult(
            external_id=message_id_key(message_id),
            response={
                "message_id": message_id,
                "to": str(mail["To"]),
                "subject": str(mail["Subject"]),
                "in_reply_to": str(mail["In-Reply-To"]),
            },
        )
