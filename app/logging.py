"""Structured logs with a correlation id carried from the webhook to the alert."""

from __future__ import annotations

import json
import logging
import random
import sys
import time
from contextvars import ContextVar
from typing import Any

import orjson
import structlog

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

_SECRET_KEYS = frozenset(
    {"secret", "password", "token", "authorization", "verify_token", "api_key", "secret_key"}
)


def new_correlation_id() -> str:
    """32 random hex digits. Not a secret (clients send their own as ``X-Request-ID``), so
    the Mersenne Twister (reseeded in forked children) instead of a system call each."""
    return f"{random.getrandbits(128):032x}"


def _add_correlation_id(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    cid = correlation_id.get()
    if cid is not None and "correlation_id" not in event:
        event["correlation_id"] = cid
    return event


def _redact_secrets(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in list(event):
        if key.lower() in _SECRET_KEYS:
            event[key] = "***"
    return event


_second: tuple[int, str] = (-1, "")


def _timestamp(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """ISO 8601 UTC with microseconds (``2026-01-01T08:00:00.000000Z``); the seconds part is
    formatted once per second (every webhook logs a line: this is on the hot path)."""
    global _second
    now = time.time()
    second = int(now)
    if _second[0] != second:
        _second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    event["timestamp"] = f"{_second[1]}.{int((now - second) * 1e6):06d}Z"
    return event


def _render_json(_: Any, __: str, event: dict[str, Any]) -> str:
    """One JSON line: orjson, or the standard library for what orjson refuses (integers past
    64 bits, lone surrogates, keys that are not strings); anything else as its repr.

    Dataclasses go through ``repr`` too (``OPT_PASSTHROUGH_DATACLASS``): orjson would write
    every field, and ``field(repr=False)`` is how credentials stay out of a printed request.
    """
    try:
        return orjson.dumps(event, default=repr, option=orjson.OPT_PASSTHROUGH_DATACLASS).decode()
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(event, default=repr)


class _StderrLogger:
    """Writes each line to whatever ``sys.stderr`` is at the time of the call."""

    def __init__(self, *_: Any) -> None:
        pass

    def msg(self, message: str) -> None:
        stream = sys.stderr
        stream.write(message + "\n")
        stream.flush()

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        _add_correlation_id,
        _redact_secrets,
        structlog.processors.add_log_level,
        _timestamp,
        structlog.processors.format_exc_info,
        _render_json if json else structlog.dev.ConsoleRenderer(),
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=_StderrLogger,
        # Not cached: a reconfiguration (another log level, a test's captured stderr) applies
        # to module-level loggers too.
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(message)s")
    # Access logs carry query strings (verify tokens): keep them out.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
