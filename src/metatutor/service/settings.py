"""One typed settings object; every field can be set by an environment variable `METATUTOR_<NAME>`."""

from __future__ import annotations

import os
from pathlib import Path

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
    admin_key: str | None = None  # bootstrap admin API key (stored hashed); none: create keys with the CLI
    keep_history: int = 200  # answers kept in a learner's stored state (all answers stay in `responses`)
    cache_seconds: float = 2.0  # how long a worker trusts its cached API keys and active-model id
