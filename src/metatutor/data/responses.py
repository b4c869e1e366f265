"""`Responses`: the one validated, immutable table of learner responses.

Glossary for shapes: N responses, L learners, I items, S skills, Z skill links (sum of skills per response).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Self

import numpy as np
import pandas as pd

from metatutor.errors import InvalidResponsesError, describe_positions, shorten

REQUIRED = ("learner", "item", "correct")
OPTIONAL = ("skill", "timestamp", "order")


@dataclass(frozen=True, eq=False)
class Responses:
    """Learner responses, grouped by learner and in each learner's order.

    Build one with `Responses.from_frame` or `Responses.read`; every other function trusts it.
    Ids are kept as strings in vocabularies (`learner_ids`, `item_ids`, `skill_ids`); the per-row
    arrays hold integer codes into them, so subsets of one dataset share their vocabularies.
    A response may carry several skills (compressed rows: `skill_ptr`, `skill`).

    Example:
        >>> df = pd.DataFrame({"learner": ["a", "a"], "item": ["q1", "q2"], "skill": ["s", "s"],
        ...                    "correct": [1, 0]})
        >>> r = Responses.from_frame(df)
        >>> len(r), r.n_learners
        (2, 1)
    """

    learner: np.ndarray  # (N,) int64 codes, non-decreasing
    item: np.ndarray  # (N,) int64 codes
    correct: np.ndarray  # (N,) int8 in {0, 1}
    skill_ptr: np.ndarray  # (N+1,) int64 offsets into `skill`
    skill: np.ndarray  # (Z,) int64 skill codes
    timestamp: np.ndarray | None  # (N,) float64 seconds, or None when the source had no times
    learner_ids: np.ndarray  # (L,) str
    item_ids: np.ndarray  # (I,) str
    skill_ids: np.ndarray  # (S,) str
    merged_rows: int = 0  # input rows folded into another response (multi-skill expansion)
    _starts: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("learner", "item", "correct", "skill_ptr", "skill"):
            getattr(self, name).setflags(write=False)
        n = len(self.learner)
        change = np.flatnonzero(np.diff(self.learner)) + 1 if n else np.zeros(0, dtype=np.int64)
        starts = np.concatenate([[0], change, [n]]).astype(np.int64) if n else np.array([0], np.int64)
        object.__setattr__(self, "_starts", starts)

    # ----- construction -------------------------------------------------------------------
    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, source: str | None = None, merge_multiskill: bool = True) -> Self:
        """Validate a long table and build `Responses`.

        Columns: `learner`, `item`, `correct` (0/1) are required; `skill` (one id, a list of ids,
        or ids joined by `~~`), `timestamp` (seconds or date-times) and `order` are optional.
        Rows are sorted by learner (first appearance), then `order`, then `timestamp`, keeping file
        order for ties. Consecutive rows that repeat the same item, response and time under
        another skill become one response with several skills.
        """
        problems: list[str] = []
        missing = [c for c in REQUIRED if c not in frame.columns]
        if missing:
            raise InvalidResponsesError(
                [f"missing column(s) {', '.join(missing)}; found {', '.join(map(str, frame.columns))}"],
                source=source,
            )
        if len(frame) == 0:
            raise InvalidResponsesError(["no responses (the table is empty)"], source=source)
        df = frame.reset_index(drop=True)
        learner = _id_column(df["learner"], "learner", problems)
        item = _id_column(df["item"], "item", problems)
        correct = _correct_column(df["correct"], problems)
        ts = _timestamp_column(df["timestamp"], problems) if "timestamp" in df.columns else None
        order = None
        if "order" in df.columns:
            order = pd.to_numeric(df["order"], errors="coerce")
            bad = np.flatnonzero(order.isna().to_numpy())
            if len(bad):
                problems.append(f"column 'order' must be a number ({describe_positions(bad + 2)})")
        if problems:
            raise InvalidResponsesError(problems, source=source)

        skills = df["skill"] if "skill" in df.columns else pd.Series([None] * len(df))
        long = pd.DataFrame({"learner": learner, "item": item, "correct": correct, "pos": np.arange(len(df))})
        if ts is not None:
            long["timestamp"] = ts
        if order is not None:
            long["order"] = order.to_numpy()
        long["skill"] = skills.to_numpy()
        long["src"] = np.arange(len(long))
        long = _explode_skills(long).drop_duplicates(["src", "skill"])
        return cls._from_long(long, merge_multiskill=merge_multiskill)

    @classmethod
    def _from_long(cls, long: pd.DataFrame, *, merge_multiskill: bool,
                   vocabularies: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> Self:
        """Sort, merge multi-skill expansions and encode. `long` has one skill (or None) per row.

        With `vocabularies` (learner, item and skill ids), `learner`, `item` and `skill` already hold codes
        into them (skill: a float code, NaN for none) and the result keeps those very arrays as its
        vocabularies (a response cache's batches share one vocabulary this way)."""
        learner_ids: Any
        item_ids: Any
        skill_ids: Any
        if vocabularies is None:
            lcodes, learner_ids = pd.factorize(long["learner"], sort=False)
        else:
            lcodes, learner_ids = long["learner"].to_numpy(dtype=np.int64), vocabularies[0]
        long = long.assign(lcode=lcodes)
        keys = ["lcode"] + [c for c in ("order", "timestamp") if c in long.columns] + ["pos"]
        long = long.sort_values(keys, kind="stable").reset_index(drop=True)
        has_ts = "timestamp" in long.columns

        same = (long["lcode"].to_numpy()[1:] == long["lcode"].to_numpy()[:-1]) & (
            long["item"].to_numpy()[1:] == long["item"].to_numpy()[:-1]
        )
        same &= long["correct"].to_numpy()[1:] == long["correct"].to_numpy()[:-1]
        if has_ts:
            t = long["timestamp"].to_numpy()
            same &= (t[1:] == t[:-1]) | (np.isnan(t[1:]) & np.isnan(t[:-1]))
        sk = long["skill"].to_numpy()
        sk_present = pd.notna(sk)
        same &= sk_present[1:] & sk_present[:-1] & (sk[1:] != sk[:-1])
        if "order" in long.columns:
            o = long["order"].to_numpy()
            # rows with distinct order ids are distinct attempts, except a shared order id
            same &= o[1:] == o[:-1]
        if not merge_multiskill:
            same[:] = False
        if "src" in long.columns:
            src = long["src"].to_numpy()
            same |= src[1:] == src[:-1]  # skills of one input row always form one response
        group = np.concatenate([[0], np.cumsum(~same)])
        occ = pd.DataFrame({"g": group, "s": sk}).groupby(["g", "s"], sort=False, dropna=False).cumcount().to_numpy()
        long = long.assign(g=group, occ=occ).sort_values(["g", "occ", "pos"], kind="stable")
        g_occ = long["g"].to_numpy(dtype=np.int64) * (int(occ.max(initial=0)) + 1) + long["occ"].to_numpy(np.int64)
        rid = pd.factorize(g_occ, sort=False)[0]  # one id per (group, occurrence) pair, in order of appearance
        first = np.concatenate([[True], rid[1:] != rid[:-1]])
        heads = long[first]
        n = int(first.sum())

        skill_rows = long["skill"].notna().to_numpy()
        if vocabularies is None:
            icodes, item_ids = pd.factorize(heads["item"], sort=False)
            scodes, skill_ids = pd.factorize(long["skill"][skill_rows], sort=False)
        else:
            icodes, item_ids = heads["item"].to_numpy(dtype=np.int64), vocabularies[1]
            scodes, skill_ids = long["skill"][skill_rows].to_numpy().astype(np.int64), vocabularies[2]
        srid = rid[skill_rows]
        pair = pd.DataFrame({"r": srid, "s": scodes}).drop_duplicates()
        counts = np.bincount(pair["r"].to_numpy(), minlength=n)
        skill_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        timestamp = heads["timestamp"].to_numpy(dtype=np.float64) if has_ts else None
        if timestamp is not None and (np.all(np.isnan(timestamp)) or np.all(timestamp == 0)):
            timestamp = None
        return cls(
            learner=heads["lcode"].to_numpy(dtype=np.int64),
            item=icodes.astype(np.int64),
            correct=heads["correct"].to_numpy(dtype=np.int8),
            skill_ptr=skill_ptr,
            skill=pair["s"].to_numpy(dtype=np.int64),
            timestamp=timestamp,
            learner_ids=_id_array(learner_ids, keep=vocabularies is not None),
            item_ids=_id_array(item_ids, keep=vocabularies is not None),
            skill_ids=_id_array(skill_ids, keep=vocabularies is not None),
            merged_rows=(int(long["src"].nunique()) if "src" in long.columns else len(long)) - n,
        )

    @classmethod
    def read(cls, path: str, *, format: str | None = None, columns: dict[str, str] | None = None,
             delimiter: str | None = None, encoding: str | None = None) -> Self:
        """Read a file or dataset folder in any supported format (see `metatutor.data.readers`)."""
        from metatutor.data.readers import read_responses

        return read_responses(path, format=format, columns=columns, delimiter=delimiter,  # type: ignore[return-value]
                              encoding=encoding)

    # ----- sizes ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.learner)

    @property
    def n_learners(self) -> int:
        return len(self._starts) - 1 if len(self) else 0

    @property
    def n_items(self) -> int:
        return len(np.unique(self.item))

    @property
    def n_skills(self) -> int:
        return len(np.unique(self.skill))

    @property
    def starts(self) -> np.ndarray:
        """(L+1,) offsets: learner j's rows are `starts[j]:starts[j+1]` (j counts learners present)."""
        return self._starts

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self._starts)

    @property
    def order(self) -> np.ndarray:
        """(N,) position of each response within its learner's sequence, from 0."""
        return np.arange(len(self)) - np.repeat(self._starts[:-1], self.lengths)

    @property
    def n_skills_per_response(self) -> np.ndarray:
        return np.diff(self.skill_ptr)

    def skill_rows(self) -> np.ndarray:
        """(Z,) the response index of each skill link."""
        return np.repeat(np.arange(len(self)), self.n_skills_per_response)

    def skills_of(self, row: int) -> list[str]:
        return [str(self.skill_ids[s]) for s in self.skill[self.skill_ptr[row] : self.skill_ptr[row + 1]]]

    # ----- subsets -------------------------------------------------------------------------
    def select_learners(self, learners: Iterable[str] | np.ndarray) -> Responses:
        """The responses of some learners (by id), keeping vocabularies and each learner's order."""
        wanted = pd.Index(self.learner_ids).get_indexer(pd.Index([str(x) for x in learners]))
        keep = np.isin(self.learner, wanted[wanted >= 0])
        return self.select_rows(keep)

    def select_rows(self, keep: np.ndarray) -> Responses:
        """Keep the rows where `keep` is True (a boolean mask of length N)."""
        keep = np.asarray(keep, dtype=bool)
        counts = np.diff(self.skill_ptr)[keep]
        link_keep = np.repeat(keep, np.diff(self.skill_ptr))
        return Responses(
            learner=self.learner[keep],
            item=self.item[keep],
            correct=self.correct[keep],
            skill_ptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            skill=self.skill[link_keep],
            timestamp=None if self.timestamp is None else self.timestamp[keep],
            learner_ids=self.learner_ids,
            item_ids=self.item_ids,
            skill_ids=self.skill_ids,
        )

    def with_learner_prefix(self, prefix: str) -> Responses:
        """The same responses with every learner id prefixed: a namespace saying that these learners are
        not the ones who share their ids elsewhere (another dataset's, or a model's training learners).

        Example:
            >>> r = Responses.from_frame(pd.DataFrame({"learner": ["7"], "item": ["q"], "correct": [1]}))
            >>> list(r.with_learner_prefix("school-b:").learners_present())
            ['school-b:7']
        """
        ids = np.asarray([f"{prefix}{x}" for x in self.learner_ids], dtype=object)
        return replace(self, learner_ids=ids)

    def learners_present(self) -> np.ndarray:
        """Ids of the learners that have rows, in row order."""
        return self.learner_ids[self.learner[self._starts[:-1]]] if len(self) else np.array([], dtype=object)

    def first_k(self, k: int) -> Responses:
        """Each learner's first k responses."""
        return self.select_rows(self.order < k)

    # ----- export --------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """A long table with string ids; several skills are joined by `~~`."""
        rows = self.skill_rows()
        names = pd.Series(self.skill_ids[self.skill], dtype=object)
        joined = names.groupby(rows).agg("~~".join).reindex(range(len(self)), fill_value="")
        out = pd.DataFrame(
            {
                "learner": self.learner_ids[self.learner],
                "item": self.item_ids[self.item],
                "skill": joined.to_numpy(),
                "correct": self.correct.astype(np.int64),
                "order": self.order,
            }
        )
        if self.timestamp is not None:
            out["timestamp"] = self.timestamp
        return out

    @staticmethod
    def concat(parts: Sequence[Responses]) -> Responses:
        """Join response tables of different learners into one with merged vocabularies."""
        first = parts[0]
        if all(
            p.item_ids is first.item_ids and p.skill_ids is first.skill_ids and p.learner_ids is first.learner_ids
            for p in parts
        ):
            return Responses(
                learner=np.concatenate([p.learner for p in parts]),
                item=np.concatenate([p.item for p in parts]),
                correct=np.concatenate([p.correct for p in parts]),
                skill_ptr=np.concatenate([[0]] + [p.skill_ptr[1:] + off for p, off in
                                                  zip(parts, np.cumsum([0] + [len(p.skill) for p in parts]),
                                                      strict=False)]).astype(np.int64),
                skill=np.concatenate([p.skill for p in parts]),
                timestamp=None if any(p.timestamp is None for p in parts)
                else np.concatenate([p.timestamp for p in parts if p.timestamp is not None]),
                learner_ids=first.learner_ids,
                item_ids=first.item_ids,
                skill_ids=first.skill_ids,
            )
        frames = [p.to_frame() for p in parts]
        return Responses.from_frame(pd.concat(frames, ignore_index=True), merge_multiskill=False)


