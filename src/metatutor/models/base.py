"""The contract every learner model follows, and the helpers they share.

A learner model is an estimator: `__init__` stores keyword settings, `fit(train, valid=None)` learns
from training learners and returns `self`, learned attributes end in `_`.

* `predict_proba(responses)` -> (N,) P(correct) of each response given only the same learner's
  earlier responses (never the response itself, never other rows of the future).
* `mastery(responses)` -> DataFrame (learners x skills): P(correct) on a typical item of each skill
  after all of that learner's responses.
* `save(path)` writes a folder (`model.json` + `arrays.safetensors`); `load(path)` reads it; `to_bytes()`
  gives the same as one safetensors blob (for a database). No pickle.
"""

from __future__ import annotations

import functools
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from safetensors.numpy import load_file, save, save_file

from metatutor.data.responses import Responses
from metatutor.errors import ConfigError, NotFittedError

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Vocabulary:
    """The items and skills a model was trained on; anything else maps to the extra index at the end."""

    item_ids: np.ndarray
    skill_ids: np.ndarray

    @classmethod
    def of(cls, responses: Responses) -> Vocabulary:
        return cls(
            item_ids=responses.item_ids[np.unique(responses.item)],
            skill_ids=responses.skill_ids[np.unique(responses.skill)],
        )

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_skills(self) -> int:
        return len(self.skill_ids)

    @functools.cached_property
    def _item_index(self) -> pd.Index:
        return pd.Index(self.item_ids)

    @functools.cached_property
    def _skill_index(self) -> pd.Index:
        return pd.Index(self.skill_ids)

    @functools.cached_property
    def _item_dict(self) -> dict[str, int]:
        return {str(x): i for i, x in enumerate(self.item_ids)}

    @functools.cached_property
    def _skill_dict(self) -> dict[str, int]:
        return {str(x): i for i, x in enumerate(self.skill_ids)}

    def items(self, responses: Responses) -> np.ndarray:
        """(N,) item codes; unseen items get `n_items`."""
        if len(responses) <= 256:  # one learner at a time (serving): a dict beats building an index
            return _lookup(responses.item, responses.item_ids, self._item_dict)
        return _map_codes(responses.item, responses.item_ids, self._item_index)

    def skills(self, responses: Responses) -> np.ndarray:
        """(Z,) skill codes of the skill links; unseen skills get `n_skills`."""
        if len(responses.skill) <= 256:
            return _lookup(responses.skill, responses.skill_ids, self._skill_dict)
        return _map_codes(responses.skill, responses.skill_ids, self._skill_index)

    def item_codes(self, names: Sequence[str]) -> np.ndarray:
        """Codes of items given by name; unseen items get `n_items`."""
        return np.array([self._item_dict.get(str(i), self.n_items) for i in names], dtype=np.int64)

    def skill_codes(self, names: Sequence[str]) -> np.ndarray:
        """Codes of skills given by name; unseen skills get `n_skills`."""
        return np.array([self._skill_dict.get(str(s), self.n_skills) for s in names], dtype=np.int64)

    def to_json(self) -> dict[str, list[str]]:
        return {"item_ids": [str(x) for x in self.item_ids], "skill_ids": [str(x) for x in self.skill_ids]}

    @classmethod
    def from_json(cls, data: dict[str, list[str]]) -> Vocabulary:
        return cls(np.asarray(data["item_ids"], dtype=object), np.asarray(data["skill_ids"], dtype=object))


def _lookup(codes: np.ndarray, ids: np.ndarray, table: dict[str, int]) -> np.ndarray:
    missing = len(table)
    return np.fromiter((table.get(str(ids[c]), missing) for c in codes), dtype=np.int64, count=len(codes))


def _map_codes(codes: np.ndarray, ids: np.ndarray, index: pd.Index) -> np.ndarray:
    """Codes into `ids` -> positions in `index` (len(index) when absent), mapping only the codes used."""
    used, inverse = np.unique(codes, return_inverse=True)
    mapped = index.get_indexer(pd.Index(ids[used])) if len(used) else np.zeros(0, dtype=np.int64)
    mapped[mapped < 0] = len(index)
    return mapped[inverse].astype(np.int64).reshape(codes.shape)


