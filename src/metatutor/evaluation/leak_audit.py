"""Leak audit: does any prediction read an answer it should not have seen?

A prediction of response t may depend on the same learner's answers before t, never on answer t itself or
later ones. The audit takes a sample of learners, picks a cut position t for each, flips the answer at t and
at every later position, predicts again, and compares the predictions at positions 0..t: any change is a
leak. The cut is drawn per learner, in a few rounds, so that early and late positions are both tested.

All sampled learners are flipped together, then each learner whose predictions moved is flipped again on
its own: a method that fits all the learners of a call in one optimiser run (the cold-start `scratch`
baseline's joint L-BFGS, whose stopping point depends on every learner's answers) lets one learner's answers
move another's predictions slightly. That is reported (`cross_learner_change`), and only a change caused by
the learner's own answers fails.

Cold start has two settings (`evaluation.coldstart`):

* k-shot, no feedback: the query's predictions are made from the support alone, so flipping *any* query
  answer must leave *every* query prediction unchanged. The audit hands the method the query with its
  answers visible (the benchmark hides them) and flipped, so a method that read them is caught even though
  the harness would have hidden them.
* online (AUC@10): response t is predicted from responses 0..t-1, the rule above.

Tolerance. The original and the flipped tables have the same learners, lengths and items, so every model
runs the same operations on arrays of the same shapes; only answer values differ. The float32 neural models
(dkt, attn) then give bit-identical predictions at the guarded positions. The float64 models do not quite:
IRT's posterior before response t is a running sum over the whole table minus the learner's offset and minus
response t's own term, so answers change the rounding of earlier positions by about 1e-14 (2e-14 measured,
tests/evaluation/test_leak_audit.py), which carries no information. `TOLERANCE` = 1e-9 sits five orders of
magnitude above that rounding and far below any leak that could move an AUC (the reproduced sparseKT bug
moves predictions by 1e-2 and more); the JSON reports the exact largest change whatever it is.

Glossary: L learners sampled, N their responses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from metatutor.data.responses import Responses
from metatutor.errors import LeakAuditError

TOLERANCE = 1e-9
Predict = Callable[[Responses], np.ndarray]


@dataclass(frozen=True)
class LeakAudit:
    """The largest change of a prediction that should not have changed, and where it happened."""

    setting: str  # "causal" (next response) or "no-feedback" (k-shot query)
    max_change: float
    learners: int  # learners sampled
    checked: int  # predictions compared
    worst: dict[str, Any] | None = None  # {"learner", "cut", "position", "before", "after"}
    cross_learner_change: float = 0.0  # the largest change with every sampled learner flipped at once

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def check(self, what: str, *, tolerance: float = TOLERANCE) -> None:
        """Raise `LeakAuditError` when a prediction moved by more than `tolerance`."""
        if self.max_change > tolerance:
            w = self.worst or {}
            flipped = (f"flipping answers at and after position {w.get('cut')}" if self.setting == "causal"
                       else "showing or flipping the query's answers")
            raise LeakAuditError(
                f"leak audit failed for {what}: {flipped} of learner {w.get('learner')!r} changed the prediction "
                f"at position {w.get('position')} from {w.get('before')} to {w.get('after')} (largest change "
                f"{self.max_change:.3g} over {self.checked} predictions of {self.learners} learners; "
                f"allowed {tolerance:g})")


def flip_from(responses: Responses, cuts: np.ndarray) -> Responses:
    """The same table with each learner's answers at positions ≥ cuts[j] flipped (j: learners present)."""
    flip = responses.order >= np.repeat(cuts, responses.lengths)
    correct = np.where(flip, 1 - responses.correct, responses.correct).astype(responses.correct.dtype)
    return dataclasses.replace(responses, correct=correct)


def sample_learners(responses: Responses, learners: int, rng: np.random.Generator, *, min_length: int = 2
                    ) -> Responses:
    """Up to `learners` learners with at least `min_length` responses, drawn without replacement."""
    ids = responses.learners_present()[responses.lengths >= min_length]
    chosen = ids[np.sort(rng.choice(len(ids), size=min(learners, len(ids)), replace=False))]
    return responses.select_learners(chosen)


