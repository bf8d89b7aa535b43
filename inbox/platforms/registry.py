"""Which adapter serves which platform name (the names of ``--platform``)."""

from __future__ import annotations

from app.errors import NotFound
from inbox.platforms.base import PlatformAdapter
from inbox.platforms.meta import MetaAdapter
from inbox.platforms.standard_webhooks import StandardWebhooksAdapter

_meta = MetaAdapter()

ADAPTERS: dict[str, PlatformAdapter] = {
    "facebook": _meta,
    "instagram": _meta,
    "messenger": _meta,
    "whatsapp": _meta,
    "standard-webhooks": StandardWebhooksAdapter(),
}


def adapter_for(platform: str) -> PlatformAdapter:
    try:
        return ADAPTERS[platform]
    except KeyError:
        raise NotFound(f"no adapter for platform {platform!r}") from None
