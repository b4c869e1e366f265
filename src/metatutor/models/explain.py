"""Which of a learner's earlier answers moved a prediction most: attributions over the answers, exact where
the model allows it, and labelled with the method that produced them.

The value of a set S of the learner's earlier answers is the model's logit of P(correct) on the target item
when only the answers in S are kept (in their order; removing an answer deletes it from the history). An
answer's attribution is its Shapley value in that game, so the attributions add up to the logit with every
answer minus the logit with none of them (with `window`: with none of the answers in the window). Methods:

* `additive` (PFA): the logit is a sum of one term per earlier answer, so each answer's term, which is its
  leave-one-out change, is its exact Shapley value; every answer is attributed.
* `shapley`: exact Shapley values over all earlier answers, from the model's prediction on every one of the
  2^n subsets (n ≤ `window`).
* `shapley-window`: exact Shapley values over the last `window` answers, the earlier ones kept in every
  subset (they are part of the context, not attributed).
* `leave-one-out` (asked for with `method="leave-one-out"`): each answer's change when it alone is removed;
  cheap for long histories, not a Shapley value for a non-additive model, and labelled so.

`shapley_values(n, value)` is the pure function underneath, for any value function over subsets (a skill
tracker's mastery, a recommendation's predicted success).

Example:
    >>> import numpy as np
    >>> phi = shapley_values(3, lambda masks: masks @ np.array([1.0, 2.0, 3.0]) + 0.5 * masks[:, 0] * masks[:, 1])
    >>> phi.round(2).tolist()
    [1.25, 2.25, 3.0]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from metatutor.data.responses import Responses
from metatutor.errors import ConfigError
from metatutor.models.base import LearnerModel, logit

ADDITIVE = frozenset({"pfa"})  # models whose logit is a sum of one term per earlier answer
WINDOW = 8  # answers attributed exactly (2^WINDOW predictions)
METHODS = ("auto", "shapley", "leave-one-out")
Value = Callable[[np.ndarray], np.ndarray]  # (M, n) bool: which answers are kept -> (M,) values


def subset_masks(n: int) -> np.ndarray:
    """(2^n, n) every subset of n answers as a boolean mask (bit j of the row number: answer j kept)."""
    codes = np.arange(2**n, dtype=np.int64)[:, None]
    return np.asarray((codes >> np.arange(n)[None, :]) & 1, dtype=bool)


def shapley_values(n: int, value: Value) -> np.ndarray:
    """(n,) exact Shapley values of the game `value` over n players, from its value on all 2^n subsets:
    φ_j = Σ_{S ∌ j} |S|! (n − |S| − 1)! / n! · (v(S ∪ {j}) − v(S))."""
    if n == 0:
        return np.zeros(0)
    if n > 16:
        raise ConfigError(f"exact Shapley values over {n} answers take 2^{n} predictions; use a window of ≤ 16")
    masks = subset_masks(n)
    v = np.asarray(value(masks), dtype=np.float64)
    size = masks.sum(1)
    weight = np.array([math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) for s in range(n)])
    phi = np.zeros(n)
    for j in range(n):
        without = np.flatnonzero(~masks[:, j])  # row r + 2^j is subset r with answer j added
        phi[j] = float((weight[size[without]] * (v[without + 2**j] - v[without])).sum())
    return phi


@dataclass(frozen=True)
class Attribution:
    position: int  # the answer's position in the learner's history (0 = first)
    item: str
    correct: bool
    contribution: float  # on the logit scale (Shapley value, or the leave-one-out change)


@dataclass
class Explanation:
    """Why the model predicts what it does for one item: the attributions, largest first, and how."""

    item: str
    probability: float  # P(correct) with the whole history
    baseline: float  # P(correct) with none of the attributed answers
    method: str  # additive | shapley | shapley-window | leave-one-out
    exact: bool  # whether the attributions are exact Shapley values
    attributions: list[Attribution] = field(default_factory=list)
    note: str = ""

    def top(self, k: int = 3) -> list[Attribution]:
        return self.attributions[:k]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _with_target(history: Responses, item: str, skills: list[str] | None) -> Responses:
    """The history followed by one (unanswered) row for the target item, as one table."""
    import pandas as pd

    frame = history.to_frame()
    if skills is None:
        known = frame.loc[frame["item"] == item, "skill"]
        skill_text = str(known.iloc[0]) if len(known) else ""
    else:
        skill_text = "~~".join(skills)
    target = {"learner": frame["learner"].iloc[0] if len(frame) else "learner", "item": item,
              "skill": skill_text or None, "correct": 0, "order": len(frame)}
    if "timestamp" in frame.columns:
        target["timestamp"] = float(frame["timestamp"].iloc[-1]) if len(frame) else 0.0
    frame = pd.concat([frame, pd.DataFrame([target])], ignore_index=True)
    return Responses.from_frame(frame, merge_multiskill=False)


def _subset_table(sequence: Responses, masks: np.ndarray, attributed: np.ndarray) -> Responses:
    """One pseudo-learner per mask: the sequence's rows with the attributed answers not in the mask
    removed (the last row, the target, always kept)."""
    n_rows = len(sequence)
    keep = np.ones((len(masks), n_rows), dtype=bool)
    keep[:, attributed] = masks
    rows = np.concatenate([np.flatnonzero(k) for k in keep])
    learner = np.repeat(np.arange(len(masks)), keep.sum(1))
    counts = np.diff(sequence.skill_ptr)[rows]
    links = np.concatenate([np.arange(sequence.skill_ptr[r], sequence.skill_ptr[r + 1]) for r in rows])
    return Responses(learner=learner, item=sequence.item[rows], correct=sequence.correct[rows],
                     skill_ptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
                     skill=sequence.skill[links.astype(np.int64)],
                     timestamp=None if sequence.timestamp is None else sequence.timestamp[rows],
                     learner_ids=np.array([f"s{j}" for j in range(len(masks))], dtype=object),
                     item_ids=sequence.item_ids, skill_ids=sequence.skill_ids)


def explain_prediction(model: LearnerModel, history: Responses, item: str, *, skills: list[str] | None = None,
                       method: str = "auto", window: int = WINDOW, top: int | None = None) -> Explanation:
    """The attributions of one learner's earlier answers (`history`, one learner) to the model's prediction
    for `item` (its `skills` when the history does not show them); see the module docstring."""
    if method not in METHODS:
        raise ConfigError(f"unknown attribution method {method!r}; choose from {', '.join(METHODS)}")
    if history.n_learners > 1:
        raise ConfigError(f"explain one learner's history at a time, not {history.n_learners}")
    sequence = _with_target(history, item, skills)
    n = len(sequence) - 1
    if method == "leave-one-out" or (method == "auto" and model.name in ADDITIVE):
        attributed = np.arange(n)
        masks = np.ones((n + 2, n), dtype=bool)
        masks[np.arange(n), np.arange(n)] = False
        masks[n + 1] = False
        v = _values(model, sequence, masks, attributed)
        phi = v[n] - v[:n]
        label = "additive" if model.name in ADDITIVE and method == "auto" else "leave-one-out"
        full, base = v[n], v[n + 1]
    else:
        attributed = np.arange(max(0, n - window), n)
        phi = shapley_values(len(attributed), lambda m: _values(model, sequence, m, attributed))
        full, base = _values(model, sequence, np.array([[True] * len(attributed), [False] * len(attributed)]),
                             attributed)
        label = "shapley" if len(attributed) == n else "shapley-window"
    out = [Attribution(position=int(p), item=str(sequence.item_ids[sequence.item[p]]), correct=bool(sequence.correct[p]),
                       contribution=round(float(c), 6)) for p, c in zip(attributed, phi, strict=True)]
    out.sort(key=lambda a: -abs(a.contribution))
    notes = {"additive": "exact: the model's logit is a sum of one term per earlier answer",
             "shapley": "exact Shapley values over every earlier answer",
             "shapley-window": f"exact Shapley values over the last {len(attributed)} answers; the {n - len(attributed)} "
                               "earlier ones are kept as context and not attributed",
             "leave-one-out": "leave-one-out: each answer's change when it alone is removed (not a Shapley value)"}
    return Explanation(item=item, probability=float(1 / (1 + np.exp(-full))), baseline=float(1 / (1 + np.exp(-base))),
                       method=label, exact=label != "leave-one-out", attributions=out[:top] if top else out,
                       note=notes[label])


def _values(model: LearnerModel, sequence: Responses, masks: np.ndarray, attributed: np.ndarray) -> np.ndarray:
    """(M,) the logit of the target (the sequence's last row) with only the masked answers kept."""
    table = _subset_table(sequence, masks, attributed)
    proba = model.predict_proba(table)
    return np.asarray(logit(proba[table.starts[1:] - 1]), dtype=np.float64)
