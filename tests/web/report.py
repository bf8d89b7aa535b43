"""What the browser tests report at the end of the run: the screenshots they wrote and the
figures they measured. A module of its own, so that the tests and the conftest hook that
prints it share one copy."""

from __future__ import annotations

from pathlib import Path

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
FIGURES: list[str] = []
SHOTS: list[Path] = []
