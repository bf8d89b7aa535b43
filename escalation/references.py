"""Checks that ids in rules and policies point at rows, and finds who refers to a row.

Rules and policies keep their references inside JSON documents (small tables, read
whole), so the checks run on save and deleting a referenced row is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidInput
from escalation.models import Integration, Policy, Rotation, Rule
from people.models import Team, User

Kind = Literal["user", "team", "rotation", "integration", "policy"]
_TABLES: dict[str, sa.Table] = {
    "user": User.__table__,  # type: ignore[attr-defined]
    "team": Team.__table__,  # type: ignore[attr-defined]
    "rotation": Rotation.__table__,  # type: ignore[attr-defined]
    "integration": Integration.__table__,  # type: ignore[attr-defined]
    "policy": Policy.__table__,  # type: ignore[attr-defined]
}
rule_t = Rule.__table__  # type: ignore[attr-defined]
policy_t = Policy.__table__  # type: ignore[attr-defined]


async def check_ids(session: AsyncSession, kind: Kind, ids: Sequence[int], loc: list[Any]) -> None:
    """Raise a 422 naming ``loc`` when one of ``ids`` is not a ``kind``."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return
    table = _TABLES[kind]
    found = {
        i
        for (i,) in await session.execute(
            sa.select(table.c.id).where(table.c.id.in_(sorted(wanted)))
        )
    }
    missing = sorted(wanted - found)
    if missing:
        raise InvalidInput(
            f"unknown {kind} id {missing[0]} at {'.'.join(str(p) for p in loc)}",
            loc=loc,
            missing=missing,
        )


async def rules_referring(
    session: AsyncSession, action_type: str, key: str, target_id: int
) -> list[int]:
    rows = await session.execute(sa.select(rule_t.c.id, rule_t.c.actions).order_by(rule_t.c.id))
    found = []
    for rule_id, actions in rows:
        for action in actions:
            if action.get("type") != action_type:
                continue
            value = action.get(key)
            if value == target_id or (isinstance(value, list) and target_id in value):
                found.append(rule_id)
                break
    return found


async def policies_referring(session: AsyncSession, key: str, target_id: int) -> list[int]:
    rows = await session.execute(
        sa.select(policy_t.c.id, policy_t.c.levels).order_by(policy_t.c.id)
    )
    return [
        policy_id
        for policy_id, levels in rows
        if any(target_id in level.get(key, []) for level in levels)
    ]
