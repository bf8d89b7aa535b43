"""Users, teams, passwords and tokens. Services never commit: the caller's unit of work does."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db import utcnow
from app.errors import Conflict, InvalidInput, NotFound, Unauthorized
from people.models import ApiToken, Role, Team, TeamMembership, TokenKind, User

_hasher = PasswordHasher()
# Verifying against this keeps sign-in timing equal for unknown e-mail addresses.
_DUMMY_HASH = _hasher.hash("leitstand-timing-equaliser")
TOKEN_PREFIX = "lst_"
MIN_PASSWORD_CHARS = 10


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def generate_password() -> str:
    return secrets.token_urlsafe(15)


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or " " in email:
        raise InvalidInput(f"not an e-mail address: {email!r}")
    return email


async def get_or_create_team(session: AsyncSession, *, name: str) -> Team:
    team = (await session.execute(select(Team).where(col(Team.name) == name))).scalar_one_or_none()
    if team is None:
        team = Team(name=name)
        session.add(team)
        await session.flush()
    return team


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    role: Role,
    display_name: str = "",
    team_names: list[str] | None = None,
    locale: str = "de",
) -> User:
    email = normalise_email(email)
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"the password needs at least {MIN_PASSWORD_CHARS} characters")
    if (await session.execute(select(col(User.id)).where(col(User.email) == email))).first():
        raise Conflict(f"a user with e-mail {email} exists")
    user = User(
        email=email,
        role=role,
        display_name=display_name or email.split("@")[0],
        password_hash=_hasher.hash(password),
        locale=locale,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent create of the same e-mail
        raise Conflict(f"a user with e-mail {email} exists") from exc
    for name in team_names or []:
        team = await get_or_create_team(session, name=name)
        assert user.id is not None and team.id is not None
        session.add(TeamMembership(user_id=user.id, team_id=team.id))
    await session.flush()
    return user


async def get_user_by_email(session: AsyncSession, *, email: str) -> User:
    user = (
        await session.execute(select(User).where(col(User.email) == email.strip().lower()))
    ).scalar_one_or_none()
    if user is None:
        raise NotFound(f"no user with e-mail {email}")
    return user


async def authenticate(session: AsyncSession, *, email: str, password: str) -> User:
    """The user for these credentials; the same error whether the e-mail or password is wrong."""
    user = (
        await session.execute(select(User).where(col(User.email) == email.strip().lower()))
    ).scalar_one_or_none()
    stored = user.password_hash if user is not None and user.is_active else None
    try:
        _hasher.verify(stored or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise Unauthorized("wrong e-mail or password") from None
    if user is None or stored is None:
        raise Unauthorized("wrong e-mail or password")
    if _hasher.check_needs_rehash(stored):
        user.password_hash = _hasher.hash(password)
    return user


async def issue_token(
    session: AsyncSession,
    *,
    user: User,
    kind: TokenKind,
    name: str = "",
    ttl: timedelta | None = None,
) -> tuple[str, ApiToken]:
    """Create a token; the plain token is returned once and only its hash is stored."""
    assert user.id is not None
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        token_hash=hash_token(token),
        kind=kind,
        name=name,
        expires_at=utcnow() + ttl if ttl else None,
    )
    session.add(row)
    await session.flush()
    return token, row


async def user_for_token(session: AsyncSession, *, token: str, now: datetime) -> User:
    row = (
        await session.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)  # type: ignore[arg-type]
            .where(col(ApiToken.token_hash) == hash_token(token))
        )
    ).first()
    if row is None:
        raise Unauthorized("invalid token")
    api_token, user = row
    if api_token.revoked_at is not None or not user.is_active:
        raise Unauthorized("invalid token")
    if api_token.expires_at is not None and api_token.expires_at <= now:
        raise Unauthorized("token expired")
    return user


async def revoke_token(session: AsyncSession, *, token: str) -> None:
    row = (
        await session.execute(select(ApiToken).where(col(ApiToken.token_hash) == hash_token(token)))
    ).scalar_one_or_none()
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()


async def team_ids_of(session: AsyncSession, *, user_id: int) -> list[int]:
    rows = await session.execute(
        select(col(TeamMembership.team_id)).where(col(TeamMembership.user_id) == user_id)
    )
    return [team_id for (team_id,) in rows]


async def set_teams(session: AsyncSession, *, user_id: int, team_names: list[str]) -> None:
    """Replace a user's team memberships; teams that do not exist yet are created."""
    wanted: set[int] = set()
    for name in {n.strip() for n in team_names if n.strip()}:
        team = await get_or_create_team(session, name=name)
        assert team.id is not None
        wanted.add(team.id)
    current = set(await team_ids_of(session, user_id=user_id))
    for team_id in current - wanted:
        membership = await session.get(TeamMembership, (user_id, team_id))
        if membership is not None:
            await session.delete(membership)
    for team_id in wanted - current:
        session.add(TeamMembership(user_id=user_id, team_id=team_id))
    await session.flush()


async def update_user(
    session: AsyncSession,
    *,
    user_id: int,
    actor_id: int,
    role: Role | None = None,
    is_active: bool | None = None,
    display_name: str | None = None,
    team_names: list[str] | None = None,
) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    if user_id == actor_id and (
        (role is not None and role is not Role.admin) or is_active is False
    ):
        raise Conflict("you cannot remove your own admin role or deactivate yourself")
    if role is not None:
        user.role = role
    if is_active is not None:
        user.is_active = is_active
    if display_name is not None:
        user.display_name = display_name.strip() or user.display_name
    if team_names is not None:
        await set_teams(session, user_id=user_id, team_names=team_names)
    await session.flush()
    return user


async def create_team(session: AsyncSession, *, name: str) -> Team:
    name = name.strip()
    if not name:
        raise InvalidInput("a team needs a name")
    if (await session.execute(select(Team).where(col(Team.name) == name))).first():
        raise Conflict(f"a team named {name!r} exists")
    team = Team(name=name)
    session.add(team)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a team named {name!r} exists") from exc
    return team
