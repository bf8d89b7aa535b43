"""Escalation rules: stored as JSON, validated on save, compiled once per version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound
from app.logging import get_logger
from escalation.conditions import Condition, ConditionAdapter, dump, predicates
from escalation.env import Env
from escalation.models import Rule
from escalation.references import check_ids
from escalation.schemas import (
    Action,
    AddLabels,
    Assign,
    Notify,
    RouteTeam,
    RuleCreate,
    RulePublic,
    RuleUpdate,
    StartPolicy,
)

log = get_logger(__name__)
rule_t = Rule.__table__  # type: ignore[attr-defined]
ActionsAdapter: TypeAdapter[list[Action]] = TypeAdapter(list[Action])
POSITION_STEP = 10


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: int
    name: str
    stop: bool
    condition: Condition
    actions: tuple[Action, ...]
    uses_spike: bool


_compiled: dict[tuple[int, bytes], CompiledRule] = {}


def compile_rule(row: Mapping[Any, Any]) -> CompiledRule | None:
    key = (row["id"], orjson.dumps([row["name"], row["stop"], row["conditions"], row["actions"]]))
    rule = _compiled.get(key)
    if rule is None:
        try:
            condition = ConditionAdapter.validate_python(row["conditions"])
            actions = tuple(ActionsAdapter.validate_python(row["actions"]))
        except ValidationError:
            log.exception("rule.invalid_in_database", rule_id=row["id"])
            return None
        if len(_compiled) > 10_000:
            _compiled.clear()
        rule = _compiled[key] = CompiledRule(
            id=row["id"],
            name=row["name"],
            stop=row["stop"],
            condition=condition,
            actions=actions,
            uses_spike=any(p.field.startswith("spike.") for p in predicates(condition)),
        )
    return rule


async def enabled_rules(session: AsyncSession) -> list[CompiledRule]:
    rows = (
        await session.execute(
            sa.select(
                rule_t.c.id,
                rule_t.c.name,
                rule_t.c.stop,
                rule_t.c.conditions,
                rule_t.c.actions,
            )
            .where(rule_t.c.enabled.is_(True))
            .order_by(rule_t.c.position, rule_t.c.id)
        )
    ).mappings()
    return [rule for row in rows if (rule := compile_rule(row)) is not None]


async def check_references(
    session: AsyncSession, *, conditions: Condition | None, actions: list[Action] | None
) -> None:
    """Every team, user, policy and integration a rule names must exist (422 otherwise)."""
    if conditions is not None:
        teams = [
            v
            for p in predicates(conditions)
            if p.field == "conversation.team_id"
            for v in (p.value if isinstance(p.value, list) else [p.value])
            if isinstance(v, int)
        ]
        await check_ids(session, "team", teams, ["body", "conditions"])
    for index, action in enumerate(actions or []):
        loc: list[Any] = ["body", "actions", index]
        if isinstance(action, RouteTeam):
            await check_ids(session, "team", [action.team_id], [*loc, "team_id"])
        elif isinstance(action, Assign):
            await check_ids(session, "user", [action.user_id], [*loc, "user_id"])
        elif isinstance(action, StartPolicy):
            await check_ids(session, "policy", [action.policy_id], [*loc, "policy_id"])
        elif isinstance(action, Notify):
            await check_ids(session, "user", action.user_ids, [*loc, "user_ids"])
            await check_ids(
                session, "integration", action.integration_ids, [*loc, "integration_ids"]
            )
        elif isinstance(action, AddLabels):
            pass


def _actions_json(actions: list[Action]) -> list[dict[str, Any]]:
    return [a.model_dump(mode="json") for a in actions]


def public(row: Mapping[Any, Any]) -> RulePublic:
    return RulePublic.model_validate({k: row[k] for k in RulePublic.model_fields})


async def get_rule(session: AsyncSession, rule_id: int) -> RulePublic:
    row = (
        (await session.execute(sa.select(rule_t).where(rule_t.c.id == rule_id))).mappings().first()
    )
    if row is None:
        raise NotFound(f"no rule {rule_id}")
    return public(row)


async def list_rules(session: AsyncSession) -> list[RulePublic]:
    rows = await session.execute(sa.select(rule_t).order_by(rule_t.c.position, rule_t.c.id))
    return [public(row) for row in rows.mappings()]


async def create_rule(
    session: AsyncSession, *, body: RuleCreate, env: Env, user_id: int | None
) -> int:
    await check_references(session, conditions=body.conditions, actions=body.actions)
    position = body.position
    if position is None:
        last = (await session.execute(sa.select(sa.func.max(rule_t.c.position)))).scalar()
        position = 0 if last is None else last + POSITION_STEP
    now = env.now()
    rule_id: int = (
        await session.execute(
            sa.insert(rule_t)
            .values(
                name=body.name,
                description=body.description,
                position=position,
                enabled=body.enabled,
                stop=body.stop,
                conditions=dump(body.conditions),
                actions=_actions_json(body.actions),
                created_by=user_id,
                created_at=now,
                updated_at=now,
            )
            .returning(rule_t.c.id)
        )
    ).scalar_one()
    return rule_id


async def update_rule(session: AsyncSession, *, rule_id: int, body: RuleUpdate, env: Env) -> None:
    await get_rule(session, rule_id)
    await check_references(session, conditions=body.conditions, actions=body.actions)
    values: dict[str, Any] = {}
    for name in ("name", "description", "position", "enabled", "stop"):
        if getattr(body, name) is not None:
            values[name] = getattr(body, name)
    if body.conditions is not None:
        values["conditions"] = dump(body.conditions)
    if body.actions is not None:
        values["actions"] = _actions_json(body.actions)
    if values:
        await session.execute(
            sa.update(rule_t)
            .where(rule_t.c.id == rule_id)
            .values(values | {"updated_at": env.now()})
        )


async def delete_rule(session: AsyncSession, *, rule_id: int) -> None:
    await get_rule(session, rule_id)
    await session.execute(sa.delete(rule_t).where(rule_t.c.id == rule_id))
