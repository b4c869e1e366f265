"""Engine, sessions and migrations. SQLite by default (WAL, foreign keys on), PostgreSQL by URL."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
WAL_SIZE_LIMIT = 64 * 2**20  # bytes of SQLite write-ahead log kept on disk when the log starts over


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False}, json_serializer=_dumps,
                               json_deserializer=orjson.loads)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA wal_autocheckpoint=0")  # a background thread checkpoints: `checkpointer`
            cur.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")  # the log file's size after a restart
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, json_serializer=_dumps, json_deserializer=orjson.loads)


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


@contextmanager
def write_lock(engine: Engine) -> Iterator[None]:
    """Hold the SQLite database's writer lock as a blocking file lock, so that concurrent writers (threads
    and worker processes) queue instead of polling SQLite's busy handler with growing sleeps. A no-op on
    PostgreSQL, which queues writers itself."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:":
        yield
        return
    fd = os.open(f"{path}.write-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def checkpointer(engine: Engine, every: float = 1.0) -> threading.Event | None:
    """For SQLite: copy the write-ahead log into the database file every `every` seconds from a daemon
    thread (PASSIVE: it never blocks readers or writers). Left to SQLite, the checkpoint runs inside
    the commit that crosses 1000 pages and that request waits for it, with the writer lock held. Returns
    an event that stops the thread (None on PostgreSQL)."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return None
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(every):
            try:
                with engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")  # the bulk, beside the writers
                    # then the few frames written meanwhile, with the writers held back: only a checkpoint
                    # that completes lets the next writer start the log over; under steady load one that
                    # runs beside the writers never completes, and the log grew by ~10 MB/s (300 MB in a
                    # 30 s load test) without this
                    with write_lock(engine):
                        conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            except Exception:  # a busy or closed database: try again next time
                continue

    threading.Thread(target=run, name="sqlite-checkpoint", daemon=True).start()
    return stop


def migrate(engine: Engine, revision: str = "head", *, down: bool = False) -> None:
    """Bring the schema to an Alembic revision (default: the newest); `down` to go back to an older one."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(cfg, revision)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def sessions(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session:
        yield session
