"""The app factory: settings in, a wired FastAPI application out."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import Receive, Scope, Send

import escalation.routes
import inbox.reply_routes
import inbox.routes
import inbox.stats_routes
import inbox.webhooks
import people.routes
import realtime.routes
import web.routes
from app import health
from app.errors import DomainError, domain_error_handler
from app.logging import configure_logging, get_logger
from app.middleware import CorrelationIdMiddleware
from app.services import Services
from app.settings import Settings, get_settings

log = get_logger(__name__)


def load_default_triager(settings: Settings) -> Any:
    """The configured model, in a child process unless ``triage_process`` is off; the
    caller closes it (:func:`close_triager`)."""
    if settings.triage_process:
        from triage.process import ProcessTriager

        return ProcessTriager(
            settings.triage_model,
            threads=settings.triage_threads,
            cache_dir=settings.model_cache_dir,
            runtime=settings.triage_runtime,
        )
    from triage.model import load_triager

    return load_triager(
        settings.triage_model,
        threads=settings.triage_threads,
        cache_dir=settings.model_cache_dir,
        runtime=settings.triage_runtime,
    )


def close_triager(model: Any) -> None:
    close = getattr(model, "close", None)
    if callable(close):
        close()


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    return JSONResponse(
        {
            "error": {
                "code": "invalid_input",
                "message": "the request is not valid",
                "details": errors,
            }
        },
        status_code=422,
    )


def _tune_process() -> None:
    """Process settings for a service under load, measured with bench/ingest.py's harness.

    ``gc.freeze()`` once started: what the process holds for its lifetime (modules, the app,
    compiled statements, caches) is left out of every later collection. With it, durable
    ingest on SQLite cost about 500 instead of 640-760 us of CPU per request, and client p99
    at 32 connections fell from about 88 to 39 ms (wrk, back-to-back runs). A shorter GIL
    switch interval and a larger first-generation threshold made no difference beyond noise.
    """
    gc.collect()
    gc.freeze()


class _Leitstand(FastAPI):
    """FastAPI with the webhook fast path (``inbox.webhooks.WebhookFastPath``) as its
    outermost ASGI layer: deliveries skip routing, middleware, dependency resolution and
    FastAPI's per-request telemetry check; every other request goes through FastAPI."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._front = inbox.webhooks.WebhookFastPath(super().__call__, self.state)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._front(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    *,
    triager: Any | None = None,
    run_worker: bool = True,
) -> FastAPI:
    """``triager=None`` loads the configured model (unless triage is disabled)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, json=settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        model = triager
        processing_here = run_worker and settings.run_worker
        if model is None and settings.triage_enabled and processing_here:
            # An API-only process (LEITSTAND_RUN_WORKER=false) never scores: no model.
            model = await asyncio.to_thread(load_default_triager, settings)
        services = Services.build(settings, triager=model)
        app.state.services = services
        await services.start()
        if processing_here:
            services.start_background()
        _tune_process()
        log.info(
            "service.started",
            database=settings.database_url.split("://")[0],
            redis=bool(settings.redis_url),
            triage_model=getattr(model, "model_version", None),
        )
        try:
            yield
        finally:
            await services.close()
            if triager is None and model is not None:  # loaded here, so closed here
                await asyncio.to_thread(close_triager, model)

    app = _Leitstand(
        title="Leitstand",
        version="0.1.0",
        summary="One inbox for every platform, triaged and escalated.",
        lifespan=lifespan,
    )
    app.add_middleware(CorrelationIdMiddleware)
    app.add_exception_handler(DomainError, domain_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(health.router)
    app.include_router(inbox.webhooks.router)
    app.include_router(people.routes.router)
    app.include_router(inbox.routes.router)
    app.include_router(inbox.reply_routes.router)
    app.include_router(realtime.routes.router)
    for router in escalation.routes.routers:
        app.include_router(router)
    app.include_router(inbox.stats_routes.router)
    app.include_router(web.routes.router)
    return app
