"""SQLite housekeeping under steady load: the write-ahead log starts over instead of growing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed")
from sqlalchemy import text

from metatutor.service.db import checkpointer, make_engine, write_lock


def test_write_ahead_log_starts_over_under_steady_writes_and_reads(tmp_path: Path) -> None:
    db = tmp_path / "load.db"
    engine = make_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB)"))
    stop = checkpointer(engine, every=0.05)
    assert stop is not None
    # a fixed amount written, however fast the machine (bounded by a deadline too)
    target, written, done = 12 * 2**20, 0, time.monotonic() + 120.0
    finished = threading.Event()

    def read() -> None:
        with engine.connect() as conn:
            while not finished.is_set() and time.monotonic() < done:  # short lookups, back to back, as requests make them
                conn.execute(text("SELECT length(body) FROM blobs ORDER BY id DESC LIMIT 1")).scalar()
                time.sleep(0.0005)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        with engine.connect() as conn:
            while written < target and time.monotonic() < done:  # as a worker does: a write, a little other work, a write...
                with write_lock(engine):
                    conn.execute(text("INSERT INTO blobs (body) VALUES (randomblob(16000))"))
                    conn.commit()
                written += 16000
                time.sleep(0.001)
    finally:
        finished.set()
        reader.join()
        stop.set()
    wal = db.with_name("load.db-wal").stat().st_size
    assert written >= target, "the deadline passed before enough was written to show growth"
    assert wal < written / 4, f"the log kept {wal / 2**20:.0f} MB of {written / 2**20:.0f} MB written"
