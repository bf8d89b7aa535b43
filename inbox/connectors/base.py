"""What every outbound connector implements, and the HTTP, retry and backoff rules they share.

A connector turns one agent reply (:class:`OutboundReply`, plain data read from the
database) into the platform's documented API request and returns the platform's id for
what it created. It never touches the database: :mod:`inbox.reply_delivery` claims the
reply, calls :meth:`Connector.send` and records the outcome.

Failures are :class:`DeliveryFailed` with ``retryable`` set by the platform's answer:

- 429 and 5xx, timeouts and connection errors are retryable; a platform that says how long
  to wait (``Retry-After`` as seconds or an HTTP date, X's ``x-rate-limit-reset``,
  Telegram's ``parameters.retry_after``) is obeyed, capped at ``retry_after_max_s``;
  otherwise the wait grows exponentially with jitter (:func:`retry_delay_s`);
- any other 4xx is permanent: the reply is marked failed with the platform's own error
  text, which the agent sees;
- a 2xx whose body has no id still counts as sent (sending again would post twice).

The same HTTP rules serve :class:`ContentFetcher`: platforms that notify without the
content (Instagram mentions, Google Business Profile reviews) are asked for it with
:func:`get_json` before triage (:mod:`inbox.content_fetch`).

Secrets (tokens, passwords) never appear in an error text: :func:`scrub` removes them, and
they are sent in headers rather than URLs wherever the platform allows it.
"""

from __future__ import annotations

import email.utils
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

import httpx

from inbox.normalize import NormalizedAuthor

ERROR_TEXT_CHARS = 1000


class DeliveryFailed(Exception):
    """A send that did not go through. ``retryable`` says whether trying again may help."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_after_s: float | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message[:ERROR_TEXT_CHARS]
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.status_code = status_code


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Platform API base URLs (settings, so that tests point them at a local server)."""

    meta_graph: str = "https://graph.facebook.com/v21.0"
    x_api: str = "https://api.x.com"
    telegram_api: str = "https://api.telegram.org"
    youtube_api: str = "https://www.googleapis.com"
    google_business_api: str = "https://mybusiness.googleapis.com"


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """The service-wide SMTP server; a channel's credentials may override each part."""

    host: str | None = None
    port: int = 587
    from_address: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    timeout_s: float = 15.0


@dataclass(frozen=True, slots=True)
class Transport:
    """What connectors send through: one shared HTTP client, the endpoints, SMTP."""

    http: httpx.AsyncClient
    endpoints: Endpoints = Endpoints()
    smtp: SmtpConfig = SmtpConfig()


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """The message an agent answers (an inbound message of the conversation, usually)."""

    external_id: str
    parent_external_id: str | None
    kind: str
    direction: str
    author_platform_id: str | None = None
    author_handle: str | None = None
    author_name: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class OutboundReply:
    """One reply to send, as plain data. ``placeholder_id`` (``out:<uuid>``) is stable across
    retries: connectors derive anything that must not change between attempts from it (the
    e-mail Message-ID)."""

    message_id: int
    placeholder_id: str
    text: str
    platform: str
    channel_id: str
    channel_name: str
    thread_key: str
    conversation_kind: str
    subject: str | None
    target: ReplyTarget | None
    credentials: Mapping[str, str] = field(default_factory=dict, repr=False)
    # The channel's signing secret (Meta: the app secret, for appsecret_proof).
    channel_secret: str | None = field(default=None, repr=False)
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the platform created. ``external_id`` is None when it answered 2xx without one."""

    external_id: str | None
    response: dict[str, Any] = field(default_factory=dict)
    note: str | None = None  # shown to the agent next to a successful send


class Connector(Protocol):
    platforms: ClassVar[tuple[str, ...]]
    # Keys a channel's outbound credentials may hold (`leitstand channel create --credential`).
    credential_keys: ClassVar[tuple[str, ...]]

    def text_limit(self, platform: str, conversation_kind: str) -> int:
        """The longest reply text the platform takes, in characters."""
        ...

    def missing_credentials(self, platform: str, credentials: Mapping[str, str]) -> list[str]:
        """The credential keys a reply on this platform needs and the channel lacks."""
        ...

    def account_id(
        self, platform: str, credentials: Mapping[str, str], thread_key: str
    ) -> str | None:
        """Our own account's platform id, the author of the replies (None: unknown)."""
        ...

    async def send(self, reply: OutboundReply, transport: Transport) -> SendResult:
        """Send the reply; raise :class:`DeliveryFailed` when it did not go through."""
        ...


# --- fetching what a notification left out --------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """A stored message whose platform notified without its content (``context.needs_fetch``),
    as plain data read from the database."""

    message_id: int
    platform: str
    external_id: str
    thread_key: str
    context: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    credentials: Mapping[str, str] = field(default_factory=dict, repr=False)
    channel_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class FetchedContent:
    """What the platform's API returned for it. ``None`` fields leave the stored value."""

    text: str
    author: NormalizedAuthor | None = None
    platform_created_at: datetime | None = None
    url: str | None = None
    # Added to the message's context (stars, like counts, ...).
    context: Mapping[str, Any] = field(default_factory=dict)


class ContentFetcher(Protocol):
    """Fetches the content of a notification from the platform's API (never the database);
    raises :class:`DeliveryFailed` like a send does (retryable or not)."""

    platforms: ClassVar[tuple[str, ...]]
    # Credential keys it reads (so that channels of platforms without replies take them).
    credential_keys: ClassVar[tuple[str, ...]]

    async def fetch(
        self, request: FetchRequest, transport: Transport, *, timeout_s: float | None = None
    ) -> FetchedContent: ...


