"""A long-format log read in chunks with bounded memory: delimited text (sniffed or given delimiter,
compressed or not) through `pyarrow.csv.open_csv`, Parquet through `ParquetFile.iter_batches`, Arrow IPC
files. Each chunk is validated by the rules of `Responses.from_frame` (ids not empty, answers 0/1, times
numbers or date-times, `order` numbers); problems are gathered over the whole file and raised once, naming
rows as the in-memory reader does (row = data row + 2: the line number when the file has a header and no
quoted line breaks). A chunk holds n rows; memory is O(n), whatever the file's size.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from metatutor.data.columns import ANSWER_WORDS, ColumnPlan, plan_columns
from metatutor.data.delimited import describe_delimiter, sniff_delimiter
from metatutor.data.sources import compression_of, detect_format, inner_name, open_binary
from metatutor.errors import InvalidResponsesError, describe_positions, shorten

# pandas' default missing-value markers, so that both readers agree on what an empty cell is
NA_VALUES = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
             "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
_ANSWERS = {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "true": 1, "false": 0} | {k: int(v) for k, v in ANSWER_WORDS.items()}
_ANSWER_KEYS = pa.array(list(_ANSWERS))
_ANSWER_VALUES = np.array(list(_ANSWERS.values()), dtype=np.int8)
STREAMABLE = "delimited text (compressed or not), Parquet or Arrow files in the long format"
LARGE = 256 << 20  # bytes: `metatutor data check` reads files above this in chunks


def streamable(path: str | Path) -> bool:
    """Whether `path` can be read in chunks (a long-format file of a kind `ChunkedLog` reads)."""
    try:
        ChunkedLog(path)
    except InvalidResponsesError as exc:
        return "chunked reading takes" not in str(exc) and "cannot be read in chunks" not in str(exc)
    return True


@dataclass
class Chunk:
    """Validated rows `first_row : first_row + n` of a log (0-based data rows). N rows in the chunk."""

    first_row: int
    learner: pa.Array  # (N,) string or dictionary<string>, trimmed
    item: pa.Array  # (N,) string or dictionary<string>, trimmed
    correct: np.ndarray  # (N,) int8 in {0, 1}
    skill: Skills | None  # each row's skills
    timestamp: np.ndarray | None  # (N,) float64 seconds, NaN where missing
    order: np.ndarray | None  # (N,) float64

    def __len__(self) -> int:
        return len(self.correct)


@dataclass
class Skills:
    """Each row's skills, kept as the distinct skill lists of the chunk and each row's index into them:
    a log has few distinct skill cells, so skill ids are split and trimmed once per distinct cell."""

    lists: pa.ListArray  # (D,) list<string>: trimmed, none empty
    index: pa.Array  # (N,) int32: row r's skills are lists[index[r]]

    def per_row(self) -> pa.ListArray:
        """(N,) list<string>."""
        return self.lists.take(self.index)


@dataclass
class Problems:
    """Problems found so far, each with its first rows and a count, so memory stays bounded."""

    first: dict[str, list[int]] = field(default_factory=dict)
    count: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    skipped_lines: list[int] = field(default_factory=list)  # ragged lines (1-based file lines), the first 10,000
    ragged: list[tuple[int, int]] = field(default_factory=list)  # (line, fields), the first 5
    n_ragged: int = 0
    n_fields: int = 0

    def add(self, key: str, rows: np.ndarray, examples: list[Any] | None = None) -> None:
        """Record `rows` (0-based data rows, increasing) as having problem `key`."""
        if not len(rows):
            return
        shown = self.first.setdefault(key, [])
        shown.extend(int(r) for r in rows[: max(0, 5 - len(shown))])
        self.count[key] = self.count.get(key, 0) + len(rows)
        seen = self.examples.setdefault(key, [])
        for value in examples or []:
            text = "an empty cell" if value is None else repr(shorten(value, 20))
            if text not in seen and len(seen) < 3:
                seen.append(text)

    def add_ragged(self, line: int | None, fields: int) -> None:
        self.n_ragged += 1
        if line is not None and len(self.skipped_lines) < 10_000:
            self.skipped_lines.append(line)
        if len(self.ragged) < 5:
            self.ragged.append((line or 0, fields))

    def __bool__(self) -> bool:
        return bool(self.count) or self.n_ragged > 0

    def messages(self, *, delimiter: str | None = None, header: str = "") -> list[str]:
        out = []
        if self.n_ragged:
            shown = ", ".join(f"line {line} has {k}" for line, k in self.ragged)
            more = f", …; {self.n_ragged} lines in all" if self.n_ragged > 5 else ""
            hint = f"; is {describe_delimiter(delimiter)} the delimiter? (give it with --delimiter)" if (
                delimiter and self.n_ragged >= 3 and not self.count) else ""
            out.append(f"every line must have {self.n_fields} fields like the header ({shorten(header, 60)}): "
                       f"{shown}{more}{hint}")
        skipped = np.array(sorted(self.skipped_lines), dtype=np.int64)
        # a skipped line shifts later data rows: skip j comes right before data row skipped[j] - j - 2
        before = skipped - np.arange(len(skipped)) - 2
        for key, rows in self.first.items():
            arr = np.asarray(rows, dtype=np.int64)
            lines = arr + 2 + np.searchsorted(before, arr, side="right")
            found = f", found {', '.join(self.examples[key])}" if self.examples.get(key) else ""
            total = self.count[key]
            where = describe_positions(lines.tolist()) if total <= 5 else \
                f"rows {', '.join(map(str, lines.tolist()))}, …; {total} in all"
            out.append(f"{key}{found} ({where})")
        return out


class ChunkedLog:
    """A long-format log file read chunk by chunk (see the module docstring).

    Example:
        >>> log = ChunkedLog("big.parquet")                      # doctest: +SKIP
        >>> sum(len(chunk) for chunk in log.chunks())            # doctest: +SKIP
        20000000
    """

    def __init__(self, path: str | Path, *, columns: dict[str, str] | None = None, delimiter: str | None = None,
                 encoding: str | None = None, batch_rows: int = 1 << 20) -> None:
        self.path = Path(path)
        self.source = str(self.path)
        if not self.path.is_file():
            raise InvalidResponsesError([f"no such file: {self.path}"])
        self.columns, self.encoding, self.batch_rows = columns, encoding, batch_rows
        self.delimiter: str | None = delimiter
        self.header = ""
        self.kind = self._kind()
        self.plan: ColumnPlan = plan_columns(self._names(), columns, source=self.source)
        self.rows = 0  # data rows read so far

    # ----- what the file is ----------------------------------------------------------------------
    def _kind(self) -> str:
        compression = compression_of(self.path)
        with open(self.path, "rb") as f:
            head = f.read(8)
        if head.startswith(b"PAR1") or head.startswith(b"ARROW1"):
            return "parquet" if head.startswith(b"PAR1") else "arrow"
        stream, name = open_binary(self.path)
        with stream:
            sample = stream.read(1 << 16)
        if sample.startswith((b"PAR1", b"ARROW1")):
            raise InvalidResponsesError([f"a {compression}-compressed Parquet/Arrow file cannot be read in chunks: "
                                         "decompress it first"], source=self.source)
        if not sample.strip():
            raise InvalidResponsesError(["the file is empty"], source=self.source)
        if sample.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"[", b"{") or sample.startswith(b"PK\x03\x04"):
            raise InvalidResponsesError([f"chunked reading takes {STREAMABLE}; read JSON or workbooks with "
                                         "Responses.read (in memory)"], source=self.source)
        try:
            text = sample.decode(self.encoding or "utf-8-sig", errors="strict" if len(sample) < 1 << 16 else "ignore")
        except (UnicodeDecodeError, LookupError) as exc:
            raise InvalidResponsesError([f"cannot decode the start of the file as {self.encoding or 'UTF-8'}: "
                                         f"{shorten(exc, 80)} (give --encoding)"], source=self.source) from None
        lines = text.splitlines()
        if len(sample) == 1 << 16 and lines:
            lines = lines[:-1] or lines  # the last line of the sample may be cut
        self.delimiter = self.delimiter or sniff_delimiter("\n".join(lines), name=inner_name(self.path) or name)
        if self.delimiter == "," and detect_format("\n".join(lines), name=name) != "long":
            raise InvalidResponsesError([f"chunked reading takes {STREAMABLE}; this file is in "
                                         f"{detect_format(chr(10).join(lines), name=name)} format: read it with "
                                         "Responses.read"], source=self.source)
        self._sample_lines = lines
        return "csv"

    def _names(self) -> list[str]:
        if self.kind == "parquet":
            import pyarrow.parquet as pq

            return list(pq.ParquetFile(self.path).schema_arrow.names)
        if self.kind == "arrow":
            with pa.memory_map(str(self.path)) as f:
                return list(pa.ipc.open_file(f).schema.names)
        first = next((ln for ln in self._sample_lines if ln.strip()), "")
        self.header = first
        return next(csv.reader([first], delimiter=self.delimiter or ","), [])

    # ----- reading ---------------------------------------------------------------------------------
    def _batches(self, problems: Problems) -> Iterator[pa.RecordBatch]:
        wanted = list(dict.fromkeys(self.plan.source_columns))
        if self.kind == "parquet":
            import pyarrow.parquet as pq

            f = pq.ParquetFile(self.path, pre_buffer=False)
            sizes = [f.metadata.row_group(i).num_rows for i in range(f.num_row_groups)]
            if max(sizes, default=0) > 4 * self.batch_rows:  # huge row groups: let the reader cut them
                yield from f.iter_batches(batch_size=self.batch_rows, columns=wanted)
                return
            for i in range(f.num_row_groups):  # a row group at a time: iter_batches reads ahead more than this
                group = f.read_row_group(i, columns=wanted)
                yield from group.to_batches(max_chunksize=self.batch_rows)
            return
        if self.kind == "arrow":
            with pa.memory_map(str(self.path)) as f:
                reader = pa.ipc.open_file(f)
                for k in range(reader.num_record_batches):
                    yield reader.get_batch(k).select(wanted)
            return
        yield from self._csv_batches(wanted, problems)

    def _csv_batches(self, wanted: list[str], problems: Problems) -> Iterator[pa.RecordBatch]:
        import pyarrow.csv as pcsv

        problems.n_fields = len(self._names())

        def ragged(row: Any) -> str:
            problems.add_ragged(row.number, row.actual_columns)
            return "skip"

        compression = compression_of(self.path)
        stream: Any
        if compression in ("gzip", "bz2"):
            stream = pa.input_stream(str(self.path), compression=compression)
        else:
            stream = open_binary(self.path)[0]
        read = pcsv.ReadOptions(block_size=1 << 20, use_threads=False, encoding=self.encoding or "utf8")
        parse = pcsv.ParseOptions(delimiter=self.delimiter or ",", newlines_in_values=True, invalid_row_handler=ragged)
        convert = pcsv.ConvertOptions(include_columns=wanted, column_types=dict.fromkeys(wanted, pa.string()),
                                      null_values=NA_VALUES, strings_can_be_null=True)
        try:
            with stream:
                reader = pcsv.open_csv(stream, read_options=read, parse_options=parse, convert_options=convert)
                yield from reader
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise InvalidResponsesError([f"cannot read the text after row {self.rows + 1}: {shorten(exc, 100)}"],
                                        source=self.source) from None

    def chunks(self) -> Iterator[Chunk]:
        """Validated chunks in file order; raises `InvalidResponsesError` once the whole file is read if any
        row broke a rule."""
        problems = Problems()
        self.rows = 0
        for rb in self._batches(problems):
            chunk = self._validate(rb, problems)
            self.rows += rb.num_rows
            if not problems:
                yield chunk
        if self.rows == 0 and not problems:
            raise InvalidResponsesError(["no responses (the table is empty)"], source=self.source)
        if problems:
            raise InvalidResponsesError(problems.messages(delimiter=self.delimiter if self.kind == "csv" else None,
                                                          header=self.header), source=self.source)

    # ----- validation: the rules of Responses.from_frame, on arrow columns ----------------------------
    def _validate(self, rb: pa.RecordBatch, problems: Problems) -> Chunk:
        col = {name: rb.column(rb.schema.get_field_index(name)) for name in rb.schema.names}
        chosen, first = self.plan.chosen, self.rows
        item_col = col[chosen["item"]]
        if self.plan.step is not None:
            item_col = pc.binary_join_element_wise(_text(item_col), _text(col[self.plan.step]), " / ")
        learner = _ids(col[chosen["learner"]], "learner", first, problems)
        item = _ids(item_col, "item", first, problems)
        correct = _correct(col[chosen["correct"]], first, problems)
        skill = _skills(col[chosen["skill"]]) if "skill" in chosen else None
        timestamp = _timestamps(col[chosen["timestamp"]], first, problems) if "timestamp" in chosen else None
        order = _numbers(col[chosen["order"]], "order", first, problems) if "order" in chosen else None
        return Chunk(first, learner, item, correct, skill, timestamp, order)


def _text(arr: pa.Array) -> pa.Array:
    """Strings of any column (dictionary-encoded strings are decoded)."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    return arr if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) else pc.cast(arr, pa.string())


