"""Escalation rules and policies under ``/api/v1``: managed by PR and admins."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter

from app.deps import SessionDep
from app.errors import NotFound
from escalation import policies, rules
from escalation.deps import IdPath, RuntimeDep, StaffPrincipal
from escalation.models import Policy
from escalation.schemas import (
    PolicyCreate,
    PolicyPublic,
    PolicyUpdate,
    RuleCreate,
    RulePublic,
    RuleUpdate,
)

router = APIRouter(prefix="/api/v1", tags=["escalation"])
policy_t = Policy.__table__  # type: ignore[attr-defined]


@router.get("/escalation-rules")
async def rule_list(_: StaffPrincipal, session: SessionDep) -> dict[str, Any]:
    """All rules in evaluation order (position, then id)."""
    return {"items": await rules.list_rules(session), "next_cursor": None}


@router.post("/escalation-rules", response_model=RulePublic, status_code=201)
async def rule_create(
    body: RuleCreate, principal: StaffPrincipal, session: SessionDep, runtime: RuntimeDep
) -> RulePublic:
    rule_id = await rules.create_rule(session, body=body, env=runtime, user_id=principal.id)
    return await rules.get_rule(session, rule_id)


@router.get("/escalation-rules/{rule_id}", response_model=RulePublic)
async def rule_get(rule_id: IdPath, _: StaffPrincipal, session: SessionDep) -> RulePublic:
    return await rules.get_rule(session, rule_id)


@router.patch("/escalation-rules/{rule_id}", response_model=RulePublic)
async def rule_update(
    rule_id: IdPath,
    body: RuleUpdate,
    _: StaffPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
) -> RulePublic:
    await rules.update_rule(session, rule_id=rule_id, body=body, env=runtime)
    return await rules.get_rule(session, rule_id)


@router.delete("/escalation-rules/{rule_id}", status_code=204)
async def rule_delete(rule_id: IdPath, _: StaffPrincipal, session: SessionDep) -> None:
    await rules.delete_rule(session, rule_id=rule_id)


async def _policy(session: SessionDep, policy_id: int) -> PolicyPublic:
    row = await policies.load_policy(session, policy_id)
    if row is None:
        raise NotFound(f"no policy {policy_id}")
    return PolicyPublic.model_validate(dict(row))


@router.get("/escalation-policies")
async def policy_list(_: StaffPrincipal, session: SessionDep) -> dict[str, Any]:
    rows = await session.execute(sa.select(policy_t).order_by(policy_t.c.id))
    return {
        "items": [PolicyPublic.model_validate(dict(r)) for r in rows.mappings()],
        "next_cursor": None,
    }


@router.post("/escalation-policies", response_model=PolicyPublic, status_code=201)
async def policy_create(
    body: PolicyCreate, _: StaffPrincipal, session: SessionDep, runtime: RuntimeDep
) -> PolicyPublic:
    policy_id = await policies.create_policy(session, body=body, env=runtime)
    return await _policy(session, policy_id)


@router.get("/escalation-policies/{policy_id}", response_model=PolicyPublic)
async def policy_get(policy_id: IdPath, _: StaffPrincipal, session: SessionDep) -> PolicyPublic:
    return await _policy(session, policy_id)


@router.patch("/escalation-policies/{policy_id}", response_model=PolicyPublic)
async def policy_update(
    policy_id: IdPath,
    body: PolicyUpdate,
    _: StaffPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
) -> PolicyPublic:
    """Changes apply to running escalations at their next step."""
    await policies.update_policy(session, policy_id=policy_id, body=body, env=runtime)
    return await _policy(session, policy_id)


@router.delete("/escalation-policies/{policy_id}", status_code=204)
async def policy_delete(policy_id: IdPath, _: StaffPrincipal, session: SessionDep) -> None:
    await policies.delete_policy(session, policy_id=policy_id)
