"""An ensemble of learner models: each member is fitted on the same data on its own, and the ensemble
predicts σ(w · the members' logits + c). With validation learners (`weights="stacked"`, the default),
w and c are a logistic regression of their answers on the members' logits (stacking); without them,
or with `weights="equal"`, w = 1/M and c = 0: the mean logit.

Different model families make different errors, so their stacked logits predict better than any one of
them; where a member is weak (IRT where items are only concepts) stacking gives it a small weight rather
than the mean logit's equal share. The weights are fitted on all the validation learners, the same ones
that early-stop every member: fitting them on learners that did not early-stop the members was measured
and not adopted. The figures behind both choices: docs/methods.md ("How each setting was chosen") and
docs/experiment-log.md. Training time is the members' sum. When every member has an online state (attn, dkt, irt), so does the ensemble
(`EnsembleOnlineState`): one update per member, the same weighted logits.

Example:
    >>> from metatutor.data.simulator import Simulator
    >>> r = Simulator(random_state=0).simulate(60, (20, 40))
    >>> model = EnsembleKT(members=("irt", "pfa")).fit(r)
    >>> model.predict_proba(r).shape == (len(r),)
    True
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Self

import numpy as np

from metatutor.data.responses import Responses
from metatutor.errors import ConfigError
from metatutor.models.base import LearnerModel, logit, sigmoid
from metatutor.models.serving import OnlineState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnsembleConfig:
    members: tuple[str, ...] = ("attn", "dkt", "irt")  # registry names of the members; one may repeat
    settings: dict[str, Any] = field(default_factory=dict)  # passed to every member that has the setting
    weights: str = "stacked"  # "stacked" (fitted on the validation learners when given) or "equal"
    stack_c: float = 1.0  # inverse L2 strength of the stacking regression
    random_state: int | None = 0


class EnsembleKT(LearnerModel):
    name = "ensemble"
    config_class = EnsembleConfig

    def __init__(self, config: EnsembleConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        members = tuple(self.config.members)
        if not members or "ensemble" in members:
            raise ConfigError(f"an ensemble needs one or more member models other than itself, not {members!r}")
        if self.config.weights not in ("stacked", "equal"):
            raise ConfigError(f"ensemble weights must be 'stacked' or 'equal', not {self.config.weights!r}")
        self.members_: list[LearnerModel] = []

    def _new_members(self) -> list[LearnerModel]:
        from metatutor.models import make_model

        seed = self.config.random_state  # member j gets seed + j, so that a repeated member differs
        return [make_model(name, **{**self.config.settings, "random_state": None if seed is None else seed + j})
                for j, name in enumerate(self.config.members)]

    def fit(self, train: Responses, valid: Responses | None = None) -> Self:
        self.members_ = [m.fit(train, valid) for m in self._new_members()]
        self.vocab_ = self.members_[0].vocab_  # every member's vocabulary is the training data's
        if self.config.weights == "stacked" and valid is not None:
            self.stack(np.stack([logit(m.predict_proba(valid)) for m in self.members_], axis=1), valid.correct)
        else:
            self.stack(None, None)
        return self

    def stack(self, x: np.ndarray | None, y: np.ndarray | None) -> None:
        """Set the weights from the members' logits `x` (N, M) on validation answers `y` (N,): a logistic
        regression when they hold both answers, the mean logit otherwise (or without them)."""
        self.weights_, self.intercept_ = np.full(len(self.members_), 1.0 / len(self.members_)), 0.0
        if x is not None and y is not None and len(np.unique(y)) == 2:
            from sklearn.linear_model import LogisticRegression

            stack = LogisticRegression(C=self.config.stack_c).fit(x, y)
            self.weights_, self.intercept_ = stack.coef_[0].astype(np.float64), float(stack.intercept_[0])
            log.info("ensemble weights %s, intercept %.3f", np.round(self.weights_, 3), self.intercept_)

    @property
    def history_(self) -> list[dict[str, float]]:
        """The neural members' epochs, one after the other; `member` is the member's position."""
        return [{"member": float(j), **record} for j, m in enumerate(self.members_)
                for record in getattr(m, "history_", [])]

    def combine(self, probabilities: list[np.ndarray]) -> np.ndarray:
        """σ(w · logits + c) of the members' probabilities (one array per member)."""
        logits = np.stack([logit(p) for p in probabilities], axis=-1)
        return sigmoid(logits @ self.weights_ + self.intercept_)

    def predict_proba(self, responses: Responses) -> np.ndarray:
        self._check_fitted()
        return self.combine([m.predict_proba(responses) for m in self.members_])

    def _skill_probabilities(self, responses: Responses) -> np.ndarray:
        return self.combine([m._skill_probabilities(responses) for m in self.members_])

    @property
    def item_skills_(self) -> np.ndarray:
        """(n_items, K) each known item's skill codes (the widest member's table)."""
        tables = [getattr(m, "item_skills_", None) for m in self.members_]
        known = [t for t in tables if t is not None]
        if not known:
            raise ConfigError("no member of this ensemble keeps the skills of its items")
        return max(known, key=lambda t: t.shape[1])

    def online(self) -> EnsembleOnlineState:
        """A fresh serving state for one learner; every member must have one (attn, dkt, irt)."""
        self._check_fitted()
        lacking = [m.name for m in self.members_ if not hasattr(m, "online")]
        if lacking:
            raise ConfigError(f"members without an online state: {lacking}")
        return EnsembleOnlineState(self, [m.online() for m in self.members_])  # type: ignore[attr-defined]

    # ----- persistence: each member's arrays under "m{j}/", its settings in the extra; one vocabulary ------
    def _get_arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"m{j}/{k}": v for j, m in enumerate(self.members_) for k, v in m._get_arrays().items()}
        return {**arrays, "weights": self.weights_, "intercept": np.array([self.intercept_])}

    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        n = len(self.config.members)
        self.weights_ = np.asarray(arrays.get("weights", np.full(n, 1.0 / n)), dtype=np.float64)
        self.intercept_ = float(arrays.get("intercept", np.zeros(1))[0])
        for j, m in enumerate(self.members_):
            prefix = f"m{j}/"
            m._set_arrays({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})

    def _get_extra(self) -> dict[str, Any]:
        return {"members": [{"config": asdict(m.config), "extra": m._get_extra()} for m in self.members_]}

    def _set_extra(self, extra: dict[str, Any]) -> None:
        saved = extra.get("members", [])
        self.members_ = self._new_members()
        if len(saved) != len(self.members_):
            raise ConfigError(f"the saved ensemble has {len(saved)} members, its settings name {len(self.members_)}")
        for m, s in zip(self.members_, saved, strict=True):
            m.config = type(m.config)(**s["config"])
            m.vocab_ = self.vocab_  # `load` reads the vocabulary before the extra
            m._set_extra(s["extra"])


