"""On-call rotations: participants take turns in shifts of ``shift_s`` counted from a
handover time; an override (a user, a start and an end) wins while it lasts, the most
recently created one when several overlap."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InvalidInput, NotFound
from escalation.models import Rotation, RotationOverride
from escalation.schemas import (
    OverrideCreate,
    OverridePublic,
    RotationCreate,
    RotationPublic,
    RotationUpdate,
)
from people.models import User

rotation_t = Rotation.__table__  # type: ignore[attr-defined]
override_t = RotationOverride.__table__  # type: ignore[attr-defined]
user_t = User.__table__  # type: ignore[attr-defined]

Row = Mapping[Any, Any]  # a result row mapping
Source = Literal["override", "rotation", "nobody"]


def on_call_at(rotation: Row, overrides: Sequence[Row], at: datetime) -> tuple[int | None, Source]:
    """Who is on call at ``at``, and why."""
    active = [o for o in overrides if o["start_at"] <= at < o["end_at"]]
    if active:
        latest = max(active, key=lambda o: (o["created_at"], o["id"]))
        return latest["user_id"], "override"
    participants: list[int] = list(rotation["participant_ids"])
    if not participants:
        return None, "nobody"
    elapsed_s = (at - rotation["handover_at"]).total_seconds()
    shift = math.floor(elapsed_s / rotation["shift_s"])
    return participants[shift % len(participants)], "rotation"


async def on_call(
    session: AsyncSession, *, rotation_ids: Sequence[int], at: datetime
) -> dict[int, int | None]:
    """The user on call at ``at`` in each rotation (rotations that do not exist: absent)."""
    if not rotation_ids:
        return {}
    ids = sorted(set(rotation_ids))
    rotations = (
        (await session.execute(sa.select(rotation_t).where(rotation_t.c.id.in_(ids))))
        .mappings()
        .all()
    )
    overrides = (
        (
            await session.execute(
                sa.select(override_t).where(
                    override_t.c.rotation_id.in_(ids),
                    override_t.c.start_at <= at,
                    override_t.c.end_at > at,
                )
            )
        )
        .mappings()
        .all()
    )
    return {
        r["id"]: on_call_at(r, [o for o in overrides if o["rotation_id"] == r["id"]], at)[0]
        for r in rotations
    }


async def _check_users(session: AsyncSession, user_ids: Sequence[int], field: str) -> None:
    wanted = set(user_ids)
    found = {
        uid
        for (uid,) in await session.execute(
            sa.select(user_t.c.id).where(user_t.c.id.in_(sorted(wanted)))
        )
    }
    missing = sorted(wanted - found)
    if missing:
        raise InvalidInput(f"no user {missing[0]}", field=field, missing=missing)


async def _load(session: AsyncSession, rotation_id: int) -> Row:
    row = (
        (await session.execute(sa.select(rotation_t).where(rotation_t.c.id == rotation_id)))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no rotation {rotation_id}")
    return row


async def rotation_public(
    session: AsyncSession, rotation_id: int, *, now: datetime
) -> RotationPublic:
    row = await _load(session, rotation_id)
    overrides = (
        (
            await session.execute(
                sa.select(override_t)
                .where(override_t.c.rotation_id == rotation_id, override_t.c.end_at > now)
                .order_by(override_t.c.start_at, override_t.c.id)
            )
        )
        .mappings()
        .all()
    )
    user_id, _ = on_call_at(row, overrides, now)
    return RotationPublic(
        **{k: v for k, v in row.items() if k in RotationPublic.model_fields},
        on_call_user_id=user_id,
        overrides=[OverridePublic.model_validate(dict(o)) for o in overrides],
    )


async def list_rotation_ids(session: AsyncSession) -> list[int]:
    return [
        i for (i,) in await session.execute(sa.select(rotation_t.c.id).order_by(rotation_t.c.id))
    ]


async def create_rotation(session: AsyncSession, *, body: RotationCreate, now: datetime) -> int:
    await _check_users(session, body.participant_ids, "participant_ids")
    rotation_id: int = (
        await session.execute(
            sa.insert(rotation_t)
            .values(
                name=body.name,
                participant_ids=body.participant_ids,
                handover_at=body.handover_at,
                shift_s=body.shift_s,
                created_at=now,
                updated_at=now,
            )
            .returning(rotation_t.c.id)
        )
    ).scalar_one()
    return rotation_id


async def update_rotation(
    session: AsyncSession, *, rotation_id: int, body: RotationUpdate, now: datetime
) -> None:
    await _load(session, rotation_id)
    values = body.model_dump(exclude_unset=True, exclude_none=True)
    if "participant_ids" in values:
        await _check_users(session, values["participant_ids"], "participant_ids")
    if values:
        await session.execute(
            sa.update(rotation_t)
            .where(rotation_t.c.id == rotation_id)
            .values(values | {"updated_at": now})
        )


async def delete_rotation(session: AsyncSession, *, rotation_id: int) -> None:
    await _load(session, rotation_id)
    await session.execute(sa.delete(rotation_t).where(rotation_t.c.id == rotation_id))


async def add_override(
    session: AsyncSession, *, rotation_id: int, body: OverrideCreate, now: datetime
) -> int:
    await _load(session, rotation_id)
    await _check_users(session, [body.user_id], "user_id")
    override_id: int = (
        await session.execute(
            sa.insert(override_t)
            .values(
                rotation_id=rotation_id,
                user_id=body.user_id,
                start_at=body.start_at,
                end_at=body.end_at,
                created_at=now,
            )
            .returning(override_t.c.id)
        )
    ).scalar_one()
    return override_id


async def delete_override(session: AsyncSession, *, rotation_id: int, override_id: int) -> None:
    removed = (
        await session.execute(
            sa.delete(override_t)
            .where(override_t.c.id == override_id, override_t.c.rotation_id == rotation_id)
            .returning(override_t.c.id)
        )
    ).first()
    if removed is None:
        raise NotFound(f"no override {override_id} on rotation {rotation_id}")
