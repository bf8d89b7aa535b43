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
    worker_concurrency: int = 4
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
    model_cache_dir: Path = REPO_ROOT / "var" / "models"

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
