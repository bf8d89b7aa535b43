"""A tiny HTTP server on 127.0.0.1 that records every request and answers from a script.

Real sockets and real HTTP/1.1 (one request per connection, ``Connection: close``), so the
notification senders are tested as they run, not through a mock of our own code.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)


class Recorder:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.script: dict[str, deque[Reply]] = defaultdict(deque)
        self._server: asyncio.Server | None = None
        self.port = 0

    def answer(self, path: str, *replies: Reply) -> None:
        """Reply to ``path`` with these in turn; afterwards (or unscripted) with 200."""
        self.script[path].extend(replies)

    def on(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def __aenter__(self) -> Recorder:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).decode("latin-1").strip()
            if not request_line:
                return
            method, target, _ = request_line.split(" ", 2)
            headers: dict[str, str] = {}
            while True:
                line = (await reader.readline()).decode("latin-1")
                if line in ("\r\n", "\n", ""):
                    break
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(Recorded(method, target, headers, body, time.monotonic()))
            queue = self.script.get(target)
            reply = queue.popleft() if queue else Reply()
            head = [f"HTTP/1.1 {reply.status} Scripted", f"content-length: {len(reply.body)}"]
            head += ["connection: close", "content-type: text/plain"]
            head += [f"{k}: {v}" for k, v in reply.headers.items()]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + reply.body)
            await writer.drain()
        finally:
            writer.close()
