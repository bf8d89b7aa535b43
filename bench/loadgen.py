"""A small asyncio HTTP/1.1 keep-alive load generator for signed Meta deliveries.

Runs as its own process (so it never shares a core's event loop with the server) and prints
one JSON result line on stdout. Two modes:

- ``open``: open loop at a fixed offered rate. Request *i* is due at ``t0 + i / rate``
  whatever happened before; its latency is measured from that due time to the end of the
  response, so a slow server cannot hide its queueing (no coordinated omission). Requests
  wait for a free connection from a fixed pool; if the pool is exhausted that wait counts.
- ``closed``: ``connections`` connections each sending back to back for a duration; the
  fallback for throughput when ``wrk`` is not installed.

Every request is a distinct Facebook Page feed comment (``comment_id`` unique per run),
signed with ``X-Hub-Signature-256`` over the exact bytes sent. Each run ends only when every
request sent has its response, so "200 responses" and "rows stored" can be compared exactly.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import random
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

TEXTS = (
    "Wann kommt endlich meine Lieferung? Ich warte seit zwei Wochen.",
    "Great product, thanks for the quick support!",
    "Der Preis ist viel zu hoch, das ist eine Frechheit.",
    "My order arrived damaged, can I get a refund please?",
    "Hallo, gibt es das auch in Blau? Danke!",
    "The app keeps crashing since the last update.",
    "Super Service, vielen Dank an das ganze Team.",
    "Is this still available in the Berlin store?",
)


class DeliveryFactory:
    """Distinct, signed Facebook feed comment deliveries."""

    def __init__(self, secret: str, tag: str, page_id: str) -> None:
        self.secret = secret.encode()
        self.tag = tag
        self.page_id = page_id
        self.n = 0
        self.rng = random.Random(hash(tag))

    def next_body(self) -> bytes:
        self.n += 1
        now = int(time.time())
        post = f"{self.page_id}_{self.rng.randint(1, 2000)}"
        author = str(100_000_000 + self.rng.randint(1, 20_000))
        delivery = {
            "object": "page",
            "entry": [
                {
                    "id": self.page_id,
                    "time": now,
                    "changes": [
                        {
                            "field": "feed",
                            "value": {
                                "item": "comment",
                                "verb": "add",
                                "comment_id": f"{self.tag}_{self.n}",
                                "post_id": post,
                                "parent_id": post,
                                "from": {"id": author, "name": f"Bench User {author}"},
                                "created_time": now,
                                "message": TEXTS[self.n % len(TEXTS)],
                            },
                        }
                    ],
                }
            ],
        }
        return json.dumps(delivery, separators=(",", ":")).encode()

    def request(self, host: str, path: str) -> bytes:
        body = self.next_body()
        signature = hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        head = (
            f"POST {path} HTTP/1.1\r\n"
            f"Host: {host}\r\n"
            "Content-Type: application/json\r\n"
            f"X-Hub-Signature-256: sha256={signature}\r\n"
            f"Content-Length: {len(body)}\r\n"
            "\r\n"
        )
        return head.encode() + body


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def exchange(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


@dataclass
class Result:
    mode: str
    sent: int = 0
    ok: int = 0
    non_ok: int = 0
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    # measured phase only (after warm-up)
    measured_sent: int = 0
    measured_ok: int = 0
    measured_duration_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    service_ms: list[float] = field(default_factory=list)
    max_send_lag_ms: float = 0.0
    # open loop: requests still unanswered when the drain timeout ran out
    cut_in_flight: int = 0  # sent, no response (the server may still store them)
    never_sent: int = 0  # still waiting for a free connection


async def _connect(host: str, port: int) -> Connection:
    reader, writer = await asyncio.open_connection(host, port)
    return Connection(reader, writer)


def _record(result: Result, status: int) -> None:
    result.statuses[str(status)] = result.statuses.get(str(status), 0) + 1
    if status == 200:
        result.ok += 1
    else:
        result.non_ok += 1


async def run_open(args: argparse.Namespace) -> Result:
    url = urlsplit(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    factory = DeliveryFactory(args.secret, args.tag, args.page_id)
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(args.connections):
        pool.put_nowait(await _connect(host, port))
    result = Result(mode="open")
    loop = asyncio.get_running_loop()
    total = int(args.rate * (args.warmup + args.duration))
    warm = int(args.rate * args.warmup)
    interval = 1.0 / args.rate
    tasks: set[asyncio.Task[None]] = set()
    due_of: dict[asyncio.Task[None], tuple[int, float]] = {}

    in_flight: set[int] = set()

    async def one(index: int, due: float) -> None:
        conn = await pool.get()
        request = factory.request(f"{host}:{port}", url.path)
        started = loop.time()
        in_flight.add(index)
        try:
            status = await conn.exchange(request)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            result.errors += 1
            conn.close()
            pool.put_nowait(await _connect(host, port))
            return
        finished = loop.time()
        in_flight.discard(index)
        pool.put_nowait(conn)
        _record(result, status)
        if index >= warm:
            result.measured_sent += 1
            result.measured_ok += status == 200
            result.latencies_ms.append((finished - due) * 1000.0)
            result.service_ms.append((finished - started) * 1000.0)

    t0 = loop.time() + 0.05
    for i in range(total):
        due = t0 + i * interval
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            result.max_send_lag_ms = max(result.max_send_lag_ms, -delay * 1000.0)
        task = asyncio.create_task(one(i, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        due_of[task] = (i, due)
        result.sent += 1
    measured_start = t0 + warm * interval
    if tasks:
        await asyncio.wait(set(tasks), timeout=args.drain_timeout)
    cut_at = loop.time()
    for task in list(tasks):
        index, due = due_of[task]
        task.cancel()
        if index in in_flight:
            result.cut_in_flight += 1
        else:
            result.never_sent += 1
        if index >= warm:
            # unanswered: the latency is at least this (a lower bound)
            result.measured_sent += 1
            result.latencies_ms.append((cut_at - due) * 1000.0)
    result.sent -= result.never_sent
    result.measured_duration_s = max(t0 + total * interval, cut_at) - measured_start
    while not pool.empty():
        pool.get_nowait().close()
    return result


async def run_closed(args: argparse.Namespace) -> Result:
    url = urlsplit(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    factory = DeliveryFactory(args.secret, args.tag, args.page_id)
    result = Result(mode="closed")
    loop = asyncio.get_running_loop()
    start = loop.time()
    measure_from = start + args.warmup
    stop_at = measure_from + args.duration

    async def worker() -> None:
        conn = await _connect(host, port)
        try:
            while loop.time() < stop_at:
                request = factory.request(f"{host}:{port}", url.path)
                result.sent += 1
                began = loop.time()
                try:
                    status = await conn.exchange(request)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    result.errors += 1
                    conn.close()
                    conn = await _connect(host, port)
                    continue
                _record(result, status)
                if began >= measure_from:
                    result.measured_sent += 1
                    result.measured_ok += status == 200
                    result.service_ms.append((loop.time() - began) * 1000.0)
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(args.connections)))
    result.measured_duration_s = args.duration
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--tag", required=True, help="unique per run: comment ids never repeat")
    parser.add_argument("--page-id", default="1234567890321")
    parser.add_argument("--mode", choices=("open", "closed"), default="open")
    parser.add_argument("--rate", type=float, default=500.0, help="open loop: requests/s")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=10.0,
        help="open loop: how long to wait for the last responses after the last send",
    )
    args = parser.parse_args()
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(run_open(args) if args.mode == "open" else run_closed(args))
    out = dict(result.__dict__)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
