"""Critical message → live alert: webhook POST to the on-call user's websocket alert.

PRODUCT.md bar: "webhook → websocket alert for a critical message: p50 < 150 ms, p99 <
500 ms with 100 msg/s background load".

A real `leitstand` server (uvicorn subprocess, `app.main:create_app --factory`, the REAL
triage model, the worker, scheduler and dispatcher in the same process; SQLite with the
in-process queue and pub/sub by default). Through the API: a one-level escalation policy
(the PR person on call) and the critical rule of escalation/README.md that opens an
incident (dedup key per message, so every critical message opens its own) and starts the
policy. The on-call PR person's websocket is connected (as a dashboard's would be, it also
receives every inbox event of the background traffic).

Background: `bench/loadgen.py` in its own process, open loop at `--rate` (100/s) signed
Facebook feed comment deliveries of ordinary messages (questions, praise, complaints) to
the same channel. Once it runs steadily, `--critical` (100, so that p99 is not just the
worst sample) signed Facebook comments with the PRODUCT.md critical text (the child's name
varies) are posted `--interval` (0.6 s) apart, open loop: about a minute of measuring, two
to three minutes in all with the model's start. Latency: from just before each POST to the
arrival of the `escalation.alert` for its incident on the websocket (the `incident.opened`
of the same transaction arrives with it and is reported too).

Where the time goes, per critical message, from timestamps on the path (one machine, one
wall clock): the client's send and its 200, the server's `message.received_at` (stored),
the `message.created` event, `message.processed_at` (triage done, the processing
transaction begins), the alert event's `created_at` (rules, incident and policy written),
the `message.triaged` event's `created_at` (end of the transaction) and the alert's arrival.
`--trace` serves `bench.alert_latency:traced_app` instead: the same app with the model, the
processing of a batch and the rule engine wrapped (in the server process only) to log their
start and end, which splits "stored -> triaged" into the queue, the wait for the one
inference thread, the inference of the message's batch, and the transaction's parts.

    .venv/bin/python bench/alert_latency.py [--critical 100] [--interval 0.6] [--rate 100]
    .venv/bin/python bench/alert_latency.py --trace
    .venv/bin/python bench/alert_latency.py --database postgres --redis redis://127.0.0.1:6379/14
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import hashlib
import hmac
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BENCH_DIR,
    VENV_BIN,
    figure,
    log,
    percentile,
    pg_create_database,
    pg_drop_database,
    pg_url,
    process_cpu_seconds,
    start_uvicorn,
)

P50_BAR_MS = 150.0
P99_BAR_MS = 500.0
SECRET = "bench-facebook-app-secret"
PAGE_ID = "1234567890321"
PG_DATABASE = "leitstand_bench_alert"
NAMES = [
    "Paul", "Jonas", "Leon", "Felix", "Noah", "Elias", "Finn", "Ben", "Luis", "Emil",
    "Anton", "Theo", "Henry", "Matteo", "Karl", "Oskar", "Jakob", "Moritz", "Lukas", "Max",
    "Tim", "Leo", "Erik", "Jan", "Nils", "Ole", "Tom", "Till", "Mats", "Linus",
    "David", "Samuel", "Julian", "Simon", "Jonah", "Niklas", "Alexander", "Philipp", "Fabian",
    "Johannes", "Vincent", "Valentin", "Maximilian", "Konstantin", "Benedikt", "Florian",
    "Tobias", "Sebastian", "Dominik", "Marlon", "Levi", "Mika", "Hannes", "Jannik", "Lennard",
    "Malte", "Bruno", "Carl", "Frederik", "Gustav", "Hugo", "Ludwig", "Magnus", "Mattis",
    "Milan", "Raphael", "Robin", "Rafael", "Adrian", "Aaron", "Arthur", "Bastian", "Christoph",
    "Daniel", "Emilio", "Fritz", "Georg", "Hendrik", "Ilias", "Jasper", "Joshua", "Kilian",
    "Lasse", "Marius", "Michael", "Nico", "Oliver", "Pascal", "Quentin", "Richard", "Stefan",
    "Thilo", "Ulrich", "Viktor", "Wilhelm", "Xaver", "Yannick", "Zacharias", "Benno", "Lorenz",
]  # fmt: skip


def critical_text(i: int) -> str:
    """The PRODUCT.md critical message with one detail varied; the name identifies it.
    With the bundled model all 100 score urgency >= 82 and safety >= 0.70 (the rule asks
    for 80 and 0.6)."""
    return (
        f"Euer Babybrei hat meinen Sohn {NAMES[i]} ins Krankenhaus gebracht, "
        "mein Anwalt meldet sich"
    )


WARM_UP_TEXT = (
    "Euer Babybrei hat meine Tochter Greta ins Krankenhaus gebracht, mein Anwalt meldet sich"
)


def marker(i: int) -> str:
    return f"Sohn {NAMES[i]} ins"


# The rule of escalation/README.md / tests/escalation/support.py, one incident per message.
CRITICAL_RULE: dict[str, Any] = {
    "name": "Safety or legal threat",
    "conditions": {
        "all": [
            {"field": "urgency", "op": "gte", "value": 80},
            {
                "any": [
                    {"field": "category.safety", "op": "gte", "value": 0.6},
                    {"field": "category.legal", "op": "gte", "value": 0.6},
                ]
            },
        ]
    },
    "actions": [
        {"type": "set_priority", "urgency": 100},
        {"type": "add_labels", "labels": ["krise"]},
        {
            "type": "open_incident",
            "title": "Kritisch auf {platform}: {excerpt}",
            "severity": "critical",
            "dedup_key": "critical:{message_id}",
            "window_minutes": 60,
        },
    ],
}


def facebook_comment(text: str, comment_id: str) -> tuple[bytes, dict[str, str]]:
    now = int(time.time())
    post = f"{PAGE_ID}_777"
    body = json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": PAGE_ID,
                    "time": now,
                    "changes": [
                        {
                            "field": "feed",
                            "value": {
                                "item": "comment",
                                "verb": "add",
                                "comment_id": comment_id,
                                "post_id": post,
                                "parent_id": post,
                                "from": {"id": "100004711", "name": "Eine Mutter"},
                                "created_time": now,
                                "message": text,
                            },
                        }
                    ],
                }
            ],
        },
        separators=(",", ":"),
    ).encode()
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"content-type": "application/json", "x-hub-signature-256": f"sha256={digest}"}


# --- the traced app (--trace) --------------------------------------------------------------


class Trace:
    """JSON lines with wall-clock times, written by the traced server process."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "a", buffering=1)  # noqa: SIM115  (lives as long as the app)

    def write(self, **record: Any) -> None:
        self._file.write(json.dumps(record) + "\n")


