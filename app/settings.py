"""One typed settings class, read from ``LEITSTAND_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"
REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEITSTAND_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)

    # Without a URL the embedded SQLite file is used.
    database_url: str = f"sqlite+aiosqlite:///{REPO_ROOT / 'var' / 'leitstand.db'}"
    database_pool_size: int = 10
    # Without a URL the in-process queue and pub/sub are used.
    redis_url: str | None = None
    queue_stream_prefix: str = "leitstand"

    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None  # how platforms reach us; defaults to http://host:port

    webhook_max_body_bytes: int = 1024 * 1024
    webhook_timestamp_tolerance_s: int = 300

    # Work queue: a job not acknowledged within this time goes to another consumer.
    queue_visibility_timeout_s: float = 30.0
    # Two loops: one batch in inference while the next is read or written; more would only
    # queue whole batches behind the one inference thread.
    worker_concurrency: int = 2
    # False: `serve` answers HTTP only and `leitstand worker` processes do the work.
    run_worker: bool = True
    # The sweeper re-queues stored messages that no worker processed within this time.
    sweeper_interval_s: float = 15.0
    sweeper_grace_s: float = 30.0

    ws_heartbeat_s: float = 15.0

    session_token_ttl_hours: int = 12
    admin_email: str = "admin@leitstand.local"
    admin_password: SecretStr | None = None

    # Triage: an operator may point this to any local transformers folder.
    triage_model: str | None = None
    triage_enabled: bool = True
    triage_threads: int = Field(default=1, ge=1, le=64)
    triage_batch_size: int = Field(default=32, ge=1, le=512)
    # The model in a child process of its own, so inference and the event loop do not take
    # turns on one GIL (triage/process.py); off: in the service's process.
    triage_process: bool = True
    # The encoder's runtime: int8 ONNX (about 4x faster on small batches, triage/onnx_encoder.py)
    # or torch; auto: ONNX for the default encoder when ONNX Runtime is installed.
    triage_runtime: Literal["auto", "onnx", "torch"] = "auto"
    model_cache_dir: Path = REPO_ROOT / "var" / "models"

    # Escalation: rules after triage, durable timers, notifications (escalation/).
    escalation_enabled: bool = True
    escalation_tick_s: float = Field(default=1.0, gt=0)  # timer poll; due timers wake it sooner
    escalation_timer_lease_s: float = Field(default=30.0, gt=0)
    escalation_timer_batch: int = Field(default=50, ge=1, le=1000)  # timers claimed at once
    notify_tick_s: float = Field(default=1.0, gt=0)  # dispatcher poll; queued work wakes it
    notify_lease_s: float = Field(default=60.0, gt=0)
    notify_max_attempts: int = Field(default=8, ge=1, le=100)
    notify_backoff_base_s: float = Field(default=2.0, gt=0)  # doubled per attempt ...
    notify_backoff_max_s: float = Field(default=600.0, gt=0)  # ... up to this (Retry-After too)
    notify_timeout_s: float = Field(default=10.0, gt=0)  # per HTTP request or SMTP session
    # Users alerted by a policy or rule also get an e-mail when SMTP is configured.
    escalation_email_users: bool = True
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "leitstand@localhost"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    # Spike detection (escalation/spike.py).
    spike_enabled: bool = True
    spike_bucket_s: int = Field(default=60, ge=1)
    spike_window_minutes: int = Field(default=30, ge=1)
    spike_baseline_hours: int = Field(default=24, ge=1)
    spike_min_baseline_count: float = Field(default=5.0, gt=0)
    spike_min_category_probability: float = Field(default=0.5, ge=0, le=1)

    # Replies out (inbox/connectors): platform API base URLs, so tests can point them at a
    # local server; the e-mail connector uses the smtp_* settings above.
    meta_graph_base_url: str = "https://graph.facebook.com/v21.0"
    x_api_base_url: str = "https://api.x.com"
    telegram_api_base_url: str = "https://api.telegram.org"
    youtube_api_base_url: str = "https://www.googleapis.com"
    reply_http_timeout_s: float = Field(default=15.0, gt=0)
    reply_max_attempts: int = Field(default=8, ge=1, le=100)
    reply_backoff_base_s: float = Field(default=2.0, gt=0)  # doubled per attempt ...
    reply_backoff_max_s: float = Field(default=600.0, gt=0)  # ... up to this
    reply_retry_after_max_s: float = Field(default=3600.0, gt=0)  # cap on a platform's wait
    reply_retry_poll_s: float = Field(default=1.0, gt=0)  # the retry scheduler's poll
    reply_lease_s: float = Field(default=120.0, gt=0)  # a sender's hold on one reply
    reply_requeue_grace_s: float = Field(default=30.0, gt=0)  # a lost first job, taken over
    reply_concurrency: int = Field(default=8, ge=1, le=256)  # sends in flight per process

    # Content a platform notifies without (Instagram mentions, Google Business Profile
    # reviews) is fetched by the worker before triage (inbox/content_fetch.py), through the
    # base URLs above and this one; retries are few and short, they hold up the batch.
    google_business_api_base_url: str = "https://mybusiness.googleapis.com"
    fetch_http_timeout_s: float = Field(default=10.0, gt=0)
    fetch_max_attempts: int = Field(default=3, ge=1, le=10)
    fetch_backoff_base_s: float = Field(default=0.5, gt=0)  # doubled per attempt ...
    fetch_backoff_max_s: float = Field(default=5.0, gt=0)  # ... up to this
    fetch_retry_after_max_s: float = Field(default=10.0, gt=0)  # cap on a platform's wait
    fetch_concurrency: int = Field(default=8, ge=1, le=256)  # fetches in flight per batch

    log_level: str = "INFO"
    log_json: bool = True

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> Settings:
        if self.environment == "production" and self.secret_key.get_secret_value() in (
            DEV_SECRET_KEY,
            "",
        ):
            raise ValueError("LEITSTAND_SECRET_KEY must be set to a random value in production")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
