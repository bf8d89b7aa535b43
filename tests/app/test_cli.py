"""The `leitstand` command line as operators script it (a real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.settings import Settings

LEITSTAND = Path(sys.executable).parent / "leitstand"


def run(db_url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "LEITSTAND_DATABASE_URL": db_url,
        "LEITSTAND_TRIAGE_ENABLED": "false",
        "LEITSTAND_PUBLIC_URL": "https://inbox.example.com",
    }
    env.pop("LEITSTAND_ADMIN_PASSWORD", None)
    return subprocess.run(
        [str(LEITSTAND), *args],
        env=env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    assert run(url, "migrate").returncode == 0
    return url


def test_migrate_creates_the_schema_and_is_repeatable(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh' / 'x.db'}"
    first = run(url, "migrate")
    assert first.returncode == 0, first.stderr
    assert run(url, "migrate").returncode == 0


def test_user_token_channel_with_json(db: str) -> None:
    user = run(db, "user", "create", "pr@example.com", "--role", "pr", "--team", "care", "--json")
    assert user.returncode == 0, user.stderr
    created = json.loads(user.stdout)
    assert created["id"] and created["role"] == "pr" and created["teams"] == ["care"]
    assert len(created["password"]) >= 10  # generated and printed once

    given = run(db, "user", "create", "agent@example.com", "--json", stdin="a-long-password\n")
    assert "password" not in json.loads(given.stdout)

    token = run(db, "token", "create", "pr@example.com", "--json")
    assert token.returncode == 0, token.stderr
    assert json.loads(token.stdout)["token"].startswith("lst_")

    channel = run(
        db, "channel", "create", "--platform", "facebook", "--name", "Brand page",
        "--secret", "app-secret", "--verify-token", "vt-1", "--json",
    )  # fmt: skip
    assert channel.returncode == 0, channel.stderr
    body = json.loads(channel.stdout)
    assert body["webhook_url"] == f"https://inbox.example.com/webhooks/{body['id']}"

    plain = run(db, "channel", "create", "--platform", "standard-webhooks", "--name", "API")
    assert "webhook URL: https://inbox.example.com/webhooks/ch_" in plain.stdout
    assert "signing secret: whsec_" in plain.stdout


def test_mistakes_are_clear_errors(db: str) -> None:
    wrong_role = run(db, "user", "create", "x@example.com", "--role", "boss")
    assert wrong_role.returncode == 2 and "--role" in wrong_role.stderr
    run(db, "user", "create", "x@example.com")
    duplicate = run(db, "user", "create", "x@example.com")
    assert duplicate.returncode == 2 and "exists" in duplicate.stderr
    unknown = run(db, "channel", "create", "--platform", "myspace", "--name", "x")
    assert unknown.returncode == 2 and "unknown platform" in unknown.stderr
    nobody = run(db, "token", "create", "nobody@example.com")
    assert nobody.returncode == 2


def test_bootstrap_creates_one_admin_once(db: str) -> None:
    first = run(db, "bootstrap", "--json")
    assert first.returncode == 0, first.stderr
    admin = json.loads(first.stdout)
    assert admin["email"] == "admin@leitstand.local" and len(admin["password"]) >= 10
    again = run(db, "bootstrap")
    assert "nothing to do" in again.stdout


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ValueError, match="SECRET_KEY"):
        Settings(environment="production")
    Settings(environment="production", secret_key="a-real-random-value-0123456789")


def test_export_corrections_writes_the_latest_correction_per_message(
    db: str, tmp_path: Path
) -> None:
    import sqlite3

    path = db.split("///", 1)[1]
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO channel (id, platform, name, is_active, created_at) "
            "VALUES ('ch1', 'facebook', 'x', 1, '2026-01-01 00:00:00')"
        )
        conn.execute(
            "INSERT INTO conversation (id, channel_id, platform, thread_key, kind, status, "
            "urgency, message_count, waiting_since, last_message_at, created_at, updated_at) "
            "VALUES (1, 'ch1', 'facebook', 't', 'comment', 'open', 0, 1, '2026-01-01 00:00:00', "
            "'2026-01-01 00:00:00', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
        )
        conn.execute(
            "INSERT INTO message (id, channel_id, conversation_id, external_id, direction, kind, "
            "text, language, attachments, context, raw, received_at) VALUES (1, 'ch1', 1, 'm1', "
            "'inbound', 'comment', 'Der Shop ist seit Stunden offline', 'de', '[]', '{}', '{}', "
            "'2026-01-01 00:00:00')"
        )
        for urgency, categories in ((40, None), (75, '["outage", "complaint"]')):
            conn.execute(
                "INSERT INTO triage_feedback (message_id, urgency, categories, created_at) "
                "VALUES (1, ?, ?, '2026-01-01 00:00:00')",
                (urgency, categories),
            )
    out = tmp_path / "corrections.jsonl"
    result = run(db, "triage", "export-corrections", "--out", str(out))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == [
        {
            "text": "Der Shop ist seit Stunden offline",
            "urgency": 75,
            "categories": ["outage", "complaint"],
        }
    ]


REPO = Path(__file__).resolve().parents[2]


def dockerfile_instruction(name: str) -> str:
    """The argument of the Dockerfile's last ``name`` instruction (continuations joined)."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    found = [line.split(None, 1)[1] for line in text.splitlines() if line.startswith(f"{name} ")]
    assert found, f"no {name} in the Dockerfile"
    return found[-1].strip()


def test_the_container_command_migrates_bootstraps_and_serves_an_empty_database(
    tmp_path: Path,
) -> None:
    """Docker does not run here: run the image's CMD as it is written, on an empty database
    (a new volume), and sign in as the first admin."""
    import socket
    import time
    import urllib.error
    import urllib.request

    command = json.loads(dockerfile_instruction("CMD"))
    assert command[0] == "leitstand", command
    assert dockerfile_instruction("VOLUME") == "/app/var"
    assert "LEITSTAND_DATABASE_URL=sqlite+aiosqlite:////app/var/" in dockerfile_instruction("ENV")

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    volume = tmp_path / "var"  # empty, as a new volume is: not even the folder exists
    env = os.environ | {
        "LEITSTAND_DATABASE_URL": f"sqlite+aiosqlite:///{volume / 'leitstand.db'}",
        "LEITSTAND_TRIAGE_ENABLED": "false",
        "LEITSTAND_PORT": str(port),
        "LEITSTAND_ADMIN_EMAIL": "chefin@example.com",
        "LEITSTAND_ADMIN_PASSWORD": "a-long-admin-password",
    }
    env.pop("LEITSTAND_REDIS_URL", None)
    volume.mkdir()
    server = subprocess.Popen(
        [str(LEITSTAND), *command[1:]],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()[0]
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=2) as ready:
                    assert ready.status == 200
                    break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "the server did not get ready in 60 s"
                time.sleep(0.2)
        login = urllib.request.Request(
            f"{base}/api/v1/auth/login",
            data=json.dumps(
                {"email": "chefin@example.com", "password": "a-long-admin-password"}
            ).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(login, timeout=10) as signed_in:
            assert signed_in.status == 200
            token = json.loads(signed_in.read())["token"]
        inbox = urllib.request.Request(
            f"{base}/api/v1/conversations", headers={"authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(inbox, timeout=10) as listed:
            assert json.loads(listed.read())["items"] == []
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "database is up to date" in output and "created admin chefin@example.com" in output

    # A restart on the same volume migrates nothing new and keeps the admin.
    again = run(env["LEITSTAND_DATABASE_URL"], "migrate")
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in run(env["LEITSTAND_DATABASE_URL"], "bootstrap").stdout
