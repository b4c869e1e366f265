"""What a response table holds: the figures `metatutor data check` prints (of a table, or of one given
in batches of learners), and how much of it a model's vocabulary covers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from metatutor.data.responses import Responses


def describe(responses: Responses) -> dict[str, Any]:
    """Counts, multi-skill and duplicate figures, and the distribution of sequence lengths."""
    lengths = responses.lengths
    n_sk = responses.n_skills_per_response
    multi_items = np.unique(responses.item[n_sk > 1])
    same_prev = np.zeros(len(responses), dtype=bool)
    if len(responses) > 1:
        same_prev[1:] = (responses.learner[1:] == responses.learner[:-1]) & (responses.item[1:] == responses.item[:-1])
    q = np.percentile(lengths, [0, 25, 50, 75, 90, 100]) if len(lengths) else np.zeros(6)
    return {
        "learners": int(responses.n_learners),
        "items": int(responses.n_items),
        "skills": int(responses.n_skills),
        "responses": len(responses),
        "correct_rate": float(responses.correct.mean()) if len(responses) else float("nan"),
        "multi_skill_responses": int((n_sk > 1).sum()),
        "multi_skill_items": len(multi_items),
        "responses_without_skill": int((n_sk == 0).sum()),
        "merged_expansion_rows": int(responses.merged_rows),
        "repeated_item_in_a_row": int(same_prev.sum()),
        "has_timestamps": responses.timestamp is not None,
        "length": {"min": int(q[0]), "p25": float(q[1]), "median": float(q[2]), "p75": float(q[3]),
                   "p90": float(q[4]), "max": int(q[5]), "mean": float(lengths.mean()) if len(lengths) else 0.0},
    }


def describe_batches(batches: Iterable[Responses]) -> dict[str, Any]:
    """`describe` of a table given as batches of whole learners (a `ResponseCache`'s learner batches), in
    memory for one batch at a time: the same figures as `describe` of all of them at once."""
    items: set[str] = set()
    skills: set[str] = set()
    multi_items: set[str] = set()
    lengths: list[np.ndarray] = []
    sums = dict.fromkeys(("responses", "correct", "multi", "no_skill", "merged", "repeated"), 0)
    has_time = False
    for r in batches:
        if not len(r):
            continue
        n_sk = r.n_skills_per_response
        items.update(r.item_ids[np.unique(r.item)])
        skills.update(r.skill_ids[np.unique(r.skill)])
        multi_items.update(r.item_ids[np.unique(r.item[n_sk > 1])])
        lengths.append(r.lengths)
        same_prev = (r.learner[1:] == r.learner[:-1]) & (r.item[1:] == r.item[:-1])
        for key, value in (("responses", len(r)), ("correct", int(r.correct.sum())), ("multi", int((n_sk > 1).sum())),
                           ("no_skill", int((n_sk == 0).sum())), ("merged", r.merged_rows),
                           ("repeated", int(same_prev.sum()))):
            sums[key] += value
        has_time = has_time or r.timestamp is not None
    length = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
    q = np.percentile(length, [0, 25, 50, 75, 90, 100]) if len(length) else np.zeros(6)
    n = sums["responses"]
    return {
        "learners": len(length),
        "items": len(items),
        "skills": len(skills),
        "responses": n,
        "correct_rate": sums["correct"] / n if n else float("nan"),
        "multi_skill_responses": sums["multi"],
        "multi_skill_items": len(multi_items),
        "responses_without_skill": sums["no_skill"],
        "merged_expansion_rows": sums["merged"],
        "repeated_item_in_a_row": sums["repeated"],
        "has_timestamps": has_time,
        "length": {"min": int(q[0]), "p25": float(q[1]), "median": float(q[2]), "p75": float(q[3]),
                   "p90": float(q[4]), "max": int(q[5]), "mean": float(length.mean()) if len(length) else 0.0},
    }


@dataclass(frozen=True)
class ItemCoverage:
    """How many of a table's items (and of its responses) a vocabulary, e.g. a fitted model's, has seen."""

    items: int
    unseen_items: int
    responses: int
    unseen_responses: int
    examples: tuple[str, ...]  # a few unseen item ids

    @property
    def unseen_fraction(self) -> float:
        """Share of the table's distinct items that the vocabulary lacks."""
        return self.unseen_items / self.items if self.items else 0.0

    @property
    def unseen_response_fraction(self) -> float:
        return self.unseen_responses / self.responses if self.responses else 0.0


def item_coverage(responses: Responses, known_items: Iterable[str] | np.ndarray) -> ItemCoverage:
    """Which items of `responses` are not in `known_items` (a model's training items: `model.vocab_.item_ids`).

    Example:
        >>> import pandas as pd
        >>> r = Responses.from_frame(pd.DataFrame({"learner": ["a"] * 3, "item": ["q1", "q2", "q9"],
        ...                                        "correct": [1, 0, 1]}))
        >>> item_coverage(r, ["q1", "q2"]).unseen_items
        1
    """
    used = np.unique(responses.item)
    known = pd.Index([str(x) for x in known_items])
    unseen_codes = used[known.get_indexer(pd.Index(responses.item_ids[used].astype(str))) < 0]
    unseen_rows = int(np.isin(responses.item, unseen_codes).sum())
    return ItemCoverage(items=len(used), unseen_items=len(unseen_codes), responses=len(responses),
                        unseen_responses=unseen_rows,
                        examples=tuple(str(x) for x in responses.item_ids[unseen_codes[:3]]))