class TracingTriager:
    """The real model, logging each inference batch: start, end, size, critical texts."""

    def __init__(self, inner: Any, trace: Trace) -> None:
        self.inner = inner
        self.model_version = getattr(inner, "model_version", None)
        self.trace = trace

    def score(self, items: Any) -> Any:
        started = time.time()
        results = self.inner.score(items)
        texts = [item.text for item in items]
        self.trace.write(
            kind="inference",
            start=started,
            end=time.time(),
            size=len(texts),
            markers=[t for t in texts if "Babybrei" in t],
        )
        return results


def traced_app() -> Any:
    """``uvicorn --factory bench.alert_latency:traced_app``: the app as ``create_app`` makes
    it, with the model, the processing of a batch and the rule engine timed (wrapped in
    this process only; nothing else changes)."""
    from app.main import create_app, load_default_triager
    from app.settings import get_settings
    from escalation.engine import RuleEngine
    from inbox.processing import MessageProcessor

    trace = Trace(os.environ["BENCH_TRACE_FILE"])
    process, rules = MessageProcessor.process, RuleEngine.__call__

    async def traced_process(self: Any, message_ids: Any) -> Any:
        started = time.time()
        result = await process(self, message_ids)  # load, infer, transaction, commit, publish
        trace.write(kind="process", start=started, end=time.time(), ids=list(message_ids))
        return result

    async def traced_rules(self: Any, session: Any, processed: Any) -> None:
        started = time.time()
        await rules(self, session, processed)
        trace.write(kind="rules", start=started, end=time.time(), ids=[p.id for p in processed])

    MessageProcessor.process = traced_process  # type: ignore[method-assign]
    RuleEngine.__call__ = traced_rules  # type: ignore[method-assign]
    settings = get_settings()
    model = load_default_triager(settings)
    return create_app(settings, triager=TracingTriager(model, trace))


