"""The model in a child process (``LEITSTAND_TRIAGE_PROCESS``, the service's default)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.main import close_triager, load_default_triager
from app.settings import Settings
from tests.triage.test_model_folder import save_tiny_model
from triage.model import ModelFolderError, TriageInput
from triage.process import ProcessTriager

TEXTS = ["Mein Sohn ist im Krankenhaus, mein Anwalt", "when do you open", "thanks, great"]


def _settings(folder: Path, *, in_child: bool) -> Settings:
    return Settings(
        environment="test",
        triage_model=str(folder),
        triage_process=in_child,
        triage_threads=1,
    )


def test_the_child_scores_exactly_as_the_model_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEITSTAND_TRIAGE_BF16", "0")
    folder = save_tiny_model(tmp_path / "tiny", heads=True)
    items = [
        TriageInput(t, author_followers=f) for t, f in zip(TEXTS, (None, 50_000, 10), strict=True)
    ]
    here = load_default_triager(_settings(folder, in_child=False))
    child = load_default_triager(_settings(folder, in_child=True))
    try:
        assert isinstance(child, ProcessTriager)
        assert child.pid is not None and child.pid != os.getpid()
        assert child.model_version == here.model_version
        assert child.score(items) == here.score(items)
        assert child.score([]) == []
    finally:
        close_triager(child)


def test_a_child_that_died_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEITSTAND_TRIAGE_BF16", "0")
    folder = save_tiny_model(tmp_path / "tiny", heads=True)
    child = load_default_triager(_settings(folder, in_child=True))
    try:
        first = child.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        (result,) = child.score([TriageInput(TEXTS[0])])
        assert 0 <= result.urgency <= 100
        assert child.pid not in (None, first)
    finally:
        close_triager(child)


def test_a_folder_that_is_no_model_fails_the_start_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFolderError, match=r"no config\.json"):
        load_default_triager(_settings(tmp_path / "empty", in_child=True))


def test_the_child_ends_when_the_service_process_is_killed(tmp_path: Path) -> None:
    folder = save_tiny_model(tmp_path / "tiny", heads=True)
    script = (
        "import sys, time\n"
        "from triage.process import ProcessTriager\n"
        "t = ProcessTriager(sys.argv[1])\n"
        "print(t.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    env = {**os.environ, "LEITSTAND_TRIAGE_BF16": "0"}
    service = subprocess.Popen(
        [sys.executable, "-c", script, str(folder)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert service.stdout is not None
        child = int(service.stdout.readline())
        os.kill(child, 0)  # alive
        service.kill()  # SIGKILL: no chance to shut the pool down
        service.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(child, signal.SIGKILL)
            raise AssertionError("the model process outlived the service process")
    finally:
        service.kill()
        service.wait(10)
        if service.stdout is not None:
            service.stdout.close()
