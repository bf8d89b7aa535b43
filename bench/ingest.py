"""Webhook ingest benchmark: durable ingest of signed Meta deliveries vs. a bare endpoint.

Two figures (PRODUCT.md, "Bars the project is measured against"):

- ``webhook_ingest_durable_rps``: requests/s of ``POST /webhooks/{channel_id}`` on the real
  service (every delivery a distinct, correctly signed Facebook feed comment, stored in one
  transaction before the 200) against a bare FastAPI endpoint that does nothing, measured
  in the same run. Bar: ratio >= 40 %.
- ``webhook_ack_p99_ms``: p99 acknowledgement latency of the real endpoint at a fixed
  offered rate of 500 deliveries/s, open loop (latency counted from each request's
  scheduled send time). Bar: p99 < 20 ms.

How it runs: both servers are ``uvicorn`` subprocesses started the same way (one process,
``--no-access-log``, uvloop and httptools when installed) on free 127.0.0.1 ports. The
service runs the embedded default (SQLite file in a temporary directory, migrated, in-process
queue; ``LEITSTAND_TRIAGE_ENABLED=false`` so no model loads), or PostgreSQL with
``--database postgres``. The service process answers HTTP only (``LEITSTAND_RUN_WORKER=false``,
as the API processes of a scale-out deployment); ``--with-worker`` also runs the worker in it.
Throughput comes from ``wrk`` with ``bench/meta_delivery.lua`` (which signs each body with
OpenSSL through LuaJIT's FFI) when ``wrk`` is installed, else from
``bench/loadgen.py --mode closed``; the measured seconds alternate between the two servers in
rounds so that other load on the machine hits both alike. Afterwards the stored messages are
counted and compared with the 200 responses.

    .venv/bin/python bench/ingest.py                      # SQLite, ~1 minute
    .venv/bin/python bench/ingest.py --database postgres  # PostgreSQL at 127.0.0.1:5432
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BENCH_DIR,
    REPO_ROOT,
    VENV_BIN,
    Server,
    log,
    percentile,
    pg_create_database,
    pg_drop_database,
    pg_dsn,
    pg_url,
    process_cpu_seconds,
    start_uvicorn,
    uvicorn_flags,
    which,
)
from bench.common import figure as print_figure

SECRET = "S"
PAGE_ID = "1234567890321"
RATIO_BAR = 0.40
P99_BAR_MS = 20.0
PG_DATABASE = "leitstand_bench_ingest"


@dataclass
class Segment:
    server: str
    requests: int  # responses received
    ok: int  # 200 responses
    generated: int  # requests the client produced (>= sent)
    duration_s: float
    socket_errors: int
    p50_ms: float | None = None
    p99_ms: float | None = None


# --- the database under test --------------------------------------------------------------


class Store:
    """Counts rows in the service's database, from outside the service."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")

    def _query(self, sql: str) -> int:
        if self.is_sqlite:
            path = self.url.split("///", 1)[1]
            with sqlite3.connect(path, timeout=30) as conn:
                return int(conn.execute(sql).fetchone()[0])
        import psycopg

        with psycopg.connect(pg_dsn(PG_DATABASE)) as conn:
            row = conn.execute(sql).fetchone()
            assert row is not None
            return int(row[0])

    def messages(self) -> int:
        return self._query("SELECT count(*) FROM message")

    def unprocessed(self) -> int:
        return self._query("SELECT count(*) FROM message WHERE processed_at IS NULL")

    def settled_messages(self, quiet_s: float = 0.5, timeout_s: float = 30.0) -> int:
        """The message count once it stopped changing (in-flight requests finished)."""
        deadline = time.monotonic() + timeout_s
        last = self.messages()
        while time.monotonic() < deadline:
            time.sleep(quiet_s)
            now = self.messages()
            if now == last:
                return now
            last = now
        return last

    def wait_processed(self, timeout_s: float = 120.0) -> tuple[int, float]:
        """Wait until the worker has processed every stored message; (left, seconds).
        Without ``--with-worker`` nothing processes them here: no wait."""
        if not WITH_WORKER:
            return self.unprocessed(), 0.0
        started = time.monotonic()
        left = self.unprocessed()
        while left and time.monotonic() - started < timeout_s:
            time.sleep(0.25)
            left = self.unprocessed()
        return left, time.monotonic() - started


WITH_WORKER = False


