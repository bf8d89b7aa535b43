"""The JSON log lines: what they carry, and what they must never carry."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
import structlog

from app.logging import configure_logging, correlation_id, get_logger
from inbox.connectors.base import SmtpConfig


@pytest.fixture
def lines(capsys: pytest.CaptureFixture[str]):
    configure_logging("INFO", json=True)

    def read() -> list[dict]:
        return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]

    yield read
    structlog.reset_defaults()


def test_dataclass_fields_hidden_from_repr_stay_out_of_the_line(lines) -> None:
    smtp = SmtpConfig(host="mail.example.com", username="bot", password="S3CRET-PASSWORD")
    get_logger("t").info("smtp.configured", smtp=smtp)
    (line,) = lines()
    text = json.dumps(line)
    assert "S3CRET-PASSWORD" not in text
    assert "mail.example.com" in line["smtp"]  # the rest is there, as the repr shows it


def test_secret_keys_are_redacted_and_the_correlation_id_is_carried(lines) -> None:
    token = correlation_id.set("req-42")
    try:
        get_logger("t").info("channel.created", secret="abc", api_key="k", name="Shop")
    finally:
        correlation_id.reset(token)
    (line,) = lines()
    assert line["secret"] == "***" and line["api_key"] == "***" and line["name"] == "Shop"
    assert line["correlation_id"] == "req-42" and line["event"] == "channel.created"
    assert line["level"] == "info"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", line["timestamp"])


def test_values_orjson_refuses_still_make_a_line(lines) -> None:
    log = get_logger("t")
    log.info("big", n=2**70)
    log.info("surrogate", text="\ud800")
    log.info("keys", counts={1: "a"})
    log.info("when", at=datetime(2026, 1, 1, 8, tzinfo=UTC), obj=object())
    big, surrogate, keys, when = lines()
    assert big["n"] == 2**70
    assert surrogate["event"] == "surrogate"
    assert keys["counts"] == {"1": "a"}
    assert when["at"].startswith("2026-01-01T08:00:00") and when["obj"].startswith("<object")
