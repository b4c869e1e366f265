"""An ensemble of learner models: each member is fitted on the same data on its own, and the ensemble
predicts σ(mean of the members' logits).

Different model families make different errors: on assist2009_pid fold 1's validation learners the
attention model (0.7765 AUC) and DKT (0.7770) averaged to 0.7822 (docs/benchmarks.md §3). Training time
is the members' sum.

Example:
    >>> from metatutor.data.simulator import Simulator
    >>> r = Simulator(random_state=0).simulate(60, (20, 40))
    >>> model = EnsembleKT(members=("irt", "pfa")).fit(r)
    >>> model.predict_proba(r).shape == (len(r),)
    True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Self

import numpy as np

from metatutor.data.responses import Responses
from metatutor.errors import ConfigError
from metatutor.models.base import LearnerModel, logit, sigmoid


@dataclass(frozen=True)
class EnsembleConfig:
    members: tuple[str, ...] = ("attn", "dkt")  # registry names of the members
    settings: dict[str, Any] = field(default_factory=dict)  # passed to every member that has the setting
    random_state: int | None = 0


class EnsembleKT(LearnerModel):
    name = "ensemble"
    config_class = EnsembleConfig

    def __init__(self, config: EnsembleConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        members = tuple(self.config.members)
        if not members or "ensemble" in members:
            raise ConfigError(f"an ensemble needs one or more member models other than itself, not {members!r}")
        self.members_: list[LearnerModel] = []

    def _new_members(self) -> list[LearnerModel]:
        from metatutor.models import make_model

        return [make_model(name, **{**self.config.settings, "random_state": self.config.random_state})
                for name in self.config.members]

    def fit(self, train: Responses, valid: Responses | None = None) -> Self:
        self.members_ = [m.fit(train, valid) for m in self._new_members()]
        self.vocab_ = self.members_[0].vocab_  # every member's vocabulary is the training data's
        return self

    def _mean_logit(self, probabilities: list[np.ndarray]) -> np.ndarray:
        return sigmoid(np.mean([logit(p) for p in probabilities], axis=0))

    def predict_proba(self, responses: Responses) -> np.ndarray:
        self._check_fitted()
        return self._mean_logit([m.predict_proba(responses) for m in self.members_])

    def _skill_probabilities(self, responses: Responses) -> np.ndarray:
        return self._mean_logit([m._skill_probabilities(responses) for m in self.members_])

    # ----- persistence: each member's arrays under "m{j}/", its settings in the extra; one vocabulary ------
    def _get_arrays(self) -> dict[str, np.ndarray]:
        return {f"m{j}/{k}": v for j, m in enumerate(self.members_) for k, v in m._get_arrays().items()}

    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
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