def audit_causal(predict: Predict, responses: Responses, *, learners: int = 32, rounds: int = 2,
                 seed: int = 0, horizon: int | None = None, recheck: int = 8) -> LeakAudit:
    """Flip each sampled learner's answers from a random cut t on; predictions at positions ≤ t must not move.

    `predict(responses) -> (N,)` P(correct) of each response (NaN where it makes none). With `horizon`,
    cuts are drawn below it (for a predictor that only scores the first `horizon` positions).

    All sampled learners are flipped at once. A method that fits all the learners of a call together (one
    optimiser run with a shared stopping rule) lets one learner's answers move another's predictions; so each
    learner whose guarded predictions moved (up to `recheck` of them, largest first) is flipped again alone,
    the others left as they were. `max_change` is the largest change a learner's own flipped answers cause
    (a leak); `cross_learner_change` the largest change seen with everyone flipped (not a leak of the
    learner's own answers: reported, not failed)."""
    rng = np.random.default_rng([seed, 7])
    sample = sample_learners(responses, learners, rng)
    if not len(sample):
        return LeakAudit("causal", 0.0, 0, 0)
    before = np.asarray(predict(sample), dtype=np.float64)
    order = sample.order
    ids = sample.learners_present()
    segment = np.repeat(np.arange(sample.n_learners), sample.lengths)
    worst: dict[str, Any] | None = None
    largest, together, checked = 0.0, 0.0, 0
    for _ in range(rounds):
        top = sample.lengths if horizon is None else np.minimum(sample.lengths, horizon)
        cuts = rng.integers(0, top)  # (L,) one cut per learner, 0 ≤ t < length
        guarded = (order <= np.repeat(cuts, sample.lengths)) & ~np.isnan(before)
        checked += int(guarded.sum())
        change = _changes(before, predict(flip_from(sample, cuts)), guarded)
        together = max(together, float(change.max(initial=0.0)))
        per_learner = np.zeros(sample.n_learners)
        np.maximum.at(per_learner, segment, change)
        moved = [int(j) for j in np.argsort(-per_learner)[:recheck] if per_learner[j] > TOLERANCE]
        for j in moved or [int(np.argmax(per_learner))]:
            alone = np.where(np.arange(sample.n_learners) == j, cuts, sample.lengths)  # only learner j flipped
            after = np.asarray(predict(flip_from(sample, alone)), dtype=np.float64)
            own = _changes(before, after, guarded & (segment == j))
            row = int(np.argmax(own))
            if own[row] > largest or worst is None:
                largest = max(largest, float(own[row]))
                worst = {"learner": str(ids[j]), "cut": int(cuts[j]), "position": int(order[row]),
                         "before": float(before[row]), "after": float(after[row])}
    return LeakAudit("causal", largest, sample.n_learners, checked, worst, cross_learner_change=together)


def _changes(before: np.ndarray, after: np.ndarray, guarded: np.ndarray) -> np.ndarray:
    """|after - before| where guarded (0 elsewhere); a prediction that appeared or vanished counts as inf."""
    change = np.where(guarded, np.abs(np.asarray(after, dtype=np.float64) - before), 0.0)
    return np.where(np.isnan(change), np.inf, change)


def audit_no_feedback(predict_query: Callable[[Responses, Responses], np.ndarray], support: Responses,
                      query: Responses, answers: np.ndarray, *, learners: int = 32, seed: int = 0) -> LeakAudit:
    """k-shot: the query's answers (visible, then flipped) must not move any query prediction.

    `support`/`query`: an episode's tables (`query` as the benchmark gives it, answers hidden); `answers`:
    the query's real answers."""
    rng = np.random.default_rng([seed, 11])
    ids = query.learners_present()
    if not len(ids):
        return LeakAudit("no-feedback", 0.0, 0, 0)
    chosen = ids[np.sort(rng.choice(len(ids), size=min(learners, len(ids)), replace=False))]
    keep = np.isin(query.learner_ids[query.learner], chosen)
    q = dataclasses.replace(query.select_rows(keep), correct=np.asarray(answers, dtype=np.int8)[keep])
    s = support.select_learners(chosen)
    hidden = np.asarray(predict_query(s, dataclasses.replace(q, correct=np.zeros(len(q), dtype=np.int8))))
    largest, worst = 0.0, None
    for shown in (q, dataclasses.replace(q, correct=(1 - q.correct).astype(np.int8))):
        p = np.asarray(predict_query(s, shown), dtype=np.float64)
        change = np.abs(p - hidden)
        change = np.where(np.isnan(change), np.inf, change)
        row = int(np.argmax(change)) if len(change) else 0
        if len(change) and (change[row] > largest or worst is None):
            j = int(np.searchsorted(q.starts, row, side="right") - 1)
            largest = max(largest, float(change[row]))
            worst = {"learner": str(q.learners_present()[j]), "cut": 0, "position": int(q.order[row]),
                     "before": float(hidden[row]), "after": float(p[row])}
    return LeakAudit("no-feedback", largest, q.n_learners, 2 * len(q), worst)
