"""Escalation policies at work on an incident: notify a level, wait, move on, repeat, stop.

Semantics:

* Starting a policy notifies level 1 at once. ``delay_s`` of a level is how long it has to
  acknowledge: then the next level is notified; after the last level, level 1 again, for
  ``repeat_count`` more passes; then the escalation ends.
* Acknowledging cancels the pending timers; with ``ack_timeout_s`` an ``ack_timeout``
  timer is set, and if the incident is still acknowledged (not resolved) when it fires,
  the incident re-opens and the policy starts again from level 1.
* Resolving cancels everything.

Every transition bumps ``incident.escalation_epoch``; a timer carries the epoch it was set
in and does nothing when they differ. Acknowledging, resolving and firing all take the
incident's row lock first, so they are serialised.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, InvalidInput, NotFound
from escalation import incidents
from escalation.env import Env
from escalation.models import IncidentStatus, Policy, TimerKind
from escalation.notify.outbox import notify
from escalation.oncall import on_call
from escalation.references import check_ids, rules_referring
from escalation.schemas import PolicyCreate, PolicyUpdate
from escalation.timers import DueTimer, cancel_for_incident, schedule
from people.models import TeamMembership

policy_t = Policy.__table__  # type: ignore[attr-defined]
membership_t = TeamMembership.__table__  # type: ignore[attr-defined]

Row = Mapping[Any, Any]  # a result row mapping


async def load_policy(session: AsyncSession, policy_id: int) -> Row | None:
    return (
        (await session.execute(sa.select(policy_t).where(policy_t.c.id == policy_id)))
        .mappings()
        .first()
    )


# --- targets -------------------------------------------------------------------------------


async def level_recipients(
    session: AsyncSession, level: Mapping[str, Any], *, env: Env
) -> tuple[list[int], list[int], dict[str, Any]]:
    """The users and integrations a level reaches now, and how they were found."""
    user_ids = set(level.get("user_ids", []))
    team_ids = sorted(set(level.get("team_ids", [])))
    if team_ids:
        members = await session.execute(
            sa.select(membership_t.c.user_id).where(membership_t.c.team_id.in_(team_ids))
        )
        user_ids |= {uid for (uid,) in members}
    rotations = await on_call(session, rotation_ids=level.get("rotation_ids", []), at=env.now())
    user_ids |= {uid for uid in rotations.values() if uid is not None}
    detail = {"on_call": {str(rid): uid for rid, uid in rotations.items()}} if rotations else {}
    return sorted(user_ids), sorted(set(level.get("integration_ids", []))), detail


# --- transitions -----------------------------------------------------------------------------


async def _notify_level(
    session: AsyncSession,
    *,
    env: Env,
    incident: Row,
    policy: Row,
    level_index: int,
    round_: int,
    epoch: int,
    trigger: str,
) -> tuple[Row, list[dict[str, Any]]]:
    now = env.now()
    levels: list[dict[str, Any]] = policy["levels"]
    level = levels[level_index]
    user_ids, integration_ids, detail = await level_recipients(session, level, env=env)
    if level_index + 1 < len(levels):
        upcoming: tuple[int, int] | None = (level_index + 1, round_)
    elif round_ <= policy["repeat_count"]:
        upcoming = (0, round_ + 1)
    else:
        upcoming = None
    incident = await incidents.update(
        session,
        incident["id"],
        {
            "policy_id": policy["id"],
            "escalation_level": level_index + 1,
            "escalation_round": round_,
            "escalation_epoch": epoch,
            "updated_at": now,
        },
    )
    due_at = now + timedelta(seconds=int(level["delay_s"]))
    entries = [
        await incidents.add_event(
            session,
            incident_id=incident["id"],
            kind="escalation.notified",
            at=now,
            data={
                "policy_id": policy["id"],
                "policy_name": policy["name"],
                "level": level_index + 1,
                "round": round_,
                "trigger": trigger,
                "user_ids": user_ids,
                "integration_ids": integration_ids,
                **detail,
                "next": (
                    {"level": upcoming[0] + 1, "round": upcoming[1], "at": due_at.isoformat()}
                    if upcoming
                    else None
                ),
            },
        )
    ]
    entries += await notify(
        session,
        env=env,
        incident=incident,
        user_ids=user_ids,
        integration_ids=integration_ids,
        reason=f"level {level_index + 1} of {policy['name']!r}, round {round_}",
        context={"policy_id": policy["id"], "level": level_index + 1, "round": round_},
    )
    if upcoming is not None:
        await schedule(
            session,
            env=env,
            kind=TimerKind.escalate,
            due_at=due_at,
            incident_id=incident["id"],
            data={"epoch": epoch, "level_index": upcoming[0], "round": upcoming[1]},
        )
    return incident, entries


async def start_policy(
    session: AsyncSession,
    *,
    env: Env,
    incident_id: int,
    policy_id: int,
    actor_id: int | None = None,
    actor: str | None = None,
) -> Row:
    """(Re)start escalating an incident along a policy, from level 1."""
    incident = await incidents.load(session, incident_id, lock=True)
    if incident["status"] == IncidentStatus.resolved:
        raise Conflict(f"incident {incident_id} is resolved")
    policy = await load_policy(session, policy_id)
    if policy is None:
        raise InvalidInput(f"no policy {policy_id}", policy_id=policy_id)
    now = env.now()
    await cancel_for_incident(session, incident_id=incident_id, at=now)
    first = await incidents.add_event(
        session,
        incident_id=incident_id,
        kind="policy.started",
        at=now,
        data={"policy_id": policy_id, "policy_name": policy["name"]},
        actor_id=actor_id,
        actor=actor,
    )
    incident, entries = await _notify_level(
        session,
        env=env,
        incident=incident,
        policy=policy,
        level_index=0,
        round_=1,
        epoch=incident["escalation_epoch"] + 1,
        trigger="policy.started",
    )
    await incidents.emit_incident(session, incidents.INCIDENT_UPDATED, incident, [first, *entries])
    return incident


async def on_escalate_timer(session: AsyncSession, env: Env, timer: DueTimer) -> None:
    """Nobody acknowledged within the level's delay: notify the next level."""
    assert timer.incident_id is not None
    incident = await incidents.load(session, timer.incident_id)
    if (
        incident["status"] != IncidentStatus.open
        or incident["escalation_epoch"] != timer.data.get("epoch")
        or incident["policy_id"] is None
    ):
        return  # acknowledged, resolved or restarted since: a stale timer
    policy = await load_policy(session, incident["policy_id"])
    level_index = int(timer.data.get("level_index", 0))
    if policy is None or level_index >= len(policy["levels"]):
        entry = await incidents.add_event(
            session,
            incident_id=incident["id"],
            kind="escalation.stopped",
            at=env.now(),
            data={"why": "the policy was deleted or lost that level"},
        )
        await incidents.emit_incident(session, incidents.INCIDENT_UPDATED, incident, [entry])
        return
    incident, entries = await _notify_level(
        session,
        env=env,
        incident=incident,
        policy=policy,
        level_index=level_index,
        round_=int(timer.data.get("round", 1)),
        epoch=incident["escalation_epoch"],
        trigger="timer",
    )
    await incidents.emit_incident(session, incidents.INCIDENT_UPDATED, incident, entries)


