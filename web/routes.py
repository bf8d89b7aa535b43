"""The dashboard's pages and assets.

Every dashboard URL (``/``, ``/inbox``, ``/conversations/{id}``, ``/incidents``, ...) answers
with the same app shell; plain ES modules under ``/static`` draw the page from the API.
There is no build step (CONVENTIONS.md says why). The shell carries which optional APIs
this server has (``data-features``), so the page never probes for them. Pages that need a
role answer 403 to a signed-in person without it; the page itself then explains why.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from app.db import utcnow
from app.errors import DomainError
from people.models import Role
from people.service import user_for_token

STATIC_DIR = Path(__file__).resolve().parent / "static"
COOKIE = "leitstand_token"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SHELL_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

#: Optional APIs the page adapts to: the collection path (GET, or the method given) that
#: reveals each. The page learns the path that matched, so a renamed route keeps working.
FEATURES: dict[str, tuple[str, str]] = {
    "replies": ("POST", r"^/api/v1/conversations/\{[^}]+\}/replies$"),
    "incidents": ("GET", r"^/api/v1/incidents$"),
    "rules": ("GET", r"^/api/v1/(escalation-)?rules$"),
    "policies": ("GET", r"^/api/v1/(escalation-)?policies$"),
    "rotations": ("GET", r"^/api/v1/(oncall-)?rotations$"),
    "integrations": ("GET", r"^/api/v1/integrations$"),
    "notifications": ("GET", r"^/api/v1/notifications$"),
}

#: Pages that need a role, by the first path segment.
PAGE_ROLES: dict[str, tuple[Role, ...]] = {
    "admin": (Role.admin,),
    "incidents": (Role.pr, Role.admin),
}


class _StaticFiles(StaticFiles):
    """Static files that the browser revalidates (ETag) instead of guessing a lifetime:
    without a build step there are no content hashes in the file names."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


router = APIRouter(include_in_schema=False)
router.mount("/static", _StaticFiles(directory=STATIC_DIR), name="static")


@lru_cache(maxsize=1)
def _shell_template() -> str:
    return (STATIC_DIR / "index.html").read_text(encoding="utf-8")


def features_of(app: FastAPI) -> list[str]:
    """Which optional APIs the running app serves, as ``name=path`` tokens, read from its
    OpenAPI schema (built once per app and cached by FastAPI)."""
    paths: dict[str, dict[str, Any]] = app.openapi().get("paths", {})
    found: list[str] = []
    for name, (method, pattern) in FEATURES.items():
        path = next(
            (p for p, ops in paths.items() if method.lower() in ops and re.match(pattern, p)),
            None,
        )
        if path is not None:
            found.append(f"{name}={path}")
    return found


async def _role_of(request: Request) -> Role | None:
    """The signed-in person's role from the session cookie, or None."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    services = request.app.state.services
    async with services.sessionmaker() as session:
        try:
            user = await user_for_token(session, token=token, now=utcnow())
        except DomainError:
            return None
    return Role(user.role)


#: The inbox's filters in the page URL, in the order the page puts them into its API call.
_INBOX_FILTERS = (
    "status", "q", "channel_id", "team_id", "category", "language", "min_urgency", "label",
)  # fmt: skip
_PLAIN = re.compile(r"^[\w.-]{1,100}$")
INBOX_PAGE_SIZE = 50


def inbox_preload(query: dict[str, str]) -> str | None:
    """The API URL the inbox page will ask for first, so the browser can fetch it while
    the page's modules load. Must equal the page's own request (inbox.js ``apiQuery``);
    None when that cannot be known here (assigned to me, unusual characters)."""
    params: list[tuple[str, str]] = []
    for key in _INBOX_FILTERS:
        value = query.get(key, "")
        if key == "status":
            value = value or "open"
            if value == "all":
                continue
        if not value:
            continue
        if not _PLAIN.match(value):
            return None
        params.append((key, value))
    params.append(("limit", str(INBOX_PAGE_SIZE)))
    assignee = query.get("assignee", "")
    if assignee == "none":
        params.append(("unassigned", "true"))
    elif assignee.isdigit():
        params.append(("assignee_id", assignee))
    elif assignee:
        return None
    return "/api/v1/conversations?" + "&".join(f"{k}={v}" for k, v in params)


async def _shell(
    request: Request, section: str | None = None, *, preload: str | None = None
) -> HTMLResponse:
    status = 200
    if section in PAGE_ROLES:
        role = await _role_of(request)
        if role is not None and role not in PAGE_ROLES[section]:
            status = 403
    # Signed in (a session cookie): the first API calls start with the page, not after it.
    urls = ["/api/v1/me", *([preload] if preload else [])] if request.cookies.get(COOKIE) else []
    link = "".join(
        f'<link rel="preload" as="fetch" crossorigin="anonymous" href="{html.escape(url)}">'
        for url in urls
    )
    page = (
        _shell_template()
        .replace("{{features}}", " ".join(features_of(request.app)))
        .replace("{{preload}}", link)
    )
    return HTMLResponse(page, status_code=status, headers=SHELL_HEADERS)


@router.get("/")
@router.get("/signin")
@router.get("/overview")
async def page(request: Request) -> HTMLResponse:
    return await _shell(request)


@router.get("/inbox")
@router.get("/conversations/{conversation_id}")
async def inbox_page(request: Request) -> HTMLResponse:
    return await _shell(request, preload=inbox_preload(dict(request.query_params)))


@router.get("/incidents")
@router.get("/incidents/{incident_id}")
async def incidents_page(request: Request) -> HTMLResponse:
    return await _shell(request, "incidents")


@router.get("/admin")
@router.get("/admin/{section}")
async def admin_page(request: Request) -> HTMLResponse:
    return await _shell(request, "admin")


@router.get("/favicon.ico")
async def favicon() -> RedirectResponse:
    return RedirectResponse("/static/icons/favicon.svg", status_code=308)