class LearnerModel(ABC):
    """Base class of the learner models; see the module docstring for the contract."""

    name: ClassVar[str]
    config_class: ClassVar[type]
    vocab_: Vocabulary

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        base = config if config is not None else self.config_class()
        if overrides:
            known = {f.name for f in fields(base)}
            unknown = set(overrides) - known
            if unknown:
                raise ConfigError(f"{type(self).__name__} has no setting(s) {', '.join(sorted(unknown))}; "
                                  f"settings: {', '.join(sorted(known))}")
            base = type(base)(**{**asdict(base), **overrides})
        self.config = base

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    @abstractmethod
    def fit(self, train: Responses, valid: Responses | None = None) -> Self: ...

    @abstractmethod
    def predict_proba(self, responses: Responses) -> np.ndarray: ...

    @abstractmethod
    def _skill_probabilities(self, responses: Responses) -> np.ndarray:
        """(L, S+1) P(correct) on a typical item of each known skill (and the unknown one), per learner
        present in `responses`, after all their responses."""

    def mastery(self, responses: Responses) -> pd.DataFrame:
        """P(correct) on a typical item of each skill after each learner's responses (learners x skills)."""
        self._check_fitted()
        probs = self._skill_probabilities(responses)[:, : self.vocab_.n_skills]
        return pd.DataFrame(probs, index=pd.Index(responses.learners_present(), name="learner"),
                            columns=pd.Index(self.vocab_.skill_ids, name="skill"))

    def _check_fitted(self) -> None:
        if not hasattr(self, "vocab_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() or load() first")

    # ----- persistence ---------------------------------------------------------------------
    @abstractmethod
    def _get_arrays(self) -> dict[str, np.ndarray]: ...

    @abstractmethod
    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None: ...

    def _meta(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "model": self.name,
            "config": asdict(self.config) if is_dataclass(self.config) and not isinstance(self.config, type) else {},
            "vocabulary": self.vocab_.to_json(),
            "extra": self._get_extra(),
        }

    def _arrays(self) -> dict[str, np.ndarray]:
        return {k: np.ascontiguousarray(v) for k, v in self._get_arrays().items()}

    def save(self, path: str | Path) -> Path:
        """Write the fitted model to folder `path` (created if needed)."""
        self._check_fitted()
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        (out / "model.json").write_text(json.dumps(self._meta()))
        save_file(self._arrays(), str(out / "arrays.safetensors"))
        return out

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a model written by `save` (safetensors + JSON; nothing is unpickled)."""
        folder = Path(path)
        try:
            meta = json.loads((folder / "model.json").read_text())
        except FileNotFoundError:
            raise ConfigError(f"{folder} holds no saved model (model.json missing)") from None
        return cls._restore(meta, load_file(str(folder / "arrays.safetensors")), str(folder))

    def to_bytes(self) -> bytes:
        """The fitted model as one safetensors blob (its `model.json` in the header's metadata): what a
        database stores. `model_from_bytes` reads it."""
        self._check_fitted()
        return save(self._arrays(), metadata={"model.json": json.dumps(self._meta())})

    @classmethod
    def _restore(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> Self:
        if meta.get("model") != cls.name:
            raise ConfigError(f"{where} holds a {meta.get('model')!r} model, not {cls.name!r}")
        model = cls(cls.config_class(**meta["config"]))
        model.vocab_ = Vocabulary.from_json(meta["vocabulary"])
        model._set_extra(meta.get("extra", {}))
        model._set_arrays(arrays)
        return model

    def _get_extra(self) -> dict[str, Any]:
        return {}

    def _set_extra(self, extra: dict[str, Any]) -> None:
        return None


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


def logit(p: np.ndarray | float) -> Any:
    """log(p / (1 - p)), with p clipped to [1e-6, 1 - 1e-6]."""
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(q / (1 - q))


def skill_mean(values: np.ndarray, responses: Responses, vocab: Vocabulary) -> np.ndarray:
    """(S+1,) mean of a per-response value over the responses of each skill (unknown skill: overall)."""
    rows = responses.skill_rows()
    skills = vocab.skills(responses)
    total = np.bincount(skills, weights=values[rows], minlength=vocab.n_skills + 1)
    count = np.bincount(skills, minlength=vocab.n_skills + 1)
    overall = float(values.mean()) if len(values) else 0.0
    return np.where(count > 0, total / np.maximum(count, 1), overall)


def segment_ids(responses: Responses) -> np.ndarray:
    """(N,) 0-based index of each row's learner among the learners present."""
    return np.repeat(np.arange(responses.n_learners), responses.lengths)


def shrunk_item_logits(item: np.ndarray, y: np.ndarray, n_items: int, prior_count: float) -> np.ndarray:
    """(n_items,) each item's log-odds of success relative to the whole training set (item codes `item`,
    answers `y`; codes ≥ n_items ignored), shrunk toward 0 by `prior_count` pseudo-answers: a sensible
    start for per-item biases (rare items included)."""
    wins = np.bincount(item, weights=y, minlength=n_items + 1)[:n_items]
    tries = np.bincount(item, minlength=n_items + 1)[:n_items]
    return shrunk_logits(wins, tries, overall_rate(y), prior_count)


def shrunk_logits(wins: np.ndarray, tries: np.ndarray, p_all: float, prior_count: float) -> np.ndarray:
    """(n_items,) `shrunk_item_logits` from each item's right answers and answers, and the overall rate."""
    p = (wins + prior_count * p_all) / (tries + prior_count)
    return np.asarray(np.log(p / (1 - p)) - np.log(p_all / (1 - p_all)))


def overall_rate(y: np.ndarray) -> float:
    """The share of right answers, kept within [0.001, 0.999] (0.5 for no answers)."""
    return float(np.clip(y.mean(), 1e-3, 1 - 1e-3)) if len(y) else 0.5
