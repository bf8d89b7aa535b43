"""What an operator enters in each platform's console after `leitstand channel create`.

Plain text lines per platform: where the setting lives, the callback URL, the verify token
or secret (ours when we chose it, else a reminder of which of the platform's secrets the
channel must hold), and which outbound credentials replies need.
"""

from __future__ import annotations

from collections.abc import Collection

from inbox.connectors import CONNECTORS

_META_FIELDS = {
    "facebook": "feed, mention, ratings (and messages for Messenger on the same Page)",
    "messenger": "messages, message_echoes, message_edits",
    "instagram": "comments, live_comments, mentions, messages, message_echoes",
    "whatsapp": "messages",
}
_META_WHERE = {
    "facebook": "Meta App Dashboard > Webhooks > Page",
    "messenger": "Meta App Dashboard > Messenger > Messenger API Settings > Configure webhooks",
    "instagram": "Meta App Dashboard > Instagram > API setup > Configure webhooks",
    "whatsapp": "Meta App Dashboard > WhatsApp > Configuration > Webhook",
}
_OUTBOUND_HINTS = {
    "facebook": "page_access_token (and page_id)",
    "messenger": "page_access_token (and page_id)",
    "instagram": "page_access_token (and ig_user_id; page_id with Facebook Login)",
    "whatsapp": "access_token and phone_number_id",
    "x": "access_token (OAuth 2.0 user context, tweet.write dm.write) and user_id",
    "telegram": "bot_token",
    "youtube": "access_token (OAuth 2.0, youtube.force-ssl) and channel_id",
}
_EMAIL_HINT = (
    "Replies go out by SMTP (LEITSTAND_SMTP_*, or the credentials smtp_host, smtp_port, "
    "smtp_username, smtp_password, smtp_starttls); from_address sets the sender"
)


def _missing(what: str) -> str:
    return f"  {what}: (not set; run again with --secret, or set it on the channel)"


def console_instructions(
    platform: str,
    *,
    webhook_url: str,
    secret: str | None,
    verify_token: str | None,
    outbound_keys: Collection[str] = (),
    channel_id: str = "{id}",
) -> list[str]:
    lines = _inbound(platform, webhook_url, secret=secret, verify_token=verify_token)
    if platform in CONNECTORS:
        have = f" (set: {', '.join(sorted(outbound_keys))})" if outbound_keys else ""
        if platform in _OUTBOUND_HINTS:
            lines.append(
                f"Replies need the outbound credentials {_OUTBOUND_HINTS[platform]}{have}:"
            )
        else:
            lines.append(f"{_EMAIL_HINT}{have}:")
        lines.append(f"  --credential KEY=VALUE, or PUT /api/v1/channels/{channel_id}/credentials")
    else:
        lines.append("Replies: this platform takes no replies from Leitstand.")
    return lines


def _inbound(platform: str, url: str, *, secret: str | None, verify_token: str | None) -> list[str]:
    if platform in _META_WHERE:
        return [
            f"In {_META_WHERE[platform]}:",
            f"  Callback URL: {url}",
            f"  Verify token: {verify_token}" if verify_token else _missing("Verify token"),
            f"  Subscribe to the fields: {_META_FIELDS[platform]}",
            "  App secret (App settings > Basic) must be this channel's secret"
            + ("" if secret else " -- none given: pass --secret <App Secret>"),
        ]
    if platform == "x":
        return [
            "In the X developer portal (your app's keys) and the X API:",
            f"  Register the webhook: POST /2/webhooks with url={url}",
            "  (X sends a CRC check to it, answered with this channel's secret)",
            "  Subscribe the account:",
            "    POST /2/account_activity/webhooks/{webhook_id}/subscriptions/all",
            "  API Key Secret (consumer secret) must be this channel's secret"
            + ("" if secret else " -- none given: pass --secret <API Key Secret>"),
        ]
    if platform == "youtube":
        return [
            "At the WebSub hub https://pubsubhubbub.appspot.com/subscribe:",
            f"  Callback URL: {url}",
            "  Topic URL: https://www.youtube.com/xml/feeds/videos.xml?channel_id=<CHANNEL ID>",
            "  Verify type: asynchronous; Mode: subscribe",
            f"  HMAC secret: {secret}" if secret else _missing("HMAC secret"),
            *([f"  Verify token: {verify_token}"] if verify_token else []),
            "  Renew the subscription before its lease ends (about every 5 days).",
        ]
    if platform == "telegram":
        return [
            "Tell Telegram (Bot API setWebhook) where to deliver and with which secret token:",
            f"  POST https://api.telegram.org/bot<BOT TOKEN>/setWebhook  url={url}"
            + (f"  secret_token={secret}" if secret else ""),
            *([] if secret else [_missing("secret_token")]),
        ]
    if platform == "mailgun":
        return [
            "In Mailgun > Receiving > Create route:",
            f'  Action: forward("{url}")',
            "  Webhook signing key (Settings > Webhooks) must be this channel's secret"
            + ("" if secret else " -- none given: pass --secret <signing key>"),
        ]
    if platform in ("sendgrid", "google-business", "trustpilot"):
        where = {
            "sendgrid": "SendGrid > Settings > Inbound Parse > Add Host & URL > Destination URL",
            "google-business": "Google Cloud Pub/Sub > your topic > push subscription > Endpoint",
            "trustpilot": "Trustpilot Business > Integrations > Developers > Webhooks > URL",
        }[platform]
        token = verify_token or "<verify token>"
        lines = [f"In {where}:", f"  {url}?token={token}"]
        if platform == "google-business":
            lines.append(
                "  Then grant mybusiness-api-pubsub@system.gserviceaccount.com publish rights on "
                "the topic and set the account's notificationSetting (NEW_REVIEW, UPDATED_REVIEW)."
            )
        if not verify_token:
            lines.append(_missing("URL token (--verify-token)"))
        return lines
    if platform == "tiktok":
        return [
            "In TikTok for Developers > your app > Webhooks:",
            f"  Callback URL: {url}",
            "  Client secret must be this channel's secret"
            + ("" if secret else " -- none given: pass --secret <client secret>"),
        ]
    if platform == "linkedin":
        return [
            "In the LinkedIn Developer Portal > your app > Webhooks:",
            f"  Endpoint URL: {url}",
            "  (LinkedIn validates it with a challenge answered with this channel's secret)",
            "  Client secret must be this channel's secret"
            + ("" if secret else " -- none given: pass --secret <client secret>"),
        ]
    # standard-webhooks and anything generic
    return [
        "Give the sender (Standard Webhooks / Svix compatible):",
        f"  Endpoint URL: {url}",
        f"  Signing secret: {secret}" if secret else _missing("Signing secret"),
    ]
