"""One settings class for the whole service, read from ``LCAD_*`` environment variables (and ``.env``).

The defaults run the embedded mode with no environment at all: a SQLite file under ``data_dir``, scoring in a
background thread pool of the API process, the default model. Setting ``LCAD_DATABASE_URL`` (PostgreSQL) and
``LCAD_BROKER_URL`` (Redis) switches to the deployed mode with Celery workers (``lcad worker``).
``models/`` never reads these settings: the service passes values in.
"""

from __future__ import annotations

import ipaddress
import logging
from functools import lru_cache
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

logger = logging.getLogger(__name__)

Scope = Literal["read", "submit", "label", "admin"]
SCOPES: tuple[str, ...] = get_args(Scope)


class Settings(BaseSettings):
    """Every knob of the service; ``Settings()`` with no environment is a working embedded deployment."""

    model_config = SettingsConfigDict(env_prefix="LCAD_", env_file=".env", env_ignore_empty=True, extra="ignore")

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Field(default=Path("lcad-data"), description="where the embedded SQLite file lives")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; None = SQLite file in data_dir")
    broker_url: str | None = Field(default=None, description="Redis URL for Celery; None = in-process scoring")
    queue: str = "lcad"
    model_path: Path | None = Field(default=None, description="scorer file registered at start; None = default model")
    models_dir: Path | None = Field(default=None, description="the only folder POST /models registers files from; "
                                                              "None = <data_dir>/models")
    upload_dir: Path | None = Field(default=None, description="where POST /batches bodies wait for a worker to read "
                                                              "them, shared by the API and the workers; None = "
                                                              "<data_dir>/uploads")
    device: str = Field(default="auto", description="'auto' (CUDA when present), 'cpu', 'cuda', 'cuda:1', ...")

    # Request limits: /score is for a few curves; more goes through /batches.
    score_max_curves: int = 100
    score_max_bytes: int = 5 * 2**20
    batch_max_bytes: int = 2 * 2**30
    chunk_size: int = 1000
    allowed_bands: list[str] = ["clear", "u", "g", "r", "i", "z", "y", "V", "B", "R", "I"]
    page_max: int = 1000

    # Alerts: an object is (re-)scored once it has `alert_min_points` observations and has gained
    # `alert_rescore_points` since the curve last queued; schemaless (Confluent-framed) packets need their schema.
    alert_min_points: int = 10
    alert_rescore_points: int = 5
    alert_schemas: dict[int, Path] = Field(default_factory=dict, description="registry id -> .avsc file")
    alerts_max_bytes: int = 64 * 2**20

    # Work distribution: chunks unfinished after `requeue_after_s` are queued again by the sweeper.
    # Scoring threads per process; they take turns in the model, so a second one reads and stores meanwhile.
    embedded_threads: int = 2
    sweep_interval_s: float = 30.0
    requeue_after_s: float = 600.0
    max_attempts: int = 5
    # A running chunk belongs to its worker until its lease ends; the worker's heartbeat renews it every third of it.
    lease_s: float = 60.0
    # Seconds a client is told to wait (Retry-After) when the database or the broker does not answer.
    retry_after_s: int = 10

    # Auth: scopes granted without a key (None = read and submit in development, nothing in production), the
    # per-key (or per-address) rate limit, and failed authentications allowed per address and minute.
    anonymous_scopes: list[Scope] | None = None
    rate_limit_per_minute: int = 600
    auth_failures_per_minute: int = 20
    # Addresses or networks of the reverse proxies whose X-Forwarded-For is believed; nobody else's is.
    trusted_proxies: list[str] = []

    @field_validator("database_url")
    @classmethod
    def _psycopg_driver(cls, url: str | None) -> str | None:
        """Plain ``postgresql://`` URLs would pick psycopg2, which is not installed: use psycopg 3."""
        if url and url.startswith(("postgresql://", "postgres://")):
            return "postgresql+psycopg://" + url.split("://", 1)[1]
        return url

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, proxies: list[str]) -> list[str]:
        for proxy in proxies:
            ipaddress.ip_network(proxy, strict=False)  # ValueError names the bad entry
        return proxies

    @model_validator(mode="after")
    def _safe_outside_development(self) -> Settings:
        if self.anonymous_scopes is None:
            self.anonymous_scopes = ["read", "submit"] if self.environment == "development" else []
        if "admin" in self.anonymous_scopes:
            if self.environment != "development":
                raise ValueError("LCAD_ANONYMOUS_SCOPES must not include 'admin' outside development")
            logger.warning("anonymous users have the admin scope (development only)")
        return self

    @property
    def db_url(self) -> str:
        """The database URL, defaulting to the embedded SQLite file."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'lcad.db').resolve()}"

    @property
    def model_dir(self) -> Path:
        """The folder ``POST /models`` may register from (resolved, so a path is compared after its links)."""
        return (self.models_dir or self.data_dir / "models").resolve()

    @property
    def upload_path(self) -> Path:
        """The uploads folder (see ``upload_dir``)."""
        return (self.upload_dir or self.data_dir / "uploads").resolve()

    @property
    def embedded(self) -> bool:
        """True when scoring runs inside the API process (no broker configured)."""
        return self.broker_url is None


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (the API receives its own copy through ``create_app``)."""
    return Settings()
