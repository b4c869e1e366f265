"""Learner models, all with one contract (see `metatutor.models.base`)."""

from __future__ import annotations

from typing import Any

from metatutor.errors import ConfigError
from metatutor.models.attention import AttentionConfig, AttentionKT
from metatutor.models.base import LearnerModel, Vocabulary
from metatutor.models.bkt import BKT, BKTConfig
from metatutor.models.dkt import DKT, DKTConfig
from metatutor.models.irt import IRT, IRTConfig
from metatutor.models.logistic import PFA, BestLR, LogisticConfig

# name -> (class, settings); "default" is the project's recommended model
REGISTRY: dict[str, tuple[type[LearnerModel], dict[str, Any]]] = {
    "irt": (IRT, {"kind": "1pl"}),
    "irt2pl": (IRT, {"kind": "2pl"}),
    "bkt": (BKT, {}),
    "bktf": (BKT, {"forgetting": True}),
    "pfa": (PFA, {}),
    "bestlr": (BestLR, {}),
    "dkt": (DKT, {}),
    "attn": (AttentionKT, {}),
}
DEFAULT_MODEL = "attn"  # best of our models on assist2009_pid (5 folds) and statics (fold 1): docs/benchmarks.md
SAVED_CLASSES: dict[str, type[LearnerModel]] = {"irt": IRT, "bkt": BKT, "pfa": PFA, "bestlr": BestLR, "dkt": DKT,
                                                "attn": AttentionKT}


def resolve_name(name: str) -> str:
    return DEFAULT_MODEL if name == "default" else name


def make_model(name: str, **settings: Any) -> LearnerModel:
    """A new, unfitted model by registry name (`default` is the recommended one)."""
    key = resolve_name(name)
    if key not in REGISTRY:
        raise ConfigError(f"unknown model {name!r}; choose from {', '.join([*REGISTRY, 'default'])}")
    cls, base = REGISTRY[key]
    known = set(cls.config_class.__dataclass_fields__)  # type: ignore[attr-defined]
    return cls(**{**base, **{k: v for k, v in settings.items() if k in known}})


def load_model(path: str) -> LearnerModel:
    """Load any saved learner model from its folder."""
    import json
    from pathlib import Path

    meta = json.loads((Path(path) / "model.json").read_text())
    cls = SAVED_CLASSES.get(meta.get("model", ""))
    if cls is None:
        raise ConfigError(f"{path} holds an unknown model type {meta.get('model')!r}")
    return cls.load(path)


__all__ = [
    "BKT",
    "DKT",
    "IRT",
    "PFA",
    "REGISTRY",
    "AttentionConfig",
    "AttentionKT",
    "BKTConfig",
    "BestLR",
    "DKTConfig",
    "IRTConfig",
    "LearnerModel",
    "LogisticConfig",
    "Vocabulary",
    "load_model",
    "make_model",
]
