"""Incidents and the notification delivery log under ``/api/v1``: PR and admins only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.deps import SessionDep
from escalation import incidents, policies
from escalation.deps import BigIdPath, RuntimeDep, StaffPrincipal
from escalation.models import IncidentStatus, NotificationStatus, Severity
from escalation.queries import incident_detail, list_incidents, list_notifications
from escalation.references import check_ids
from escalation.schemas import (
    MAX_BIGINT,
    AttachConversations,
    AttachMessages,
    IncidentCreate,
    IncidentDetail,
    IncidentUpdate,
    NoteCreate,
    PolicyStart,
)

router = APIRouter(prefix="/api/v1", tags=["incidents"])


@router.get("/incidents")
async def incident_list(
    _: StaffPrincipal,
    session: SessionDep,
    status: Annotated[list[IncidentStatus] | None, Query()] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    """Open incidents first, by severity (critical first), newest first."""
    items, next_cursor = await list_incidents(
        session,
        statuses=[s.value for s in status or ()],
        severities=[s.value for s in severity or ()],
        limit=limit,
        cursor=cursor,
    )
    return {"items": items, "next_cursor": next_cursor}


@router.post("/incidents", response_model=IncidentDetail, status_code=201)
async def incident_create(
    body: IncidentCreate, principal: StaffPrincipal, session: SessionDep, runtime: RuntimeDep
) -> IncidentDetail:
    """Open an incident by hand, optionally with messages, conversations and a policy."""
    await check_ids(session, "user", [body.owner_id] if body.owner_id else [], ["body", "owner_id"])
    if body.policy_id is not None:
        await check_ids(session, "policy", [body.policy_id], ["body", "policy_id"])
    incident = await incidents.open_incident(
        session,
        env=runtime,
        title=body.title,
        severity=body.severity,
        owner_id=body.owner_id,
        actor_id=principal.id,
    )
    assert incident is not None  # no dedup key: nothing to collide with
    incident_id = incident["id"]
    if body.message_ids:
        await incidents.attach_messages(
            session,
            env=runtime,
            incident_id=incident_id,
            message_ids=body.message_ids,
            user_id=principal.id,
        )
    if body.conversation_ids:
        await incidents.attach_conversations(
            session,
            env=runtime,
            incident_id=incident_id,
            conversation_ids=body.conversation_ids,
            user_id=principal.id,
        )
    if body.policy_id is not None:
        await policies.start_policy(
            session,
            env=runtime,
            incident_id=incident_id,
            policy_id=body.policy_id,
            actor_id=principal.id,
        )
    return await incident_detail(session, incident_id)


@router.get("/incidents/{incident_id}", response_model=IncidentDetail)
async def incident_get(
    incident_id: BigIdPath, _: StaffPrincipal, session: SessionDep
) -> IncidentDetail:
    """The incident with its conversations, messages, full timeline and pending timers."""
    return await incident_detail(session, incident_id)


@router.patch("/incidents/{incident_id}", response_model=IncidentDetail)
async def incident_update(
    incident_id: BigIdPath,
    body: IncidentUpdate,
    principal: StaffPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
) -> IncidentDetail:
    await incidents.change(
        session,
        env=runtime,
        incident_id=incident_id,
        changes=body.model_dump(exclude_unset=True),
        user_id=principal.id,
    )
    return await incident_detail(session, incident_id)


@router.post("/incidents/{incident_id}/acknowledge", response_model=IncidentDetail)
async def incident_acknowledge(
    incident_id: BigIdPath, principal: StaffPrincipal, session: SessionDep, runtime: RuntimeDep
) -> IncidentDetail:
    """Stops the escalation (it restarts after the policy's ack_timeout_s if unresolved)."""
    await policies.acknowledge(session, env=runtime, incident_id=incident_id, user_id=principal.id)
    return await incident_detail(session, incident_id)


@router.post("/incidents/{incident_id}/resolve", response_model=IncidentDetail)
async def incident_resolve(
    incident_id: BigIdPath, principal: StaffPrincipal, session: SessionDep, runtime: RuntimeDep
) -> IncidentDetail:
    await policies.resolve(session, env=runtime, incident_id=incident_id, user_id=principal.id)
    return await incident_detail(session, incident_id)


@router.post("/incidents/{incident_id}/policy", response_model=IncidentDetail)
async def incident_start_policy(
    incident_id: BigIdPath,
    body: PolicyStart,
    principal: StaffPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
) -> IncidentDetail:
    """(Re)start an escalation policy on the incident, from level 1."""
    await policies.start_policy(
        session,
        env=runtime,
        incident_id=incident_id,
        policy_id=body.policy_id,
        actor_id=principal.id,
    )
    return await incident_detail(session, incident_id)


@router.post("/incidents/{incident_id}/notes", response_model=IncidentDetail, status_code=201)
async def incident_note(
    incident_id: BigIdPath,
    body: NoteCreate,
    principal: StaffPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
) -> IncidentDetail:
    await incidents.add_note(
        session, env=runtime, incident_id=incident_id, text=body.text, user_id=principal.id
    )
    return await incident_detail(session, incident_id)


@router.post("/incidents/{incident_id}/messages", response_model=IncidentDetail)
async def incident_attach_messages(
    incident_id: BigIdPath,
    body: AttachMessages,
    principal: StaffPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
) -> IncidentDetail:
    await incidents.attach_messages(
        session,
        env=runtime,
        incident_id=incident_id,
        message_ids=body.message_ids,
        user_id=principal.id,
    )
    return await incident_detail(session, incident_id)


@router.delete("/incidents/{incident_id}/messages/{message_id}", response_model=IncidentDetail)
async def incident_detach_message(
    incident_id: BigIdPath,
    message_id: BigIdPath,
    principal: StaffPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
) -> IncidentDetail:
    await incidents.detach_message(
        session, env=runtime, incident_id=incident_id, message_id=message_id, user_id=principal.id
    )
    return await incident_detail(session, incident_id)


@router.post("/incidents/{incident_id}/conversations", response_model=IncidentDetail)
async def incident_attach_conversations(
    incident_id: BigIdPath,
    body: AttachConversations,
    principal: StaffPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
) -> IncidentDetail:
    await incidents.attach_conversations(
        session,
        env=runtime,
        incident_id=incident_id,
        conversation_ids=body.conversation_ids,
        user_id=principal.id,
    )
    return await incident_detail(session, incident_id)


@router.delete(
    "/incidents/{incident_id}/conversations/{conversation_id}", response_model=IncidentDetail
)
async def incident_detach_conversation(
    incident_id: BigIdPath,
    conversation_id: BigIdPath,
    principal: StaffPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
) -> IncidentDetail:
    await incidents.detach_conversation(
        session,
        env=runtime,
        incident_id=incident_id,
        conversation_id=conversation_id,
        user_id=principal.id,
    )
    return await incident_detail(session, incident_id)


@router.get("/notifications")
async def notification_log(
    _: StaffPrincipal,
    session: SessionDep,
    incident_id: Annotated[int | None, Query(ge=1, le=MAX_BIGINT)] = None,
    status: NotificationStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    """The delivery log, newest first: channel, target, status, attempts, last error."""
    items, next_cursor = await list_notifications(
        session,
        incident_id=incident_id,
        status=status.value if status else None,
        limit=limit,
        cursor=cursor,
    )
    return {"items": items, "next_cursor": next_cursor}