class EnsembleOnlineState:
    """One learner's serving state for an `EnsembleKT`: one state per member, each updated with every
    response; `predict` combines the members' logits with the ensemble's weights, as batch prediction does."""

    def __init__(self, model: EnsembleKT, states: list[OnlineState]) -> None:
        self.model, self.states = model, states

    @property
    def count(self) -> int:
        return self.states[0].count

    def update(self, item: int, skills: np.ndarray, correct: int) -> None:
        """Add one response: model item code, its skill codes (padding: n_skills + 1), 0/1."""
        pad = self.model.vocab_.n_skills + 1
        skills = np.asarray(skills)
        for member, state in zip(self.model.members_, self.states, strict=True):
            width = getattr(member, "max_skills_", len(skills))
            fitted = np.full(width, pad, dtype=np.int64)
            fitted[: min(width, len(skills))] = skills[:width]
            state.update(item, fitted, correct)

    def predict(self, items: np.ndarray | None = None, *, skills: np.ndarray | None = None) -> np.ndarray:
        """P(correct) on each item code in `items` as the next response (default: every known item);
        `skills` (M, K): the items' skill codes, used for items the model has not seen."""
        if items is None:  # the members' float32 logits, combined once
            return np.asarray(sigmoid(self.predict_logit().astype(np.float64)))
        return self.model.combine([s.predict(items, skills=skills) for s in self.states])

    def predict_logit(self) -> np.ndarray:
        """(N,) float32 logits of every known item as the next response: the members' combined."""
        model = self.model
        total = np.full(model.vocab_.n_items, model.intercept_, dtype=np.float32)
        for w, state in zip(model.weights_, self.states, strict=True):
            total += np.float32(w) * np.asarray(state.predict_logit())
        return total

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {f"m{j}/{k}": v for j, s in enumerate(self.states) for k, v in s.to_arrays().items()}

    @classmethod
    def from_arrays(cls, model: EnsembleKT, arrays: dict[str, np.ndarray]) -> EnsembleOnlineState:
        states = []
        for j, member in enumerate(model.members_):
            prefix = f"m{j}/"
            mine = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
            states.append(type(member.online()).from_arrays(member, mine))  # type: ignore[attr-defined]
        return cls(model, states)
