"""Readers for the response formats people actually have, with format auto-detection.

Every reader turns a file into a long table (`learner, item, skill, correct[, timestamp, order]`)
that `Responses.from_frame` validates; so the rules (0/1 answers, multi-skill merging) live in one place.

Formats:
    long     one response per row: delimited text (`,` `;` tab `|`, sniffed or given), Parquet, Arrow,
             JSON Lines or a JSON array of records, .xlsx (with openpyxl); columns mapped automatically
             or by `columns`
    lines3   DKT/DKVMN 3-line: header (`index,user` or a length), ids, answers
    lines4   AKT `_pid` 4-line: header, problem ids, skill ids, answers
    pykt     pyKT sequence CSV: `fold, uid, [questions,] concepts, responses` (also `test.csv`)

Any of them may be compressed (gzip, bz2, xz, or a zip holding one file); what a file is comes from its
bytes, not its name. Files larger than memory: `metatutor.data.cache.ResponseCache` (chunked, on disk).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from metatutor.data.columns import ALIASES, map_columns
from metatutor.data.delimited import read_delimited, read_json_records, read_workbook, sniff_delimiter
from metatutor.data.responses import Responses
from metatutor.data.sources import Source, decode_text, detect_format, open_source, split_fields
from metatutor.errors import InvalidResponsesError, describe_positions

__all__ = ["ALIASES", "FORMATS", "detect_format", "lines_frame", "map_columns", "pykt_frame", "read_frame",
           "read_responses"]

FORMATS = ("long", "lines3", "lines4", "pykt")


def read_responses(
    path: str | Path,
    *,
    format: str | None = None,
    columns: dict[str, str] | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> Responses:
    """Read a file, or every learner of a dataset folder, into `Responses`.

    Args:
        path: a file (compressed or not), a folder of a dataset (fold files, `train`/`test` files or pyKT
            files), or a response cache written by `ResponseCache.build`.
        format: one of `FORMATS`; detected from the content when None.
        columns: for the long format, `{"learner": "stu", ...}` naming the source columns.
        encoding: the text encoding; UTF-8 (with or without BOM) when None.
        delimiter: the field delimiter of delimited text; sniffed among `, ; tab |` when None.
    """
    p = Path(path)
    if p.is_dir():
        from metatutor.data.cache import is_cache

        if is_cache(p):
            from metatutor.data.cache import ResponseCache

            return ResponseCache(p).responses()
        from metatutor.data.folders import DatasetFolder

        return DatasetFolder(p).all_responses(format=format, columns=columns, delimiter=delimiter)
    frame = read_frame(p, format=format, columns=columns, encoding=encoding, delimiter=delimiter)
    return Responses.from_frame(frame, source=str(p))


def read_frame(
    path: Path,
    *,
    format: str | None = None,
    columns: dict[str, str] | None = None,
    encoding: str | None = None,
    learner_prefix: str = "",
    delimiter: str | None = None,
) -> pd.DataFrame:
    """The long table of one file, before validation (see module docstring for the formats)."""
    if not path.exists():
        raise InvalidResponsesError([f"no such file: {path}"])
    if path.is_dir():
        raise InvalidResponsesError([f"{path} is a folder, not a file"])
    if format is not None and format not in FORMATS:
        raise InvalidResponsesError([f"unknown format {format!r}; use one of {', '.join(FORMATS)}"], source=str(path))
    if path.suffix.lower() in (".parquet", ".pq") and format in (None, "long"):
        return map_columns(pd.read_parquet(path), columns, source=str(path))  # read in place, not into bytes first
    src = open_source(path)
    if src.kind != "text":
        if format not in (None, "long"):
            raise InvalidResponsesError([f"a {src.kind} file is in the long format, not {format!r}"], source=str(path))
        return map_columns(table_frame(src), columns, source=str(path))
    text = decode_text(src, encoding=encoding)
    sep = delimiter or sniff_delimiter(text, name=src.name)
    fmt = format or (detect_format(text, name=src.name) if sep == "," else "long")
    if fmt == "long":
        return map_columns(read_delimited(text, delimiter=sep, source=str(path)), columns, source=str(path))
    if fmt == "pykt":
        return pykt_frame(read_delimited(text, delimiter=sep, source=str(path)), source=str(path))
    return lines_frame(text, n_lines=3 if fmt == "lines3" else 4, source=str(path), learner_prefix=learner_prefix)


def table_frame(src: Source) -> pd.DataFrame:
    """The table of a file that is not delimited text: Parquet, Arrow, JSON or a workbook."""
    where = str(src.path)
    if src.kind == "parquet":
        return pd.read_parquet(io.BytesIO(src.data))
    if src.kind == "arrow":
        import pyarrow as pa

        return pa.ipc.open_file(pa.py_buffer(src.data)).read_all().to_pandas()
    if src.kind == "json":
        return read_json_records(decode_text(src), source=where)
    return read_workbook(src.data, kind=src.kind, source=where)


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
        head = split_fields(lines[base])
        fields = [split_fields(lines[base + j]) for j in range(1, n_lines)]
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
