"""Readers for the response formats people actually have, with format auto-detection.

Every reader turns a file into a long table (`learner, item, skill, correct[, timestamp, order]`)
that `Responses.from_frame` validates; so the rules (0/1 answers, multi-skill merging) live in one place.

Formats:
    long     CSV/TSV/Parquet, one response per row, columns mapped automatically or by `columns`
    lines3   DKT/DKVMN 3-line: header (`index,user` or a length), ids, answers
    lines4   AKT `_pid` 4-line: header, problem ids, skill ids, answers
    pykt     pyKT sequence CSV: `fold, uid, [questions,] concepts, responses` (also `test.csv`)
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from metatutor.data.responses import Responses
from metatutor.errors import InvalidResponsesError, describe_positions

FORMATS = ("long", "lines3", "lines4", "pykt")

# Column names seen in public datasets, in order of preference, for each of our fields.
ALIASES: dict[str, tuple[str, ...]] = {
    "learner": ("learner", "learner_id", "user_id", "anon student id", "student_id", "studentid", "student",
                "uid", "user"),
    "item": ("item", "item_id", "problem_id", "problem name", "question_id", "question", "problem", "itemid"),
    "skill": ("skill", "skill_id", "skills", "kc(default)", "kc", "concept", "concepts", "knowledge_component",
              "skill_name"),
    "correct": ("correct", "correct first attempt", "is_correct", "correctness", "outcome_correct", "response"),
    "timestamp": ("timestamp", "first transaction time", "step start time", "start_time", "time", "date",
                  "ms_first_response"),
    "order": ("order", "order_id", "row"),
}


def read_responses(
    path: str | Path,
    *,
    format: str | None = None,
    columns: dict[str, str] | None = None,
    encoding: str | None = None,
) -> Responses:
    """Read a file, or every learner of a dataset folder, into `Responses`.

    Args:
        path: a file, or a folder of a dataset (fold files, `train`/`test` files or pyKT files).
        format: one of `FORMATS`; detected from the content when None.
        columns: for the long format, `{"learner": "stu", ...}` naming the source columns.
        encoding: the text encoding; UTF-8 (with or without BOM) when None.
    """
    p = Path(path)
    if p.is_dir():
        from metatutor.data.folders import DatasetFolder

        return DatasetFolder(p).all_responses(format=format, columns=columns)
    return Responses.from_frame(read_frame(p, format=format, columns=columns, encoding=encoding), source=str(p))


def read_frame(
    path: Path,
    *,
    format: str | None = None,
    columns: dict[str, str] | None = None,
    encoding: str | None = None,
    learner_prefix: str = "",
) -> pd.DataFrame:
    """The long table of one file, before validation (see module docstring for the formats)."""
    if not path.exists():
        raise InvalidResponsesError([f"no such file: {path}"])
    if path.suffix.lower() in (".parquet", ".pq"):
        if format not in (None, "long"):
            raise InvalidResponsesError([f"a Parquet file is in the long format, not {format!r}"], source=str(path))
        return map_columns(pd.read_parquet(path), columns, source=str(path))
    text = read_text(path, encoding=encoding)
    fmt = format or detect_format(text, name=path.name)
    if fmt not in FORMATS:
        raise InvalidResponsesError([f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}"], source=str(path))
    if fmt == "long":
        return map_columns(_read_delimited(text, path), columns, source=str(path))
    if fmt == "pykt":
        return pykt_frame(_read_delimited(text, path), source=str(path))
    return lines_frame(text, n_lines=3 if fmt == "lines3" else 4, source=str(path), learner_prefix=learner_prefix)


def read_text(path: Path, *, encoding: str | None = None) -> str:
    raw = path.read_bytes()
    if not raw.strip():
        raise InvalidResponsesError(["the file is empty"], source=str(path))
    if encoding:
        try:
            return raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise InvalidResponsesError([f"cannot decode as {encoding}: {exc}"], source=str(path)) from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InvalidResponsesError(
            [f"unknown text encoding: not UTF-8 (first bad byte on line {line}); "
             "pass the encoding explicitly (for example --encoding latin-1)"],
            source=str(path),
        ) from None


def detect_format(text: str, *, name: str = "") -> str:
    """Guess the format of a text file from its first lines."""
    lines = [ln.strip() for ln in text.splitlines()[:64]]
    first = lines[0].lower() if lines else ""
    if first.replace(" ", "").startswith(("fold,uid", "uid,")) or ("uid" in first and "responses" in first):
        return "pykt"
    nonempty = [ln for ln in lines if ln]
    for n in (4, 3) if "_pid" in name.lower() else (3, 4):
        if _looks_like_lines(nonempty, n):
            return f"lines{n}"
    head = _split_fields(nonempty[0]) if nonempty else []
    second = _split_fields(nonempty[1]) if len(nonempty) > 1 else []
    if 1 <= len(head) <= 2 and _is_number(head[0]) and second and all(_is_number(f) for f in second):
        return "lines4" if "_pid" in name.lower() else "lines3"  # a damaged line file: let its parser say why
    return "long"


def _looks_like_lines(lines: list[str], n: int) -> bool:
    groups = [lines[i : i + n] for i in range(0, len(lines) - n + 1, n)]
    if not groups:
        return False
    for g in groups:
        fields = [_split_fields(x) for x in g]
        if len(fields[0]) > 2 or any(len(f) != len(fields[1]) for f in fields[1:]):
            return False
        if not set(fields[-1]) <= {"0", "1"}:
            return False
    return True


def _split_fields(line: str) -> list[str]:
    return [f.strip() for f in line.strip().rstrip(",").split(",")] if line.strip() else []


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_delimited(text: str, path: Path) -> pd.DataFrame:
    head = text.split("\n", 1)[0]
    sep = "\t" if path.suffix.lower() == ".tsv" or head.count("\t") > head.count(",") else ","
    try:
        return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=True, low_memory=False)
    except (pd.errors.ParserError, csv.Error) as exc:
        raise InvalidResponsesError([f"not a well-formed table: {exc}"], source=str(path)) from None


def map_columns(df: pd.DataFrame, columns: dict[str, str] | None, *, source: str | None = None) -> pd.DataFrame:
    """Rename source columns to ours: explicit `columns` first, then the known aliases."""
    lower = {str(c).strip().lower(): c for c in df.columns}
    chosen: dict[str, str] = {}
    problems = []
    for ours, theirs in (columns or {}).items():
        if ours not in ALIASES:
            problems.append(f"unknown field {ours!r} in the column mapping (fields: {', '.join(ALIASES)})")
        elif theirs not in df.columns:
            problems.append(f"column {theirs!r} (given for {ours}) is not in the file")
        else:
            chosen[ours] = theirs
    if problems:
        raise InvalidResponsesError(problems, source=source)
    for ours, names in ALIASES.items():
        if ours in chosen:
            continue
        for alias in names:
            if alias in lower and lower[alias] not in chosen.values():
                chosen[ours] = lower[alias]
                break
        if ours == "skill" and ours not in chosen:
            kc = [c for c in df.columns if str(c).lower().startswith("kc(")]
            if kc:
                chosen["skill"] = kc[0]
    out = pd.DataFrame({ours: df[theirs] for ours, theirs in chosen.items()})
    if "item" in out.columns and "step name" in lower and chosen["item"] == lower.get("problem name"):
        # DataShop step-level data: a step is the unit that is answered and scored.
        out["item"] = df[chosen["item"]].astype(str) + " / " + df[lower["step name"]].astype(str)
    missing = [c for c in ("learner", "item", "correct") if c not in out.columns]
    if missing:
        raise InvalidResponsesError(
            [f"cannot find a column for {', '.join(missing)} among {', '.join(map(str, df.columns))}; "
             "name them with --columns, e.g. --columns learner=student,item=question,correct=score"],
            source=source,
        )
    if "correct" in out.columns and out["correct"].dtype == object:
        text = out["correct"].astype(str).str.strip().str.lower()
        out["correct"] = out["correct"].where(~text.isin(["correct"]), "1").where(~text.isin(["incorrect", "hint"]), "0")
    return out


def lines_frame(text: str, *, n_lines: int, source: str, learner_prefix: str = "") -> pd.DataFrame:
    """Parse a DKT 3-line or AKT 4-line file; unequal lines and non-0/1 answers are errors."""
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    problems: list[str] = []
    if len(lines) % n_lines:
        problems.append(
            f"{len(lines)} lines is not a multiple of {n_lines}: the last learner (from line "
            f"{len(lines) - len(lines) % n_lines + 1}) is incomplete"
        )
    learners, items, skills, answers, bad_len, bad_ans, bad_head = [], [], [], [], [], [], []
    for g in range(len(lines) // n_lines):
        base = g * n_lines
        head = _split_fields(lines[base])
        fields = [_split_fields(lines[base + j]) for j in range(1, n_lines)]
        if not head or len(head) > 2:
            bad_head.append(base + 1)
            continue
        if any(len(f) != len(fields[0]) for f in fields):
            bad_len.append(base + 1)
            continue
        ans = fields[-1]
        if not set(ans) <= {"0", "1"}:
            bad_ans.append(base + n_lines)
            continue
        learner = head[1] if len(head) == 2 else f"{learner_prefix}{g + 1}"
        learners.extend([learner] * len(ans))
        items.extend(fields[0])
        skills.extend(fields[1] if n_lines == 4 else fields[0])
        answers.extend(ans)
    if bad_head:
        problems.append(f"a learner's first line must be `index,user` or a length ({describe_positions(bad_head, noun='lines')})")
    if bad_len:
        problems.append(f"lines of unequal length for the learner starting at {describe_positions(bad_len, noun='lines')}")
    if bad_ans:
        problems.append(f"answers must be 0 or 1 ({describe_positions(bad_ans, noun='lines')})")
    if problems:
        raise InvalidResponsesError(problems, source=source)
    if not answers:
        raise InvalidResponsesError(["no responses in the file"], source=source)
    return pd.DataFrame(
        {"learner": learners, "item": items, "skill": skills, "correct": np.asarray(answers, dtype=np.int8)}
    )


def pykt_frame(df: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Explode pyKT sequence rows (comma-joined) into a long table; `-1` marks padding."""
    cols = {str(c).strip().lower(): c for c in df.columns}
    if "uid" not in cols or "responses" not in cols or not ({"concepts", "questions"} & cols.keys()):
        raise InvalidResponsesError(
            [f"a pyKT file needs columns uid, concepts or questions, responses; found {', '.join(map(str, df.columns))}"],
            source=source,
        )
    seq = {name: df[cols[name]].astype(str).str.split(",") for name in ("questions", "concepts", "responses",
                                                                          "timestamps") if name in cols}
    lengths = seq["responses"].map(len)
    bad = [i for name, s in seq.items() if name != "responses" for i in np.flatnonzero(s.map(len) != lengths)]
    if bad:
        raise InvalidResponsesError(
            [f"sequences of unequal length ({describe_positions(sorted(set(int(i) + 2 for i in bad)))})"],
            source=source,
        )
    out = pd.DataFrame({"learner": np.repeat(df[cols["uid"]].astype(str).to_numpy(), lengths.to_numpy())})
    for name, s in seq.items():
        out[name] = np.concatenate(s.to_numpy()) if len(s) else []
    out["row"] = np.repeat(np.arange(len(df)) + 2, lengths.to_numpy())
    out = out[out["responses"].str.strip() != "-1"]
    item_col = "questions" if "questions" in out.columns and not (out["questions"] == "NA").all() else "concepts"
    frame = pd.DataFrame(
        {
            "learner": out["learner"].to_numpy(),
            "item": out[item_col].str.strip().to_numpy(),
            "skill": (out["concepts"] if "concepts" in out.columns else out[item_col]).str.strip()
            .str.replace("_", "~~").to_numpy(),
            "correct": out["responses"].str.strip().to_numpy(),
        }
    )
    if "timestamps" in out.columns:
        frame["timestamp"] = pd.to_numeric(out["timestamps"], errors="coerce").to_numpy() / 1000.0
    return frame
