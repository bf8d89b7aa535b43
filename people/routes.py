"""Sign-in, tokens, users and teams under ``/api/v1``."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response
from sqlalchemy import select
from sqlmodel import col

from app.deps import SessionDep, SettingsDep
from people.deps import AdminPrincipal, CurrentPrincipal
from people.models import Team, TokenKind, User
from people.schemas import SignIn, TeamPublic, TokenCreate, TokenOut, UserCreate, UserPublic
from people.service import authenticate, create_user, issue_token, revoke_token, team_ids_of

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


@router.get("/teams")
async def list_teams(_: CurrentPrincipal, session: SessionDep) -> dict[str, object]:
    teams = (await session.execute(select(Team).order_by(col(Team.name)))).scalars().all()
    return {"items": [TeamPublic.model_validate(t) for t in teams], "next_cursor": None}


def _public(user: User, team_ids: list[int]) -> UserPublic:
    public = UserPublic.model_validate(user)
    public.team_ids = team_ids
    return public
