"""What every platform adapter implements.

An adapter knows one platform's handshake, signature scheme and payload shapes. It never
touches the database: verification and parsing are pure functions of the request, so they
can be property-tested in isolation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol

from app.errors import DomainError
from inbox.normalize import NormalizedMessage


class SignatureMissing(DomainError):
    status_code = 401
    code = "signature_missing"


class SignatureInvalid(DomainError):
    status_code = 403
    code = "signature_invalid"


class MalformedPayload(DomainError):
    status_code = 400
    code = "malformed_payload"


class HandshakeRefused(DomainError):
    status_code = 403
    code = "handshake_refused"


@dataclass(frozen=True, slots=True)
class ChannelCredentials:
    """The secrets an adapter needs; never logged, never returned by the API."""

    secret: str | None
    verify_token: str | None


@dataclass(frozen=True, slots=True)
class HandshakeReply:
    body: bytes
    media_type: str = "text/plain"
    headers: Mapping[str, str] | None = None


class PlatformAdapter(Protocol):
    platforms: ClassVar[tuple[str, ...]]
    # Content types a delivery may carry (compared without parameters such as charset).
    content_types: ClassVar[tuple[str, ...]]

    def handshake(self, creds: ChannelCredentials, query: Mapping[str, str]) -> HandshakeReply:
        """Answer the platform's GET verification request, or raise HandshakeRefused."""
        ...

    def verify(
        self,
        creds: ChannelCredentials,
        headers: Mapping[str, str],
        body: bytes,
        *,
        now_s: float,
        query: Mapping[str, str] | None = None,
    ) -> None:
        """Check the delivery's signature over the raw bytes; raise Signature* errors.

        ``query`` is the request's query string, for platforms that sign nothing and are
        protected by a token in the URL instead."""
        ...

    def parse(self, body: bytes, headers: Mapping[str, str]) -> list[NormalizedMessage]:
        """Turn a verified delivery into messages; raise MalformedPayload, nothing else."""
        ...
