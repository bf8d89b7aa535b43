"""The worker and the model: bursts reach ``score`` in batches, inference runs off the event
loop (one at a time), and ``LEITSTAND_TRIAGE_THREADS`` reaches torch. The service runs
in-process on SQLite with the tiny random model behind a spy."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import torch

from app.main import load_default_triager
from app.settings import Settings
from inbox.channels import ChannelInfo
from inbox.ingest import Delivery
from inbox.models import Message
from inbox.normalize import Kind, NormalizedMessage
from inbox.platforms.base import ChannelCredentials
from tests.conftest import Running, make_settings, serve
from tests.helpers import add_channel
from tests.triage.test_model_folder import save_tiny_model
from triage.model import TriageInput, TriageResult, tiny_random_triager


class SpyTriager:
    """The tiny model, recording each call's size and thread, optionally slow."""

    def __init__(self, delay_s: float = 0.0, gate: threading.Event | None = None) -> None:
        self.inner = tiny_random_triager(0)
        self.model_version = self.inner.model_version
        self.delay_s = delay_s
        self.gate = gate  # the first call waits for it
        self.batches: list[int] = []
        self.spans: list[tuple[float, float]] = []  # (start, end) of each call, monotonic
        self.threads: set[int] = set()
        self.running = 0
        self.max_running = 0
        self.started = threading.Event()
        self._lock = threading.Lock()

    def score(self, items: Sequence[TriageInput]) -> list[TriageResult]:
        with self._lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            self.batches.append(len(items))
            self.threads.add(threading.get_ident())
        start = time.monotonic()
        first = not self.started.is_set()
        self.started.set()
        try:
            if first and self.gate is not None:
                assert self.gate.wait(20)
            time.sleep(self.delay_s)  # blocks its thread, as a real forward pass does
            return self.inner.score(items)
        finally:
            with self._lock:
                self.running -= 1
                self.spans.append((start, time.monotonic()))


async def _channel(running: Running) -> ChannelInfo:
    row = await add_channel(running.services, "facebook", secret="s")
    return ChannelInfo(row.id, row.platform, None, ChannelCredentials(None, None))


async def _ingest(running: Running, channel: ChannelInfo, external_id: str) -> None:
    message = NormalizedMessage(
        external_id=external_id,
        thread_key=external_id,
        kind=Kind.comment,
        text=f"Hallo {external_id}",
    )
    await running.services.ingest.store(Delivery(channel, [message], None))


async def _wait_processed(running: Running, n: int, timeout_s: float = 20.0) -> None:
    async with asyncio.timeout(timeout_s):
        while True:
            async with running.services.sessionmaker() as session:
                done = (
                    await session.execute(
                        sa.select(sa.func.count())
                        .select_from(Message)
                        .where(Message.processed_at.is_not(None))  # type: ignore[union-attr]
                    )
                ).scalar_one()
            if done >= n:
                return
            await asyncio.sleep(0.02)


def _settings(sqlite_url: str, **kw: Any) -> Settings:
    return make_settings(sqlite_url, escalation_enabled=False, **kw)


async def test_a_burst_reaches_the_model_in_batches(sqlite_url: str) -> None:
    """Low traffic: the first message is scored alone, at once. Under load: what arrived
    while the model was busy is scored together, in batches of up to the batch size."""
    gate = threading.Event()
    spy = SpyTriager(gate=gate)
    settings = _settings(sqlite_url, worker_concurrency=1, triage_batch_size=16)
    async with serve(settings, triager=spy) as running:
        channel = await _channel(running)
        await _ingest(running, channel, "first")
        assert await asyncio.to_thread(spy.started.wait, 10)
        for i in range(20):  # arrive one by one while the first is being scored
            await _ingest(running, channel, f"m{i}")
        async with asyncio.timeout(10):
            while await running.services.queue.pending_count() < 21:
                await asyncio.sleep(0.01)
        gate.set()
        await _wait_processed(running, 21)
    assert spy.batches[0] == 1
    assert sum(spy.batches) == 21
    assert spy.batches[1:] == [16, 4], spy.batches
    assert len(spy.batches) == 3  # not one call per message


async def test_inference_runs_off_the_event_loop_one_at_a_time(sqlite_url: str) -> None:
    spy = SpyTriager(delay_s=0.4)
    settings = _settings(sqlite_url, worker_concurrency=2, triage_batch_size=4)
    async with serve(settings, triager=spy) as running:
        channel = await _channel(running)
        ticks: list[float] = []
        stop = asyncio.Event()

        async def heartbeat() -> None:
            while not stop.is_set():
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        beat = asyncio.create_task(heartbeat())
        loop_thread = threading.get_ident()
        await asyncio.gather(*(_ingest(running, channel, f"m{i}") for i in range(12)))
        await _wait_processed(running, 12)
        stop.set()
        await beat
    assert sum(spy.batches) == 12 and len(spy.batches) >= 2
    assert loop_thread not in spy.threads
    # two workers, but the model is never run twice at once (it has its own threads)
    assert spy.max_running == 1
    # the loop kept ticking while the model blocked its thread: (had inference run on the
    # loop, no tick could fall inside a call)
    for start, end in spy.spans:
        inside = [t for t in ticks if start < t < end]
        assert len(inside) >= 3, (end - start, len(inside))


def test_the_thread_setting_reaches_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = save_tiny_model(tmp_path / "tiny", heads=True)
    monkeypatch.setenv("LEITSTAND_TRIAGE_MODEL", str(folder))
    monkeypatch.setenv("LEITSTAND_TRIAGE_THREADS", "3")
    monkeypatch.setenv("LEITSTAND_TRIAGE_BF16", "0")
    calls: list[int] = []
    real = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: calls.append(n))
    try:
        # in process: the child process of the default (triage/process.py) has its own torch
        triager = load_default_triager(Settings(environment="test", triage_process=False))
        assert calls == [3]  # at load
        calls.clear()
        triager.score([TriageInput("hallo")])
        assert calls == [3]  # and again before every batch, in the thread that runs it
    finally:
        real(torch.get_num_threads())
