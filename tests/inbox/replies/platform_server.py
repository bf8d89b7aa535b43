"""A stand-in for the platforms' APIs: a real HTTP server on 127.0.0.1 (uvicorn, on the
test's event loop) that records every request and answers from a script.

``answer(...)`` queues answers for the next requests, in order; when the script is empty
the default answer (200 ``{}``) is used. An answer may wait before it is sent, or run a
callback first (to deliver a platform's echo webhook while our request is "in flight").
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson
import uvicorn


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at_s: float  # loop time when it arrived

    @property
    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None


@dataclass
class Answer:
    status: int = 200
    json: Any = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    before: Callable[[Recorded], Awaitable[None]] | None = None


class PlatformServer:
    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self.requests: list[Recorded] = []
        self.script: deque[Answer] = deque()
        self.default = Answer()
        self._server = uvicorn.Server(
            uvicorn.Config(
                self._app,
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                lifespan="off",
                interface="asgi3",
            )
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, *answers: Answer) -> None:
        self.script.extend(answers)

    def reset(self) -> None:
        self.requests.clear()
        self.script.clear()

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        recorded = Recorded(
            method=scope["method"],
            path=scope["path"],
            query=dict(parse_qsl(scope["query_string"].decode())),
            headers={k.decode().lower(): v.decode() for k, v in scope["headers"]},
            body=body,
            at_s=asyncio.get_running_loop().time(),
        )
        self.requests.append(recorded)
        answer = self.script.popleft() if self.script else self.default
        if answer.before is not None:
            await answer.before(recorded)
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        payload = orjson.dumps(answer.json)
        headers = [(b"content-type", b"application/json")] + [
            (k.encode(), v.encode()) for k, v in answer.headers.items()
        ]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def __aenter__(self) -> PlatformServer:
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.should_exit = True
        await self._task
