"""On-call rotations (with overrides) and integrations under ``/api/v1``.

Admins change them; PR may read them (who is on call, what a policy can notify).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter

from app.deps import SessionDep
from app.errors import Conflict
from escalation import integrations, oncall
from escalation.deps import AdminPrincipal, IdPath, RuntimeDep, StaffPrincipal
from escalation.queries import get_integration, integration_public, list_integrations
from escalation.references import policies_referring
from escalation.schemas import (
    IntegrationCreate,
    IntegrationCreated,
    IntegrationPublic,
    IntegrationUpdate,
    OnCallPublic,
    OverrideCreate,
    RotationCreate,
    RotationPublic,
    RotationUpdate,
)

router = APIRouter(prefix="/api/v1", tags=["on-call and integrations"])


@router.get("/oncall-rotations")
async def rotation_list(
    _: StaffPrincipal, session: SessionDep, runtime: RuntimeDep
) -> dict[str, Any]:
    now = runtime.now()
    items = [
        await oncall.rotation_public(session, rotation_id, now=now)
        for rotation_id in await oncall.list_rotation_ids(session)
    ]
    return {"items": items, "next_cursor": None}


@router.post("/oncall-rotations", response_model=RotationPublic, status_code=201)
async def rotation_create(
    body: RotationCreate, _: AdminPrincipal, session: SessionDep, runtime: RuntimeDep
) -> RotationPublic:
    now = runtime.now()
    rotation_id = await oncall.create_rotation(session, body=body, now=now)
    return await oncall.rotation_public(session, rotation_id, now=now)


@router.get("/oncall-rotations/{rotation_id}", response_model=RotationPublic)
async def rotation_get(
    rotation_id: IdPath, _: StaffPrincipal, session: SessionDep, runtime: RuntimeDep
) -> RotationPublic:
    return await oncall.rotation_public(session, rotation_id, now=runtime.now())


@router.patch("/oncall-rotations/{rotation_id}", response_model=RotationPublic)
async def rotation_update(
    rotation_id: IdPath,
    body: RotationUpdate,
    _: AdminPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
) -> RotationPublic:
    now = runtime.now()
    await oncall.update_rotation(session, rotation_id=rotation_id, body=body, now=now)
    return await oncall.rotation_public(session, rotation_id, now=now)


@router.delete("/oncall-rotations/{rotation_id}", status_code=204)
async def rotation_delete(rotation_id: IdPath, _: AdminPrincipal, session: SessionDep) -> None:
    referring = await policies_referring(session, "rotation_ids", rotation_id)
    if referring:
        raise Conflict(
            f"rotation {rotation_id} is used by policy {referring[0]}", policy_ids=referring
        )
    await oncall.delete_rotation(session, rotation_id=rotation_id)


@router.get("/oncall-rotations/{rotation_id}/on-call", response_model=OnCallPublic)
async def rotation_on_call(
    rotation_id: IdPath,
    _: StaffPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
    at: datetime | None = None,
) -> OnCallPublic:
    """Who is on call now, or at ``at`` (ISO 8601 with a time zone)."""
    when = at or runtime.now()
    if when.tzinfo is None:
        raise Conflict("at needs a time zone, e.g. 2026-11-24T09:00:00Z")
    public = await oncall.rotation_public(session, rotation_id, now=when)
    user_id, source = oncall.on_call_at(
        public.model_dump(), [o.model_dump() for o in public.overrides], when
    )
    return OnCallPublic(rotation_id=rotation_id, at=when, user_id=user_id, source=source)


@router.post(
    "/oncall-rotations/{rotation_id}/overrides", response_model=RotationPublic, status_code=201
)
async def override_create(
    rotation_id: IdPath,
    body: OverrideCreate,
    _: AdminPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
) -> RotationPublic:
    now = runtime.now()
    await oncall.add_override(session, rotation_id=rotation_id, body=body, now=now)
    return await oncall.rotation_public(session, rotation_id, now=now)


@router.delete("/oncall-rotations/{rotation_id}/overrides/{override_id}", status_code=204)
async def override_delete(
    rotation_id: IdPath, override_id: IdPath, _: AdminPrincipal, session: SessionDep
) -> None:
    await oncall.delete_override(session, rotation_id=rotation_id, override_id=override_id)


@router.get("/integrations")
async def integration_list(_: StaffPrincipal, session: SessionDep) -> dict[str, Any]:
    """Never with secrets; a Slack URL only as its origin."""
    return {"items": await list_integrations(session), "next_cursor": None}


@router.post("/integrations", response_model=IntegrationCreated, status_code=201)
async def integration_create(
    body: IntegrationCreate, _: AdminPrincipal, session: SessionDep, runtime: RuntimeDep
) -> IntegrationCreated:
    """The response carries the webhook signing secret, once (generated if not given)."""
    row = await integrations.create_integration(session, body=body, now=runtime.now())
    return IntegrationCreated(**integration_public(row).model_dump(), secret=row["secret"])


@router.get("/integrations/{integration_id}", response_model=IntegrationPublic)
async def integration_get(
    integration_id: IdPath, _: StaffPrincipal, session: SessionDep
) -> IntegrationPublic:
    return integration_public(await get_integration(session, integration_id))


@router.patch("/integrations/{integration_id}", response_model=IntegrationPublic)
async def integration_update(
    integration_id: IdPath, body: IntegrationUpdate, _: AdminPrincipal, session: SessionDep
) -> IntegrationPublic:
    await integrations.update_integration(session, integration_id=integration_id, body=body)
    return integration_public(await get_integration(session, integration_id))


@router.delete("/integrations/{integration_id}", status_code=204)
async def integration_delete(
    integration_id: IdPath, _: AdminPrincipal, session: SessionDep
) -> None:
    await integrations.delete_integration(session, integration_id=integration_id)
