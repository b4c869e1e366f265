"""What a response table holds: the figures `metatutor data check` prints."""

from __future__ import annotations

from typing import Any

import numpy as np

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