# --- retry and backoff ------------------------------------------------------------------


def retry_delay_s(
    *,
    attempt: int,
    retry_after_s: float | None,
    base_s: float,
    max_s: float,
    retry_after_max_s: float,
    rng: random.Random | None = None,
) -> float:
    """How long to wait before attempt ``attempt + 1``.

    The platform's own wait wins (capped at ``retry_after_max_s``); otherwise exponential
    backoff ``base_s * 2**(attempt - 1)`` capped at ``max_s``, with "equal jitter" (half
    fixed, half random) so that many replies failing together do not retry together."""
    if retry_after_s is not None:
        return max(0.0, min(retry_after_s, retry_after_max_s))
    ceiling = min(max_s, base_s * 2 ** max(0, attempt - 1))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` (RFC 9110): delay seconds or an HTTP date; None when unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` without any of ``secrets`` (for error texts that may quote a URL)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def is_retryable_status(status_code: int) -> bool:
    return status_code == 429 or status_code >= 500


# --- HTTP ----------------------------------------------------------------------------------

ErrorText = Callable[[httpx.Response, Any], str]
Classifier = Callable[[httpx.Response, Any], bool]
RetryAfter = Callable[[httpx.Response, Any], float | None]


def response_json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def default_retry_after(response: httpx.Response, body: Any) -> float | None:
    return parse_retry_after(response.headers.get("retry-after"))


def default_error_text(response: httpx.Response, body: Any) -> str:
    text = response.text.strip() if body is None else str(body)
    return f"HTTP {response.status_code}: {text[:300] or response.reason_phrase}"


async def request_json(
    transport: Transport,
    method: str,
    url: str,
    *,
    json: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    error_text: ErrorText = default_error_text,
    retryable: Classifier | None = None,
    retry_after: RetryAfter = default_retry_after,
    secrets: Iterable[str | None] = (),
    timeout_s: float | None = None,
) -> Any:
    """One request to a platform API; the decoded answer of a 2xx, else
    :class:`DeliveryFailed` (retryable or not, as the module docs say).

    ``timeout_s`` overrides the client's timeout for this request."""
    secrets = tuple(secrets)
    extra: dict[str, Any] = {} if timeout_s is None else {"timeout": timeout_s}
    try:
        response = await transport.http.request(
            method,
            url,
            json=dict(json) if json is not None else None,
            headers=headers,
            params=params,
            **extra,
        )
    except httpx.TimeoutException as exc:
        # Ambiguous for a POST: the platform may have posted. Retried all the same (see
        # module docs).
        raise DeliveryFailed(
            f"the platform did not answer in time ({type(exc).__name__})", retryable=True
        ) from None
    except httpx.TransportError as exc:
        raise DeliveryFailed(
            f"could not reach the platform: {scrub(str(exc) or type(exc).__name__, secrets)}",
            retryable=True,
        ) from None
    body = response_json(response)
    if response.is_success:
        return body
    if response.is_redirect:
        raise DeliveryFailed(
            f"unexpected redirect (HTTP {response.status_code}) from the platform",
            retryable=False,
            status_code=response.status_code,
        )
    can_retry = (retryable or (lambda r, _: is_retryable_status(r.status_code)))(response, body)
    raise DeliveryFailed(
        scrub(error_text(response, body), secrets),
        retryable=can_retry,
        retry_after_s=retry_after(response, body) if can_retry else None,
        status_code=response.status_code,
    )


async def post_json(
    transport: Transport,
    url: str,
    *,
    json: Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    error_text: ErrorText = default_error_text,
    retryable: Classifier | None = None,
    retry_after: RetryAfter = default_retry_after,
    secrets: Iterable[str | None] = (),
) -> Any:
    """POST a JSON body; the decoded answer of a 2xx, else :class:`DeliveryFailed`."""
    return await request_json(
        transport,
        "POST",
        url,
        json=json,
        headers=headers,
        params=params,
        error_text=error_text,
        retryable=retryable,
        retry_after=retry_after,
        secrets=secrets,
    )


async def get_json(
    transport: Transport,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    error_text: ErrorText = default_error_text,
    retryable: Classifier | None = None,
    retry_after: RetryAfter = default_retry_after,
    secrets: Iterable[str | None] = (),
    timeout_s: float | None = None,
) -> Any:
    """GET a resource; the decoded answer of a 2xx, else :class:`DeliveryFailed`."""
    return await request_json(
        transport,
        "GET",
        url,
        headers=headers,
        params=params,
        error_text=error_text,
        retryable=retryable,
        retry_after=retry_after,
        secrets=secrets,
        timeout_s=timeout_s,
    )


def text_field(body: Any, *path: str) -> str | None:
    """``body[path[0]][path[1]]...`` as a string, or None when any step is missing."""
    node = body
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    if isinstance(node, bool) or node is None:
        return None
    if isinstance(node, str | int):
        return str(node) or None
    return None


def require(credentials: Mapping[str, str], key: str, platform: str) -> str:
    value = credentials.get(key)
    if not value:
        raise DeliveryFailed(
            f"the {platform} channel has no outbound credential {key!r}; "
            f"set it with `leitstand channel create --credential {key}=...` "
            "or PUT /api/v1/channels/{id}/credentials",
            retryable=False,
        )
    return value