def _id_array(ids: Any, *, keep: bool) -> np.ndarray:
    """A vocabulary as an object array of str; a given vocabulary is kept as the very same array."""
    if keep and isinstance(ids, np.ndarray):
        return ids
    return np.asarray(ids, dtype=object).astype(str).astype(object)


def codes_for(ids: np.ndarray, vocabulary: np.ndarray | pd.Index) -> np.ndarray:
    """Map ids to positions in `vocabulary`; -1 where an id is not in it."""
    return pd.Index(vocabulary).get_indexer(pd.Index(ids))


def _id_column(col: pd.Series, name: str, problems: list[str]) -> np.ndarray:
    values = col.astype(object)
    bad = values.isna() | (values.astype(str).str.strip() == "")
    if bad.any():
        problems.append(f"column '{name}' is empty ({describe_positions(np.flatnonzero(bad.to_numpy()) + 2)})")
    return _as_id_strings(values)


def _as_id_strings(values: pd.Series) -> np.ndarray:
    """String ids; integral floats (`12.0`, a pandas artefact of missing values) lose the `.0`."""
    if pd.api.types.is_float_dtype(values.dtype) or values.map(lambda v: isinstance(v, float)).any():
        num = pd.to_numeric(values, errors="coerce")
        integral = num.notna() & (num == np.floor(num.fillna(0)))
        out = values.astype(str)
        out[integral] = num[integral].astype(np.int64).astype(str)
        return out.to_numpy(dtype=object)
    return values.astype(str).str.strip().to_numpy(dtype=object)


