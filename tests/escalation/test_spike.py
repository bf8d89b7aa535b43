"""Spike detection: volume and negativity per topic against a baseline, and the shitstorm
story, where no single comment is critical but the wave opens one incident and alerts once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from app.db import unit_of_work
from escalation.spike import SpikeDetector, bucket_start
from tests.conftest import Running, make_settings
from tests.escalation.conftest import Staff
from tests.escalation.support import T0, manual_clock, rows, scalar, store
from tests.helpers import add_channel, bearer

SHITSTORM_RULE = {
    "name": "Shitstorm",
    "conditions": {
        "all": [
            {"field": "category.complaint", "op": "gte", "value": 0.5},
            {"field": "spike.count", "op": "gte", "value": 20},
            {"field": "spike.ratio", "op": "gte", "value": 3},
            {"field": "spike.negative_share", "op": "gte", "value": 0.6},
        ]
    },
    "actions": [
        {
            "type": "open_incident",
            "title": "Welle: {top_category} auf {platform}",
            "severity": "high",
            "dedup_key": "spike:{top_category}",
            "window_minutes": 60,
            "attach_recent_minutes": 30,
        },
        {"type": "notify", "user_ids": []},
    ],
}


async def test_ratio_against_the_baseline(app: Running) -> None:
    settings = make_settings("sqlite://", spike_window_minutes=30, spike_baseline_hours=24)
    detector = SpikeDetector(settings)
    async with unit_of_work(app.services.sessionmaker) as session:
        # A steady day: 20 complaints every half hour, 10 of them negative.
        for half_hours in range(1, 49):
            at = T0 - timedelta(minutes=30 * half_hours)
            await detector.record(
                session, at=at, messages=[("complaint", i < 10) for i in range(20)]
            )
        await detector.record(session, at=T0, messages=[("complaint", True)] * 60)
        await detector.record(session, at=T0, messages=[("praise", False)] * 3)
        stats = await detector.stats(session, at=T0, topics={"complaint", "praise", "spam"})
    assert stats["complaint"].count == 60 and stats["complaint"].negative_share == 1.0
    assert 2.5 < stats["complaint"].ratio < 3.5  # 60 against about 20 expected
    # A quiet topic's baseline is floored, so that three messages are no spike.
    assert stats["praise"].count == 3 and stats["praise"].ratio == 3 / 5
    assert "spam" not in stats
    assert bucket_start(T0 + timedelta(seconds=59), 60) == T0


async def test_a_shitstorm_opens_one_incident_and_alerts_once(app: Running, staff: Staff) -> None:
    client, services = app.client, app.services
    rule = SHITSTORM_RULE | {
        "actions": [SHITSTORM_RULE["actions"][0], {"type": "notify", "user_ids": [staff.pr_id]}]
    }
    created = await client.post("/api/v1/escalation-rules", json=rule, headers=bearer(staff.pr))
    assert created.status_code == 201, created.text
    # Near the wall clock: messages are stamped with it when they are received.
    clock = manual_clock(services, start=datetime.now(UTC))
    channel = await add_channel(services, "facebook", secret="s")
    calm = [await store(services, channel, f"Danke, super Produkt {i}") for i in range(5)]
    await services.processor.process(calm)
    wave = []
    for i in range(60):
        wave.append(await store(services, channel, f"Der neue Preis ist eine Frechheit #{i}"))
    for start in range(0, 60, 15):
        clock.advance(seconds=60)
        batch = wave[start : start + 15]
        # Workers in parallel, as under load.
        await asyncio.gather(*(services.processor.process(batch[i::3]) for i in range(3)))

    (incident,) = await rows(services, "SELECT id, title, message_count FROM incident")
    assert incident["title"] == "Welle: complaint auf facebook"
    # It opened at about the 20th message of the wave and brought in the earlier ones; the
    # calm messages (another topic) stay out.
    attached = {
        r["message_id"] for r in await rows(services, "SELECT message_id FROM incident_message")
    }
    assert attached == set(wave) and incident["message_count"] == 60
    assert await scalar(services, "SELECT count(*) FROM event WHERE type = 'escalation.alert'") == 1
    trace = (await client.get(f"/api/v1/messages/{wave[-1]}", headers=bearer(staff.pr))).json()[
        "escalation"
    ][0]
    spike = {c["field"]: c["actual"] for c in trace["conditions"]}
    # Its batch ran alongside two others: it saw its own and what had committed.
    assert 45 <= spike["spike.count"] <= 60 and spike["spike.negative_share"] == 1.0
    assert spike["spike.ratio"] == spike["spike.count"] / 5  # against the floor of 5
