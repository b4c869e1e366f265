"""Tables from text and workbooks: delimited text (the delimiter sniffed among `, ; tab |` or given), JSON
records (JSON Lines or an array of objects) and .xlsx sheets (with openpyxl, when installed). Every error
names the lines it concerns and what was expected there, and quotes at most a few characters of them."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import logging
import warnings
from typing import Any

import pandas as pd

from metatutor.errors import ConfigError, InvalidResponsesError, describe_positions, shorten

log = logging.getLogger(__name__)

DELIMITERS = (",", ";", "\t", "|")
_NAMED = {"comma": ",", "semicolon": ";", "tab": "\t", "\\t": "\t", "pipe": "|", "space": " "}


def parse_delimiter(option: str | None) -> str | None:
    """A `--delimiter` value: one character, or `tab`, `comma`, `semicolon`, `pipe`, `space`, `\\t`."""
    if option is None or option == "":
        return None
    value = _NAMED.get(option.strip().lower(), option)
    if len(value) != 1 or value in "\"\r\n":
        raise ConfigError(f"--delimiter takes one character (or tab, comma, semicolon, pipe), not {option!r}")
    return value


def describe_delimiter(delimiter: str) -> str:
    return {"\t": "tab", " ": "space"}.get(delimiter, repr(delimiter))


def sniff_delimiter(text: str, *, name: str = "") -> str:
    """The delimiter among `, ; tab |` that splits the header into most fields while splitting the next
    lines into as many (quotes respected); `,` when none splits the header."""
    lines = [ln for ln in text[:65536].splitlines()[:64] if ln.strip()]
    best, best_key = ",", (-1.0, 0, 0)
    for d in DELIMITERS:
        rows = [r for r in csv.reader(lines, delimiter=d) if r]
        if not rows or len(rows[0]) < 2:
            continue
        n = len(rows[0])
        agree = sum(len(r) == n or (len(r) > n and not any(x.strip() for x in r[n:])) for r in rows) / len(rows)
        prefer = 1 if (d == "\t" and name.lower().endswith(".tsv")) else 0
        key = (round(agree, 2), prefer, n)  # consistency first, then the file's suffix, then fields; then order
        if key > best_key:
            best, best_key = d, key
    return best


def read_delimited(text: str, *, delimiter: str, source: str | None = None) -> pd.DataFrame:
    """A delimited table with string cells; lines with another number of fields than the header are errors."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=True, index_col=False,
                                low_memory=False)
    except (pd.errors.ParserError, pd.errors.ParserWarning, csv.Error, ValueError) as exc:
        problems = ragged_lines(text, delimiter=delimiter)
        raise InvalidResponsesError(problems or [f"not a well-formed table: {shorten(exc, 120)}"],
                                    source=source) from None
    if len(frame.columns) > 1 and frame.iloc[:, -1].isna().any():  # maybe lines with fewer fields than the header
        problems = ragged_lines(text, delimiter=delimiter)
        if problems:
            raise InvalidResponsesError(problems, source=source)
    return frame


def ragged_lines(text: str, *, delimiter: str) -> list[str]:
    """One problem naming the lines whose number of fields differs from the header's (an empty trailing
    field, as in `a,b,c,`, is not a difference)."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header: list[str] | None = None
    bad: list[tuple[int, int]] = []
    start = 1
    try:
        for row in reader:
            line, start = start, reader.line_num + 1
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if header is None:
                header = row
                continue
            n = len(header)
            if len(row) != n and not (len(row) > n and not any(x.strip() for x in row[n:])):
                bad.append((line, len(row)))
    except csv.Error as exc:
        return [f"line {start}: {shorten(exc, 80)}"]
    if header is None or not bad:
        return []
    shown = ", ".join(f"line {line} has {k}" for line, k in bad[:5])
    more = f", …; {len(bad)} lines in all" if len(bad) > 5 else ""
    hint = ""
    if len(bad) > len(header) and len(bad) >= 3:
        hint = f"; is {describe_delimiter(delimiter)} the delimiter? (give it with --delimiter)"
    return [f"every line must have {len(header)} fields like the header ({shorten(delimiter.join(header), 60)}): "
            f"{shown}{more}{hint}"]


def read_json_records(text: str, *, source: str | None = None) -> pd.DataFrame:
    """Records from JSON Lines (one object per line) or a JSON array of objects (also `{"key": [objects]}`
    or an object of equal-length columns); nested objects become `a.b` columns."""
    records: Any
    try:
        records = json.loads(text)
    except json.JSONDecodeError as exc:
        if text.lstrip().startswith("["):
            lines = text.splitlines()
            line = lines[exc.lineno - 1] if 0 < exc.lineno <= len(lines) else ""
            near = line[max(0, exc.colno - 20) : exc.colno + 20]
            raise InvalidResponsesError(
                [f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno} (near {shorten(near)!r}); "
                 "expected an array of objects, one per response"], source=source) from None
        records = _json_lines(text, source=source)
    if isinstance(records, dict):
        lists = [v for v in records.values() if isinstance(v, list)]
        if len(records) == 1 and lists and all(isinstance(r, dict) for r in lists[0]):
            records = lists[0]
        elif lists and len(lists) == len(records) and len({len(v) for v in lists}) == 1:
            return pd.DataFrame(records)
        else:
            records = [records]
    if not isinstance(records, list):
        raise InvalidResponsesError([f"expected JSON objects, one per response; found a {type(records).__name__}"],
                                    source=source)
    bad = [i + 1 for i, r in enumerate(records) if not isinstance(r, dict)]
    if bad:
        raise InvalidResponsesError(
            [f"every element of the JSON array must be an object with the response's fields "
             f"({describe_positions(bad, noun='elements')} are not)"], source=source)
    if not records:
        raise InvalidResponsesError(["no responses (the JSON holds no records)"], source=source)
    return pd.json_normalize(records)


def _json_lines(text: str, *, source: str | None) -> list[dict[str, Any]]:
    out, bad, first_error = [], [], ""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            bad.append(number)
            first_error = first_error or f"line {number}: {exc.msg} at column {exc.colno}"
            continue
        if not isinstance(value, dict):
            bad.append(number)
            first_error = first_error or f"line {number} holds a {type(value).__name__}, not an object"
            continue
        out.append(value)
    if bad:
        raise InvalidResponsesError(
            [f"JSON Lines must hold one JSON object per line ({describe_positions(bad, noun='lines')} do not; "
             f"{first_error})"], source=source)
    return out


def read_workbook(data: bytes, *, kind: str, source: str | None = None) -> pd.DataFrame:
    """The first non-empty sheet of an .xlsx workbook (needs openpyxl)."""
    if kind == "xls":
        raise InvalidResponsesError(["an old Excel .xls workbook: save it as .xlsx or CSV"], source=source)
    if importlib.util.find_spec("openpyxl") is None:
        raise InvalidResponsesError(
            ["an Excel workbook (.xlsx): reading it needs openpyxl, which is not installed "
             "(pip install openpyxl, or pip install 'metatutor[excel]'); or save the sheet as CSV"], source=source)
    sheets = pd.read_excel(io.BytesIO(data), sheet_name=None)
    filled = {name: df for name, df in sheets.items() if len(df.columns) and len(df)}
    if not filled:
        raise InvalidResponsesError(["the workbook's sheets are empty"], source=source)
    name = next(iter(filled))
    if len(filled) > 1:
        log.info("%s: reading sheet %r of %d (%s)", source, name, len(filled), ", ".join(map(str, filled)))
    return filled[name]
