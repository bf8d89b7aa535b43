"""Every folder and file under ``../shared/webhooks/`` is used by some test case.

A fixture is used when it is a parameter of a parametrised test (the platforms' case tables)
or when a named test reads it by path. A fixture added to ``../shared`` without a test, or a
test case whose fixture is gone, fails here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from tests.fixtures_shared import shared_path
from tests.inbox import test_platform_fixtures_http as platform_http
from tests.inbox import test_shared_fixtures_http as meta_http

# What ``../shared/webhooks`` holds besides fixtures.
NOT_FIXTURES = {"SPEC.md", "SOURCES.md"}

# Fixtures read by name rather than through a case table: the tests that read them.
READ_BY_NAME: dict[str, Callable[..., Any]] = {
    "standard-webhooks/test_vector.json": meta_http.test_standard_webhooks_test_vector,
    "mailgun/docs_signature_object.json": platform_http.test_mailgun_docs_signature_object,
    "linkedin/docs_challenge_response.json": (
        platform_http.test_linkedin_challenge_with_the_documented_code
    ),
}


def parametrised_fixtures(test: Callable[..., Any]) -> set[str]:
    """The values of the ``fixture`` parameter a test is parametrised with."""
    values: set[str] = set()
    for mark in getattr(test, "pytestmark", []):
        if mark.name == "parametrize" and mark.args[0] == "fixture":
            values |= set(mark.args[1])
    return values


def test_every_shared_webhook_fixture_is_used_by_a_test() -> None:
    root = shared_path("webhooks")
    present = {
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and path.name not in NOT_FIXTURES
    }
    folders = {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_dir()}
    assert present, f"no fixtures under {root}"

    used: dict[str, str] = {}
    for test in (
        meta_http.test_meta_fixture_through_the_endpoint,
        platform_http.test_fixture_through_the_endpoint,
    ):
        for fixture in parametrised_fixtures(test):
            used[fixture] = f"{test.__module__}::{test.__name__}"
    for fixture, test in READ_BY_NAME.items():
        folder, name = fixture.split("/")
        where = f"{test.__module__}::{test.__name__}"
        # The test reads it with shared_path("webhooks", folder, name): check that it names
        # the fixture, so this table cannot claim a use that is not there.
        source = inspect.getsource(test)
        assert "shared_path(" in source, (fixture, where)
        assert f'"{folder}"' in source and f'"{name}"' in source, (fixture, where)
        used[fixture] = where

    unused = sorted(present - set(used))
    assert not unused, f"fixtures under {root} that no test case uses: {unused}"
    missing = sorted(set(used) - present)
    assert not missing, f"test cases whose fixture is not under {root}: {missing}"
    empty = sorted(f for f in folders if not any(u.startswith(f"{f}/") for u in used))
    assert not empty, f"folders under {root} with no fixture any test uses: {empty}"
