"""Long Python loops in the thread pool pause briefly every few milliseconds (`pace`).

A request's Python code (a batch's steps, a course's rows, the background rebuild of a state) runs in the
thread pool beside the other requests. Those give the interpreter up at every database call and socket
write and wait up to a switch interval to get it back, and CPython does not hand it over fairly between
busy threads: without pauses a 10 ms read waited up to 600 ms behind a rebuild (`benchmarks/service_stall.py`).
In the pauses the other threads run through. Background work (`background()`: the state rebuild after a
model switch) pauses longer while any request is being served (`serving()`), so that a request is never
left with only a small share of the interpreter.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

EVERY_S, FOR_S = 0.002, 0.001  # a loop pauses FOR_S after each EVERY_S of work
BACKGROUND_EVERY_S, BACKGROUND_FOR_S = 0.001, 0.004  # background work while requests are served
# a call this long after the thread's previous one starts a new loop (a pool thread's next request):
# a request that steps one answer never pauses
NEW_LOOP_S = 0.02
_turns = threading.local()
_serving = [0]  # requests being served now (a list: changed in place, under _count)
_count = threading.Lock()


@contextlib.contextmanager
def serving() -> Iterator[None]:
    """Around a request: background work gives way while it runs."""
    with _count:
        _serving[0] += 1
    try:
        yield
    finally:
        with _count:
            _serving[0] -= 1


@contextlib.contextmanager
def background() -> Iterator[None]:
    """Around background work in this thread: its `pace` gives way to the requests being served."""
    _turns.background = True
    try:
        yield
    finally:
        _turns.background = False


def pace() -> None:
    """Call once per iteration of a long loop: it sleeps FOR_S once EVERY_S has passed since the last pause
    (never on the event loop's thread, which must not sleep)."""
    now = time.perf_counter()
    last, previous = getattr(_turns, "last", None), getattr(_turns, "previous", None)
    _turns.previous = now
    yielding = _serving[0] > 0 and getattr(_turns, "background", False)
    if last is None or previous is None or now - previous > NEW_LOOP_S:  # the first iteration of a loop
        _turns.last = now
    elif now - last > (BACKGROUND_EVERY_S if yielding else EVERY_S) \
            and threading.current_thread() is not threading.main_thread():
        time.sleep(BACKGROUND_FOR_S if yielding else FOR_S)
        _turns.last = time.perf_counter()
