"""Browser tests of the dashboard: Debian's Chromium driven by Playwright against the real
service (uvicorn on 127.0.0.1). One server and one browser per test module.

Screenshots go to ``var/screenshots/``; the run ends by printing that folder and the
figures the tests measured (the inbox's first rows with 10,000 open conversations).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.conftest import IN_CI, unavailable
from tests.web.report import FIGURES, SCREENSHOTS, SHOTS
from tests.web.seed import PASSWORD

__all__ = ["FIGURES", "SCREENSHOTS", "SHOTS"]

CHROMIUM = os.environ.get("LEITSTAND_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
]
SIZES = {"desktop": (1440, 900), "laptop": (1280, 800)}

#: Roles that name an interactive control in Chromium's accessibility tree.
INTERACTIVE_ROLES = {
    "button", "link", "textbox", "searchbox", "combobox", "listbox", "checkbox", "radio",
    "switch", "tab", "menuitem", "spinbutton", "slider", "option",
}  # fmt: skip


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SHOTS:
        terminalreporter.write_sep("-", "dashboard screenshots")
        terminalreporter.write_line(f"{len(SHOTS)} screenshots in {SCREENSHOTS}")
    for line in FIGURES:
        terminalreporter.write_line(line)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"Chromium is not installed at {CHROMIUM}")
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        try:
            launched = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
        except Exception as exc:  # a broken install is a setup problem, said as such
            unavailable("Chromium", exc)
        yield launched
        await launched.close()


@pytest.fixture(scope="module")
def module_db(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("web") / "leitstand.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@asynccontextmanager
async def open_page(
    browser: Any, base_url: str, *, lang: str = "de", size: str = "desktop"
) -> AsyncIterator[Any]:
    """A fresh browser context (no cookies, empty storage) and page; page errors fail."""
    width, height = SIZES[size]
    context = await browser.new_context(
        base_url=base_url,
        viewport={"width": width, "height": height},
        locale="de-DE" if lang == "de" else "en-GB",
        timezone_id="Europe/Berlin",
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        await context.close()
    assert not errors, f"the page raised: {errors}"


async def sign_in(page: Any, email: str, *, lang: str | None = None) -> None:
    """Sign in through the form; ``lang`` picks the language on the sign-in page first
    (which is then remembered for the user)."""
    await page.goto("/signin")
    await page.wait_for_selector("form.signin__form")
    if lang is not None:
        button = page.locator(f".signin__card .segmented__item[lang='{lang}']")
        if await button.get_attribute("aria-pressed") != "true":
            await button.click()
            await page.wait_for_selector(f"html[lang='{lang}']")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("form.signin__form button[type=submit]")
    await page.wait_for_selector("nav.sidebar")


async def set_language(page: Any, lang: str) -> None:
    button = page.locator(f".sidebar .segmented__item[lang='{lang}']")
    if await button.get_attribute("aria-pressed") != "true":
        await button.click()
        await page.wait_for_selector(f"html[lang='{lang}']")
        await page.wait_for_selector(
            f".sidebar .segmented__item[lang='{lang}'][aria-pressed='true']"
        )


async def screenshot(
    page: Any, name: str, *, lang: str, size: str = "desktop", element: Any = None
) -> Path:
    """The viewport, or one element whole (``element``: a locator; for long forms, the
    viewport grows for the picture: the page scrolls inside ``main``, not the window)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{lang}-{size}.png"
    await page.wait_for_timeout(250)  # let transitions settle
    if element is None:
        await page.screenshot(path=str(path), animations="disabled")
        return _shot(path)
    viewport = page.viewport_size
    tall = await page.evaluate("document.querySelector('main#main').scrollHeight")
    await page.set_viewport_size({"width": viewport["width"], "height": min(tall + 40, 6000)})
    try:
        await page.wait_for_timeout(100)
        await element.screenshot(path=str(path), animations="disabled")
    finally:
        await page.set_viewport_size(viewport)
    return _shot(path)


def _shot(path: Path) -> Path:
    SHOTS.append(path)
    return path


async def unnamed_controls(page: Any) -> list[str]:
    """Interactive nodes of Chromium's accessibility tree that have no accessible name."""
    cdp = await page.context.new_cdp_session(page)
    try:
        tree = await cdp.send("Accessibility.getFullAXTree")
    finally:
        await cdp.detach()
    missing = []
    for node in tree["nodes"]:
        if node.get("ignored"):
            continue
        role = (node.get("role") or {}).get("value")
        name = ((node.get("name") or {}).get("value") or "").strip()
        if role in INTERACTIVE_ROLES and not name:
            missing.append(f"{role} (backend node {node.get('backendDOMNodeId')})")
    return missing
