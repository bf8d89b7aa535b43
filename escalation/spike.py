"""Spike detection on the live stream: volume and negativity per topic against a baseline.

A message's topic is its most probable triage category (when at least
``spike_min_category_probability``), e.g. ``complaint``. Counters per topic and minute
bucket are incremented in the processing transaction. For a message the rules then see:

* ``spike.count``: messages on its topic in the last ``spike_window_minutes``;
* ``spike.ratio``: that count against the count the baseline (the
  ``spike_baseline_hours`` before the window) predicts for a window, the prediction
  floored at ``spike_min_baseline_count`` so that a quiet baseline does not make every
  handful of messages a spike;
* ``spike.negative_share``: the share of negative messages in the window.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.settings import Settings
from app.sql import insert_for
from escalation.models import SpikeCounter

counter_t = SpikeCounter.__table__  # type: ignore[attr-defined]
PRUNE_EVERY_S = 600.0


@dataclass(frozen=True, slots=True)
class SpikeStats:
    count: int
    ratio: float
    negative_share: float

    def facts(self) -> dict[str, float | int]:
        return {
            "spike.count": self.count,
            "spike.ratio": round(self.ratio, 3),
            "spike.negative_share": round(self.negative_share, 3),
        }


def top_category(triage: Mapping[str, Any] | None, *, min_probability: float = 0.0) -> str | None:
    categories = (triage or {}).get("categories") or {}
    if not categories:
        return None
    name, probability = max(categories.items(), key=lambda kv: (kv[1], kv[0]))
    return str(name) if probability >= min_probability else None


def bucket_start(at: datetime, bucket_s: int) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=at.tzinfo)
    seconds = int((at - epoch).total_seconds())
    return epoch + timedelta(seconds=seconds - seconds % bucket_s)


class SpikeDetector:
    def __init__(self, settings: Settings) -> None:
        self.bucket_s = settings.spike_bucket_s
        self.window = timedelta(minutes=settings.spike_window_minutes)
        self.baseline = timedelta(hours=settings.spike_baseline_hours)
        self.min_baseline_count = settings.spike_min_baseline_count
        self.min_probability = settings.spike_min_category_probability
        self._last_prune: datetime | None = None

    def topic(self, triage: Mapping[str, Any] | None) -> str | None:
        return top_category(triage, min_probability=self.min_probability)

    async def record(
        self,
        session: AsyncSession,
        *,
        at: datetime,
        messages: Sequence[tuple[str | None, bool]],
    ) -> None:
        """Count messages given as (topic, is_negative); topics in sorted order, so that
        concurrent transactions lock the counter rows in the same order."""
        counts: Counter[str] = Counter()
        negatives: Counter[str] = Counter()
        for topic, negative in messages:
            if topic is not None:
                counts[topic] += 1
                negatives[topic] += int(negative)
        start = bucket_start(at, self.bucket_s)
        for topic in sorted(counts):
            insert = insert_for(session, counter_t).values(
                topic=topic,
                bucket_start=start,
                message_count=counts[topic],
                negative_count=negatives[topic],
            )
            await session.execute(
                insert.on_conflict_do_update(
                    index_elements=["topic", "bucket_start"],
                    set_={
                        "message_count": counter_t.c.message_count + counts[topic],
                        "negative_count": counter_t.c.negative_count + negatives[topic],
                    },
                )
            )
        if self._last_prune is None or (at - self._last_prune).total_seconds() > PRUNE_EVERY_S:
            self._last_prune = at
            await session.execute(
                sa.delete(counter_t).where(
                    counter_t.c.bucket_start < at - self.baseline - self.window
                )
            )

    async def stats(
        self, session: AsyncSession, *, at: datetime, topics: set[str]
    ) -> dict[str, SpikeStats]:
        if not topics:
            return {}
        c = counter_t.c
        window_start = bucket_start(at - self.window, self.bucket_s)
        in_window = c.bucket_start > window_start
        rows = await session.execute(
            sa.select(
                c.topic,
                sa.func.sum(sa.case((in_window, c.message_count), else_=0)),
                sa.func.sum(sa.case((in_window, c.negative_count), else_=0)),
                sa.func.sum(sa.case((in_window, 0), else_=c.message_count)),
            )
            .where(c.topic.in_(sorted(topics)), c.bucket_start >= at - self.baseline - self.window)
            .group_by(c.topic)
        )
        windows_in_baseline = self.baseline / self.window
        stats = {}
        for topic, count, negative, baseline_count in rows:
            count, negative, baseline_count = (
                int(count or 0),
                int(negative or 0),
                int(baseline_count or 0),
            )
            expected = max(baseline_count / windows_in_baseline, self.min_baseline_count)
            stats[topic] = SpikeStats(
                count=count,
                ratio=count / expected,
                negative_share=negative / count if count else 0.0,
            )
        return stats