# --- setup -----------------------------------------------------------------------------------


async def setup(db_url: str) -> tuple[int, str, str]:
    """Migrate; the on-call PR person (id, token) and the Facebook channel's id."""
    from app.db import make_engine, make_sessionmaker, unit_of_work
    from app.migrate import upgrade_async
    from inbox.channels import create_channel
    from people.models import Role, TokenKind, User
    from people.service import issue_token

    await upgrade_async(db_url)
    engine = make_engine(db_url)
    async with unit_of_work(make_sessionmaker(engine)) as session:
        user = User(email="presse@bench.local", role=Role.pr, display_name="Presse")
        session.add(user)
        await session.flush()
        assert user.id is not None
        token, _ = await issue_token(session, user=user, kind=TokenKind.api)
        channel = await create_channel(session, platform="facebook", name="bench", secret=SECRET)
        user_id = user.id
    await engine.dispose()
    return user_id, token, channel.id


async def configure(client: Any, token: str, user_id: int) -> None:
    """The policy and the rule, through the API as an operator would."""
    headers = {"authorization": f"Bearer {token}"}
    policy = await client.post(
        "/api/v1/escalation-policies",
        json={"name": "Bereitschaft", "levels": [{"delay_s": 3600, "user_ids": [user_id]}]},
        headers=headers,
    )
    assert policy.status_code == 201, policy.text
    rule = copy.deepcopy(CRITICAL_RULE)
    rule["actions"].append({"type": "start_policy", "policy_id": policy.json()["id"]})
    created = await client.post("/api/v1/escalation-rules", json=rule, headers=headers)
    assert created.status_code == 201, created.text


async def server_timestamps(db_url: str, markers: list[str]) -> dict[str, dict[str, float]]:
    """Id, received_at and processed_at (epoch seconds) of the critical messages; the
    processing lag of the background messages."""
    import sqlalchemy as sa

    from app.db import make_engine

    engine = make_engine(db_url)
    found: dict[str, dict[str, float]] = {}
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.text("SELECT id, text, received_at, processed_at FROM message WHERE text LIKE :p"),
            {"p": "%Babybrei%"},
        )
        for message_id, text, received, processed in rows:
            key = next((m for m in markers if m in text), None)
            if key is not None:
                found[key] = {
                    "id": message_id,
                    "received": _epoch(received),
                    "processed": _epoch(processed),
                }
        lag = await conn.execute(
            sa.text(
                "SELECT received_at, processed_at FROM message "
                "WHERE text NOT LIKE :p AND processed_at IS NOT NULL"
            ),
            {"p": "%Babybrei%"},
        )
        lags = [_epoch(p) - _epoch(r) for r, p in lag]
        unprocessed = (
            await conn.execute(sa.text("SELECT count(*) FROM message WHERE processed_at IS NULL"))
        ).scalar_one()
        incidents = (await conn.execute(sa.text("SELECT count(*) FROM incident"))).scalar_one()
    await engine.dispose()
    found["_background"] = {
        "n": len(lags),
        "p50_ms": percentile(lags, 50) * 1000,
        "p99_ms": percentile(lags, 99) * 1000,
        "unprocessed": unprocessed,
        "incidents": incidents,
    }
    return found


