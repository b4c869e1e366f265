"""Dataset folders: the files of one or more datasets and the learner splits they ship.

A folder may hold AKT-style fold files (`NAME_train1.csv`, `NAME_valid1.csv`, `NAME_test1.csv`, …),
a whole-data file (`NAME.csv`), plain `train`/`test` files, or pyKT's `train_valid.csv` + `test.csv`.
Files are grouped by the name left once the `_train3`-like suffix is removed (and a compression suffix:
`NAME_train1.csv.gz`). `.json` files are not read as responses: dataset folders keep id maps in them
(AKT's `problems.json`); JSON Lines logs are read as `.jsonl` / `.ndjson`.

A learner is in one part of a split only: the same learner id in two files of one fold (train and test,
say) is an error, never renamed apart (a learner scored on answers the model trained on inflates every
metric). Ids made up from a file's line position (3-line files whose header is a length) are not
identities and are made distinct per file (`test:17`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from metatutor.data.readers import read_frame
from metatutor.data.responses import Responses, _as_id_strings
from metatutor.data.sources import inner_name
from metatutor.data.splits import Split
from metatutor.errors import ConfigError, InvalidResponsesError, shorten

log = logging.getLogger(__name__)

_PART = re.compile(r"^(?P<stem>.*?)(?:^|[_-])(?P<part>train_valid|train|valid|test)(?P<k>\d*)$", re.IGNORECASE)
_DATA_SUFFIXES = {".csv", ".tsv", ".txt", ".parquet", ".pq", ".jsonl", ".ndjson", ".xlsx", ".arrow", ".feather"}


@dataclass
class FileGroup:
    """The files of one dataset in a folder."""

    stem: str
    whole: Path | None = None
    parts: dict[tuple[str, int | None], Path] = field(default_factory=dict)  # ("train", 1) -> path

    @property
    def folds(self) -> list[int]:
        return sorted(k for (part, k) in self.parts if part == "train" and k is not None and ("valid", k) in self.parts)

    @property
    def is_pykt(self) -> bool:
        return ("train_valid", None) in self.parts


class DatasetFolder:
    """A folder of response files; see the module docstring for the layouts it understands."""

    def __init__(self, path: str | Path, *, name: str | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise ConfigError(f"{self.path} is not a folder")
        self.groups: dict[str, FileGroup] = {}
        for f in sorted(self.path.iterdir()):
            inner = Path(inner_name(f))
            if inner.suffix.lower() not in _DATA_SUFFIXES or f.name.startswith(".") or not f.is_file():
                continue
            m = _PART.match(inner.stem)
            if m:
                stem, part, k = m.group("stem"), m.group("part").lower(), m.group("k")
                grp = self.groups.setdefault(stem, FileGroup(stem))
                grp.parts[(part, int(k) if k else None)] = f
            else:
                self.groups.setdefault(inner.stem, FileGroup(inner.stem)).whole = f
        if name is not None:
            if name not in self.groups:
                raise ConfigError(f"no dataset {name!r} in {self.path}; found {', '.join(self.groups) or 'none'}")
            self.groups = {name: self.groups[name]}
        if not self.groups:
            raise InvalidResponsesError(["no response files (.csv, .tsv, .txt, .parquet, .jsonl, .xlsx, compressed or "
                                         "not) in the folder"], source=str(path))

    @property
    def name(self) -> str:
        return self.path.name

    def group(self, stem: str | None = None) -> FileGroup:
        if stem is not None:
            return self.groups[stem]
        with_folds = [g for g in self.groups.values() if g.folds or g.is_pykt]
        pick = with_folds or list(self.groups.values())
        if len(pick) > 1:
            log.info("several datasets in %s (%s); using %s", self.path, ", ".join(self.groups), pick[0].stem)
        return pick[0]

    def default_protocol(self) -> str:
        g = self.group()
        return "pykt" if g.is_pykt else "folds" if g.folds else "kfold"

    # ----- reading ---------------------------------------------------------------------------
    def read_parts(self, paths: dict[str, Path], *, format: str | None = None,
                   columns: dict[str, str] | None = None, delimiter: str | None = None,
                   repeated: str = "error") -> dict[str, Responses]:
        """Read several files into `Responses` that share one vocabulary, one per part name
        (and all of them together under `"*"` when there are several).

        A learner id in two of the files is an error (`InvalidResponsesError`, naming the ids and files),
        since the parts are meant to be disjoint. `repeated="first"` is for files of *different* folds
        read together to gather every learner once (each AKT learner is in the train file of three folds):
        the first file's copy is kept and the learner is dropped from the later files.
        """
        if repeated not in ("error", "first"):
            raise ConfigError(f"repeated must be 'error' or 'first', not {repeated!r}")
        frames = []
        for part, p in paths.items():
            df = read_frame(p, format=format, columns=columns, learner_prefix=f"{part}:", delimiter=delimiter)
            frames.append(df.assign(_part=part))
        joined = pd.concat(frames, ignore_index=True)
        key = pd.Series(_as_id_strings(joined["learner"].astype(object)), index=joined.index)  # the ids, as validated
        key = key.where(joined["learner"].notna().to_numpy())
        owners = pd.DataFrame({"learner": key, "_part": joined["_part"]}).dropna().drop_duplicates()
        shared = owners[owners.duplicated("learner", keep=False)]
        if len(shared) and repeated == "error":
            raise InvalidResponsesError(_overlap_problems(shared, paths), source=str(self.path))
        if len(shared):
            first_part = owners.drop_duplicates("learner").set_index("learner")["_part"]
            keep = (joined["_part"].to_numpy() == first_part.reindex(key).to_numpy()) | key.isna().to_numpy()
            log.info("%d learners are in several of %s; keeping each one's first copy",
                     shared["learner"].nunique(), list(paths))
            joined, key = joined[keep], key[keep]
        resp = Responses.from_frame(joined.drop(columns="_part"), source=str(self.path))
        if len(paths) == 1:
            return {next(iter(paths)): resp}
        out = {"*": resp}
        for part in paths:
            ids = key[joined["_part"] == part].dropna().unique()
            out[part] = resp.select_learners(ids)
        return out

    def all_responses(self, *, stem: str | None = None, format: str | None = None,
                      columns: dict[str, str] | None = None, delimiter: str | None = None) -> Responses:
        """Every learner of one dataset in the folder (each once)."""
        g = self.group(stem)
        if g.whole is not None and not g.parts:
            return self.read_parts({"all": g.whole}, format=format, columns=columns, delimiter=delimiter)["all"]
        if g.is_pykt:
            paths = {"train_valid": g.parts[("train_valid", None)]}
            if ("test", None) in g.parts:
                paths["test"] = g.parts[("test", None)]
        elif g.folds:
            k = g.folds[0]
            paths = {"train": g.parts[("train", k)], "valid": g.parts[("valid", k)]}
            test = g.parts.get(("test", k)) or g.parts.get(("test", None))
            if test is not None:
                paths["test"] = test
        elif g.whole is not None:
            paths = {"all": g.whole}
        else:
            paths = {f"{part}{k or ''}": p for (part, k), p in g.parts.items()}
        several_folds = len({k for (_, k) in g.parts if k is not None}) > 1 and not g.folds and not g.is_pykt
        parts = self.read_parts(paths, format=format, columns=columns, delimiter=delimiter,
                                repeated="first" if several_folds else "error")
        return parts.get("*") or next(iter(parts.values()))

    def fold_split(self, k: int, *, stem: str | None = None, format: str | None = None) -> Split:
        """The AKT protocol's fold k: its train, valid and test files."""
        g = self.group(stem)
        if k not in g.folds:
            raise ConfigError(f"fold {k} not in {self.path} (folds: {', '.join(map(str, g.folds)) or 'none'})")
        test = g.parts.get(("test", k)) or g.parts.get(("test", None))
        if test is None:
            raise ConfigError(f"no test file for fold {k} in {self.path}")
        parts = self.read_parts({"train": g.parts[("train", k)], "valid": g.parts[("valid", k)], "test": test},
                                format=format)
        return Split(train=parts["train"], valid=parts["valid"], test=parts["test"], fold=k)

    def pykt_split(self, fold: int, *, stem: str | None = None) -> Split:
        """pyKT's protocol: fold `fold` of train_valid.csv validates, the others train; test.csv tests."""
        g = self.group(stem)
        if not g.is_pykt or ("test", None) not in g.parts:
            raise ConfigError(f"{self.path} has no pyKT train_valid.csv + test.csv")
        tv_path = g.parts[("train_valid", None)]
        folds = pd.read_csv(tv_path, usecols=["fold", "uid"], dtype=str)
        if str(fold) not in set(folds["fold"]):
            raise ConfigError(f"fold {fold} not in {tv_path} (folds: {', '.join(sorted(set(folds['fold'])))})")
        parts = self.read_parts({"train_valid": tv_path, "test": g.parts[("test", None)]}, format="pykt")
        valid_ids = folds.loc[folds["fold"] == str(fold), "uid"].to_numpy()
        train_ids = folds.loc[folds["fold"] != str(fold), "uid"].to_numpy()
        tv = parts["train_valid"]
        return Split(train=tv.select_learners(train_ids), valid=tv.select_learners(valid_ids),
                     test=parts["test"], fold=fold)

    def pykt_folds(self, *, stem: str | None = None) -> list[int]:
        g = self.group(stem)
        folds = pd.read_csv(g.parts[("train_valid", None)], usecols=["fold"])
        return sorted(int(f) for f in folds["fold"].unique())


def _overlap_problems(shared: pd.DataFrame, paths: dict[str, Path]) -> list[str]:
    """One problem per pair of parts that share learners, naming some of the ids and both files."""
    problems = []
    by_learner = shared.groupby("learner", sort=False)["_part"].agg(tuple)
    for pair, ids in by_learner.groupby(by_learner, sort=False):
        names = " and ".join(f"{part} ({paths[part].name})" for part in pair)
        shown = ", ".join(shorten(x, 20) for x in ids.index[:5])
        more = f", …; {len(ids)} in all" if len(ids) > 5 else ""
        problems.append(f"the same learner ids are in {names}: a learner must be in one part only "
                        f"(learners {shown}{more})")
    return problems