def _correct_column(col: pd.Series, problems: list[str]) -> np.ndarray:
    if col.dtype == bool:
        return col.to_numpy(dtype=np.int8)
    text = col.astype(str).str.strip().str.lower()
    mapped = text.map({"true": 1.0, "false": 0.0})
    num = pd.to_numeric(col, errors="coerce").astype(float).fillna(mapped.astype(float))
    bad = ~num.isin([0.0, 1.0])
    if bad.any():
        rows = np.flatnonzero(bad.to_numpy())
        problems.append(f"column 'correct' must be 0 or 1, found {_examples(col, rows)} ({describe_positions(rows + 2)})")
    return num.fillna(0).to_numpy(dtype=np.int8)


def _timestamp_column(col: pd.Series, problems: list[str]) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(col.dtype):  # a typed date-time column (Parquet, Excel): not numbers
        parsed = pd.to_datetime(col, utc=True)
        return (parsed - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds().to_numpy(dtype=np.float64)
    num = pd.to_numeric(col, errors="coerce")
    present = col.notna() & (col.astype(str).str.strip() != "")
    if 2 * num.notna().sum() >= present.sum():  # numbers (seconds); the cells that are not are the problems
        bad = present & num.isna()
        if bad.any():
            rows = np.flatnonzero(bad.to_numpy())
            problems.append(f"column 'timestamp' must be a number like most of it, found {_examples(col, rows)} "
                            f"({describe_positions(rows + 2)})")
        return num.to_numpy(dtype=np.float64)
    parsed = pd.to_datetime(col.where(present), errors="coerce", utc=True, format="mixed")
    bad = parsed.isna() & present
    if bad.any():
        rows = np.flatnonzero(bad.to_numpy())
        problems.append(f"column 'timestamp' is neither a number nor a date-time, found {_examples(col, rows)} "
                        f"({describe_positions(rows + 2)})")
    seconds = (parsed - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds()
    return seconds.to_numpy(dtype=np.float64)


def _examples(col: pd.Series, rows: np.ndarray) -> str:
    """Up to three distinct offending values, each cut short."""
    shown = {"an empty cell" if v is None or (isinstance(v, float) and np.isnan(v)) else repr(shorten(v, 20))
             for v in col.iloc[rows[:50]].tolist()}
    return ", ".join(sorted(shown)[:3])


def _explode_skills(long: pd.DataFrame) -> pd.DataFrame:
    """One skill per row: lists are exploded and strings split on `~~`; blanks become None."""
    sk = long["skill"]
    if sk.map(lambda v: isinstance(v, (list, tuple, np.ndarray))).any():
        return long.assign(skill=sk.map(_skill_list)).explode("skill", ignore_index=True)
    text = pd.Series(_as_id_strings(sk.astype(object)), index=sk.index, dtype=object)
    text = text.where(sk.notna().to_numpy(), None)
    if text.dropna().str.contains("~~", regex=False).any():
        text = text.str.split("~~")
        long = long.assign(skill=text).explode("skill", ignore_index=True)
        text = long["skill"]
    text = text.astype(object).where(text.notna(), None).str.strip()
    text = text.where(text.notna() & (text != ""), None)
    return long.assign(skill=text.to_numpy())


def _skill_list(value: Any) -> list[str | None]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return [None]
    if isinstance(value, (list, tuple, np.ndarray)):
        out = [_skill_text(v) for v in value]
        return [v for v in out if v is not None] or [None]
    text = _skill_text(value)
    if text is None:
        return [None]
    parts = [p.strip() for p in text.split("~~")]
    return [p for p in parts if p] or [None]


def _skill_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None