def _epoch(value: Any) -> float:
    """A timestamp read with raw SQL (a string on SQLite, a datetime on PostgreSQL)."""
    if value is None:
        return float("nan")
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace(" ", "T"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return float(value.timestamp())


# --- the measurement -------------------------------------------------------------------------


@dataclass
class Probe:
    """One critical message: when it was sent, and when what it caused arrived."""

    index: int
    marker: str
    sent: float = 0.0  # time.time() just before the POST
    acked: float = 0.0  # the 200 arrived
    arrivals: dict[str, float] = field(default_factory=dict)  # event type -> time.time()
    created_at: dict[str, float] = field(default_factory=dict)  # event type -> server time


class Listener:
    """Reads the on-call user's websocket; matches events to the critical messages."""

    def __init__(self, ws: Any, probes: list[Probe]) -> None:
        self.ws = ws
        self.probes = probes
        self.by_incident: dict[int, Probe] = {}
        self.events = 0
        self.resyncs = 0

    def probe_for(self, text: str | None) -> Probe | None:
        if not text:
            return None
        return next((p for p in self.probes if p.marker in text), None)

    def note(self, probe: Probe, event: dict[str, Any], at: float) -> None:
        kind = event["type"]
        if kind not in probe.arrivals:
            probe.arrivals[kind] = at
            if event.get("created_at"):
                probe.created_at[kind] = _epoch(event["created_at"])

    async def run(self) -> None:
        async for raw in self.ws:
            at = time.time()
            event = json.loads(raw)
            self.events += 1
            kind, data = event.get("type"), event.get("data") or {}
            if kind == "resync":
                self.resyncs += 1
            elif kind in ("message.created", "message.triaged"):
                probe = self.probe_for(data.get("excerpt"))
                if probe is not None:
                    self.note(probe, event, at)
            elif kind == "incident.opened":
                incident = data.get("incident") or {}
                probe = self.probe_for(incident.get("title"))
                if probe is not None:
                    self.by_incident[incident["id"]] = probe
                    self.note(probe, event, at)
            elif kind == "escalation.alert":
                probe = self.by_incident.get(int(data.get("incident_id") or 0))
                probe = probe or self.probe_for(data.get("title"))
                if probe is not None:
                    self.note(probe, event, at)


def start_loadgen(
    url: str, *, rate: float, duration_s: float, warmup_s: float, tag: str
) -> subprocess.Popen[bytes]:
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
        "open",
        "--rate",
        str(rate),
        "--duration",
        str(duration_s),
        "--warmup",
        str(warmup_s),
        "--connections",
        # Enough for the open loop when answers are slow, few enough that none idles past
        # uvicorn's keep-alive timeout (5 s) and is closed under the generator.
        str(max(4, min(64, int(rate / 2)))),
        "--drain-timeout",
        "15",
    ]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"p50 {percentile(values, 50):7.1f}  p99 {percentile(values, 99):7.1f}  " + (
        f"max {max(values):7.1f} ms"
    )


