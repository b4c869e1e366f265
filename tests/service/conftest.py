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


def _postgres_url() -> str | None:
    """METATUTOR_TEST_POSTGRES_URL; under pytest-xdist, a database of this worker's own beside it (made on
    first use), so that workers never drop each other's tables."""
    base = os.environ.get("METATUTOR_TEST_POSTGRES_URL")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not base or not worker:
        return base
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(base)
    name = f"{url.database}_{worker}"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar() is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


POSTGRES = _postgres_url()


@pytest.fixture(autouse=True)
def _no_job_runner_outlives_its_test() -> Any:
    """Apps made in a test stop polling for jobs when it ends: a runner left behind would claim the next
    test's jobs on the same PostgreSQL schema."""
    yield
    try:
        from metatutor.service.jobs import stop_runners
    except ImportError:  # the service extra is not installed
        return
    stop_runners()


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


@pytest.fixture()
def postgres_url() -> str:
    """The PostgreSQL database of this test run (this xdist worker's own); skips without one."""
    if not POSTGRES:
        pytest.skip("no PostgreSQL: set METATUTOR_TEST_POSTGRES_URL (.ci/run starts one with .ci/postgres)")
    return POSTGRES