async def on_ack_timeout(session: AsyncSession, env: Env, timer: DueTimer) -> None:
    """Acknowledged long ago and still not resolved: re-open and escalate from level 1."""
    assert timer.incident_id is not None
    incident = await incidents.load(session, timer.incident_id)
    if incident["status"] != IncidentStatus.acknowledged or incident[
        "escalation_epoch"
    ] != timer.data.get("epoch"):
        return
    now = env.now()
    incident = await incidents.update(
        session,
        incident["id"],
        {"status": IncidentStatus.open.value, "status_rank": 1, "updated_at": now},
    )
    entries = [
        await incidents.add_event(
            session,
            incident_id=incident["id"],
            kind="acknowledgement.expired",
            at=now,
            data={
                "acknowledged_by": incident["acknowledged_by"],
                "acknowledged_at": incident["acknowledged_at"].isoformat()
                if incident["acknowledged_at"]
                else None,
            },
        )
    ]
    policy = await load_policy(session, incident["policy_id"]) if incident["policy_id"] else None
    if policy is not None:
        incident, more = await _notify_level(
            session,
            env=env,
            incident=incident,
            policy=policy,
            level_index=0,
            round_=1,
            epoch=incident["escalation_epoch"] + 1,
            trigger="acknowledgement.expired",
        )
        entries += more
    await incidents.emit_incident(session, incidents.INCIDENT_UPDATED, incident, entries)


