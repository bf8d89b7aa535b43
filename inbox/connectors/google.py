"""Google Business Profile: the review a Pub/Sub notification names, fetched.

The notification (``inbox.platforms.reviews``) carries only the review's resource name
(``accounts/{a}/locations/{l}/reviews/{r}``); the review itself is
``GET https://mybusiness.googleapis.com/v4/{reviewName}`` with an OAuth 2.0 access token
(scope ``business.manage``) in ``Authorization: Bearer``: the channel credential
``access_token``. It answers a ``Review``: ``{"name", "reviewId", "reviewer":
{"displayName", "profilePhotoUrl", "isAnonymous"}, "starRating": "ONE".."FIVE",
"comment", "createTime", "updateTime", "reviewReply"?}``. The reviewer has no id in the
API, so the author is the review's own (``reviewer:<reviewId>``) with the display name.

Errors are ``{"error": {"code", "message", "status"}}``; 429 and 5xx are retried, any other
4xx (an expired token's 401, a deleted review's 404) is permanent. Google replies are not
supported (channels of this platform take no replies).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from inbox.connectors.base import (
    DeliveryFailed,
    FetchedContent,
    FetchRequest,
    Transport,
    default_error_text,
    get_json,
    require,
    text_field,
)
from inbox.platforms._json import make_author, to_utc

STARS = {"ONE": 1, "TWO": 2, "THREE": 3, "FOUR": 4, "FIVE": 5}


def google_error_text(response: httpx.Response, body: Any) -> str:
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping) or not error.get("message"):
        return default_error_text(response, body)
    status = error.get("status")
    where = f"{status}, HTTP {response.status_code}" if status else f"HTTP {response.status_code}"
    return f"{error['message']} ({where})"


class GoogleReviewFetcher:
    platforms: ClassVar[tuple[str, ...]] = ("google-business",)
    credential_keys: ClassVar[tuple[str, ...]] = ("access_token",)

    async def fetch(
        self, request: FetchRequest, transport: Transport, *, timeout_s: float | None = None
    ) -> FetchedContent:
        token = require(request.credentials, "access_token", request.platform)
        review_name = text_field(request.context, "review_name") or request.thread_key
        if not review_name.startswith("accounts/") or ".." in review_name or "?" in review_name:
            raise DeliveryFailed(f"not a review resource name: {review_name!r}", retryable=False)
        body = await get_json(
            transport,
            f"{transport.endpoints.google_business_api.rstrip('/')}/v4/{review_name}",
            headers={"authorization": f"Bearer {token}"},
            error_text=google_error_text,
            secrets=(token,),
            timeout_s=timeout_s,
        )
        if not isinstance(body, Mapping):
            raise DeliveryFailed(
                "the Business Profile API answered without a review", retryable=False
            )
        found = body.get("reviewer")
        reviewer: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        review_id = text_field(body, "reviewId") or review_name.rsplit("/", 1)[-1]
        name = text_field(reviewer, "displayName")
        context: dict[str, Any] = {}
        stars = STARS.get(str(body.get("starRating")))
        if stars is not None:
            context["stars"] = stars
        if reviewer.get("isAnonymous") is True:
            context["reviewer_anonymous"] = True
        if updated := text_field(body, "updateTime"):
            context["review_updated_at"] = updated
        if reply := text_field(body, "reviewReply", "comment"):
            context["review_reply"] = reply
        created = text_field(body, "createTime")
        comment = body.get("comment")
        return FetchedContent(
            text=comment if isinstance(comment, str) else "",
            author=make_author(f"reviewer:{review_id}", display_name=name),
            platform_created_at=to_utc(created) if created else None,
            context=context,
        )
