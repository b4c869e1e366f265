"""The learner groups a fairness audit compares: from a learner-attribute file (any column) and the groups
the data itself defines.

A *split* divides the audited learners into groups (a `pandas.Series`: learner id -> group label; a learner
without a value is left out of that split). Built-in splits:

* `history`: length of history, the learners below the median number of answers against the rest;
* `first_answers`: performance on the first `first` answers (at most half right against more than half;
  learners with fewer answers are left out);
* `school`, `class`, `teacher`: where the attribute file has such a column (any spelling:
  `school_id`, `classroom`, `teacher_id`, ...).

Every other column of the attribute file is a split too: its values as groups, or, for a numeric column
with more than `MAX_LEVELS` values, below its median against the rest.

Example:
    >>> from metatutor.data.simulator import Simulator
    >>> r = Simulator(random_state=0).simulate(40, (10, 30))
    >>> sorted(builtin_splits(r))
    ['first_answers', 'history']
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from metatutor.data.responses import Responses
from metatutor.errors import ConfigError, InvalidResponsesError

MAX_LEVELS = 8  # a numeric column with more distinct values is split at its median
PLACES = {"school": ("school", "school_id", "schoolid", "institution"),
          "class": ("class", "class_id", "classid", "classroom", "section"),
          "teacher": ("teacher", "teacher_id", "teacherid")}


def read_attributes(path: str | Path, *, learner_column: str = "learner") -> pd.DataFrame:
    """A learner-attribute table (CSV, TSV, Parquet or JSON lines) indexed by learner id (as text); every
    other column is an attribute. Raises `InvalidResponsesError` naming what is wrong."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        frame = pd.read_parquet(p)
    elif suffix in (".jsonl", ".ndjson"):
        frame = pd.read_json(p, lines=True, dtype=False)
    else:
        frame = pd.read_csv(p, sep="\t" if suffix in (".tsv", ".tab") else None, engine="python", dtype=str)
    if learner_column not in frame.columns:
        raise InvalidResponsesError([f"the attribute file has no column {learner_column!r} "
                                     f"(found {', '.join(map(str, frame.columns))})"], source=str(p))
    ids = frame[learner_column].astype(str).str.strip()
    duplicated = np.flatnonzero(ids.duplicated().to_numpy())
    if len(duplicated):
        from metatutor.errors import describe_positions

        raise InvalidResponsesError([f"learner ids repeat ({describe_positions(duplicated + 2)})"], source=str(p))
    out = frame.drop(columns=[learner_column]).set_axis(pd.Index(ids, name="learner"))
    if out.shape[1] == 0:
        raise InvalidResponsesError(["the attribute file has no attribute column besides the learner id"],
                                    source=str(p))
    return out


def builtin_splits(responses: Responses, *, first: int = 5) -> dict[str, pd.Series]:
    """The splits the data defines (see the module docstring), over the learners present."""
    ids = pd.Index(responses.learners_present().astype(str), name="learner")
    lengths = responses.lengths
    cut = int(np.median(lengths)) if len(lengths) else 0
    history = pd.Series(np.where(lengths < cut, f"< {cut} answers", f"≥ {cut} answers"), index=ids, dtype=object)
    right = np.add.reduceat(responses.correct.astype(np.int64) * (responses.order < first), responses.starts[:-1]) \
        if len(responses) else np.zeros(0, dtype=np.int64)
    half = first // 2
    labels = np.where(right <= half, f"≤ {half} of first {first} right", f"> {half} of first {first} right")
    first_answers = pd.Series(labels, index=ids, dtype=object)[lengths >= first]
    return {"history": history, "first_answers": first_answers}


def attribute_splits(attributes: pd.DataFrame, learners: np.ndarray) -> dict[str, pd.Series]:
    """One split per attribute column, over `learners` (ids); `school`/`class`/`teacher` columns under
    those names whatever their spelling."""
    ids = pd.Index(np.asarray(learners).astype(str), name="learner")
    table = attributes.reindex(ids)
    out: dict[str, pd.Series] = {}
    for column in table.columns:
        values = table[column]
        name = next((k for k, spellings in PLACES.items() if str(column).strip().lower() in spellings), str(column))
        if name in out:
            raise ConfigError(f"two attribute columns are both a {name!r} split; rename one")
        out[name] = _labels(values).dropna()
    return out


def group_splits(responses: Responses, attributes: pd.DataFrame | None = None, *, first: int = 5,
                 include: list[str] | None = None) -> dict[str, pd.Series]:
    """The built-in splits and those of `attributes` (which win on a shared name), optionally only those
    named in `include`; splits with fewer than two groups are dropped."""
    splits = builtin_splits(responses, first=first)
    if attributes is not None:
        splits.update(attribute_splits(attributes, responses.learners_present()))
    if include is not None:
        unknown = sorted(set(include) - set(splits))
        if unknown:
            raise ConfigError(f"no split {', '.join(unknown)}; the data defines {', '.join(sorted(splits))}")
        splits = {k: splits[k] for k in include}
    return {k: v for k, v in splits.items() if v.nunique() >= 2}


def _labels(values: pd.Series) -> pd.Series:
    """Group labels of an attribute: its values, or below/above the median for a many-valued number."""
    present = values.dropna()
    present = present[present.astype(str).str.strip() != ""]
    numeric = pd.to_numeric(present, errors="coerce")
    if len(present) and numeric.notna().all() and numeric.nunique() > MAX_LEVELS:
        cut = float(numeric.median())
        labels = np.where(numeric < cut, f"< {cut:g}", f"≥ {cut:g}")
        return pd.Series(labels, index=present.index, dtype=object).reindex(values.index)
    return present.astype(str).str.strip().astype(object).reindex(values.index)
