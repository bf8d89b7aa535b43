"""People: users with roles, teams, and the tokens they authenticate with."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, utcnow


class Role(StrEnum):
    agent = "agent"
    pr = "pr"
    admin = "admin"


class Team(SQLModel, table=True):
    __tablename__ = "team"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class User(SQLModel, table=True):
    __tablename__ = "user"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    display_name: str = Field(default="", max_length=200)
    role: str = Field(default=Role.agent, max_length=16)
    password_hash: str | None = Field(default=None, max_length=200)
    locale: str = Field(default="de", max_length=8)
    is_active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class TeamMembership(SQLModel, table=True):
    __tablename__ = "team_membership"

    user_id: int = Field(foreign_key="user.id", primary_key=True, ondelete="CASCADE")
    team_id: int = Field(foreign_key="team.id", primary_key=True, ondelete="CASCADE")


class TokenKind(StrEnum):
    session = "session"  # issued by sign-in, expires
    api = "api"  # created for scripts, lives until revoked


class ApiToken(SQLModel, table=True):
    """Only the SHA-256 of a token is stored; the token itself is shown once."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    kind: str = Field(default=TokenKind.api, max_length=16)
    name: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
