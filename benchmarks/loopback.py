"""`metatutor serve` on a free loopback port for a benchmark: started, waited for until it answers, and
stopped (SIGINT: uvicorn stops its workers, then itself) when the block ends."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def serving(database_url: str, admin_key: str, *, workers: int = 1, log: Path | None = None,
            wait_s: float = 60.0) -> Iterator[subprocess.Popen[bytes]]:
    """The server process (its port in `.port`), answering; its stderr goes to `log` (default: discarded)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "METATUTOR_DATABASE_URL": database_url, "METATUTOR_ADMIN_KEY": admin_key}
    with log.open("w") if log else open(os.devnull, "w") as err:
        server = subprocess.Popen([sys.executable, "-m", "metatutor.cli", "serve", "--port", str(port),
                                   "--workers", str(workers)], env=env, stdout=subprocess.DEVNULL, stderr=err)
    server.port = port  # type: ignore[attr-defined]
    try:
        for _ in range(int(wait_s * 10)):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi.json", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit(f"the server did not start in {wait_s:.0f} s" + (f"; see {log}" if log else ""))
        yield server
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
