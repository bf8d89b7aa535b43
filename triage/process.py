"""The triage model in a process of its own.

The service's event loop (HTTP, ingest, the database, websockets) and the model share one
process by default only in tests and scripts. In ``leitstand serve`` and ``leitstand worker``
the model runs in a child process (``LEITSTAND_TRIAGE_PROCESS``, on by default), because a
transformer's forward pass is not all native code: between its kernels it runs Python and
needs the GIL, which the busy event loop holds most of the time. In one process the two take
turns on the GIL and inference slows down by a fifth or more under load (``bench/triage.py``,
``bench/alert_latency.py``); in two, each has its own interpreter and its own core.

The child is started with ``spawn`` (never ``fork``: the parent has threads), loads the model
once and then scores batches: texts go in, :class:`~triage.model.TriageResult` objects come
back, both pickled (microseconds per message next to milliseconds of inference).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from triage.model import TriageInput, Triager, TriageResult

_model: Triager | None = None
_load_error: Exception | None = None


def _load(
    model_path: str | None, threads: int, cache_dir: str | None, runtime: str | None = None
) -> None:
    """In the child: load the model once. An error is kept and raised by the first call,
    so that it reaches the parent as itself (an initializer that raises only breaks the
    pool, and the parent would learn nothing about why)."""
    global _model, _load_error
    from triage.model import load_triager

    _exit_with_parent()
    try:
        _model = load_triager(
            model_path,
            threads=threads,
            cache_dir=Path(cache_dir) if cache_dir else None,
            runtime=runtime,
        )
    except Exception as exc:
        _load_error = exc


def _exit_with_parent(interval_s: float = 1.0) -> None:
    """End this child when the service process is gone (killed with SIGKILL, say), instead
    of staying behind as an orphan that holds the model's memory."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _loaded() -> Triager:
    if _load_error is not None:
        raise _load_error
    assert _model is not None
    return _model


def _version() -> str:
    return _loaded().model_version


def _score(items: list[TriageInput]) -> list[TriageResult]:
    return _loaded().score(items)


class ProcessTriager:
    """A :class:`~triage.model.Triager` whose model lives in a child process.

    Construction blocks until the child has loaded the model (seconds), so that a model
    that fails to load fails the start, as it would in process. ``score`` blocks the
    calling thread (the worker's inference thread) while the child works.
    """

    def __init__(
        self,
        model_path: str | None,
        *,
        threads: int = 1,
        cache_dir: Path | None = None,
        runtime: str | None = None,
    ) -> None:
        self._args = (
            model_path,
            max(1, int(threads)),
            str(cache_dir) if cache_dir else None,
            runtime,
        )
        self._pool = self._start()
        try:
            self.model_version: str = self._pool.submit(_version).result()
        except BaseException:
            self._pool.shutdown(wait=True, cancel_futures=True)
            raise

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_load,
            initargs=self._args,
        )

    def score(self, items: Sequence[TriageInput]) -> list[TriageResult]:
        if not items:
            return []
        try:
            return self._pool.submit(_score, list(items)).result()
        except BrokenProcessPool:
            # The child died (killed, out of memory): start a new one and try once more;
            # if that fails too the batch fails and its jobs are delivered again later.
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._start()
            return self._pool.submit(_score, list(items)).result()

    @property
    def pid(self) -> int | None:
        """The child's process id (for operators and tests)."""
        processes: dict[int, Any] = getattr(self._pool, "_processes", None) or {}
        return next(iter(processes), None)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
