"""Engine, sessions and migrations. SQLite by default (WAL, foreign keys on), PostgreSQL by URL."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
WAL_SIZE_LIMIT = 64 * 2**20  # bytes of SQLite write-ahead log kept on disk when the log starts over


def make_engine(url: str, *, pool_size: int = 20, pool_timeout: float = 10.0) -> Engine:
    """An engine for `url`: at most `pool_size` connections (and as many more while busy), each request
    waiting up to `pool_timeout` seconds for one."""
    pool = {"pool_size": pool_size, "max_overflow": pool_size, "pool_timeout": pool_timeout}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            private_file(Path(path))
        memory = not path or path == ":memory:"  # one connection, shared (SQLAlchemy's pool for it)
        engine = create_engine(url, connect_args={"check_same_thread": False}, json_serializer=_dumps,
                               json_deserializer=orjson.loads, **({} if memory else pool))

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA secure_delete=ON")  # deleted rows are overwritten with zeros, not left in free pages
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA wal_autocheckpoint=0")  # a background thread checkpoints: `checkpointer`
            cur.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")  # the log file's size after a restart
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, json_serializer=_dumps, json_deserializer=orjson.loads, **pool)


def private_file(path: Path) -> None:
    """Create the database file (and its folder, if new) readable by its owner only; SQLite gives its
    `-wal` and `-shm` files the database file's permissions. An existing file is made private too."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    for suffix in ("", "-wal", "-shm", ".write-lock"):
        file = Path(f"{path}{suffix}")
        if file.exists() and file.stat().st_mode & 0o077:
            file.chmod(0o600)


def scrub(engine: Engine, attempts: int = 50) -> bool:
    """After a deletion: leave nothing of the deleted rows in the database's files. SQLite (with
    `secure_delete`) has zeroed them in the pages it wrote, but the write-ahead log still holds the pages
    as they were: copy the log into the database and truncate it to zero bytes (this waits for readers to
    finish, up to `attempts` tries). PostgreSQL: VACUUM the tables a learner's data lives in, so that no
    dead row version stays readable in them. False when a try did not complete (the log is truncated at
    the next quiet moment by the checkpointer)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("responses", "learner_states", "kt_states", "assessments", "hint_views", "api_keys",
                          "web_sessions", "learners"):
                conn.exec_driver_sql(f"VACUUM {table}")
        return True
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return True
    with engine.connect() as conn:
        for attempt in range(attempts):
            with write_lock(engine):
                busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
            if not busy:
                _SCRUB_PENDING.discard(id(engine))
                return True
            time.sleep(0.01 * (attempt + 1))
    _SCRUB_PENDING.add(id(engine))
    return False


_SCRUB_PENDING: set[int] = set()  # engines whose log still holds deleted rows: the checkpointer truncates it


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
                    if id(engine) in _SCRUB_PENDING:  # a deletion could not truncate the log: try again
                        conn.exec_driver_sql("PRAGMA busy_timeout=0")
                        with write_lock(engine):
                            if not conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()[0]:
                                _SCRUB_PENDING.discard(id(engine))
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
        if engine.dialect.name == "postgresql":  # instances starting together migrate one after another
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7231804512)")
        cfg.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(cfg, revision)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def sessions(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session:
        yield session
