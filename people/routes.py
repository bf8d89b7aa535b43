"""Sign-in, tokens, users and teams under ``/api/v1``."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response
from sqlalchemy import select
from sqlmodel import col

from app.deps import SessionDep, SettingsDep
from people.deps import AdminPrincipal, CurrentPrincipal
from people.models import Team, TeamMembership, TokenKind, User
from people.schemas import (
    DirectoryEntry,
    MeUpdate,
    SignIn,
    TeamCreate,
    TeamPublic,
    TokenCreate,
    TokenOut,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from people.service import (
    authenticate,
    create_team,
    create_user,
    issue_token,
    revoke_token,
    team_ids_of,
    update_user,
)

router = APIRouter(prefix="/api/v1", tags=["people"])


@router.post("/auth/login", response_model=TokenOut)
async def sign_in(
    body: SignIn, session: SessionDep, settings: SettingsDep, response: Response
) -> TokenOut:
    user = await authenticate(session, email=body.email, password=body.password)
    token, row = await issue_token(
        session,
        user=user,
        kind=TokenKind.session,
        name="sign-in",
        ttl=timedelta(hours=settings.session_token_ttl_hours),
    )
    response.set_cookie(
        "leitstand_token",
        token,
        httponly=True,
        samesite="strict",
        secure=settings.environment == "production",
        max_age=settings.session_token_ttl_hours * 3600,
    )
    return TokenOut(token=token, expires_at=row.expires_at)


@router.post("/auth/logout", status_code=204)
async def sign_out(principal: CurrentPrincipal, session: SessionDep, response: Response) -> None:
    await revoke_token(session, token=principal.token)
    response.delete_cookie("leitstand_token")


@router.get("/me", response_model=UserPublic)
async def me(principal: CurrentPrincipal) -> UserPublic:
    return _public(principal.user, list(principal.team_ids))


@router.patch("/me", response_model=UserPublic)
async def change_me(body: MeUpdate, principal: CurrentPrincipal, session: SessionDep) -> UserPublic:
    """Change one's own language (``de``/``en``) or display name."""
    user = await session.get(User, principal.id)
    assert user is not None
    if body.locale is not None:
        user.locale = body.locale
    if body.display_name is not None:
        user.display_name = body.display_name.strip() or user.display_name
    await session.flush()
    return _public(user, list(principal.team_ids))


@router.get("/directory")
async def directory(_: CurrentPrincipal, session: SessionDep) -> dict[str, object]:
    """Active colleagues, for every signed-in user: whom to assign, whose name to show."""
    users = (
        (await session.execute(select(User).where(col(User.is_active)).order_by(col(User.id))))
        .scalars()
        .all()
    )
    memberships: dict[int, list[int]] = {}
    for user_id, team_id in await session.execute(
        select(col(TeamMembership.user_id), col(TeamMembership.team_id))
    ):
        memberships.setdefault(user_id, []).append(team_id)
    items = [
        DirectoryEntry(
            id=u.id,
            display_name=u.display_name,
            email=u.email,
            role=u.role,
            team_ids=sorted(memberships.get(u.id, [])),
        )
        for u in users
        if u.id is not None
    ]
    return {"items": items, "next_cursor": None}


@router.post("/tokens", response_model=TokenOut, status_code=201)
async def create_api_token(
    body: TokenCreate, principal: CurrentPrincipal, session: SessionDep
) -> TokenOut:
    token, _ = await issue_token(session, user=principal.user, kind=TokenKind.api, name=body.name)
    return TokenOut(token=token)


@router.get("/users")
async def list_users(_: AdminPrincipal, session: SessionDep) -> dict[str, object]:
    users = (await session.execute(select(User).order_by(col(User.id)))).scalars().all()
    items = []
    for user in users:
        assert user.id is not None
        items.append(_public(user, await team_ids_of(session, user_id=user.id)))
    return {"items": items, "next_cursor": None}


@router.post("/users", response_model=UserPublic, status_code=201)
async def add_user(body: UserCreate, _: AdminPrincipal, session: SessionDep) -> UserPublic:
    user = await create_user(
        session,
        email=body.email,
        password=body.password,
        role=body.role,
        display_name=body.display_name,
        team_names=body.teams,
        locale=body.locale,
    )
    assert user.id is not None
    return _public(user, await team_ids_of(session, user_id=user.id))


@router.patch("/users/{user_id}", response_model=UserPublic)
async def change_user(
    user_id: int, body: UserUpdate, admin: AdminPrincipal, session: SessionDep
) -> UserPublic:
    user = await update_user(
        session,
        user_id=user_id,
        actor_id=admin.id,
        role=body.role,
        is_active=body.is_active,
        display_name=body.display_name,
        team_names=body.teams,
    )
    return _public(user, await team_ids_of(session, user_id=user_id))


@router.post("/teams", response_model=TeamPublic, status_code=201)
async def add_team(body: TeamCreate, _: AdminPrincipal, session: SessionDep) -> TeamPublic:
    return TeamPublic.model_validate(await create_team(session, name=body.name))


@router.get("/teams")
async def list_teams(_: CurrentPrincipal, session: SessionDep) -> dict[str, object]:
    teams = (await session.execute(select(Team).order_by(col(Team.name)))).scalars().all()
    return {"items": [TeamPublic.model_validate(t) for t in teams], "next_cursor": None}


def _public(user: User, team_ids: list[int]) -> UserPublic:
    public = UserPublic.model_validate(user)
    public.team_ids = team_ids
    return public