def _ids(arr: pa.Array, name: str, first: int, problems: Problems) -> pa.Array:
    if pa.types.is_dictionary(arr.type):
        values = pc.utf8_trim_whitespace(_text(arr.dictionary))
        bad_values = np.flatnonzero(pc.fill_null(pc.equal(values, ""), True).to_numpy(zero_copy_only=False))
        out = pa.DictionaryArray.from_arrays(arr.indices, values)
        bad = pc.or_(arr.indices.is_null(), pc.is_in(arr.indices, pa.array(bad_values, arr.indices.type)))
    else:
        out = pc.utf8_trim_whitespace(_text(arr))
        bad = pc.fill_null(pc.equal(out, ""), True)
    rows = np.flatnonzero(bad.to_numpy(zero_copy_only=False))
    problems.add(f"column '{name}' is empty", rows + first)
    return out


def _correct(arr: pa.Array, first: int, problems: Problems) -> np.ndarray:
    if pa.types.is_boolean(arr.type):
        out = pc.fill_null(arr, False).to_numpy(zero_copy_only=False).astype(np.int8)
        bad = np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))
        problems.add("column 'correct' must be 0 or 1", bad + first, [None] * min(len(bad), 1))
        return out
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        num = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        ok = (num == 0) | (num == 1)
        bad = np.flatnonzero(~ok)
        problems.add("column 'correct' must be 0 or 1", bad + first, [None if np.isnan(v) else v for v in num[bad[:50]]])
        return np.where(ok, num, 0).astype(np.int8)
    text = pc.utf8_lower(pc.utf8_trim_whitespace(_text(arr)))
    idx = pc.index_in(text, value_set=_ANSWER_KEYS)
    known = idx.is_valid().to_numpy(zero_copy_only=False)
    out = _ANSWER_VALUES[pc.fill_null(idx, 0).to_numpy(zero_copy_only=False)]
    unknown = np.flatnonzero(~known)
    if len(unknown):  # spelled otherwise ("1.00", "1e0"), or wrong
        raw = pa.array(text).take(pa.array(unknown)).to_pandas()
        num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        ok = (num == 0) | (num == 1)
        out[unknown[ok]] = num[ok].astype(np.int8)
        bad = unknown[~ok]
        originals = _text(arr).take(pa.array(bad[:50])).to_pylist()
        problems.add("column 'correct' must be 0 or 1", bad + first, originals)
    return out


