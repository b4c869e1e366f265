"""Evaluation protocols: which learners train, validate and test in each fold.

* `folds`: the AKT 5-fold files shipped with a dataset (`X_train{k}`, `X_valid{k}`, `X_test{k}`).
* `pykt`: pyKT's `train_valid.csv` (fold f validates, the others train) and the fixed `test.csv`.
* `kfold`: a seeded learner-level k-fold of any single dataset (a file or a folder).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from metatutor.data.folders import DatasetFolder
from metatutor.data.readers import read_responses
from metatutor.data.splits import Split, kfold_splits
from metatutor.errors import ConfigError

PROTOCOLS = ("auto", "folds", "pykt", "kfold")


def resolve_protocol(data: str | Path, protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    if protocol != "auto":
        return protocol
    path = Path(data)
    return DatasetFolder(path).default_protocol() if path.is_dir() else "kfold"


def available_folds(data: str | Path, protocol: str, *, k: int = 5) -> list[int]:
    path = Path(data)
    if protocol == "folds":
        return DatasetFolder(path).group().folds
    if protocol == "pykt":
        return DatasetFolder(path).pykt_folds()
    return list(range(1, k + 1))


def iter_splits(data: str | Path, protocol: str, *, folds: list[int] | None = None, seed: int = 0,
                k: int = 5, format: str | None = None) -> Iterator[Split]:
    """Yield the splits of the requested folds (all folds when `folds` is None)."""
    path = Path(data)
    protocol = resolve_protocol(path, protocol)
    wanted = folds or available_folds(path, protocol, k=k)
    if protocol == "folds":
        if not path.is_dir():
            raise ConfigError("the folds protocol needs a folder with X_train{k}/X_valid{k}/X_test{k} files")
        folder = DatasetFolder(path)
        for fold in wanted:
            yield folder.fold_split(fold, format=format)
    elif protocol == "pykt":
        folder = DatasetFolder(path)
        for fold in wanted:
            yield folder.pykt_split(fold)
    else:
        responses = read_responses(path, format=format)
        splits = {s.fold: s for s in kfold_splits(responses, k=k, random_state=seed)}
        for fold in wanted:
            if fold not in splits:
                raise ConfigError(f"fold {fold} does not exist in a {k}-fold split (folds 1..{k})")
            yield splits[fold]
