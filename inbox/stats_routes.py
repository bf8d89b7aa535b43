"""``GET /api/v1/stats/overview``: the figures the dashboard's overview draws."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Query

from app.deps import SessionDep
from app.errors import InvalidInput
from inbox.routes import visibility_of
from inbox.stats import StatsRange, overview
from people.deps import CurrentPrincipal

router = APIRouter(prefix="/api/v1/stats", tags=["stats"])


@router.get("/overview")
async def stats_overview(
    principal: CurrentPrincipal,
    session: SessionDep,
    range_: Annotated[StatsRange, Query(alias="range")] = StatsRange.day,
    tz: Annotated[str, Query(max_length=64, description="IANA time zone for days")] = "UTC",
) -> dict[str, Any]:
    """Inbound message volume, average and highest urgency by channel per hour (``24h``)
    or per local day (``7d``); open incidents by severity; open critical conversations
    (urgency ≥ ``critical_urgency``) without a reply since the customer last wrote."""
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {tz!r}") from exc
    return await overview(session, range_=range_, tz=zone, visibility=visibility_of(principal))
