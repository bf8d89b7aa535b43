"""Request and response bodies for people, teams and tokens."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from people.models import Role


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1000)


class TokenOut(BaseModel):
    token: str
    token_type: str = "bearer"
    expires_at: datetime | None = None


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=200)


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    display_name: str
    role: Role
    locale: str
    is_active: bool
    team_ids: list[int] = []


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=10, max_length=1000)
    role: Role = Role.agent
    display_name: str = Field(default="", max_length=200)
    teams: list[str] = Field(default_factory=list, max_length=50)
    locale: str = Field(default="de", pattern="^(de|en)$")


class TeamPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str


class MeUpdate(BaseModel):
    """What a person may change about themselves."""

    model_config = ConfigDict(extra="forbid")

    locale: str | None = Field(default=None, pattern="^(de|en)$")
    display_name: str | None = Field(default=None, min_length=1, max_length=200)


class UserUpdate(BaseModel):
    """What an admin may change about a user. ``teams`` replaces the memberships."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    is_active: bool | None = None
    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    teams: list[str] | None = Field(default=None, max_length=50)


class TeamCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)


class DirectoryEntry(BaseModel):
    """A colleague as every signed-in user sees them: enough to assign and to name."""

    id: int
    display_name: str
    email: str
    role: Role
    team_ids: list[int]
