"""Find ``../shared`` (the project's shared folder beside this checkout) from tests.

The shared webhook fixtures are read in place, never copied into the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def shared_path(*parts: str) -> Path:
    """The path of ``parts`` under ``../shared``; skip (fail on CI) if it is not there."""
    if not SHARED.is_dir():
        reason = f"../shared is not beside this checkout: {SHARED} does not exist"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return SHARED.joinpath(*parts)
