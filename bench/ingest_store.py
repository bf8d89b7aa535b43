"""Ingest micro-benchmark: the database cost of ``inbox.ingest.store_deliveries`` per batch.

What the group-commit writer (``inbox/writer.py``) does for one batch, without HTTP, the
queue or events: one transaction that stores ``--sizes`` messages (default 32 and 128) and
commits. The database is a fresh file (or PostgreSQL database) built by the real migrations
and preloaded with ``--preload`` messages, so indexes are not empty. Each batch is a mix
the way a live inbox looks: most messages continue threads already stored, some start new
ones, a few are our own replies echoed back (outbound). The workload is seeded, so two
checkouts of the code (before and after a change) get identical batches; run them
alternately to compare under the same machine load.

    .venv/bin/python bench/ingest_store.py                        # SQLite
    .venv/bin/python bench/ingest_store.py --database postgresql  # PostgreSQL at 127.0.0.1

Prints one JSON line per size: per-batch p50 / p95 in ms for ``store_deliveries`` alone
and with the commit, the per-message cost in microseconds, and the p50 CPU time of this
process per batch (with SQLite, the database's work too; steadier than wall time when
other work shares the machine).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import log, percentile, pg_create_database, pg_drop_database, pg_url

SEED = 20261124
PG_DATABASE = "leitstand_bench_ingest"
VOCABULARY = (
    "ich die und der nicht ist das ein es zu mit mein meine auf für sie wir bitte danke "
    "bestellung lieferung paket produkt preis service kunde app konto rechnung problem "
    "frage antwort woche tage geld zurück kaputt falsch leider endlich gut schlecht "
    "the and to my is it not you order delivery package refund broken wrong please "
    "thanks hospital lawyer recall battery charger kinderwagen journalist staubsauger"
)
WORDS = VOCABULARY.split()


class Workload:
    def __init__(self) -> None:
        self.rng = random.Random(SEED)
        self.threads: list[str] = []
        self.next_message = 0
        self.next_thread = 0

    def text(self) -> str:
        return " ".join(self.rng.choice(WORDS) for _ in range(self.rng.randint(5, 30)))

    def batch(self, size: int, *, new_thread_share: float = 0.3) -> list[tuple[str, str, bool]]:
        """(external_id, thread_key, inbound) triples."""
        out = []
        for _ in range(size):
            if not self.threads or self.rng.random() < new_thread_share:
                self.next_thread += 1
                thread = f"t{self.next_thread}"
                self.threads.append(thread)
            else:
                # recent threads are more active than old ones
                thread = self.threads[
                    -1 - min(len(self.threads) - 1, int(self.rng.expovariate(1 / 300)))
                ]
            self.next_message += 1
            out.append((f"m{self.next_message}", thread, self.rng.random() < 0.9))
        return out


async def run(url: str, sizes: list[int], batches: int, preload: int) -> list[dict]:
    import sqlalchemy as sa

    import app.models  # noqa: F401
    from app.db import make_engine, make_sessionmaker, unit_of_work
    from app.migrate import upgrade_async
    from inbox.channels import ChannelInfo
    from inbox.ingest import Delivery, store_deliveries
    from inbox.models import Channel
    from inbox.normalize import Direction, Kind, NormalizedAuthor, NormalizedMessage
    from inbox.platforms.base import ChannelCredentials

    await upgrade_async(url)
    engine = make_engine(url)
    sessionmaker = make_sessionmaker(engine)
    async with unit_of_work(sessionmaker) as session:
        await session.execute(
            sa.insert(Channel.__table__).values(  # type: ignore[attr-defined]
                id="ch_bench", platform="facebook", name="bench", is_active=True
            )
        )
    channel = ChannelInfo("ch_bench", "facebook", None, ChannelCredentials(None, None))
    workload = Workload()

    def deliveries(size: int) -> list[Delivery]:
        return [
            Delivery(
                channel,
                [
                    NormalizedMessage(
                        external_id=external_id,
                        thread_key=thread,
                        kind=Kind.comment,
                        text=workload.text(),
                        language="de",
                        direction=Direction.inbound if inbound else Direction.outbound,
                        author=NormalizedAuthor(platform_id=f"u{workload.rng.randint(1, 5000)}"),
                    )
                ],
            )
            for external_id, thread, inbound in workload.batch(size)
        ]

    async def store(size: int) -> tuple[float, float, float]:
        batch = deliveries(size)
        c0, t0 = time.process_time(), time.perf_counter()
        async with unit_of_work(sessionmaker) as session:
            await store_deliveries(session, batch)
            t1 = time.perf_counter()
        t2, c2 = time.perf_counter(), time.process_time()
        return (t1 - t0) * 1000.0, (t2 - t0) * 1000.0, (c2 - c0) * 1000.0

    loaded = 0
    while loaded < preload:
        await store(256)
        loaded += 256
    log(f"preloaded {loaded} messages in {workload.next_thread} threads")
    results = []
    samples: dict[int, tuple[list[float], list[float], list[float]]] = {
        s: ([], [], []) for s in sizes
    }
    for _ in range(10):  # warm-up
        for size in sizes:
            await store(size)
    for _ in range(batches):
        for size in sizes:  # interleaved, so that machine load falls on all sizes alike
            for series, value in zip(samples[size], await store(size), strict=True):
                series.append(value)
    await engine.dispose()
    for size in sizes:
        store_ms, total_ms, cpu_ms = samples[size]
        result = {
            "batch": size,
            "store_p50_ms": round(percentile(store_ms, 50), 3),
            "store_p95_ms": round(percentile(store_ms, 95), 3),
            "with_commit_p50_ms": round(percentile(total_ms, 50), 3),
            "with_commit_p95_ms": round(percentile(total_ms, 95), 3),
            "store_us_per_message_p50": round(percentile(store_ms, 50) * 1000 / size, 1),
            # CPU time of this process (SQLite runs in it): less sensitive to other load
            "cpu_with_commit_p50_ms": round(percentile(cpu_ms, 50), 3),
        }
        results.append(result)
    return results


def main() -> int:
    import json

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--sizes", default="32,128")
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--preload", type=int, default=20_000)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="leitstand-ingest-") as tmp:
        if args.database == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        else:
            pg_create_database(PG_DATABASE)
            url = pg_url(PG_DATABASE)
        try:
            results = asyncio.run(run(url, sizes, args.batches, args.preload))
        finally:
            if args.database == "postgresql":
                pg_drop_database(PG_DATABASE)
    for result in results:
        print(json.dumps({"database": args.database, **result}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
