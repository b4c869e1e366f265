"""Several worker processes on one port, each with its own listening socket (SO_REUSEPORT, Linux).

With uvicorn's own `--workers`, the workers share one listening socket and whichever is awake accepts:
a burst of new kept-alive connections (an app's backend opening its pool) can all land on one worker
while the other idles. Measured with `benchmarks/service_load.py` (50 connections): splits of 50/0,
46/4 and 40/10 gave p99 latencies of 283, 324 and 85 ms where an even split gave 14-20 ms. With a
socket per worker the kernel spreads connections over the workers by a hash of each connection's
addresses, so the split is even up to chance (binomial) whatever the workers are doing.

The supervisor (the parent process) starts `n` workers, restarts one that dies while serving, and on
SIGINT or SIGTERM stops them all (each finishes its requests in flight, as uvicorn does). A worker whose
supervisor dies (even by SIGKILL) stops too: the kernel signals it (PR_SET_PDEATHSIG), and a watchdog
thread checks its parent in case it was too late for that. A server holds a lock on its address
(`port_lock`) that its workers share, so a new server does not silently join live workers on a port
through SO_REUSEPORT: it refuses to start until they are gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import logging
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

log = logging.getLogger(__name__)

APP = "metatutor.service.app:worker_app"
STARTUP_GRACE_S = 10.0  # a worker dying sooner than this after its start is a configuration error


def reuseport_supported() -> bool:
    """SO_REUSEPORT with load balancing across sockets: Linux (3.9+). Elsewhere it exists with other
    meanings (BSD/macOS: the last socket bound takes every connection)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def listening_socket(host: str, port: int, *, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket on (host, port) that other processes can also bind (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    return sock


class PortInUse(RuntimeError):
    """Another metatutor server (or its workers) holds the address."""


def lock_path(host: str, port: int) -> Path:
    return Path(tempfile.gettempdir()) / f"metatutor-serve-{host.replace(':', '_')}-{port}.lock"


@contextlib.contextmanager
def port_lock(host: str, port: int) -> Iterator[Path]:
    """Hold the address's lock for as long as this server runs: exclusively while checking, then shared
    with the workers (each takes it too, and keeps it until it exits). Raises `PortInUse` while any
    process of an earlier server still holds it."""
    path = lock_path(host, port)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PortInUse(f"another metatutor server (or a worker it left) still serves {host}:{port} "
                            f"(lock {path}); stop it first") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        fcntl.flock(fd, fcntl.LOCK_SH)  # the workers share it from here on
        yield path
    finally:
        os.close(fd)


def _die_with_parent(parent: int) -> None:
    """Stop this worker when the supervisor `parent` dies."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGTERM)  # uvicorn stops gracefully
                time.sleep(5)
                os._exit(1)  # it did not
            time.sleep(0.5)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _worker(sock: socket.socket, log_level: str, parent: int, lock: str) -> None:  # runs in a child process
    _die_with_parent(parent)
    held = os.open(lock, os.O_RDWR)
    fcntl.flock(held, fcntl.LOCK_SH)  # kept until the process exits
    import uvicorn

    uvicorn.Server(uvicorn.Config(APP, factory=True, log_level=log_level)).run(sockets=[sock])


def run_workers(host: str, port: int, workers: int, *, lock: Path, log_level: str = "warning") -> None:
    """Serve the app from `workers` processes on (host, port) until SIGINT/SIGTERM, under the address's
    `port_lock` (its path). Port 0 is not allowed: every worker must bind the same port."""
    if port == 0:
        raise ValueError("several workers need a fixed port (not 0)")
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter per worker, like uvicorn's
    # every socket listens before any worker starts: connections are spread from the first one (they
    # wait in a socket's queue until its worker is up), and a port taken by another program is
    # reported here, once; a restarted worker takes over its predecessor's socket
    socks = [listening_socket(host, port) for _ in range(workers)]
    stopping = False

    def start(k: int) -> tuple[BaseProcess, float]:
        proc = ctx.Process(target=_worker, args=(socks[k], log_level, os.getpid(), str(lock)),
                           name=f"metatutor-worker-{k}")
        proc.start()
        return proc, time.monotonic()

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    procs = [start(k) for k in range(workers)]
    try:
        while not stopping:
            time.sleep(0.2)
            for k, (proc, started) in enumerate(procs):
                if proc.is_alive() or stopping:
                    continue
                if time.monotonic() - started < STARTUP_GRACE_S:
                    raise RuntimeError(f"a worker exited with code {proc.exitcode} while starting; "
                                       "run with --workers 1 to see why")
                log.warning("worker %s exited with code %s; starting another", proc.pid, proc.exitcode)
                procs[k] = start(k)
    finally:
        for proc, _ in procs:
            if proc.is_alive():
                proc.terminate()  # SIGTERM: uvicorn finishes the requests in flight, then exits
        for proc, _ in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for sock in socks:
            sock.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
