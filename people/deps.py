"""Authentication and authorisation as dependencies, used by every ``/api/v1`` route."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.db import utcnow
from app.deps import SessionDep
from app.errors import Forbidden, Unauthorized
from people.models import Role, User
from people.service import team_ids_of, user_for_token

_bearer = HTTPBearer(auto_error=False, description="A session or API token")


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in user as the request sees them."""

    user: User
    team_ids: tuple[int, ...]
    token: str

    @property
    def id(self) -> int:
        assert self.user.id is not None
        return self.user.id

    @property
    def role(self) -> Role:
        return Role(self.user.role)

    @property
    def sees_everything(self) -> bool:
        return self.role in (Role.pr, Role.admin)


async def current_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    token = credentials.credentials if credentials else None
    if token is None:
        # The dashboard keeps its token in a cookie; scripts use the header.
        token = request.cookies.get("leitstand_token")
    if not token:
        raise Unauthorized("sign in or send an Authorization: Bearer token")
    user = await user_for_token(session, token=token, now=utcnow())
    assert user.id is not None
    return Principal(
        user=user, team_ids=tuple(await team_ids_of(session, user_id=user.id)), token=token
    )


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_role(*roles: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise Forbidden(
                f"this needs the role {' or '.join(r.value for r in roles)}; "
                f"you are {principal.role.value}"
            )
        return principal

    return check


AdminPrincipal = Annotated[Principal, Depends(require_role(Role.admin))]
