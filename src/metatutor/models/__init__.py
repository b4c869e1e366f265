"""Learner models, all with one contract (see `metatutor.models.base`)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import numpy as np

from metatutor.errors import ConfigError
from metatutor.models.base import LearnerModel, Vocabulary
from metatutor.models.bkt import BKT, BKTConfig
from metatutor.models.irt import IRT, IRTConfig
from metatutor.models.logistic import PFA, BestLR, LogisticConfig
from metatutor.models.pairs import PairConfig, PairKT

if TYPE_CHECKING:
    from metatutor.models.attention import AttentionConfig, AttentionKT
    from metatutor.models.dkt import DKT, DKTConfig
    from metatutor.models.ensemble import EnsembleConfig, EnsembleKT

# the neural models import torch, which takes seconds and hundreds of MB: loaded on first use only (the
# service, BKT and IRT never need it)
_LAZY = {"DKT": "dkt", "DKTConfig": "dkt", "AttentionKT": "attention", "AttentionConfig": "attention",
         "EnsembleKT": "ensemble", "EnsembleConfig": "ensemble"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"metatutor.models.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# name -> (class name in this package, settings); "default" is the project's recommended model
REGISTRY: dict[str, tuple[str, dict[str, Any]]] = {
    "irt": ("IRT", {"kind": "1pl"}),
    "irt2pl": ("IRT", {"kind": "2pl"}),
    "bkt": ("BKT", {}),
    "bktf": ("BKT", {"forgetting": True}),
    "pfa": ("PFA", {}),
    "bestlr": ("BestLR", {}),
    "dkt": ("DKT", {}),
    "attn": ("AttentionKT", {}),
    "pairs": ("PairKT", {}),  # item-to-item answer effects (models/pairs.py)
    "ensemble": ("EnsembleKT", {}),  # attn + dkt + irt, logits stacked on the validation learners
    "ensemble-pairs": ("EnsembleKT", {"members": ("attn", "dkt", "irt", "pairs")}),
}
# What a model's predictions draw on. "sequence": the learner's own earlier answers, with parameters per item
# and skill learned from the training learners (the setting of the published anchors, e.g. AKT-R, QIKT).
# "classmates": also how *other* learners did on particular combinations of items (item-to-item answer effects,
# models/pairs.py); under a learner-level split those include a test learner's classmates, who were given the
# same problem sets, so this is collaborative filtering over them (docs/benchmarks.md §3).
TRACKS = ("sequence", "classmates")
TRACK: dict[str, str] = {name: "classmates" if name in ("pairs", "ensemble-pairs") else "sequence" for name in REGISTRY}
# the best model of each track on assist2009_pid, statics and pyKT's assist2015 (5 folds each):
# docs/benchmarks.md §3. `default` is the sequence-only one; `default-classmates` names the other.
DEFAULT_MODELS = {"sequence": "ensemble", "classmates": "ensemble-pairs"}
DEFAULT_MODEL = DEFAULT_MODELS["sequence"]
DEFAULT_NAMES = {"default": DEFAULT_MODELS["sequence"], "default-sequence": DEFAULT_MODELS["sequence"],
                 "default-classmates": DEFAULT_MODELS["classmates"]}
SAVED_CLASSES: dict[str, str] = {"irt": "IRT", "bkt": "BKT", "pfa": "PFA", "bestlr": "BestLR", "dkt": "DKT",
                                 "attn": "AttentionKT", "ensemble": "EnsembleKT", "pairs": "PairKT"}


def model_class(name: str) -> type[LearnerModel]:
    """A learner-model class by its class name in this package (imports torch for the neural ones)."""
    cls: type[LearnerModel] = globals()[name] if name in globals() else __getattr__(name)
    return cls


def resolve_name(name: str) -> str:
    """The registry name behind `name` (`default`, `default-sequence`, `default-classmates` name others)."""
    return DEFAULT_NAMES.get(name, name)


def model_track(name: str) -> str:
    """`sequence` or `classmates` (see `TRACK`) of a registry name, the default names included."""
    key = resolve_name(name)
    if key not in TRACK:
        raise ConfigError(f"unknown model {name!r}; choose from {', '.join([*REGISTRY, *DEFAULT_NAMES])}")
    return TRACK[key]


def make_model(name: str, **settings: Any) -> LearnerModel:
    """A new, unfitted model by registry name (`default` is the recommended one)."""
    key = resolve_name(name)
    if key not in REGISTRY:
        raise ConfigError(f"unknown model {name!r}; choose from {', '.join([*REGISTRY, *DEFAULT_NAMES])}")
    cls_name, base = REGISTRY[key]
    cls = model_class(cls_name)
    known = set(cls.config_class.__dataclass_fields__)  # type: ignore[attr-defined]
    chosen = {k: v for k, v in settings.items() if k in known}
    if "settings" in known:  # an ensemble hands the settings it does not know to its members
        chosen["settings"] = {**base.get("settings", {}), **{k: v for k, v in settings.items() if k not in known},
                              **chosen.get("settings", {})}
    return cls(**{**base, **chosen})


def load_model(path: str) -> LearnerModel:
    """Load any saved learner model from its folder."""
    import json
    from pathlib import Path

    meta = json.loads((Path(path) / "model.json").read_text())
    return _saved_class(meta, path).load(path)


def model_from_bytes(blob: bytes) -> LearnerModel:
    """Any learner model from `LearnerModel.to_bytes()` (a safetensors blob whose header metadata holds
    its `model.json`); a clear `ConfigError` for anything else."""
    import json
    import struct

    from safetensors.numpy import load

    try:
        (size,) = struct.unpack("<Q", blob[:8])
        header = json.loads(blob[8 : 8 + size])
        meta = json.loads(header["__metadata__"]["model.json"])
        arrays = load(blob)
    except Exception as exc:  # truncated, not safetensors, or no model.json in it
        raise ConfigError(f"not a saved metatutor model ({type(exc).__name__}: {exc})"[:300]) from None
    return model_from_parts(meta, arrays, where="the blob")


def model_from_parts(meta: dict[str, Any], arrays: dict[str, np.ndarray], *, where: str = "the model") -> LearnerModel:
    """Any learner model from the two parts `save` writes: its `model.json` (parsed) and its arrays."""
    try:
        return _saved_class(meta, where)._restore(meta, arrays, where)
    except ConfigError:
        raise
    except Exception as exc:  # a model.json and arrays that do not fit together
        raise ConfigError(f"{where} is not a complete saved model ({type(exc).__name__}: {exc})"[:300]) from None


def _saved_class(meta: dict[str, Any], where: str) -> type[LearnerModel]:
    name = SAVED_CLASSES.get(meta.get("model", ""))
    if name is None:
        raise ConfigError(f"{where} holds an unknown model type {meta.get('model')!r}")
    return model_class(name)


__all__ = [
    "BKT",
    "DKT",
    "IRT",
    "PFA",
    "REGISTRY",
    "TRACK",
    "TRACKS",
    "AttentionConfig",
    "AttentionKT",
    "BKTConfig",
    "BestLR",
    "DKTConfig",
    "EnsembleConfig",
    "EnsembleKT",
    "IRTConfig",
    "LearnerModel",
    "LogisticConfig",
    "PairConfig",
    "PairKT",
    "Vocabulary",
    "load_model",
    "make_model",
    "model_from_bytes",
    "model_from_parts",
    "model_track",
]
