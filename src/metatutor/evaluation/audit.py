"""`metatutor audit`: the fairness audit (`evaluation.fairness`) of a fitted learner model on learners it
has not seen, over the built-in splits and those of a learner-attribute file; and `InjectedBias`, a model
made unfair on purpose, which a test and the benchmark use to show that the audit finds a known bias.

Cold start per group: for each k, the learners with at least k + `query` answers; each of their next
`query` answers is predicted from their first k answers alone (for a knowledge-tracing model: the model
scores a sequence made of those k answers and the one to predict, so nothing in between is seen), or by a
cold-start method (`metatutor.meta`) when one is given.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Protocol, Self

import numpy as np
import pandas as pd

from metatutor.data.responses import Responses
from metatutor.evaluation.fairness import AuditConfig, FairnessAudit, audit_predictions
from metatutor.evaluation.groups import group_splits
from metatutor.meta import ColdStartMethod, cold_start_episodes
from metatutor.models.base import LearnerModel, logit, sigmoid

SEPARATOR = "\x1f"  # joins a learner id and a query position in the sequences of support-only predictions


class Predictor(Protocol):
    """What the audit needs of a model: a name and P(correct) of each response from the earlier ones."""

    @property
    def name(self) -> str: ...

    def predict_proba(self, responses: Responses) -> np.ndarray: ...


@dataclass
class TrackerPredictor:
    """A learner model of `metatutor.learner` (what `metatutor train` fits by default) as a `Predictor`."""

    tracker: Any

    @property
    def name(self) -> str:
        return str(getattr(self.tracker, "name", "learner model"))

    def predict_proba(self, responses: Responses) -> np.ndarray:
        return np.asarray(self.tracker.predict_responses(responses))


def base_learner(learner_id: str) -> str:
    """The learner behind an id of a support-only sequence (`id<SEP>j`), or the id itself."""
    return learner_id.split(SEPARATOR, 1)[0]


def support_only(responses: Responses, k: int, query: int) -> tuple[Responses, Responses, np.ndarray]:
    """For the learners with ≥ k + query answers: their query answers (positions k..k+query-1, answers
    hidden), the real answers, and one sequence per query answer made of the learner's first k answers
    followed by that answer (learner `id<SEP>j`), whose last row is the one to predict."""
    episodes = cold_start_episodes(responses, k, query=query)
    long_enough = np.flatnonzero(responses.lengths >= k + query)
    starts = responses.starts[long_enough]
    support_rows = starts[:, None] + np.arange(k)[None, :]  # (L, k)
    query_rows = starts[:, None] + k + np.arange(query)[None, :]  # (L, Q)
    rows = np.concatenate([np.broadcast_to(support_rows[:, None, :], (*query_rows.shape, k)),
                           query_rows[..., None]], axis=2).reshape(-1)  # (L * Q * (k+1),)
    ids = responses.learners_present()[long_enough].astype(str)
    names = np.array([f"{x}{SEPARATOR}{j}" for x in ids for j in range(query)], dtype=object)
    sequences = _gather(responses, rows, np.repeat(np.arange(len(names)), k + 1), names)
    return episodes.query, sequences, episodes.answers


def _gather(responses: Responses, rows: np.ndarray, learner: np.ndarray, learner_ids: np.ndarray) -> Responses:
    """The rows `rows` (repeats allowed) as a table of the learners `learner` (codes into `learner_ids`)."""
    counts = np.diff(responses.skill_ptr)[rows]
    links = np.concatenate([np.arange(responses.skill_ptr[r], responses.skill_ptr[r + 1]) for r in rows]) \
        if len(rows) else np.zeros(0, dtype=np.int64)
    return Responses(learner=learner.astype(np.int64), item=responses.item[rows], correct=responses.correct[rows],
                     skill_ptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
                     skill=responses.skill[links.astype(np.int64)],
                     timestamp=None if responses.timestamp is None else responses.timestamp[rows],
                     learner_ids=learner_ids, item_ids=responses.item_ids, skill_ids=responses.skill_ids)


def coldstart_predictions(predictor: Predictor | ColdStartMethod, responses: Responses, k: int, *,
                          query: int = 10) -> tuple[Responses, np.ndarray, np.ndarray]:
    """(query answers, their real answers, their predictions from the first k answers alone)."""
    if isinstance(predictor, ColdStartMethod):
        ep = cold_start_episodes(responses, k, query=query)
        return ep.query, ep.answers, predictor.predict_query(ep.support, ep.query) if len(ep.query) else np.zeros(0)
    queries, sequences, answers = support_only(responses, k, query)
    if not len(queries):
        return queries, answers, np.zeros(0)
    last = sequences.starts[1:] - 1
    hidden = sequences.correct.copy()
    hidden[last] = 0  # the answer to predict is not shown (the model's contract would not read it anyway)
    from dataclasses import replace

    proba = predictor.predict_proba(replace(sequences, correct=hidden))
    return queries, answers, proba[last]


def audit_model(model: Predictor, responses: Responses, *, attributes: pd.DataFrame | None = None,
                splits: list[str] | None = None, config: AuditConfig | None = None, name: str = "",
                data: str = "", coldstart: Predictor | ColdStartMethod | None = None) -> FairnessAudit:
    """The fairness audit of `model` on `responses` (learners it was not fitted on), over the built-in splits
    and those of `attributes`; cold start by `coldstart` (default: the model itself)."""
    config = config or AuditConfig()
    proba = model.predict_proba(responses)
    groups = group_splits(responses, attributes, first=config.first, include=splits)
    predictor: Predictor | ColdStartMethod = coldstart if coldstart is not None else model
    cold = {k: coldstart_predictions(predictor, responses, k, query=config.query) for k in config.ks}
    audit = audit_predictions(responses, proba, groups, config=config, model=name or model.name, data=data,
                              coldstart={k: v for k, v in cold.items() if len(v[0])})
    audit.notes.append(f"cold start: {'the cold-start method ' + predictor.name if isinstance(predictor, ColdStartMethod) else 'the model itself'}, "
                       f"the next {config.query} answers predicted from the first k alone")
    return audit


class InjectedBias(LearnerModel):
    """A fitted model made unfair on purpose: for the learners in `learners`, each prediction's logit is
    shrunk toward 0 by `shrink` and blurred by Gaussian noise of sd `noise` (seeded by the learner and the
    position), so those learners' answers are predicted worse; everyone else is untouched. For testing the
    audit only: it has no fit of its own and cannot be saved."""

    name = "injected-bias"
    config_class = AuditConfig  # unused: the wrapped model holds the settings

    def __init__(self, model: LearnerModel, learners: set[str], *, shrink: float = 0.5, noise: float = 1.0,
                 seed: int = 0) -> None:
        self.model, self.learners = model, {str(x) for x in learners}
        self.shrink, self.noise, self.seed = shrink, noise, seed
        self.config = model.config
        self.vocab_ = model.vocab_

    def fit(self, train: Responses, valid: Responses | None = None) -> Self:
        raise NotImplementedError("InjectedBias wraps a fitted model")

    def predict_proba(self, responses: Responses) -> np.ndarray:
        p = self.model.predict_proba(responses)
        ids = np.array([base_learner(str(x)) for x in responses.learner_ids], dtype=object)
        biased = np.isin(ids[responses.learner], list(self.learners))
        if not biased.any():
            return p
        seeds = np.array([zlib.crc32(f"{self.seed}:{x}".encode()) for x in ids], dtype=np.uint64)
        draws = _normals(seeds[responses.learner], responses.order)
        out = p.copy()
        out[biased] = sigmoid(self.shrink * logit(p[biased]) + self.noise * draws[biased])
        return out

    def _skill_probabilities(self, responses: Responses) -> np.ndarray:
        return self.model._skill_probabilities(responses)

    def _get_arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError("InjectedBias is for tests and cannot be saved")

    def _set_arrays(self, arrays: dict[str, Any]) -> None:
        raise NotImplementedError("InjectedBias is for tests and cannot be saved")


def _normals(seed: np.ndarray, position: np.ndarray) -> np.ndarray:
    """(N,) standard normal draws, each a function of (seed, position) only (Box-Muller on hashed uniforms)."""
    x = (seed * np.uint64(0x9E3779B97F4A7C15) + position.astype(np.uint64) * np.uint64(0xBF58476D1CE4E5B9))
    x ^= x >> np.uint64(31)
    x *= np.uint64(0x94D049BB133111EB)
    u1 = ((x >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
    y = x * np.uint64(0xD6E8FEB86659FD93)
    u2 = ((y >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
    return np.asarray(np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2))
