"""Following a fit epoch by epoch: early stopping (`training.BestEpoch`) announces every finished epoch;
`follow_epochs(report)` hands each announcement made in the calling thread to `report` (a progress bar,
a background job's progress), whatever the logging setup."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

Report = Callable[[str, int, dict[str, float]], None]  # (model name, epoch from 1, the epoch's record)

_local = threading.local()


def _listeners() -> list[Report]:
    if not hasattr(_local, "listeners"):
        _local.listeners = []
    listeners: list[Report] = _local.listeners
    return listeners


def announce(name: str, epoch: int, record: dict[str, float]) -> None:
    """Tell this thread's followers that a model finished an epoch."""
    for report in list(_listeners()):
        report(name, epoch, record)


@contextlib.contextmanager
def follow_epochs(report: Report) -> Iterator[None]:
    """Within the block, `report(model name, epoch, record)` after every epoch of a fit run by this thread
    (several models in turn, as an ensemble fits its members, each report their own)."""
    listeners = _listeners()
    listeners.append(report)
    try:
        yield
    finally:
        listeners.remove(report)
