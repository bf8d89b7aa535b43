"""The escalation API's routers, for the app factory to include."""

from __future__ import annotations

from fastapi import APIRouter

from escalation.routes_admin import router as admin_router
from escalation.routes_incidents import router as incidents_router
from escalation.routes_rules import router as rules_router

routers: tuple[APIRouter, ...] = (incidents_router, rules_router, admin_router)
