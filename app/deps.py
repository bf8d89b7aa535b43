"""Typed dependencies: the one seam through which routes reach long-lived things."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import unit_of_work
from app.services import Services
from app.settings import Settings


async def get_services(request: Request) -> Services:
    # async: a sync dependency would cost a thread-pool round trip on every request.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_settings_dep(services: ServicesDep) -> Settings:
    return services.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def get_session(services: ServicesDep) -> AsyncIterator[AsyncSession]:
    """A session whose transaction the request owns: committed when the route returns."""
    async with unit_of_work(services.sessionmaker) as session:
        yield session


# scope="function": the transaction commits when the route returns, before the response is
# sent, so a client never sees a 2xx for a change that then fails to commit.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
