"""Long Python loops in the thread pool pause briefly every few milliseconds (`pace`).

A request's Python code (a batch's steps, a course's rows, the background rebuild of a state) runs in the
thread pool beside the other requests. Those give the interpreter up at every database call and socket
write and wait up to a switch interval to get it back, and CPython does not hand it over fairly between
busy threads: without pauses a 10 ms read waited up to 600 ms behind a rebuild (`benchmarks/service_stall.py`).
In the pauses the other threads run through.
"""

from __future__ import annotations

import threading
import time

EVERY_S, FOR_S = 0.002, 0.001  # a loop pauses FOR_S after each EVERY_S of work
_turns = threading.local()


def pace() -> None:
    """Call once per iteration of a long loop: it sleeps FOR_S once EVERY_S has passed since the last pause
    (never on the event loop's thread, which must not sleep)."""
    now = time.perf_counter()
    last = getattr(_turns, "last", None)
    if last is None or now - last > 1.0:  # the first iteration of a loop
        _turns.last = now
    elif now - last > EVERY_S and threading.current_thread() is not threading.main_thread():
        time.sleep(FOR_S)
        _turns.last = time.perf_counter()
