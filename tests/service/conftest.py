"""Fixtures of the service tests: a real `metatutor serve` process, for the tests that need one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(db: Path, port: int, admin_key: str, *args: str, log: Path | None = None) -> subprocess.Popen[bytes]:
    """`metatutor serve --port PORT ARGS` on the SQLite file `db`, once it answers (stderr to `log`)."""
    env = {**os.environ, "METATUTOR_DATABASE_URL": f"sqlite:///{db}", "METATUTOR_ADMIN_KEY": admin_key}
    with (log.open("w") if log else open(os.devnull, "w")) as err:
        proc = subprocess.Popen([sys.executable, "-m", "metatutor.cli", "serve", "--port", str(port), *args],
                                env=env, stdout=subprocess.DEVNULL, stderr=err)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi.json", timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise RuntimeError("the server did not start" + (f": {log.read_text()}" if log else ""))


@pytest.fixture()
def free_port() -> int:
    """A port nothing listens on now."""
    return _free_port()


@pytest.fixture()
def start_server() -> Callable[..., subprocess.Popen[bytes]]:
    """`start_server(db, port, admin_key, *serve_args, log=None)`: a server process that answers."""
    return _start_server


POSTGRES = os.environ.get("METATUTOR_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """The service's settings on a fresh SQLite file, then on a clean PostgreSQL schema (skipped without
    one)."""
    pytest.importorskip("fastapi", reason="the service extra is not installed")
    from sqlalchemy import create_engine, text

    from metatutor.service.settings import Settings

    if request.param == "sqlite":
        return Settings(database_url=f"sqlite:///{tmp_path / 'mt.db'}", admin_key="admin-secret")
    if not POSTGRES:
        pytest.skip("no PostgreSQL: set METATUTOR_TEST_POSTGRES_URL (.ci/run starts one with .ci/postgres)")
    engine = create_engine(POSTGRES)
    with engine.begin() as conn:  # a clean schema for every test
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return Settings(database_url=POSTGRES, admin_key="admin-secret")
