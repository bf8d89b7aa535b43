"""Dependencies of the escalation routes: the runtime, and who may do what.

Roles: PR and admins work incidents, read the delivery log, and manage rules and
policies; only admins change on-call rotations and integrations (PR may read them, to
see who is on call and what a policy can notify). Agents get 403 everywhere here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from app.deps import ServicesDep
from escalation.runtime import EscalationRuntime
from escalation.schemas import MAX_BIGINT, MAX_INT
from people.deps import Principal, require_role
from people.models import Role


def get_runtime(services: ServicesDep) -> EscalationRuntime:
    return services.escalation


RuntimeDep = Annotated[EscalationRuntime, Depends(get_runtime)]
StaffPrincipal = Annotated[Principal, Depends(require_role(Role.pr, Role.admin))]
AdminPrincipal = Annotated[Principal, Depends(require_role(Role.admin))]

# Path ids, bounded so that no value overflows a database integer.
BigIdPath = Annotated[int, Path(ge=1, le=MAX_BIGINT)]
IdPath = Annotated[int, Path(ge=1, le=MAX_INT)]
