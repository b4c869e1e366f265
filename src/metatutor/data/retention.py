"""Retention: answers older than N days are purged, and what was derived from them is rebuilt.

`purge_older_than(responses, days, now=...)` drops every answer stamped before the cut-off and returns the
rest with a `Purge` summary: how many answers went, and which learners lost answers (their learner state
must be rebuilt from the answers kept: a state is a function of every answer it has seen, so a state that
saw a purged answer still carries it) and which lost them all (nothing of them is left in the log). Positions
are recounted from each learner's first kept answer. A model fitted on purged answers keeps what it learned
from the population until it is retrained (its `training.json` names who it saw, as keyed pseudonyms).

Example:
    >>> import pandas as pd
    >>> r = Responses.from_frame(pd.DataFrame({"learner": ["a", "a", "b"], "item": ["q1", "q2", "q1"],
    ...                                        "correct": [1, 0, 1], "timestamp": [0.0, 9 * DAY, 1.0]}))
    >>> kept, purge = purge_older_than(r, days=5, now=10 * DAY)
    >>> len(kept), purge.rebuild, purge.removed_learners
    (1, ['a'], ['b'])
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from metatutor.data.responses import Responses
from metatutor.errors import ConfigError

DAY = 86_400.0


@dataclass(frozen=True)
class Purge:
    cutoff: float  # answers stamped before this (seconds since 1970) were purged
    removed_answers: int
    kept_answers: int
    rebuild: list[str]  # learners who lost some answers and keep others: rebuild their state from the rest
    removed_learners: list[str]  # learners who lost every answer


def cutoff_of(days: float, now: float | None = None) -> float:
    """The time before which answers are purged: `days` before `now` (default: the clock)."""
    if not days > 0:
        raise ConfigError(f"the retention period must be a positive number of days, not {days!r}")
    return (time.time() if now is None else now) - days * DAY


def purge_older_than(responses: Responses, days: float, *, now: float | None = None) -> tuple[Responses, Purge]:
    """The answers of the last `days` days and what the purge did (see the module docstring)."""
    if responses.timestamp is None:
        raise ConfigError("these answers have no times, so none can be purged by age")
    cut = cutoff_of(days, now)
    stamps = responses.timestamp
    undated = np.isnan(stamps)
    if undated.any():
        raise ConfigError(f"{int(undated.sum())} answers have no time; date them or purge them first")
    old = stamps < cut
    ids = responses.learners_present().astype(str)
    lost = np.add.reduceat(old.astype(np.int64), responses.starts[:-1]) if len(responses) else np.zeros(0, np.int64)
    everything = lost == responses.lengths
    kept = responses.select_rows(~old)
    return kept, Purge(cutoff=cut, removed_answers=int(old.sum()), kept_answers=len(kept),
                       rebuild=ids[(lost > 0) & ~everything].tolist(), removed_learners=ids[everything].tolist())