async def acknowledge(session: AsyncSession, *, env: Env, incident_id: int, user_id: int) -> Row:
    """Stop the escalation; an acknowledged incident that stays unresolved escalates again
    after the policy's ``ack_timeout_s``. Acknowledging twice changes nothing."""
    incident = await incidents.load(session, incident_id, lock=True)
    if incident["status"] == IncidentStatus.resolved:
        raise Conflict(f"incident {incident_id} is resolved")
    if incident["status"] == IncidentStatus.acknowledged:
        return incident
    now = env.now()
    epoch = incident["escalation_epoch"] + 1
    cancelled = await cancel_for_incident(session, incident_id=incident_id, at=now)
    incident = await incidents.update(
        session,
        incident_id,
        {
            "status": IncidentStatus.acknowledged.value,
            "status_rank": 2,
            "acknowledged_at": now,
            "acknowledged_by": user_id,
            "escalation_epoch": epoch,
            "owner_id": sa.func.coalesce(incidents.incident_t.c.owner_id, user_id),
            "updated_at": now,
        },
    )
    data: dict[str, Any] = {"level": incident["escalation_level"], "timers_cancelled": cancelled}
    policy = await load_policy(session, incident["policy_id"]) if incident["policy_id"] else None
    if policy is not None and policy["ack_timeout_s"]:
        due_at = now + timedelta(seconds=int(policy["ack_timeout_s"]))
        await schedule(
            session,
            env=env,
            kind=TimerKind.ack_timeout,
            due_at=due_at,
            incident_id=incident_id,
            data={"epoch": epoch},
        )
        data["escalates_again_at"] = due_at.isoformat()
    entry = await incidents.add_event(
        session,
        incident_id=incident_id,
        kind="incident.acknowledged",
        at=now,
        data=data,
        actor_id=user_id,
    )
    await incidents.emit_incident(session, incidents.INCIDENT_ACKNOWLEDGED, incident, [entry])
    return incident


async def resolve(session: AsyncSession, *, env: Env, incident_id: int, user_id: int) -> Row:
    """Stop everything; the dedup key is free for a new incident. Idempotent."""
    incident = await incidents.load(session, incident_id, lock=True)
    if incident["status"] == IncidentStatus.resolved:
        return incident
    now = env.now()
    cancelled = await cancel_for_incident(session, incident_id=incident_id, at=now)
    incident = await incidents.update(
        session,
        incident_id,
        {
            "status": IncidentStatus.resolved.value,
            "status_rank": 3,
            "resolved_at": now,
            "resolved_by": user_id,
            "escalation_epoch": incident["escalation_epoch"] + 1,
            "dedup_slot": None,
            "updated_at": now,
        },
    )
    entry = await incidents.add_event(
        session,
        incident_id=incident_id,
        kind="incident.resolved",
        at=now,
        data={"timers_cancelled": cancelled, "from": incident["status"]},
        actor_id=user_id,
    )
    await incidents.emit_incident(session, incidents.INCIDENT_RESOLVED, incident, [entry])
    return incident


# --- policy CRUD -----------------------------------------------------------------------------


async def check_level_references(session: AsyncSession, levels: list[Any]) -> None:
    for index, level in enumerate(levels):
        await check_ids(session, "user", level.user_ids, ["body", "levels", index, "user_ids"])
        await check_ids(session, "team", level.team_ids, ["body", "levels", index, "team_ids"])
        await check_ids(
            session, "rotation", level.rotation_ids, ["body", "levels", index, "rotation_ids"]
        )
        await check_ids(
            session,
            "integration",
            level.integration_ids,
            ["body", "levels", index, "integration_ids"],
        )


async def create_policy(session: AsyncSession, *, body: PolicyCreate, env: Env) -> int:
    await check_level_references(session, body.levels)
    now = env.now()
    policy_id: int = (
        await session.execute(
            sa.insert(policy_t)
            .values(
                name=body.name,
                description=body.description,
                levels=[level.model_dump() for level in body.levels],
                repeat_count=body.repeat_count,
                ack_timeout_s=body.ack_timeout_s,
                created_at=now,
                updated_at=now,
            )
            .returning(policy_t.c.id)
        )
    ).scalar_one()
    return policy_id


async def update_policy(
    session: AsyncSession, *, policy_id: int, body: PolicyUpdate, env: Env
) -> None:
    if await load_policy(session, policy_id) is None:
        raise NotFound(f"no policy {policy_id}")
    values: dict[str, Any] = {}
    fields = body.model_fields_set
    for name in ("name", "description", "repeat_count"):
        if name in fields and getattr(body, name) is not None:
            values[name] = getattr(body, name)
    if "ack_timeout_s" in fields:
        values["ack_timeout_s"] = body.ack_timeout_s
    if body.levels is not None:
        await check_level_references(session, body.levels)
        values["levels"] = [level.model_dump() for level in body.levels]
    if values:
        await session.execute(
            sa.update(policy_t)
            .where(policy_t.c.id == policy_id)
            .values(values | {"updated_at": env.now()})
        )


async def delete_policy(session: AsyncSession, *, policy_id: int) -> None:
    """Running escalations on it stop at their next step; rules that start it are refused
    until they are changed (the delete is refused while a rule refers to it)."""
    if await load_policy(session, policy_id) is None:
        raise NotFound(f"no policy {policy_id}")
    referring = await rules_referring(session, "start_policy", "policy_id", policy_id)
    if referring:
        raise Conflict(f"policy {policy_id} is started by rule {referring[0]}", rule_ids=referring)
    await session.execute(sa.delete(policy_t).where(policy_t.c.id == policy_id))
