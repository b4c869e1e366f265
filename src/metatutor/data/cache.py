"""A response log larger than memory, kept on disk as a columnar cache that is read learner by learner.

`ResponseCache.build(log, folder)` reads the log in chunks (`metatutor.data.stream`), validates every row,
encodes ids against vocabularies built as it goes, and writes the rows grouped by learner (learners in
order of first appearance, each learner's rows by `order`, time, then file position: the order of
`Responses.from_frame`) to an Arrow IPC file that is memory-mapped when read. An index of learner offsets
says where each learner's rows are. Every piece that leaves the cache is a `Responses`, built by the same
code as the in-memory reader's (so multi-skill merging and sorting are the same), and all of them share
the cache's vocabularies (`learner_ids`, `item_ids`, `skill_ids`: the same arrays).

Layout of the folder (N input rows, L learners):
    rows.arrow      (N,) learner int32, item int32, correct int8, [timestamp float64], [order float64],
                    [skill list<int32>]; batches of whole learners
    offsets.npy     (L+1,) int64: learner j's rows are offsets[j]:offsets[j+1]
    learners.arrow, items.arrow, skills.arrow: the vocabularies (one string column `id`)
    meta.json       what was read (path, size, mtime, column mapping), counts

Memory while building: one chunk of the input (`batch_rows`), the vocabularies, and one group of
learners (`block_rows` rows) being sorted. While reading: the vocabularies and one batch.
"""

from __future__ import annotations

import itertools
import json
import logging
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from metatutor.data.responses import Responses
from metatutor.data.stream import ChunkedLog
from metatutor.errors import ConfigError, InvalidResponsesError

log = logging.getLogger(__name__)

VERSION = 1
META = "meta.json"


def is_cache(folder: str | Path) -> bool:
    """Whether `folder` holds a response cache."""
    meta = Path(folder) / META
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text()).get("kind") == "metatutor-response-cache"
    except (OSError, ValueError):
        return False


