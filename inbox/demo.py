"""``leitstand demo``: realistic traffic through the real webhook endpoints.

Creates (once) a Facebook page, an Instagram account, a WhatsApp number and a generic API
channel, then posts signed deliveries to a running service: everyday German and English
questions, praise and complaints, a shitstorm about a price increase, and one critical
message. Everything goes through ``/webhooks/{channel_id}`` exactly as the platforms send it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.channels import create_channel
from inbox.models import Channel

CRITICAL = "Euer Babybrei hat meinen Sohn ins Krankenhaus gebracht, mein Anwalt meldet sich"

EVERYDAY = [
    ("de", "Wann öffnet ihr am Samstag?"),
    ("de", "Gibt es den Haferbrei auch glutenfrei?"),
    ("de", "Danke für die superschnelle Lieferung, alles bestens angekommen!"),
    ("de", "Meine Bestellung 48213 ist seit zwei Wochen unterwegs, was ist da los?"),
    ("de", "Ich liebe die neue Sorte mit Apfel und Zimt 😍"),
    ("de", "Warum kann ich in der App nicht mehr mit PayPal zahlen?"),
    ("de", "Euer Kundenservice hat mich dreimal abgewimmelt. Echt enttäuschend."),
    (
        "de",
        "Guten Tag, hier ist die Redaktion des Stadtanzeigers. "
        "Wir bitten bis 16 Uhr um eine Stellungnahme zu den Rückrufen.",
    ),
    ("en", "Do you ship to Austria?"),
    ("en", "The app has been down since this morning, I can't log in at all!"),
    ("en", "Best customer service ever, thank you Julia!"),
    ("en", "I was charged twice for the same order. Please refund me."),
    ("en", "Is the oat porridge suitable for babies under 6 months?"),
    ("en", "Earn 5000 dollars a week from home!!! Click the link in my bio"),
    (
        "en",
        "Hi, I'm a reporter at the Daily Ledger working on a story about your recall. "
        "Could someone call me today?",
    ),
    ("en", "Your delivery driver threw the parcel over the fence and it broke."),
]

SHITSTORM = [
    "Schon wieder teurer?! {n} Prozent mehr für denselben Brei, ihr spinnt doch",
    "Preiserhöhung um {n}% – ich kaufe ab jetzt bei der Konkurrenz",
    "Unverschämte Preiserhöhung. Familien mit Kindern sind euch egal.",
    "Another price increase? {n}% more, seriously? Done with this brand.",
    "Die neue Preiserhöhung ist eine Frechheit, {n} Cent mehr pro Glas!",
    "Boykott! Diese Preise zahlt keiner mehr.",
]


@dataclass
class DemoChannel:
    id: str
    platform: str
    secret: str


async def ensure_demo_channels(session: AsyncSession) -> dict[str, DemoChannel]:
    wanted = {
        "facebook": "Demo: Facebook-Seite",
        "instagram": "Demo: Instagram",
        "whatsapp": "Demo: WhatsApp",
        "standard-webhooks": "Demo: Shop-Bewertungen (API)",
    }
    channels: dict[str, DemoChannel] = {}
    for platform, name in wanted.items():
        existing = (
            await session.execute(
                sa.select(Channel).where(
                    Channel.platform == platform,  # type: ignore[arg-type]
                    Channel.name == name,  # type: ignore[arg-type]
                )
            )
        ).scalar_one_or_none()
        channel = existing or await create_channel(
            session,
            platform=platform,
            name=name,
            secret=None if platform == "standard-webhooks" else secrets.token_hex(16),
            verify_token=secrets.token_hex(8),
        )
        assert channel.secret is not None
        channels[platform] = DemoChannel(channel.id, platform, channel.secret)
    return channels


def _meta_headers(secret: str, body: bytes) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"content-type": "application/json", "x-hub-signature-256": f"sha256={digest}"}


def _standard_headers(secret: str, body: bytes, msg_id: str) -> dict[str, str]:
    ts = str(int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": ts,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


def facebook_comment(text: str, *, post: str, author: tuple[str, str], now_s: int) -> bytes:
    comment_id = f"{post}_{secrets.token_hex(6)}"
    value = {
        "item": "comment",
        "verb": "add",
        "comment_id": comment_id,
        "post_id": post,
        "parent_id": post,
        "from": {"id": author[0], "name": author[1]},
        "created_time": now_s,
        "message": text,
    }
    entry = {"id": "100200300", "time": now_s, "changes": [{"field": "feed", "value": value}]}
    return json.dumps({"object": "page", "entry": [entry]}, ensure_ascii=False).encode()


def instagram_comment(text: str, *, media: str, author: tuple[str, str], now_s: int) -> bytes:
    value = {
        "id": secrets.token_hex(8),
        "text": text,
        "from": {"id": author[0], "username": author[1]},
        "media": {"id": media, "media_product_type": "FEED"},
    }
    entry = {"id": "17841400000", "time": now_s, "changes": [{"field": "comments", "value": value}]}
    return json.dumps({"object": "instagram", "entry": [entry]}, ensure_ascii=False).encode()


def whatsapp_message(text: str, *, author: tuple[str, str], now_s: int) -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "4930123456", "phone_number_id": "109876"},
        "contacts": [{"profile": {"name": author[1]}, "wa_id": author[0]}],
        "messages": [
            {
                "from": author[0],
                "id": f"wamid.{secrets.token_hex(12)}",
                "timestamp": str(now_s),
                "type": "text",
                "text": {"body": text},
            }
        ],
    }
    entry = {"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}
    return json.dumps(
        {"object": "whatsapp_business_account", "entry": [entry]}, ensure_ascii=False
    ).encode()


def generic_message(text: str, *, author: tuple[str, str, int], language: str) -> bytes:
    data = {
        "id": secrets.token_hex(8),
        "text": text,
        "author": {"id": author[0], "name": author[1], "followers": author[2]},
        "thread_id": f"review-{secrets.token_hex(4)}",
        "kind": "review",
        "language": language,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    envelope = {"type": "message.created", "timestamp": data["created_at"], "data": data}
    return json.dumps(envelope, ensure_ascii=False).encode()


NAMES = ["Anna Schmidt", "Jonas Weber", "Lea Fischer", "Mehmet Yilmaz", "Sophie Wagner",
         "Tom Becker", "Emily Clark", "Lukas Hoffmann", "Marie Schulz", "Noah Brown"]  # fmt: skip


async def replay(
    base_url: str,
    channels: dict[str, DemoChannel],
    *,
    pause_s: float = 0.2,
    shitstorm_size: int = 40,
    echo: Callable[[str], None] = print,
    seed: int = 7,
) -> dict[str, int]:
    """Post the demo traffic; returns counts of accepted deliveries by phase."""
    rng = random.Random(seed)
    counts = {"everyday": 0, "shitstorm": 0, "critical": 0}

    async def post(channel: DemoChannel, body: bytes) -> None:
        headers = (
            _standard_headers(channel.secret, body, f"msg_{secrets.token_hex(6)}")
            if channel.platform == "standard-webhooks"
            else _meta_headers(channel.secret, body)
        )
        response = await client.post(f"/webhooks/{channel.id}", content=body, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"{channel.platform}: {response.status_code} {response.text}")

    def author() -> tuple[str, str]:
        name = rng.choice(NAMES)
        return str(abs(hash(name)) % 10**12), name

    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        echo("everyday traffic …")
        for language, text in EVERYDAY:
            now_s = int(time.time())
            platform = rng.choice(["facebook", "instagram", "whatsapp", "standard-webhooks"])
            who = author()
            body: bytes
            if platform == "facebook":
                body = facebook_comment(text, post="100200300_555", author=who, now_s=now_s)
            elif platform == "instagram":
                body = instagram_comment(text, media="17900000001", author=who, now_s=now_s)
            elif platform == "whatsapp":
                body = whatsapp_message(
                    text, author=(f"49170{rng.randrange(10**7):07d}", who[1]), now_s=now_s
                )
            else:
                body = generic_message(
                    text, author=(who[0], who[1], rng.choice([40, 800, 48_000])), language=language
                )
            await post(channels[platform], body)
            counts["everyday"] += 1
            await asyncio.sleep(pause_s)

        echo(f"a shitstorm: {shitstorm_size} comments about a price increase …")
        for i in range(shitstorm_size):
            text = rng.choice(SHITSTORM).format(n=rng.choice([12, 15, 20, 25]))
            body = facebook_comment(
                text, post="100200300_777", author=(f"storm{i}", f"Fan {i}"), now_s=int(time.time())
            )
            await post(channels["facebook"], body)
            counts["shitstorm"] += 1
            await asyncio.sleep(pause_s / 4)

        echo("the critical message …")
        body = facebook_comment(
            CRITICAL, post="100200300_999", author=("4711", "Sandra Keller"), now_s=int(time.time())
        )
        await post(channels["facebook"], body)
        counts["critical"] += 1
    return counts


def channel_payload(channels: dict[str, DemoChannel]) -> dict[str, Any]:
    return {p: c.id for p, c in channels.items()}
