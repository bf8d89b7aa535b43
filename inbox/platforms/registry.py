"""Which adapter serves which platform name (the names of ``--platform``)."""

from __future__ import annotations

from app.errors import NotFound
from inbox.platforms.base import PlatformAdapter
from inbox.platforms.email import MailgunAdapter, SendGridAdapter
from inbox.platforms.linkedin import LinkedInAdapter
from inbox.platforms.meta import MetaAdapter
from inbox.platforms.reviews import GoogleBusinessAdapter, TrustpilotAdapter
from inbox.platforms.standard_webhooks import StandardWebhooksAdapter
from inbox.platforms.telegram import TelegramAdapter
from inbox.platforms.tiktok import TikTokAdapter
from inbox.platforms.x import XAdapter
from inbox.platforms.youtube import YouTubeAdapter

_meta = MetaAdapter()

ADAPTERS: dict[str, PlatformAdapter] = {
    "facebook": _meta,
    "instagram": _meta,
    "messenger": _meta,
    "whatsapp": _meta,
    "standard-webhooks": StandardWebhooksAdapter(),
    "x": XAdapter(),
    "youtube": YouTubeAdapter(),
    "telegram": TelegramAdapter(),
    "mailgun": MailgunAdapter(),
    "sendgrid": SendGridAdapter(),
    "google-business": GoogleBusinessAdapter(),
    "trustpilot": TrustpilotAdapter(),
    "tiktok": TikTokAdapter(),
    "linkedin": LinkedInAdapter(),
}


def adapter_for(platform: str) -> PlatformAdapter:
    try:
        return ADAPTERS[platform]
    except KeyError:
        raise NotFound(f"no adapter for platform {platform!r}") from None
