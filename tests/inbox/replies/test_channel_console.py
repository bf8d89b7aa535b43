"""`leitstand channel create` prints what the operator enters in each platform's console,
and takes outbound credentials for replies without ever echoing them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import app.cli
from inbox.platforms.registry import ADAPTERS
from tests.app.test_cli import run
from tests.conftest import make_settings

PLATFORMS = [
    "facebook", "instagram", "messenger", "whatsapp", "x", "youtube", "telegram", "mailgun",
    "sendgrid", "google-business", "trustpilot", "tiktok", "linkedin", "standard-webhooks",
]  # fmt: skip
BASE = "https://inbox.example.com"
# What each console needs besides the URL (a word of its instructions).
NEEDS = {
    "facebook": "Verify token",
    "instagram": "Verify token",
    "messenger": "Verify token",
    "whatsapp": "Verify token",
    "x": "/2/webhooks",
    "youtube": "HMAC secret",
    "telegram": "setWebhook",
    "mailgun": "forward(",
    "sendgrid": "?token=",
    "google-business": "?token=",
    "trustpilot": "?token=",
    "tiktok": "Client secret",
    "linkedin": "Client secret",
    "standard-webhooks": "Signing secret: whsec_",
}


def test_every_platform_of_the_product_has_instructions(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert set(PLATFORMS) == set(ADAPTERS)
    settings = make_settings(sqlite_url, public_url=BASE)
    monkeypatch.setattr(app.cli, "get_settings", lambda: settings)
    runner = CliRunner()
    for platform in PLATFORMS:
        result = runner.invoke(
            app.cli.cli, ["channel", "create", "--platform", platform, "--name", platform]
        )
        assert result.exit_code == 0, (platform, result.output)
        out = result.output
        channel_id = out.split()[1]
        assert f"webhook URL: {BASE}/webhooks/{channel_id}" in out
        console = out.split("What to enter in the platform's console:", 1)[1]
        assert f"{BASE}/webhooks/{channel_id}" in console, platform
        assert NEEDS[platform] in console, (platform, console)
        assert "Replies" in console
        if platform in ("sendgrid", "google-business", "trustpilot"):
            token = out.split("verify token: ", 1)[1].split()[0]
            assert f"/webhooks/{channel_id}?token={token}" in console
        if platform == "telegram":
            secret = out.split("signing secret: ", 1)[1].split()[0]
            assert f"secret_token={secret}" in console


def test_channel_create_with_credentials_as_an_operator_scripts_it(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    assert run(db, "migrate").returncode == 0
    created = run(
        db, "channel", "create", "--platform", "facebook", "--name", "Brand page",
        "--secret", "the-app-secret", "--credential", "page_access_token=EAAB-very-secret",
        "--credential", "page_id=1001", "--json",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    body = json.loads(created.stdout)
    assert body["outbound_credential_keys"] == ["page_access_token", "page_id"]
    assert "EAAB-very-secret" not in created.stdout + created.stderr
    console = "\n".join(body["console"])
    assert f"Callback URL: {body['webhook_url']}" in console
    assert f"Verify token: {body['verify_token']}" in console and body["verify_token"]
    assert "(set: page_access_token, page_id)" in console

    wrong = run(
        db, "channel", "create", "--platform", "telegram", "--name", "Bot",
        "--credential", "page_access_token=EAAB-very-secret",
    )  # fmt: skip
    assert wrong.returncode == 2 and "bot_token" in wrong.stderr
    assert "EAAB-very-secret" not in wrong.stdout + wrong.stderr
    malformed = run(
        db, "channel", "create", "--platform", "x", "--name", "X", "--credential", "t0k3n"
    )
    assert malformed.returncode == 2 and "t0k3n" not in malformed.stderr
