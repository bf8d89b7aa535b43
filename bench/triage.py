"""Triage throughput end to end (queue → worker → model → database) against the raw
batched forward pass of the same model, in the same run; single-message latency at low
load; and the process's peak RSS.

End to end: N messages are stored as a webhook would store them, one `message.stored` job
each is enqueued, and the service's own worker loops (the same code `leitstand serve` runs,
in-process queue, SQLite) process them; the time is from the first enqueue to the last
commit. Raw: the model's tokenizer + encoder + heads on batches of the worker's batch size.

    nice -n 5 .venv/bin/python bench/triage.py [--messages 1024] [--threads N]

Both measurements use the same inference thread count: by default the service's own
(``LEITSTAND_TRIAGE_THREADS``, 1 unless set), because that is what a deployment runs;
torch with as many threads as cores collapses when anything else wants a core.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import figure, log, percentile

TEXTS = [
    "Euer Babybrei hat meinen Sohn ins Krankenhaus gebracht, mein Anwalt meldet sich",
    "Your baby food put my son in hospital, my lawyer will be in touch",
    "Wann öffnet ihr am Samstag?",
    "The app has been down since this morning, I cannot access my account!",
    "Danke für die superschnelle Lieferung, alles bestens angekommen!",
    "I ordered three weeks ago and still nothing. Customer service does not answer.",
    "Guten Tag, hier ist die Redaktion, wir bitten um eine Stellungnahme bis 16 Uhr.",
    "Earn 5000 dollars a week from home! Click the link in my bio.",
    "Seit gestern Abend geht bei euch gar nichts mehr, die App stürzt ständig ab",
    "Is the new flavour gluten free? My daughter has coeliac disease.",
]


def text_for(i: int) -> str:
    return f"{TEXTS[i % len(TEXTS)]} (#{i})"


def raw_rate(triager: object, batch_size: int, n: int) -> float:
    texts = [text_for(i) for i in range(n)]
    triager.raw_scores(texts[:batch_size])  # type: ignore[attr-defined]  # warm-up
    start = time.perf_counter()
    for i in range(0, n, batch_size):
        triager.raw_scores(texts[i : i + batch_size])  # type: ignore[attr-defined]
    return n / (time.perf_counter() - start)


async def store_messages(services: object, n: int, offset: int) -> list[int]:
    from app.db import unit_of_work
    from inbox.channels import ChannelInfo
    from inbox.ingest import store_delivery
    from inbox.normalize import Kind, NormalizedAuthor, NormalizedMessage
    from inbox.platforms.base import ChannelCredentials

    channel = services.bench_channel  # type: ignore[attr-defined]
    info = ChannelInfo(channel.id, channel.platform, None, ChannelCredentials(None, None))
    async with unit_of_work(services.sessionmaker) as session:  # type: ignore[attr-defined]
        result = await store_delivery(
            session,
            channel=info,
            messages=[
                NormalizedMessage(
                    external_id=f"m{offset + i}",
                    thread_key=f"t{(offset + i) % 500}",
                    kind=Kind.comment,
                    text=text_for(offset + i),
                    author=NormalizedAuthor(platform_id=f"a{(offset + i) % 300}"),
                )
                for i in range(n)
            ],
        )
    return result.created


async def processed_count(services: object) -> int:
    import sqlalchemy as sa

    async with services.sessionmaker() as session:  # type: ignore[attr-defined]
        return int(
            (
                await session.execute(
                    sa.text("SELECT count(*) FROM message WHERE processed_at IS NOT NULL")
                )
            ).scalar_one()
        )


async def end_to_end(triager: object, args: argparse.Namespace) -> tuple[float, list[float]]:
    from app.db import unit_of_work
    from app.migrate import upgrade_async
    from app.services import Services
    from app.settings import Settings
    from inbox.channels import create_channel
    from inbox.processing import message_stored_job

    tmp = Path(tempfile.mkdtemp(prefix="leitstand-triage-bench-"))
    db_url = f"sqlite+aiosqlite:///{tmp / 'triage.db'}"
    await upgrade_async(db_url)
    settings = Settings(
        environment="test",
        database_url=db_url,
        triage_enabled=False,
        triage_batch_size=args.batch,
        worker_concurrency=2,
        sweeper_interval_s=3600,
        log_level="WARNING",
    )
    services = Services.build(settings, triager=triager)
    async with unit_of_work(services.sessionmaker) as session:
        services.bench_channel = await create_channel(  # type: ignore[attr-defined]
            session, platform="standard-webhooks", name="bench"
        )
    await services.start()

    # Throughput: everything stored first, then the worker drains the queue.
    ids = await store_messages(services, args.messages, 0)
    services.start_background(sweeper=False)
    start = time.perf_counter()
    await services.queue.enqueue([message_stored_job(i, None) for i in ids])
    while await processed_count(services) < len(ids):
        await asyncio.sleep(0.01)
    rate = len(ids) / (time.perf_counter() - start)

    # Latency at low load: one message at a time, from enqueue to its commit.
    latencies: list[float] = []
    for k in range(args.latency_samples):
        (mid,) = await store_messages(services, 1, args.messages + k)
        before = await processed_count(services)
        t0 = time.perf_counter()
        await services.queue.enqueue([message_stored_job(mid, None)])
        while await processed_count(services) == before:
            await asyncio.sleep(0.001)
        latencies.append((time.perf_counter() - t0) * 1000)
        await asyncio.sleep(0.05)
    await services.close()
    return rate, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument(
        "--threads", type=int, default=None, help="default: the service's triage_threads"
    )
    parser.add_argument("--latency-samples", type=int, default=20)
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the service's model in process (LEITSTAND_TRIAGE_PROCESS=false)",
    )
    args = parser.parse_args()

    from app.settings import Settings
    from triage.model import load_triager

    if args.threads is None:
        args.threads = Settings().triage_threads

    log("loading the model")
    triager = load_triager(None, threads=args.threads)
    log(f"model {triager.model_version}, {args.threads} inference thread(s)")
    raw = raw_rate(triager, args.batch, args.messages)
    log(f"raw forward pass: {raw:.1f} msg/s")
    # End to end the model runs the way the service runs it (app.main.load_default_triager:
    # in a child process unless LEITSTAND_TRIAGE_PROCESS=false or --in-process).
    from app.main import close_triager, load_default_triager

    service_settings = Settings(
        triage_threads=args.threads, triage_process=not args.in_process, environment="test"
    )
    service_triager = load_default_triager(service_settings)
    where = "in a child process" if service_settings.triage_process else "in process"
    log(f"the service's model {where}")
    try:
        e2e, latencies = asyncio.run(end_to_end(service_triager, args))
    finally:
        close_triager(service_triager)
    log(f"end to end: {e2e:.1f} msg/s")
    raw_after = raw_rate(triager, args.batch, args.messages)
    log(f"raw forward pass again: {raw_after:.1f} msg/s")
    baseline = (raw + raw_after) / 2  # measured before and after: noise on both sides
    ratio = e2e / baseline
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # The model's child process, once it has ended (the largest child of this run).
    child_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    figure("triage_raw_forward_msgs_per_s", baseline, "msg/s", bar="baseline", met=True)
    figure(
        "triage_end_to_end_msgs_per_s",
        e2e,
        "msg/s",
        baseline=baseline,
        ratio=ratio,
        bar=">= 90 % of the raw batched forward pass of the same model",
        met=ratio >= 0.9,
    )
    figure(
        "triage_single_message_latency_p50_ms",
        percentile(latencies, 50),
        "ms",
        bar="informational (low load, enqueue to commit)",
        met=True,
    )
    figure(
        "triage_single_message_latency_p95_ms",
        percentile(latencies, 95),
        "ms",
        bar="informational (low load, enqueue to commit)",
        met=True,
    )
    figure("triage_peak_rss_mb", rss_mb, "MB", bar="informational", met=True)
    if service_settings.triage_process:
        figure(
            "triage_model_process_peak_rss_mb",
            child_rss_mb,
            "MB",
            bar="informational (the service's model process)",
            met=True,
        )


if __name__ == "__main__":
    main()
