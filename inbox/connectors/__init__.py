"""Outbound connectors: an agent's reply, sent back through the platform it came from.

One module per platform family, all behind :class:`inbox.connectors.base.Connector`.
Platforms without a connector (reviews, TikTok, LinkedIn, the generic channel) take no
replies: the API refuses them with 422.

Platforms that notify without the content have a :class:`ContentFetcher` as well
(``FETCHERS``), which :mod:`inbox.content_fetch` calls before triage; the credentials it
reads are channel credentials like those of replies.
"""

from __future__ import annotations

from app.errors import InvalidInput
from inbox.connectors.base import Connector, ContentFetcher
from inbox.connectors.email import EmailConnector
from inbox.connectors.google import GoogleReviewFetcher
from inbox.connectors.meta import InstagramMentionFetcher, MetaConnector
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

_ALL_FETCHERS: tuple[ContentFetcher, ...] = (InstagramMentionFetcher(), GoogleReviewFetcher())
FETCHERS: dict[str, ContentFetcher] = {
    platform: fetcher for fetcher in _ALL_FETCHERS for platform in fetcher.platforms
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
    fetcher = FETCHERS.get(platform)
    keys = (connector.credential_keys if connector is not None else ()) + (
        fetcher.credential_keys if fetcher is not None else ()
    )
    return tuple(dict.fromkeys(keys))
