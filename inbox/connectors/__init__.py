"""Outbound connectors: an agent's reply, sent back through the platform it came from.

One module per platform family, all behind :class:`inbox.connectors.base.Connector`.
Platforms without a connector (reviews, TikTok, LinkedIn, the generic channel) take no
replies: the API refuses them with 422.
"""

from __future__ import annotations

from app.errors import InvalidInput
from inbox.connectors.base import Connector
from inbox.connectors.email import EmailConnector
from inbox.connectors.meta import MetaConnector
from inbox.connectors.telegram import TelegramConnector
from inbox.connectors.x import XConnector
from inbox.connectors.youtube import YouTubeConnector


class RepliesUnsupported(InvalidInput):
    code = "replies_unsupported"


_ALL: tuple[Connector, ...] = (
    MetaConnector(),
    XConnector(),
    TelegramConnector(),
    YouTubeConnector(),
    EmailConnector(),
)
CONNECTORS: dict[str, Connector] = {
    platform: connector for connector in _ALL for platform in connector.platforms
}


def connector_for(platform: str) -> Connector:
    try:
        return CONNECTORS[platform]
    except KeyError:
        raise RepliesUnsupported(
            f"replies cannot be sent on {platform!r} channels; "
            f"platforms with replies: {', '.join(sorted(CONNECTORS))}"
        ) from None


def credential_keys(platform: str) -> tuple[str, ...]:
    connector = CONNECTORS.get(platform)
    return connector.credential_keys if connector is not None else ()