class _Vocabulary:
    """Ids -> codes in order of first appearance, grown chunk by chunk (work per chunk: its distinct ids)."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}

    def encode(self, arr: pa.Array) -> np.ndarray:
        """(n,) int32 codes of a string or dictionary<string> array without nulls."""
        enc = arr if pa.types.is_dictionary(arr.type) else arr.dictionary_encode()
        indices = enc.indices.to_numpy(zero_copy_only=False)
        # a given dictionary (Parquet's) may hold values this chunk lacks, in any order: code the used ones
        # in order of first appearance
        used = pc.unique(enc.indices).to_numpy(zero_copy_only=False)
        codes = self.codes
        local = np.zeros(len(enc.dictionary), dtype=np.int64)
        local[used] = np.fromiter((codes.setdefault(v, len(codes)) for v in enc.dictionary.take(used).to_pylist()),
                                  dtype=np.int64, count=len(used))
        return local[indices].astype(np.int32)

    def array(self) -> pa.Array:
        return pa.array(list(self.codes), type=pa.string())


@dataclass(frozen=True)
class CacheInfo:
    rows: int  # input rows (before multi-skill merging)
    learners: int
    items: int
    skills: int
    seconds_read: float  # reading, validating and encoding the input
    seconds_group: float  # grouping by learner


class ResponseCache:
    """A columnar, memory-mapped cache of a response log, read learner by learner (module docstring).

    Example:
        >>> cache = ResponseCache.build("ednet.parquet", "ednet.cache")      # doctest: +SKIP
        >>> for batch in cache.learner_batches(max_rows=500_000):            # doctest: +SKIP
        ...     model.partial_fit(batch)  # each batch: whole learners, one shared vocabulary
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if not is_cache(self.folder):
            raise ConfigError(f"{self.folder} is not a response cache (no {META}); build one with ResponseCache.build")
        self.meta: dict[str, Any] = json.loads((self.folder / META).read_text())
        if self.meta.get("version") != VERSION:
            raise ConfigError(f"{self.folder}: cache version {self.meta.get('version')}, this metatutor reads "
                              f"{VERSION}; build it again")
        self.offsets: np.ndarray = np.load(self.folder / "offsets.npy", mmap_mode="r")  # (L+1,)
        self._map = pa.memory_map(str(self.folder / "rows.arrow"))
        self._table = pa.ipc.open_file(self._map).read_all()  # zero-copy over the mapped file

    # ----- building ----------------------------------------------------------------------------------
    @classmethod
    def build(cls, source: str | Path, folder: str | Path, *, columns: dict[str, str] | None = None,
              delimiter: str | None = None, encoding: str | None = None, batch_rows: int = 1 << 20,
              block_rows: int = 1 << 21, merge_multiskill: bool = True) -> ResponseCache:
        """Read, validate and group a long-format log (CSV/TSV/…, Parquet, Arrow; see `ChunkedLog`) into
        a cache at `folder` (made or replaced). Raises `InvalidResponsesError` listing every bad row."""
        import time

        src, out = Path(source), Path(folder)
        chunked = ChunkedLog(src, columns=columns, delimiter=delimiter, encoding=encoding, batch_rows=batch_rows)
        made = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".building-", dir=out))
        try:
            t0 = time.perf_counter()
            spill, vocab, counts, seen_time = _encode(chunked, work / "spill.arrow")
            t1 = time.perf_counter()
            offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            _group(spill, work / "rows.arrow", offsets, block_rows=block_rows, keep_time=seen_time)
            t2 = time.perf_counter()
            (work / "spill.arrow").unlink()
            np.save(work / "offsets.npy", offsets)
            for name, v in zip(("learners", "items", "skills"), vocab, strict=True):
                _write_ids(work / f"{name}.arrow", v.array())
            stat = src.stat()
            meta = {
                "kind": "metatutor-response-cache", "version": VERSION, "source": str(src.resolve()),
                "source_size": stat.st_size, "source_mtime_ns": stat.st_mtime_ns, "columns": columns,
                "delimiter": chunked.delimiter if chunked.kind == "csv" else None, "plan": chunked.plan.chosen,
                "rows": int(offsets[-1]), "learners": len(counts), "items": len(vocab[1].codes),
                "skills": len(vocab[2].codes), "has_timestamp": seen_time, "merge_multiskill": merge_multiskill,
                "seconds_read": round(t1 - t0, 3), "seconds_group": round(t2 - t1, 3),
            }
            (work / META).write_text(json.dumps(meta, indent=1))
            (out / META).unlink(missing_ok=True)  # a half-replaced cache is no cache
            for f in ("rows.arrow", "offsets.npy", "learners.arrow", "items.arrow", "skills.arrow", META):
                (work / f).replace(out / f)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            if made:
                shutil.rmtree(out, ignore_errors=True)
            raise
        shutil.rmtree(work, ignore_errors=True)
        return cls(out)

    @classmethod
    def for_file(cls, source: str | Path, folder: str | Path, **options: Any) -> ResponseCache:
        """The cache of `source` at `folder`: reused when it was built from this very file (same path, size and
        modification time, same column mapping), built otherwise."""
        src = Path(source)
        if is_cache(folder):
            meta = json.loads((Path(folder) / META).read_text())
            stat = src.stat()
            if (meta.get("version") == VERSION and meta.get("source") == str(src.resolve())
                    and meta.get("source_size") == stat.st_size and meta.get("source_mtime_ns") == stat.st_mtime_ns
                    and meta.get("columns") == options.get("columns")):
                return cls(folder)
        return cls.build(src, folder, **options)

    def close(self) -> None:
        """Unmap the rows (the object is unusable after)."""
        self._map.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- what it holds -----------------------------------------------------------------------------
    @property
    def n_learners(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_rows(self) -> int:
        """Input rows (a multi-skill expansion's rows become one response when read)."""
        return int(self.offsets[-1])

    @property
    def lengths(self) -> np.ndarray:
        """(L,) input rows per learner."""
        return np.diff(self.offsets)

    @cached_property
    def learner_ids(self) -> np.ndarray:
        return _read_ids(self.folder / "learners.arrow")

    @cached_property
    def item_ids(self) -> np.ndarray:
        return _read_ids(self.folder / "items.arrow")

    @cached_property
    def skill_ids(self) -> np.ndarray:
        return _read_ids(self.folder / "skills.arrow")

    def table(self, start: int = 0, stop: int | None = None) -> pa.Table:
        """The raw rows of learners `start:stop` (by position), zero-copy from the mapped file."""
        stop = self.n_learners if stop is None else stop
        a, b = int(self.offsets[start]), int(self.offsets[stop])
        return self._table.slice(a, b - a)

    # ----- Responses out of it ------------------------------------------------------------------------
    def responses(self, start: int = 0, stop: int | None = None) -> Responses:
        """Learners `start:stop` (by position, in order of first appearance) as `Responses`."""
        stop = self.n_learners if stop is None else stop
        a, b = int(self.offsets[start]), int(self.offsets[stop])
        return self._responses(self._table.slice(a, b - a), np.arange(a, b, dtype=np.int64))

    def select_learners(self, learners: Iterable[str] | np.ndarray) -> Responses:
        """Some learners (by id) as `Responses`, in the cache's order."""
        wanted = pd.Index(self.learner_ids).get_indexer(pd.Index([str(x) for x in learners]))
        return self.learners_at(np.unique(wanted[wanted >= 0]))

    def learners_at(self, positions: np.ndarray) -> Responses:
        """Learners at increasing positions (codes) as `Responses`."""
        rows = self._rows_of(np.asarray(positions, dtype=np.int64))
        return self._responses(self._table.take(pa.array(rows)), rows)

    def _rows_of(self, positions: np.ndarray) -> np.ndarray:
        """The cache rows of learners at `positions`, in order."""
        lo, hi = self.offsets[positions], self.offsets[positions + 1]
        counts = hi - lo
        return np.repeat(lo - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())

    def batch_bounds(self, max_rows: int, positions: np.ndarray | None = None) -> list[np.ndarray]:
        """Learner positions cut into consecutive groups of at most `max_rows` input rows (a longer
        learner makes a group alone)."""
        pos = np.arange(self.n_learners) if positions is None else np.asarray(positions, dtype=np.int64)
        if not len(pos):
            return []
        ends = np.cumsum(self.lengths[pos])
        groups, start, base = [], 0, 0
        while start < len(pos):
            stop = max(int(np.searchsorted(ends, base + max_rows, side="right")), start + 1)
            groups.append(pos[start:stop])
            base, start = int(ends[stop - 1]), stop
        return groups

    def learner_batches(self, max_rows: int = 1 << 19, *, learners: np.ndarray | None = None) -> Iterator[Responses]:
        """`Responses` of consecutive learners, each batch at most `max_rows` input rows (whole learners
        always); `learners` restricts to those positions (e.g. one side of `holdout`)."""
        for group in self.batch_bounds(max_rows, learners):
            contiguous = group[-1] - group[0] == len(group) - 1
            yield self.responses(int(group[0]), int(group[-1]) + 1) if contiguous else self.learners_at(group)

    def answered(self, learners: np.ndarray | None = None, *, max_rows: int = 1 << 22) -> tuple[np.ndarray, np.ndarray]:
        """(item codes, skill codes), sorted, that some learners (positions; all when None) answered: a model's
        vocabulary is `item_ids[items]`, `skill_ids[skills]`, the same as `Vocabulary.of` those learners."""
        items, skills = np.zeros(len(self.item_ids), bool), np.zeros(len(self.skill_ids), bool)
        has_skill = "skill" in self._table.schema.names
        columns = self._table.select(["item", *(["skill"] if has_skill else [])])
        for group in self.batch_bounds(max_rows, learners):
            part = columns.take(pa.array(self._rows_of(group)))
            items[part.column("item").to_numpy()] = True
            if has_skill:
                skills[pc.list_flatten(part.column("skill")).to_numpy()] = True
        return np.flatnonzero(items), np.flatnonzero(skills)

    def holdout(self, valid_fraction: float = 0.2, random_state: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
        """(train, valid) learner positions, sorted: the same learners as `holdout_split` picks from the
        whole log read in memory with the same seed."""
        if not 0.0 <= valid_fraction < 1.0:
            raise ConfigError(f"the validation fraction must be in [0, 1), not {valid_fraction}")
        n = self.n_learners
        n_valid = round(valid_fraction * n)
        if not n_valid:
            return np.arange(n), np.zeros(0, dtype=np.int64)
        perm = np.random.default_rng(random_state).permutation(n)
        return np.sort(perm[n_valid:]), np.sort(perm[:n_valid])

    def _responses(self, table: pa.Table, rows: np.ndarray) -> Responses:
        """`Responses` of cache rows `rows` (their positions: the tie-break of the order, as the file position
        is in `from_frame`; the rows are already sorted)."""
        vocab = (self.learner_ids, self.item_ids, self.skill_ids)
        n = table.num_rows
        if n == 0:
            empty = np.zeros(0, dtype=np.int64)
            return Responses(learner=empty, item=empty, correct=np.zeros(0, np.int8), skill_ptr=np.zeros(1, np.int64),
                             skill=empty, timestamp=None, learner_ids=vocab[0], item_ids=vocab[1], skill_ids=vocab[2])
        col = {name: table.column(name) for name in table.schema.names}
        if "skill" in col:
            skills = col["skill"].combine_chunks()
            offsets = skills.offsets.to_numpy()
            counts = np.diff(offsets)
            take = np.repeat(np.arange(n), np.maximum(counts, 1))  # a row without skills stays, with none
            skill = np.full(len(take), np.nan)
            starts = np.concatenate([[0], np.cumsum(np.maximum(counts, 1))[:-1]])
            parent = np.repeat(np.arange(n), counts)
            flat = skills.values.to_numpy(zero_copy_only=False)[offsets[0]: offsets[-1]]
            skill[starts[parent] + np.arange(len(parent)) - (offsets[parent] - offsets[0])] = flat
        else:
            take, skill = np.arange(n), np.full(n, np.nan)
        long = pd.DataFrame({"learner": _np(col["learner"], np.int64)[take], "item": _np(col["item"], np.int64)[take],
                             "correct": _np(col["correct"], np.int8)[take], "pos": rows[take], "src": rows[take],
                             "skill": skill})
        for name in ("timestamp", "order"):
            if name in col:
                long[name] = _np(col[name], np.float64)[take]
        if len(take) > n:
            long = long.drop_duplicates(["src", "skill"])
        return Responses._from_long(long, merge_multiskill=bool(self.meta.get("merge_multiskill", True)),
                                    vocabularies=vocab)


def _np(column: pa.ChunkedArray, dtype: Any) -> np.ndarray:
    return column.to_numpy().astype(dtype, copy=False)


def _write_ids(path: Path, ids: pa.Array) -> None:
    table = pa.table({"id": ids})
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _read_ids(path: Path) -> np.ndarray:
    with pa.memory_map(str(path)) as f:
        column = pa.ipc.open_file(f).read_all().column("id")
        return np.asarray(column.to_pylist(), dtype=object)


def _schema(chunked: ChunkedLog) -> pa.Schema:
    fields = [("learner", pa.int32()), ("item", pa.int32()), ("correct", pa.int8()), ("row", pa.int64())]
    chosen = chunked.plan.chosen
    fields += [(name, pa.float64()) for name in ("timestamp", "order") if name in chosen]
    if "skill" in chosen:
        fields.append(("skill", pa.list_(pa.int32())))
    return pa.schema(fields)


def _encode(chunked: ChunkedLog, path: Path) -> tuple[Path, tuple[_Vocabulary, ...], np.ndarray, bool]:
    """Pass 1: validate and encode every chunk into `path` (file order); rows per learner; whether any time
    is set (all-missing or all-zero times mean "no times", as in `Responses`)."""
    vocab = (_Vocabulary(), _Vocabulary(), _Vocabulary())
    counts = np.zeros(0, dtype=np.int64)
    seen_time = False
    schema = _schema(chunked)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        for chunk in chunked.chunks():
            n = len(chunk)
            learner = vocab[0].encode(chunk.learner)
            if len(vocab[0].codes) > len(counts):
                counts = np.concatenate([counts, np.zeros(max(len(vocab[0].codes) - len(counts), len(counts)),
                                                          np.int64)])
            counts += np.bincount(learner, minlength=len(counts))
            arrays: dict[str, Any] = {"learner": learner, "item": vocab[1].encode(chunk.item),
                                      "correct": chunk.correct,
                                      "row": np.arange(chunk.first_row, chunk.first_row + n, dtype=np.int64)}
            if chunk.timestamp is not None:
                arrays["timestamp"] = chunk.timestamp
                t = chunk.timestamp
                seen_time = seen_time or bool(np.any(~np.isnan(t) & (t != 0)))
            if chunk.order is not None:
                arrays["order"] = chunk.order
            if chunk.skill is not None:  # code the distinct skill lists, then give each row its list
                lists = chunk.skill.lists
                codes = vocab[2].encode(lists.values) if len(lists.values) else np.zeros(0, np.int32)
                coded = pa.ListArray.from_arrays(lists.offsets, pa.array(codes, pa.int32()))
                arrays["skill"] = coded.take(chunk.skill.index)
            writer.write_batch(pa.record_batch([pa.array(arrays[f.name], f.type) if f.name != "skill"
                                                else arrays["skill"] for f in schema], schema=schema))
    if not len(vocab[0].codes):
        raise InvalidResponsesError(["no responses (the table is empty)"], source=chunked.source)
    return path, vocab, counts[: len(vocab[0].codes)], seen_time


def _group(spill: Path, out: Path, offsets: np.ndarray, *, block_rows: int, keep_time: bool) -> None:
    """Pass 2: rows grouped by learner and sorted within each, one group of learners (<= block_rows rows,
    or one learner) at a time: each group is gathered by a scan of the spill's learner column."""
    with pa.memory_map(str(spill)) as source:
        reader = pa.ipc.open_file(source)
        batches = [reader.get_batch(k) for k in range(reader.num_record_batches)]
        dropped = {"row"} | (set() if keep_time else {"timestamp"})  # the order is final once grouped
        schema = pa.schema([f for f in reader.schema if f.name not in dropped])
        n_learners = len(offsets) - 1
        cuts = np.unique(np.searchsorted(offsets, np.arange(0, offsets[-1], block_rows), side="right") - 1)
        bounds = [*cuts.tolist(), n_learners]
        with pa.OSFile(str(out), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
            for a, b in itertools.pairwise(bounds):
                if b <= a:
                    continue
                parts = []
                for rb in batches:
                    lc = rb.column(0).to_numpy()
                    mask = (lc >= a) & (lc < b)
                    if mask.any():
                        parts.append(rb.filter(pa.array(mask)))
                group = pa.Table.from_batches(parts, schema=reader.schema).combine_chunks()
                keys = [group.column("row").to_numpy()]
                for name in ("timestamp", "order"):
                    if name in group.schema.names:
                        keys.append(group.column(name).to_numpy())
                keys.append(group.column("learner").to_numpy())
                group = group.take(pa.array(np.lexsort(keys))).select(schema.names)
                writer.write_table(group, max_chunksize=1 << 20)


def describe_log(path: str | Path, *, cache: str | Path | None = None, max_rows: int = 1 << 19,
                 **options: Any) -> dict[str, Any]:
    """`describe` of a log of any size, with bounded memory: through a `ResponseCache` at `cache` (kept,
    and reused when it is this file's), or in a temporary folder (removed)."""
    from metatutor.data.summary import describe_batches

    if cache is not None:
        built = ResponseCache.for_file(path, cache, **options)
        return describe_batches(built.learner_batches(max_rows))
    with tempfile.TemporaryDirectory(prefix="metatutor-cache-") as tmp, \
            ResponseCache.build(path, Path(tmp) / "cache", **options) as built:
        return describe_batches(built.learner_batches(max_rows))
