"""Escalation policies on durable timers, driven by a hand-moved clock, on SQLite and
PostgreSQL: delays, repeats, acknowledgement, re-trigger after the acknowledgement timeout,
resolve, on-call rotations with overrides."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from app.clock import ManualClock
from tests.conftest import Running
from tests.escalation.conftest import Staff
from tests.escalation.support import T0, manual_clock, rows, scalar, timeline
from tests.helpers import bearer


async def make_policy(app: Running, staff: Staff, **overrides: Any) -> int:
    body = {
        "name": "Krisenstab",
        "levels": [
            {"delay_s": 300, "user_ids": [staff.pr_id]},
            {"delay_s": 600, "user_ids": [staff.admin_id]},
        ],
        "repeat_count": 1,
        "ack_timeout_s": 1800,
    } | overrides
    response = await app.client.post(
        "/api/v1/escalation-policies", json=body, headers=bearer(staff.admin)
    )
    assert response.status_code == 201, response.text
    policy_id: int = response.json()["id"]
    return policy_id


async def open_incident(app: Running, staff: Staff, policy_id: int) -> int:
    response = await app.client.post(
        "/api/v1/incidents",
        json={"title": "Babybrei", "severity": "critical", "policy_id": policy_id},
        headers=bearer(staff.pr),
    )
    assert response.status_code == 201, response.text
    incident_id: int = response.json()["id"]
    return incident_id


async def alerts(app: Running) -> list[Any]:
    """Who each escalation.alert went to, in order."""
    found = await rows(app.services, "SELECT user_ids FROM event WHERE type = 'escalation.alert'")
    return [
        r["user_ids"] if isinstance(r["user_ids"], list) else json.loads(r["user_ids"])
        for r in found
    ]


async def notified(app: Running, incident_id: int) -> list[tuple[int, int, str]]:
    entries = await rows(
        app.services,
        "SELECT data FROM incident_event WHERE incident_id = :i AND kind = 'escalation.notified' "
        "ORDER BY id",
        i=incident_id,
    )
    out = []
    for entry in entries:
        data = entry["data"] if isinstance(entry["data"], dict) else json.loads(entry["data"])
        out.append((data["level"], data["round"], data["trigger"]))
    return out


async def tick(app: Running, clock: ManualClock, seconds: float) -> int:
    clock.advance(seconds=seconds)
    fired: int = await app.services.escalation.scheduler.run_once()
    return fired


async def test_levels_escalate_after_their_delays_and_repeat(app: Running, staff: Staff) -> None:
    clock = manual_clock(app.services)
    incident_id = await open_incident(app, staff, await make_policy(app, staff))
    assert await alerts(app) == [[staff.pr_id]]

    assert await tick(app, clock, 299) == 0
    assert await tick(app, clock, 1) == 1  # level 2 after level 1's 300 s
    assert await alerts(app) == [[staff.pr_id], [staff.admin_id]]
    assert await tick(app, clock, 599) == 0
    assert await tick(app, clock, 1) == 1  # then level 1 again: the one repeat
    assert await tick(app, clock, 300) == 1
    assert await tick(app, clock, 600) == 0  # repeats used up: the escalation ends
    assert await tick(app, clock, 86_400) == 0

    assert await alerts(app) == [[staff.pr_id], [staff.admin_id], [staff.pr_id], [staff.admin_id]]
    assert await notified(app, incident_id) == [
        (1, 1, "policy.started"),
        (2, 1, "timer"),
        (1, 2, "timer"),
        (2, 2, "timer"),
    ]
    detail = (
        await app.client.get(f"/api/v1/incidents/{incident_id}", headers=bearer(staff.pr))
    ).json()
    assert detail["escalation_level"] == 2 and detail["escalation_round"] == 2
    assert detail["pending_timers"] == []
    fired_at = await rows(
        app.services, "SELECT fired_at FROM escalation_timer WHERE fired_at IS NOT NULL"
    )
    assert len(fired_at) == 3


async def test_acknowledgement_stops_and_the_ack_timeout_escalates_again(
    app: Running, staff: Staff
) -> None:
    clock = manual_clock(app.services)
    incident_id = await open_incident(app, staff, await make_policy(app, staff))
    assert await tick(app, clock, 300) == 1  # level 2 (the admin) is alerted

    acked = await app.client.post(
        f"/api/v1/incidents/{incident_id}/acknowledge", headers=bearer(staff.admin)
    )
    assert acked.status_code == 200, acked.text
    body = acked.json()
    assert body["status"] == "acknowledged" and body["acknowledged_by"] == staff.admin_id
    assert [t["kind"] for t in body["pending_timers"]] == ["ack_timeout"]
    assert body["pending_timers"][0]["due_at"].startswith(
        (clock.now() + timedelta(seconds=1800)).isoformat()[:19]
    )
    # Acknowledging twice changes nothing.
    again = await app.client.post(
        f"/api/v1/incidents/{incident_id}/acknowledge", headers=bearer(staff.pr)
    )
    assert again.status_code == 200 and again.json()["acknowledged_by"] == staff.admin_id

    assert await tick(app, clock, 600) == 0  # level 2's delay passes: nothing fires
    assert await tick(app, clock, 1199) == 0
    assert len(await alerts(app)) == 2
    assert await tick(app, clock, 1) == 1  # 1800 s acknowledged and unresolved
    detail = (
        await app.client.get(f"/api/v1/incidents/{incident_id}", headers=bearer(staff.pr))
    ).json()
    assert detail["status"] == "open"
    assert await alerts(app) == [[staff.pr_id], [staff.admin_id], [staff.pr_id]]
    assert (await notified(app, incident_id))[-1] == (1, 1, "acknowledgement.expired")

    resolved = await app.client.post(
        f"/api/v1/incidents/{incident_id}/resolve", headers=bearer(staff.pr)
    )
    assert resolved.json()["status"] == "resolved" and resolved.json()["pending_timers"] == []
    assert await tick(app, clock, 86_400) == 0
    assert len(await alerts(app)) == 3
    kinds = await timeline(app.services, incident_id)
    assert kinds.index("incident.acknowledged") < kinds.index("acknowledgement.expired")
    assert kinds[-1] == "incident.resolved"
    refused = await app.client.post(
        f"/api/v1/incidents/{incident_id}/acknowledge", headers=bearer(staff.pr)
    )
    assert refused.status_code == 409


async def test_resolve_stops_everything_and_a_claimed_timer_then_does_nothing(
    app: Running, staff: Staff
) -> None:
    clock = manual_clock(app.services)
    scheduler = app.services.escalation.scheduler
    incident_id = await open_incident(app, staff, await make_policy(app, staff))
    clock.advance(seconds=300)
    (claimed,) = await scheduler.claim()  # a scheduler took the timer ...
    await app.client.post(f"/api/v1/incidents/{incident_id}/resolve", headers=bearer(staff.pr))
    assert await scheduler.fire(claimed) is False  # ... but resolving cancelled it first
    assert (
        await scalar(
            app.services, "SELECT count(*) FROM escalation_timer WHERE fired_at IS NOT NULL"
        )
        == 0
    )
    assert await tick(app, clock, 86_400) == 0
    assert await alerts(app) == [[staff.pr_id]]


async def test_a_timer_fires_once_and_an_expired_lease_is_claimed_again(
    app: Running, staff: Staff
) -> None:
    clock = manual_clock(app.services)
    scheduler = app.services.escalation.scheduler
    await open_incident(app, staff, await make_policy(app, staff))
    clock.advance(seconds=300)
    (first,) = await scheduler.claim()
    assert await scheduler.claim() == []  # leased
    clock.advance(seconds=scheduler.lease_s + 1)  # the first claimant died
    (second,) = await scheduler.claim()
    assert second.id == first.id and second.attempts == 2
    assert await scheduler.fire(second) is True
    assert await scheduler.fire(second) is False
    assert len(await alerts(app)) == 2


async def test_rotation_targets_the_person_on_call_and_overrides_win(
    app: Running, staff: Staff
) -> None:
    clock = manual_clock(app.services)
    client = app.client
    rotation = await client.post(
        "/api/v1/oncall-rotations",
        json={
            "name": "PR on call",
            "participant_ids": [staff.pr_id, staff.admin_id],
            "handover_at": T0.isoformat(),
            "shift_s": 86_400,
        },
        headers=bearer(staff.admin),
    )
    assert rotation.status_code == 201, rotation.text
    rotation_id = rotation.json()["id"]
    assert rotation.json()["on_call_user_id"] == staff.pr_id
    override = await client.post(
        f"/api/v1/oncall-rotations/{rotation_id}/overrides",
        json={
            "user_id": staff.agent_id,
            "start_at": (T0 + timedelta(hours=1)).isoformat(),
            "end_at": (T0 + timedelta(hours=2)).isoformat(),
        },
        headers=bearer(staff.admin),
    )
    assert override.status_code == 201, override.text

    async def on_call(at: Any) -> Any:
        response = await client.get(
            f"/api/v1/oncall-rotations/{rotation_id}/on-call",
            params={"at": at.isoformat()},
            headers=bearer(staff.pr),
        )
        assert response.status_code == 200, response.text
        return response.json()["user_id"], response.json()["source"]

    assert await on_call(T0) == (staff.pr_id, "rotation")
    assert await on_call(T0 + timedelta(hours=1, minutes=30)) == (staff.agent_id, "override")
    assert await on_call(T0 + timedelta(days=1, hours=3)) == (staff.admin_id, "rotation")
    assert await on_call(T0 + timedelta(days=2)) == (staff.pr_id, "rotation")
    assert await on_call(T0 - timedelta(hours=1)) == (staff.admin_id, "rotation")

    policy_id = await make_policy(
        app, staff, levels=[{"delay_s": 3600, "rotation_ids": [rotation_id]}], repeat_count=3
    )
    clock.set(T0 + timedelta(minutes=30))
    await open_incident(app, staff, policy_id)  # pr on call
    clock.set(T0 + timedelta(minutes=90))
    assert await app.services.escalation.scheduler.run_once() == 1  # the override: agent
    assert await tick(app, clock, 3600) == 1  # 2:30, pr again
    clock.set(T0 + timedelta(days=1, minutes=31))
    assert await app.services.escalation.scheduler.run_once() == 1  # admin's shift
    assert await alerts(app) == [[staff.pr_id], [staff.agent_id], [staff.pr_id], [staff.admin_id]]
