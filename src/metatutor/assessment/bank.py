"""A calibrated item bank: item parameters on the θ ~ N(0, 1) scale, each item's skills, and the
operations on it — calibrate from logs, recalibrate as responses arrive, score a cohort (EAP), item fit,
save and load.

Glossary: I items, S skills, N responses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from metatutor.assessment.estimation import eap_cohort
from metatutor.assessment.irt import p_correct
from metatutor.data.responses import Responses, codes_for
from metatutor.errors import ConfigError
from metatutor.models.calibration import Calibration, CalibrationConfig, calibrate, skill_difficulty_prior


@dataclass(frozen=True)
class ItemBank:
    """Items with parameters (a, b, c) and skills; `ItemBank.calibrate(responses, kind="2pl")`."""

    item_ids: np.ndarray  # (I,) str
    a: np.ndarray  # (I,)
    b: np.ndarray  # (I,)
    c: np.ndarray  # (I,)
    skill: np.ndarray  # (I,) code of each item's first skill in skill_ids, -1 when it has none
    skill_ids: np.ndarray  # (S,) str
    se_b: np.ndarray  # (I,) standard error of b (inf for items nobody answered)
    n_responses: np.ndarray  # (I,) responses the calibration saw
    kind: str = "2pl"

    def __len__(self) -> int:
        return len(self.item_ids)

    @classmethod
    def from_parameters(cls, a: np.ndarray, b: np.ndarray, c: np.ndarray | None = None, *,
                        item_ids: np.ndarray | None = None, skill: np.ndarray | None = None,
                        skill_ids: np.ndarray | None = None, kind: str = "2pl") -> Self:
        n = len(b)
        return cls(item_ids=np.asarray(item_ids if item_ids is not None else [f"i{j}" for j in range(n)], dtype=str),
                   a=np.asarray(a, dtype=np.float64), b=np.asarray(b, dtype=np.float64),
                   c=np.zeros(n) if c is None else np.asarray(c, dtype=np.float64),
                   skill=np.full(n, -1, dtype=np.int64) if skill is None else np.asarray(skill, dtype=np.int64),
                   skill_ids=np.asarray(skill_ids if skill_ids is not None else [], dtype=str),
                   se_b=np.zeros(n), n_responses=np.zeros(n, dtype=np.int64), kind=kind)

    @classmethod
    def calibrate(cls, responses: Responses, *, kind: str = "2pl", config: CalibrationConfig | None = None) -> Self:
        """Calibrate every item answered in `responses` (learners' abilities integrated out)."""
        cfg = replace(config or CalibrationConfig(), kind=kind)
        items, item_code = np.unique(responses.item, return_inverse=True)
        learners, learner_code = np.unique(responses.learner, return_inverse=True)
        has = responses.n_skills_per_response > 0
        first_skill = np.full(len(responses), -1, dtype=np.int64)  # -1: a response without skills
        first_skill[has] = responses.skill[responses.skill_ptr[:-1][has]]
        skill = pd.Series(first_skill).groupby(item_code).first().to_numpy()
        counts = np.bincount(item_code)
        run = partial(calibrate, learner_code, item_code, responses.correct, n_learners=len(learners),
                      n_items=len(items), config=cfg)
        cal = run()
        if cfg.skill_prior:
            prior_b, prior_sd = skill_difficulty_prior(cal.b, skill, counts, default_sd=cfg.difficulty_sd)
            cal = run(init=cal, prior_b=prior_b, prior_b_sd=prior_sd)
        return cls._from_calibration(cal, item_ids=responses.item_ids[items], skill=skill,
                                     skill_ids=responses.skill_ids, counts=counts, kind=kind)

    @classmethod
    def _from_calibration(cls, cal: Calibration, *, item_ids: np.ndarray, skill: np.ndarray, skill_ids: np.ndarray,
                          counts: np.ndarray, kind: str) -> Self:
        # 1PL learns the ability spread sd with a ≡ 1: on the N(0, 1) scale a = sd, b = b / sd
        return cls(item_ids=np.asarray(item_ids, dtype=str), a=cal.a * cal.sd, b=cal.b / cal.sd, c=cal.c,
                   skill=np.asarray(skill, dtype=np.int64), skill_ids=np.asarray(skill_ids, dtype=str),
                   se_b=np.where(counts > 0, cal.se_b / cal.sd, np.inf), n_responses=counts, kind=kind)

    def recalibrate(self, responses: Responses, *, config: CalibrationConfig | None = None) -> ItemBank:
        """Update the bank with new responses: the current estimates (with their standard errors) are the
        prior of the items, so a few new answers move an item little and many move it far. Items not in
        the bank are added."""
        cfg = replace(config or CalibrationConfig(), kind=self.kind)
        new_ids = np.setdiff1d(np.unique(responses.item_ids[responses.item]), self.item_ids)
        ids = np.concatenate([self.item_ids, new_ids])
        item_code = codes_for(responses.item_ids[responses.item], ids)
        learners, learner_code = np.unique(responses.learner, return_inverse=True)
        n_new = len(new_ids)
        # the prior lives on the raw scale of the EM, where 2PL/3PL have sd 1 and 1PL keeps a ≡ 1
        scale = float(self.a[0]) if self.kind == "1pl" and len(self) else 1.0
        init = Calibration(a=np.r_[self.a / scale, np.ones(n_new)], b=np.r_[self.b * scale, np.zeros(n_new)],
                           c=np.r_[self.c, np.full(n_new, 0.2 if self.kind == "3pl" else 0.0)], sd=scale,
                           se_b=np.zeros(len(ids)), log_marginal=0.0, iterations=0)
        prior_sd = np.r_[np.where(np.isfinite(self.se_b), self.se_b * scale, cfg.difficulty_sd),
                         np.full(n_new, cfg.difficulty_sd)]
        cal = calibrate(learner_code, item_code, responses.correct, n_learners=len(learners), n_items=len(ids),
                        config=cfg, init=init, prior_b=init.b, prior_b_sd=np.maximum(prior_sd, 1e-3))
        skill_new = np.full(n_new, -1, dtype=np.int64)
        counts = np.r_[self.n_responses, np.zeros(n_new, dtype=np.int64)] + np.bincount(item_code, minlength=len(ids))
        return self._from_calibration(cal, item_ids=ids, skill=np.r_[self.skill, skill_new], skill_ids=self.skill_ids,
                                      counts=counts, kind=self.kind)

    # ----- lookups ------------------------------------------------------------------------------
    def codes(self, item_ids: np.ndarray | list[str]) -> np.ndarray:
        """Positions of item ids in the bank (ConfigError on an unknown id)."""
        codes = codes_for(np.asarray(item_ids, dtype=str), self.item_ids)
        if (codes < 0).any():
            missing = np.asarray(item_ids, dtype=str)[codes < 0]
            raise ConfigError(f"{len(missing)} items are not in the bank, e.g. {', '.join(missing[:3])}")
        return codes

    def probability(self, theta: float, codes: np.ndarray | None = None) -> np.ndarray:
        sl = slice(None) if codes is None else codes
        return p_correct(theta, self.a[sl], self.b[sl], self.c[sl])

    # ----- scoring ------------------------------------------------------------------------------
    def score(self, responses: Responses, *, prior_mean: float = 0.0, prior_sd: float = 1.0) -> pd.DataFrame:
        """Every learner's EAP ability and its posterior sd from their responses to bank items, in one
        vectorised pass: columns learner, theta, se, n (responses scored). Responses to items outside the
        bank are left out; a learner with none of them gets the prior.

        Example:
            >>> bank.score(responses).set_index("learner")["theta"]
        """
        code = codes_for(responses.item_ids[responses.item], self.item_ids)
        keep = code >= 0
        learners, learner_code = np.unique(responses.learner, return_inverse=True)
        theta, se = eap_cohort(learner_code[keep], code[keep], responses.correct[keep], self.a, self.b, self.c,
                               n_learners=len(learners), prior_mean=prior_mean, prior_sd=prior_sd)
        return pd.DataFrame({"learner": responses.learner_ids[learners], "theta": theta, "se": se,
                             "n": np.bincount(learner_code[keep], minlength=len(learners))})

    # ----- item fit ----------------------------------------------------------------------------
    def item_fit(self, responses: Responses) -> pd.DataFrame:
        """Rasch-style infit and outfit mean squares per item (≈ 1 when the model fits; > 1.3 misfit),
        with each learner's ability the EAP of all their responses to bank items."""
        code = codes_for(responses.item_ids[responses.item], self.item_ids)
        keep = code >= 0
        code, y = code[keep], responses.correct[keep].astype(np.float64)
        learners, learner_code = np.unique(responses.learner[keep], return_inverse=True)
        ability, _ = eap_cohort(learner_code, code, y, self.a, self.b, self.c, n_learners=len(learners))
        theta = ability[learner_code]
        p = p_correct(theta, self.a[code], self.b[code], self.c[code])
        var = p * (1 - p)
        sq = (y - p) ** 2
        n = np.bincount(code, minlength=len(self))
        outfit = np.bincount(code, weights=sq / var, minlength=len(self)) / np.maximum(n, 1)
        infit = np.bincount(code, weights=sq, minlength=len(self)) / np.maximum(
            np.bincount(code, weights=var, minlength=len(self)), 1e-12)
        p_value = np.bincount(code, weights=y, minlength=len(self)) / np.maximum(n, 1)
        table = pd.DataFrame({"item": self.item_ids, "n": n, "p_value": p_value, "a": self.a, "b": self.b,
                              "c": self.c, "infit": infit, "outfit": outfit})
        return table[table["n"] > 0].reset_index(drop=True)

    # ----- save / load ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "skill_ids": self.skill_ids.tolist(),
                "items": [{"id": str(i), "a": float(a), "b": float(b), "c": float(c), "skill": int(s),
                           "se_b": float(se) if np.isfinite(se) else None, "n": int(n)}
                          for i, a, b, c, s, se, n in zip(self.item_ids, self.a, self.b, self.c, self.skill,
                                                          self.se_b, self.n_responses, strict=True)]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        items = data["items"]
        return cls(item_ids=np.array([it["id"] for it in items], dtype=str),
                   a=np.array([it["a"] for it in items], dtype=np.float64),
                   b=np.array([it["b"] for it in items], dtype=np.float64),
                   c=np.array([it["c"] for it in items], dtype=np.float64),
                   skill=np.array([it.get("skill", -1) for it in items], dtype=np.int64),
                   skill_ids=np.array(data.get("skill_ids", []), dtype=str),
                   se_b=np.array([np.inf if it.get("se_b") is None else it["se_b"] for it in items]),
                   n_responses=np.array([it.get("n", 0) for it in items], dtype=np.int64),
                   kind=data.get("kind", "2pl"))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: str | Path) -> Self:
        return cls.from_dict(json.loads(Path(path).read_text()))