def service_env(database_url: str) -> dict[str, str]:
    """The embedded default configuration, except the database URL and no model."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEITSTAND_")}
    env.update(
        {
            "LEITSTAND_DATABASE_URL": database_url,
            "LEITSTAND_TRIAGE_ENABLED": "false",
            "LEITSTAND_ENVIRONMENT": "development",
            # The API process alone, as in the scale-out deployment where `leitstand worker`
            # processes do the processing; `--with-worker` runs it in-process as well.
            "LEITSTAND_RUN_WORKER": "true" if WITH_WORKER else "false",
            # The service code of this checkout, even if the editable install lags behind
            # a newly added package.
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
    )
    return env


def prepare_service(database_url: str, env: dict[str, str]) -> str:
    """Migrate and create the Facebook channel through the CLI; returns the channel id."""
    leitstand = str(VENV_BIN / "leitstand")
    migrated = subprocess.run(
        [leitstand, "migrate"], env=env, cwd=REPO_ROOT, capture_output=True, text=True
    )
    if migrated.returncode != 0:
        raise RuntimeError(f"`leitstand migrate` failed:\n{migrated.stderr[-3000:]}")
    proc = subprocess.run(
        [
            leitstand,
            "channel",
            "create",
            "--platform",
            "facebook",
            "--name",
            "bench",
            "--secret",
            SECRET,
            "--json",
        ],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    if proc.returncode == 0:
        return str(json.loads(proc.stdout.strip().splitlines()[-1])["id"])
    last = (proc.stderr.strip().splitlines() or ["?"])[-1]
    log(
        f"`leitstand channel create` failed ({last.strip()}); creating the channel "
        "through inbox.channels.create_channel instead"
    )
    return asyncio.run(_create_channel(database_url))


async def _create_channel(database_url: str) -> str:
    import app.models  # noqa: F401  (every table, so the channel's foreign keys resolve)
    from app.db import make_engine, make_sessionmaker, unit_of_work
    from inbox.channels import create_channel

    engine = make_engine(database_url)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as session:
            channel = await create_channel(
                session, platform="facebook", name="bench", secret=SECRET
            )
            return channel.id
    finally:
        await engine.dispose()


# --- load generation ----------------------------------------------------------------------


def run_wrk(url: str, *, seconds: float, connections: int, tag: str) -> Segment:
    env = {**os.environ, "BENCH_SECRET": SECRET, "BENCH_TAG": tag, "BENCH_PAGE_ID": PAGE_ID}
    cmd = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(BENCH_DIR / "meta_delivery.lua"),
        url,
    ]
    started = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    elapsed = time.monotonic() - started
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{proc.stdout}\n{proc.stderr}")
    r = json.loads(line.removeprefix("BENCH_RESULT "))
    duration = r["duration_us"] / 1e6 or elapsed
    return Segment(
        server="",
        requests=r["requests"],
        ok=r["requests"] - r["status_errors"],
        generated=r["generated"],
        duration_s=duration,
        socket_errors=r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"],
        p50_ms=r["p50_us"] / 1000.0,
        p99_ms=r["p99_us"] / 1000.0,
    )


def run_loadgen(
    url: str,
    *,
    mode: str,
    tag: str,
    seconds: float,
    warmup: float,
    connections: int,
    rate: float | None = None,
) -> dict:
    cmd = [
        str(VENV_BIN / "python"),
        str(BENCH_DIR / "loadgen.py"),
        "--url",
        url,
        "--secret",
        SECRET,
        "--tag",
        tag,
        "--page-id",
        PAGE_ID,
        "--mode",
        mode,
        "--duration",
        str(seconds),
        "--warmup",
        str(warmup),
        "--connections",
        str(connections),
    ]
    if rate is not None:
        cmd += ["--rate", str(rate)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def throughput_segment(
    server: Server, path: str, *, seconds: float, connections: int, use_wrk: bool
) -> Segment:
    tag = f"{server.name}-{uuid.uuid4().hex[:10]}"
    url = server.base_url + path
    if use_wrk:
        segment = run_wrk(url, seconds=seconds, connections=connections, tag=tag)
    else:
        r = run_loadgen(
            url, mode="closed", tag=tag, seconds=seconds, warmup=0, connections=connections
        )
        segment = Segment(
            server="",
            requests=r["ok"] + r["non_ok"],
            ok=r["ok"],
            generated=r["sent"],
            duration_s=r["measured_duration_s"],
            socket_errors=r["errors"],
        )
    segment.server = server.name
    return segment


def _ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f} ms"


# --- the benchmark ------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database", choices=("sqlite", "postgres", "postgresql"), default="sqlite"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=10.0,
        help="measured seconds per server (split into --rounds)",
    )
    parser.add_argument(
        "--with-worker", action="store_true", help="run the worker in the service process too"
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--rate-seconds", type=float, default=10.0)
    parser.add_argument("--no-wrk", action="store_true", help="use bench/loadgen.py instead")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    global WITH_WORKER
    WITH_WORKER = args.with_worker
    postgres = args.database != "sqlite"
    suffix = "_postgresql" if postgres else ""

    use_wrk = which("wrk") is not None and not args.no_wrk
    log(
        f"load generator: {'wrk + bench/meta_delivery.lua' if use_wrk else 'bench/loadgen.py'}"
        f"; uvicorn flags: {' '.join(uvicorn_flags())}"
    )
    if not use_wrk and not args.no_wrk:
        log("wrk not found (apt-get install -y wrk); falling back to the asyncio client")

    tmp = Path(tempfile.mkdtemp(prefix="leitstand-bench-ingest-"))
    if postgres:
        pg_create_database(PG_DATABASE)
        database_url = pg_url(PG_DATABASE)
    else:
        database_url = f"sqlite+aiosqlite:///{tmp / 'leitstand.db'}"
    env = service_env(database_url)
    servers: list[Server] = []
    try:
        t = time.monotonic()
        channel_id = prepare_service(database_url, env)
        log(
            f"migrated {database_url.split('://')[0]} and created channel {channel_id} "
            f"({time.monotonic() - t:.1f}s)"
        )
        path = f"/webhooks/{channel_id}"
        store = Store(database_url)

        bare = start_uvicorn("bare", "bench.bare_app:app", env=env, log_dir=tmp)
        servers.append(bare)
        ingest = start_uvicorn(
            "ingest",
            "app.main:create_app",
            factory=True,
            env=env,
            log_dir=tmp,
            health_path="/readyz",
        )
        servers.append(ingest)
        log(f"servers up: bare {bare.base_url}, ingest {ingest.base_url}")

        # Warm-up both (first requests pay for imports, caches, SQLite page cache).
        for server in (bare, ingest):
            throughput_segment(
                server, path, seconds=args.warmup, connections=args.connections, use_wrk=use_wrk
            )
        store.wait_processed()

        per_round = args.seconds / args.rounds
        segments: list[Segment] = []
        cpu_ms: dict[str, list[float]] = {"bare": [], "ingest": []}
        integrity_ok = True
        for round_no in range(1, args.rounds + 1):
            for server in (bare, ingest):
                before = store.messages() if server is ingest else 0
                cpu_before = process_cpu_seconds(server.proc.pid)
                seg = throughput_segment(
                    server, path, seconds=per_round, connections=args.connections, use_wrk=use_wrk
                )
                cpu = process_cpu_seconds(server.proc.pid) - cpu_before
                segments.append(seg)
                cpu_ms[server.name].append(cpu * 1000.0 / max(1, seg.requests))
                note = ""
                if server is ingest:
                    stored = store.settled_messages() - before
                    in_flight = stored - seg.ok
                    good = (
                        seg.requests == seg.ok
                        and seg.socket_errors == 0
                        and seg.ok <= stored <= seg.generated
                        and in_flight <= args.connections
                    )
                    integrity_ok &= good
                    note = (
                        f"; stored {stored} messages for {seg.ok} 200s "
                        f"(+{in_flight} cut in flight by the client's stop)"
                        f"{'' if good else '  <-- MISMATCH'}"
                    )
                log(
                    f"round {round_no} {server.name:6s}: {seg.requests / seg.duration_s:7.0f}"
                    f" req/s, {seg.ok}/{seg.requests} 200, socket errors {seg.socket_errors}, "
                    f"client p50 {seg.p50_ms} ms p99 {seg.p99_ms} ms; server "
                    f"{cpu / seg.duration_s:.0%} of a core, "
                    f"{cpu_ms[server.name][-1]:.2f} ms CPU per request{note}"
                )
            left, waited = store.wait_processed(timeout_s=30)
            log(f"round {round_no}: worker backlog drained in {waited:.1f}s ({left} left)")

        def rps(name: str) -> float:
            chosen = [s for s in segments if s.server == name]
            return sum(s.ok for s in chosen) / sum(s.duration_s for s in chosen)

        bare_rps, ingest_rps = rps("bare"), rps("ingest")
        ratio = ingest_rps / bare_rps if bare_rps else 0.0
        bare_cpu = sum(cpu_ms["bare"]) / len(cpu_ms["bare"])
        ingest_cpu = sum(cpu_ms["ingest"]) / len(cpu_ms["ingest"])
        log(
            f"throughput: bare {bare_rps:.0f} req/s, durable ingest {ingest_rps:.0f} req/s, "
            f"ratio {ratio:.1%}; server CPU per request: bare {bare_cpu:.3f} ms, ingest "
            f"{ingest_cpu:.3f} ms ({ingest_cpu / bare_cpu:.0f}x); integrity "
            f"{'ok' if integrity_ok else 'FAILED'}; load average {os.getloadavg()[0]:.2f} "
            f"on {os.cpu_count()} cores"
        )

        # Acknowledgement latency at a fixed offered rate, open loop.
        store.wait_processed(timeout_s=30)
        before = store.messages()
        log(
            f"open loop: {args.rate:.0f} deliveries/s for {args.warmup:.0f}s warm-up + "
            f"{args.rate_seconds:.0f}s, 64 connections, latency from each scheduled send"
        )
        cpu_before = process_cpu_seconds(ingest.proc.pid)
        wall_before = time.monotonic()
        r = run_loadgen(
            ingest.base_url + path,
            mode="open",
            tag=f"rate-{uuid.uuid4().hex[:10]}",
            seconds=args.rate_seconds,
            warmup=args.warmup,
            connections=64,
            rate=args.rate,
        )
        cpu = process_cpu_seconds(ingest.proc.pid) - cpu_before
        wall = time.monotonic() - wall_before
        stored = store.settled_messages() - before
        lat = r["latencies_ms"]
        p50, p99 = percentile(lat, 50), percentile(lat, 99)
        achieved = r["measured_ok"] / r["measured_duration_s"]
        unanswered = r["cut_in_flight"] + r["never_sent"]
        # Requests cut in flight may still have been stored (stored before the 200 that
        # never arrived); everything else must match exactly.
        counts_ok = r["ok"] <= stored <= r["ok"] + r["cut_in_flight"]
        integrity_ok &= counts_ok
        rate_ok = (
            unanswered == 0
            and r["ok"] == r["sent"]
            and r["errors"] == 0
            and stored == r["ok"]
            and achieved >= 0.98 * args.rate
        )
        log(
            f"open loop: sent {r['sent']}, 200 {r['ok']}, statuses {r['statuses']}, errors "
            f"{r['errors']}, unanswered after the drain timeout {unanswered} "
            f"({r['cut_in_flight']} in flight, {r['never_sent']} never sent); stored {stored}"
            f" ({'consistent' if counts_ok else 'MISMATCH'}); {r['measured_ok']} of "
            f"{len(lat)} measured answered, {achieved:.0f}/s: p50 {p50:.2f} ms, p95 "
            f"{percentile(lat, 95):.2f} ms, p99 {p99:.2f} ms, max {max(lat):.2f} ms"
            f"{' (lower bounds: unanswered requests count at the cut-off)' if unanswered else ''}"
            f"; server time without client queueing p99 "
            f"{_ms(percentile(r['service_ms'], 99))}; max send lag "
            f"{r['max_send_lag_ms']:.1f} ms; server {cpu / wall:.0%} of a core"
        )
        left, waited = store.wait_processed(timeout_s=30)
        log(f"worker backlog after the open loop drained in {waited:.1f}s ({left} left)")

        # Exact check: a closed-loop run that waits for every response it started.
        before = store.messages()
        v = run_loadgen(
            ingest.base_url + path,
            mode="closed",
            tag=f"verify-{uuid.uuid4().hex[:10]}",
            seconds=3,
            warmup=0,
            connections=8,
        )
        stored = store.settled_messages() - before
        exact = stored == v["ok"] and v["ok"] == v["sent"] and v["errors"] == 0
        integrity_ok &= exact
        log(
            f"verification: {v['sent']} deliveries, {v['ok']} answered 200, {stored} messages "
            f"stored: {'exact match' if exact else 'MISMATCH'}"
        )
    finally:
        for server in servers:
            server.stop()
        if postgres:
            pg_drop_database(PG_DATABASE)
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    db = "PostgreSQL" if postgres else "SQLite"
    print_figure(
        f"webhook_ingest_durable_rps{suffix}",
        ingest_rps,
        "requests/s",
        baseline=bare_rps,
        ratio=ratio,
        bar=f"≥ 40 % of the requests/s of a bare FastAPI endpoint doing nothing ({db}; "
        "every 200 a stored row)",
        met=ratio >= RATIO_BAR and integrity_ok,
    )
    print_figure(
        f"webhook_ack_p99_ms{suffix}",
        p99,
        "ms",
        bar=f"p99 < 20 ms at 500 deliveries/s ({db})",
        met=p99 < P99_BAR_MS and rate_ok and args.rate >= 500,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
