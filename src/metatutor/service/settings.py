"""One typed settings object; every field can be set by an environment variable `METATUTOR_<NAME>`."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def data_dir() -> Path:
    """Where metatutor keeps its files: $XDG_DATA_HOME/metatutor (default ~/.local/share/metatutor)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "metatutor"


def default_database_url() -> str:
    return f"sqlite:///{data_dir() / 'metatutor.db'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="METATUTOR_")

    database_url: str = default_database_url()  # or postgresql+psycopg://user:pass@host/db
    # the bootstrap admin API key (stored hashed); changing it revokes the previous one at the next start.
    # None: create keys with `metatutor keys create`
    admin_key: str | None = None
    # the deployment's secret: keyed pseudonyms (HMAC) of learner ids in logs and model files. None: one is
    # made at the first start and kept in the database
    secret_key: str | None = None
    # database connections per worker process (idle ones kept), and how long a request waits for one when
    # all are in use before it is answered 503 with Retry-After (the service is overloaded)
    db_pool_size: int = Field(default=20, ge=1, le=1_000)
    db_pool_timeout: float = Field(default=10.0, gt=0, le=300)
    # requests a worker process runs at once in its thread pool (more wait their turn on the event loop)
    threads: int = Field(default=40, ge=1, le=1_000)
    keep_history: int = 200  # answers kept in a learner's stored state (all answers stay in `responses`)
    cache_seconds: float = 2.0  # how long a worker trusts its cached API keys and active-model id
    max_body_bytes: int = 1_048_576  # a request body, at most (413 beyond)
    max_upload_bytes: int = 536_870_912  # an admin's upload (course, roster, logs, model), at most
    max_batch: int = 1_000  # answers in one request at most (422 beyond)
    # how often (ms) a thread running Python code hands the interpreter to another: CPU-bound work in the
    # thread pool (validation, a background rebuild) then delays a waiting request by this, not 5 ms (CPython's)
    switch_interval_ms: float = Field(default=0.5, gt=0, le=100)
    rebuild_inline: int = 2_000  # answers a read steps in itself after a model switch; more: rebuilt in the background
    session_hours: float = 12.0  # how long a dashboard login lasts
    https: bool = False  # served behind HTTPS: HSTS and Secure cookies (also when a request arrives over https)
    login_attempts: int = 20  # failed keys or logins per address and minute before a minute's lockout (429)