async def run(args: argparse.Namespace) -> int:
    import httpx
    import websockets

    tmp = Path(tempfile.mkdtemp(prefix="leitstand-alert-"))
    if args.database == "postgres":
        pg_create_database(PG_DATABASE)
        db_url = pg_url(PG_DATABASE)
    else:
        db_url = f"sqlite+aiosqlite:///{tmp / 'alert.db'}"
    user_id, token, channel_id = await setup(db_url)
    env = {
        "LEITSTAND_DATABASE_URL": db_url,
        "LEITSTAND_TRIAGE_ENABLED": "true",
        "LEITSTAND_LOG_LEVEL": "WARNING",
        "LEITSTAND_QUEUE_STREAM_PREFIX": f"bench-alert-{uuid.uuid4().hex[:6]}",
    }
    if args.redis:
        env["LEITSTAND_REDIS_URL"] = args.redis
    if args.threads:
        env["LEITSTAND_TRIAGE_THREADS"] = str(args.threads)
    trace_file = tmp / "triage-batches.jsonl"
    if args.trace:
        env["BENCH_TRACE_FILE"] = str(trace_file)
    log(f"starting the server ({args.database}{', redis' if args.redis else ''}, real model)")
    server = start_uvicorn(
        "leitstand",
        "bench.alert_latency:traced_app" if args.trace else "app.main:create_app",
        factory=True,
        env=env,
        log_dir=tmp,
        timeout_s=240,
    )
    log(f"server up on {server.base_url} (log: {server.log_path})")
    probes = [Probe(i, marker(i)) for i in range(args.critical)]
    loadgen_out: dict[str, Any] = {}
    listener: Listener | None = None
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            await configure(client, token, user_id)
            ws_url = f"ws://127.0.0.1:{server.port}/ws?token={token}"
            async with websockets.connect(ws_url, max_queue=None, ping_interval=None) as ws:
                assert json.loads(await ws.recv())["type"] == "hello"
                # Warm the path once (first inference, first incident), unmeasured.
                body, headers = facebook_comment(WARM_UP_TEXT, "warmup_1")
                warm_up_sent = time.time()
                assert (
                    await client.post(f"/webhooks/{channel_id}", content=body, headers=headers)
                ).status_code == 200
                async with asyncio.timeout(60):
                    while json.loads(await ws.recv())["type"] != "escalation.alert":
                        pass
                log(f"warm-up alert after {(time.time() - warm_up_sent) * 1000:.0f} ms")
                listener = Listener(ws, probes)
                reader = asyncio.create_task(listener.run())
                measure_s = args.critical * args.interval
                duration_s = args.lead + measure_s + 3.0
                cpu_before = process_cpu_seconds(server.proc.pid)
                loadgen = start_loadgen(
                    f"{server.base_url}/webhooks/{channel_id}",
                    rate=args.rate,
                    duration_s=duration_s,
                    warmup_s=2.0,
                    tag=f"bg{uuid.uuid4().hex[:8]}",
                )
                log(
                    f"background: {args.rate:.0f} msg/s open loop for {duration_s + 2:.0f} s; "
                    f"{args.critical} critical messages from t+{args.lead + 2:.0f} s, "
                    f"{args.interval} s apart"
                )
                await asyncio.sleep(2.0 + args.lead)
                loop = asyncio.get_running_loop()
                t0 = loop.time()

                async def send(probe: Probe) -> None:
                    body, headers = facebook_comment(
                        critical_text(probe.index), f"crit_{uuid.uuid4().hex[:12]}"
                    )
                    probe.sent = time.time()
                    response = await client.post(
                        f"/webhooks/{channel_id}", content=body, headers=headers
                    )
                    probe.acked = time.time()
                    assert response.status_code == 200, response.text

                senders = []
                for probe in probes:
                    delay = t0 + probe.index * args.interval - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    senders.append(asyncio.create_task(send(probe)))
                await asyncio.gather(*senders)
                deadline = loop.time() + args.timeout
                while loop.time() < deadline and not all(
                    "escalation.alert" in p.arrivals for p in probes
                ):
                    await asyncio.sleep(0.1)
                gave_up_at = time.time()
                out, err = await asyncio.to_thread(loadgen.communicate, None, 120)
                cpu_used = process_cpu_seconds(server.proc.pid) - cpu_before
                if loadgen.returncode != 0:
                    log(f"loadgen failed: {err.decode(errors='replace')[-2000:]}")
                else:
                    loadgen_out = json.loads(out.decode().strip().splitlines()[-1])
                reader.cancel()
        stamps = await server_timestamps(db_url, [p.marker for p in probes])
        trace: list[dict[str, Any]] = []
        if args.trace and trace_file.exists():
            trace = [json.loads(line) for line in trace_file.read_text().splitlines() if line]
    finally:
        server.stop()
        if not args.keep:
            if args.database == "postgres":
                pg_drop_database(PG_DATABASE)
            shutil.rmtree(tmp, ignore_errors=True)

    # --- report --------------------------------------------------------------------------
    assert listener is not None
    received = [p for p in probes if "escalation.alert" in p.arrivals]
    # An alert that never came counts with the time waited for it (a lower bound).
    latencies = [(p.arrivals.get("escalation.alert", gave_up_at) - p.sent) * 1000 for p in probes]
    opened = [
        (p.arrivals["incident.opened"] - p.sent) * 1000
        for p in probes
        if "incident.opened" in p.arrivals
    ]
    rate = (
        loadgen_out.get("measured_ok", 0) / loadgen_out["measured_duration_s"]
        if loadgen_out.get("measured_duration_s")
        else 0.0
    )
    background = stamps.pop("_background", {})
    bg_ack = loadgen_out.get("latencies_ms") or []
    log(
        f"background: {loadgen_out.get('measured_ok', 0)} of {loadgen_out.get('measured_sent', 0)}"
        f" deliveries answered 200 at {rate:.1f}/s (errors {loadgen_out.get('errors')}, "
        f"non-200 {loadgen_out.get('non_ok')}); ack {ms(bg_ack)}; server CPU "
        f"{cpu_used:.1f} s over the run"
    )
    log(
        f"background processing lag (stored -> triaged): p50 {background.get('p50_ms', 0):.0f}"
        f" ms, p99 {background.get('p99_ms', 0):.0f} ms over {background.get('n')} messages; "
        f"unprocessed at the end: {background.get('unprocessed')}; incidents: "
        f"{background.get('incidents')} (expected {args.critical + 1}); websocket events "
        f"received: {listener.events}, resyncs: {listener.resyncs}"
    )
    log(
        f"critical alerts received: {len(received)} of {len(probes)}"
        + ("" if len(received) == len(probes) else " (the missing count as the time waited)")
    )
    log(f"POST -> escalation.alert on the websocket: {ms(latencies)}")
    log(f"POST -> incident.opened on the websocket:  {ms(opened)}")

    # Where the time goes: consecutive segments along the path, per critical message.
    segments: dict[str, list[float]] = {}

    def add(name: str, start: float | None, end: float | None) -> None:
        if start is None or end is None or math.isnan(start) or math.isnan(end):
            return
        segments.setdefault(name, []).append((end - start) * 1000)

    def traced(kind: str, probe: Probe, message_id: Any) -> dict[str, Any] | None:
        return next(
            (
                t
                for t in trace
                if t["kind"] == kind
                and (message_id in t.get("ids", ()) or probe.marker in str(t.get("markers")))
            ),
            None,
        )

    for p in received:
        s = stamps.get(p.marker, {})
        received_at, processed_at = s.get("received"), s.get("processed")
        alert_at = p.created_at.get("escalation.alert")
        add("0 POST -> 200 at the client (stored, answered)", p.sent, p.acked)
        add("1 POST -> stored (message.received_at)", p.sent, received_at)
        add("1b stored -> message.created arrives", received_at, p.arrivals.get("message.created"))
        infer = traced("inference", p, None)
        process = traced("process", p, s.get("id"))
        rules = traced("rules", p, s.get("id"))
        if infer and process and rules:
            add("2a stored -> a worker takes it (queue)", received_at, process["start"])
            add(
                "2b -> inference starts (load; the inference thread busy)",
                process["start"],
                infer["start"],
            )
            add("2c inference of its batch", infer["start"], infer["end"])
            add("2d -> rules start (UPDATEs; write lock)", infer["end"], rules["start"])
            add("3a rules start -> alert written (incident, policy)", rules["start"], alert_at)
            add("3b alert written -> rules done", alert_at, rules["end"])
            add(
                "4 rules done -> alert arrives (commit, publish, ws)",
                rules["end"],
                p.arrivals.get("escalation.alert"),
            )
            # The batch's events are published one by one after the commit: the processing
            # call returns once the last is out, possibly after the alert arrived.
            add("   rules done -> all the batch's events published", rules["end"], process["end"])
            segments.setdefault("   inference batch size", []).append(float(infer["size"]))
            segments.setdefault("   processing batch size", []).append(float(len(process["ids"])))
        else:
            add("2 stored -> triaged (processed_at)", received_at, processed_at)
            add("3 triaged -> alert written (rules, incident, policy)", processed_at, alert_at)
            add(
                "4 alert written -> end of tx (message.triaged)",
                alert_at,
                p.created_at.get("message.triaged"),
            )
            add(
                "5 end of tx -> alert arrives (commit, publish, ws)",
                p.created_at.get("message.triaged"),
                p.arrivals.get("escalation.alert"),
            )
    log("where the time goes (ms, over the critical messages):")
    for name in sorted(segments, key=lambda n: (n.startswith(" "), n)):
        values = segments[name]
        if name.endswith("batch size"):
            log(f"  {name:<58} p50 {percentile(values, 50):6.0f}  max {max(values):6.0f}")
        else:
            log(f"  {name:<58} {ms(values)}")
    batches = [t for t in trace if t["kind"] == "inference"]
    if batches:
        sizes = [b["size"] for b in batches]
        busy = sum(b["end"] - b["start"] for b in batches)
        span = max(b["end"] for b in batches) - min(b["start"] for b in batches)
        log(
            f"inference: {len(batches)} batches, size p50 {percentile(sizes, 50):.0f} max "
            f"{max(sizes)}, per batch {ms([(b['end'] - b['start']) * 1000 for b in batches])}; "
            f"the inference thread was busy {100 * busy / span:.0f} % of {span:.0f} s"
        )

    all_in = len(received) == len(probes)
    load_ok = rate >= 0.95 * args.rate
    p50 = percentile(latencies, 50)
    p99 = percentile(latencies, 99)
    figure(
        "alert_latency_p50_ms",
        p50,
        "ms",
        bar="p50 < 150 ms with 100 msg/s background load",
        met=all_in and load_ok and p50 < P50_BAR_MS,
    )
    figure(
        "alert_latency_p99_ms",
        p99,
        "ms",
        bar="p99 < 500 ms with 100 msg/s background load",
        met=all_in and load_ok and p99 < P99_BAR_MS,
    )
    figure(
        "alert_latency_background_rate",
        rate,
        "msg/s",
        bar="100 msg/s background load (open loop, signed Meta deliveries, answered 200)",
        met=load_ok,
    )
    figure(
        "alert_latency_alerts_received",
        len(received),
        "alerts",
        bar=f"every one of the {len(probes)} critical messages alerts the on-call user",
        met=all_in,
    )
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--critical", type=int, default=100, help=f"at most {len(NAMES)}")
    parser.add_argument("--interval", type=float, default=0.6, help="s between critical posts")
    parser.add_argument("--rate", type=float, default=100.0, help="background msg/s")
    parser.add_argument("--lead", type=float, default=5.0, help="s of background before")
    parser.add_argument("--timeout", type=float, default=30.0, help="s to wait for alerts")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--redis", default=None, help="a Redis URL: queue and pub/sub on it")
    parser.add_argument("--threads", type=int, default=None, help="LEITSTAND_TRIAGE_THREADS")
    parser.add_argument("--trace", action="store_true", help="log every inference batch")
    parser.add_argument("--keep", action="store_true", help="keep the database and the logs")
    args = parser.parse_args()
    if not 1 <= args.critical <= len(NAMES):
        parser.error(f"--critical must be between 1 and {len(NAMES)}")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