def _numbers(arr: pa.Array, name: str, first: int, problems: Problems) -> np.ndarray:
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        num = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    else:
        num = pd.to_numeric(_text(arr).to_pandas(), errors="coerce").to_numpy(dtype=np.float64)
    problems.add(f"column '{name}' must be a number", np.flatnonzero(np.isnan(num)) + first)
    return num


def _timestamps(arr: pa.Array, first: int, problems: Problems) -> np.ndarray:
    """Seconds: numbers as they are, date-times (text or typed) since 1970 UTC; missing -> NaN."""
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        return pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    if pa.types.is_timestamp(arr.type) or pa.types.is_date(arr.type):
        series = pd.Series(arr.to_pandas())
        parsed = pd.to_datetime(series, utc=True)
        return (parsed - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds().to_numpy(dtype=np.float64)
    text = pc.utf8_trim_whitespace(_text(arr))
    try:
        return pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    series = text.to_pandas()
    present = series.notna() & (series != "")
    num = pd.to_numeric(series, errors="coerce")
    if 2 * num.notna().sum() >= present.sum():  # numbers; the cells that are not are the problems
        bad = np.flatnonzero((present & num.isna()).to_numpy())
        problems.add("column 'timestamp' must be a number like most of it", bad + first, series.iloc[bad[:50]].tolist())
        return num.to_numpy(dtype=np.float64)
    parsed = pd.to_datetime(series.where(present), errors="coerce", utc=True, format="mixed")
    bad = np.flatnonzero((parsed.isna() & present).to_numpy())
    problems.add("column 'timestamp' is neither a number nor a date-time", bad + first,
                 series.iloc[bad[:50]].tolist())
    return (parsed - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds().to_numpy(dtype=np.float64)


def _skills(arr: pa.Array) -> Skills:
    """Each row's skills: a list column, or ids joined by `~~`; trimmed, blanks dropped."""
    if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        return Skills(_clean_lists(arr), pa.array(np.arange(len(arr), dtype=np.int32)))
    enc = arr if pa.types.is_dictionary(arr.type) else _text(arr).dictionary_encode()
    lists = _clean_lists(pc.split_pattern(_text(enc.dictionary), "~~"))
    empty = len(lists)  # null cells point at an empty list, appended
    lists = pa.concat_arrays([lists, pa.array([[]], lists.type)])
    index = pc.fill_null(pc.cast(enc.indices, pa.int32()), empty)
    return Skills(lists, index)


def _clean_lists(lists: pa.Array) -> pa.ListArray:
    """list<string> with values trimmed and blank or missing ones dropped (a missing list: empty)."""
    flat = pc.list_flatten(lists)
    parent = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
    values = pc.utf8_trim_whitespace(_text(flat))
    keep = pc.fill_null(pc.not_equal(values, ""), False).to_numpy(zero_copy_only=False)
    counts = np.bincount(parent[keep], minlength=len(lists))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), values.filter(pa.array(keep)))


def validate_file(path: str | Path, *, columns: dict[str, str] | None = None, delimiter: str | None = None,
                  encoding: str | None = None, batch_rows: int = 1 << 20) -> int:
    """Read and validate a whole log in chunks; the number of rows (raises on the first bad file)."""
    log = ChunkedLog(path, columns=columns, delimiter=delimiter, encoding=encoding, batch_rows=batch_rows)
    for _ in log.chunks():
        pass
    return log.rows

