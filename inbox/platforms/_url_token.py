"""Verification by a secret token in the webhook URL.

For platforms that sign nothing we can check (Trustpilot), or whose scheme we cannot
verify offline (Google's OIDC push tokens) or have no documentation for (SendGrid's inbound
signature headers), the operator enters the webhook URL with ``?token=<channel verify
token>`` in the platform's console; the token is compared in constant time.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from inbox.platforms.base import ChannelCredentials, SignatureInvalid, SignatureMissing

TOKEN_PARAMETER = "token"


def verify_url_token(creds: ChannelCredentials, query: Mapping[str, str] | None) -> None:
    token = (query or {}).get(TOKEN_PARAMETER)
    if not token:
        raise SignatureMissing("the webhook URL carries no ?token=")
    if not creds.verify_token:
        raise SignatureInvalid("the channel has no verify token")
    given = token.encode("utf-8", "surrogatepass")
    if not hmac.compare_digest(given, creds.verify_token.encode("utf-8", "surrogatepass")):
        raise SignatureInvalid("the URL token does not match")
