"""Shared helpers for the benchmarks in ``bench/``.

Every benchmark prints progress to stderr and ends with one JSON line per figure on stdout,
in the format ``../shared/PRODUCT.md`` defines (see :func:`figure`).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO_ROOT / "bench"
VAR_BENCH = REPO_ROOT / "var" / "bench"  # git-ignored (/var/ in .gitignore)
VENV_BIN = Path(sys.executable).parent

# Local services the benchmarks may use; never anything but loopback.
POSTGRES_ADMIN_DSN = os.environ.get(
    "BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)

_STARTED = time.monotonic()


def ensure_repo_on_path() -> None:
    """Let ``python bench/x.py`` import the service packages and ``bench.common``."""
    root = str(REPO_ROOT)
    if root not in sys.path:
        sys.path.insert(0, root)


def log(message: str) -> None:
    """Progress on stderr, with the seconds since the benchmark started."""
    print(f"[{time.monotonic() - _STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


def figure(
    name: str,
    value: float | None,
    unit: str,
    *,
    baseline: float | None = None,
    ratio: float | None = None,
    bar: str,
    met: bool,
) -> dict[str, Any]:
    """Print one figure as the JSON line PRODUCT.md defines, and return it."""

    def clean(v: float | None) -> float | None:
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            return None
        return round(float(v), 4)

    line = {
        "figure": name,
        "value": clean(value),
        "unit": unit,
        "baseline": clean(baseline),
        "ratio": clean(ratio),
        "bar": bar,
        "met": bool(met),
    }
    print(json.dumps(line, ensure_ascii=False), flush=True)
    return line


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) with linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (len(ordered) - 1) * p / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def summary_ms(samples_s: Iterable[float]) -> dict[str, float]:
    """p50 / p95 / p99 / max of durations in seconds, as milliseconds."""
    ms = [s * 1000.0 for s in samples_s]
    return {
        "n": len(ms),
        "p50": percentile(ms, 50),
        "p95": percentile(ms, 95),
        "p99": percentile(ms, 99),
        "max": max(ms) if ms else math.nan,
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def uvicorn_flags() -> list[str]:
    """The flags both servers of a comparison run with: one process, no access log,
    uvloop and httptools when they are installed."""
    flags = ["--workers", "1", "--no-access-log", "--log-level", "warning"]
    try:
        import uvloop  # noqa: F401

        flags += ["--loop", "uvloop"]
    except ImportError:
        flags += ["--loop", "asyncio"]
    try:
        import httptools  # noqa: F401

        flags += ["--http", "httptools"]
    except ImportError:
        flags += ["--http", "h11"]
    return flags


@dataclass
class Server:
    """A uvicorn server running as a subprocess on a free loopback port."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    _log_file: Any = field(repr=False, default=None)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start_uvicorn(
    name: str,
    app: str,
    *,
    factory: bool = False,
    env: Mapping[str, str] | None = None,
    log_dir: Path,
    health_path: str = "/healthz",
    timeout_s: float = 60.0,
) -> Server:
    """Start ``uvicorn APP`` with :func:`uvicorn_flags` and wait until ``health_path``
    answers 200. The server's output goes to ``log_dir/NAME.log``."""
    port = free_port()
    cmd = [
        str(VENV_BIN / "python"),
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *uvicorn_flags(),
    ]
    if factory:
        cmd.append("--factory")
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), full_env.get("PYTHONPATH", "")) if p
    )
    log_path = log_dir / f"{name}.log"
    log_file = log_path.open("wb")
    proc = subprocess.Popen(
        cmd, cwd=REPO_ROOT, env=full_env, stdout=log_file, stderr=subprocess.STDOUT
    )
    server = Server(name=name, proc=proc, port=port, log_path=log_path, _log_file=log_file)
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            server.stop()
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.base_url + health_path, timeout=2) as r:
                if r.status == 200:
                    return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"{name} did not become healthy:\n{server.log_tail()}")
        time.sleep(0.1)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to see who used the cores."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks
    except (OSError, IndexError, ValueError):
        return math.nan


def which(program: str) -> str | None:
    return shutil.which(program)


# --- PostgreSQL ---------------------------------------------------------------------------


def pg_url(database: str, driver: str = "psycopg") -> str:
    """An SQLAlchemy URL for a database on the local server (async psycopg driver)."""
    base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0].split("://", 1)[1]
    return f"postgresql+{driver}://{base}/{database}"


def pg_dsn(database: str) -> str:
    return POSTGRES_ADMIN_DSN.rsplit("/", 1)[0] + f"/{database}"


def pg_create_database(name: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def pg_drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_DSN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        return False
