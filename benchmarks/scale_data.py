"""Out-of-core data at EdNet scale: write, read + validate, cache and read back a log larger than we want
in memory, measuring time and peak memory of each step.

The log is generated when the benchmark runs (never committed): `Simulator.write_parquet` on a course of
188 skills x 70 items (13,160 items; EdNet KT1 has 13,169 questions and 188 tags, Choi et al. 2020),
--learners learners answering --answers LOW,HIGH items each (default 200,000 learners, 20-181 answers:
~20.1 million answers), each starting at a random skill of the course. Each step runs in a fresh Python process, so its peak memory is its own:

    write       Simulator.write_parquet (vectorised cohort, Parquet, zstd)
    validate    ChunkedLog over the Parquet file: read and validate every row (stream.validate_file)
    cache       ResponseCache.build: read, validate, encode, group by learner into Arrow IPC
    batches     every learner as `Responses`, batch by batch from the cache (the path training reads),
                with describe_batches (what `metatutor data check --stream` prints)
    csv_write   (with --csv) the same log written as CSV with pyarrow
    csv         (with --csv) that CSV read and validated in chunks
    in_memory   for comparison: Responses.read of a --sample-learners log (the in-memory path)

Memory, per step: `peak_rss` is getrusage's ru_maxrss (includes pages of memory-mapped files, which the
kernel can drop); `peak_anon` is the largest RssAnon seen by sampling /proc/self/status every 20 ms
(heap memory only); `baseline_rss` is ru_maxrss after the imports; `arrow_peak` is pyarrow's memory pool
maximum. psutil and tracemalloc are not used.

Usage: nice -n 10 python benchmarks/scale_data.py --json scale.json [--workdir /tmp/x] [--csv]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

MB = 1 << 20


class MemorySampler:
    """The largest RssAnon of this process, sampled from /proc/self/status."""

    def __init__(self, every: float = 0.02) -> None:
        self.every, self.peak_anon = every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_anon = max(self.peak_anon, _status("RssAnon"))
            self._stop.wait(self.every)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_anon = max(self.peak_anon, _status("RssAnon"))


def _status(field: str) -> int:
    """A /proc/self/status field in bytes (0 where there is no /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def course_config() -> Any:
    from metatutor.data.simulator import SimulatorConfig

    return SimulatorConfig(n_skills=188, items_per_skill=70)


def run_step(step: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One step in this process; its figures."""
    import pyarrow as pa

    from metatutor.data.cache import ResponseCache
    from metatutor.data.responses import Responses
    from metatutor.data.simulator import Simulator
    from metatutor.data.stream import validate_file
    from metatutor.data.summary import describe_batches

    low, high = args.answers
    log, cache_dir = work / "log.parquet", work / "cache"
    baseline = _maxrss()
    out: dict[str, Any] = {}
    with MemorySampler() as mem:
        t0 = time.perf_counter()
        if step == "write":
            out["answers"] = Simulator(course_config(), random_state=args.seed).write_parquet(
                log, args.learners, (low, high), batch_learners=args.batch_learners, random_start=True)
            out["bytes"] = log.stat().st_size
            out["seconds"] = round(time.perf_counter() - t0, 2)
            Simulator(course_config(), random_state=args.seed + 1).write_parquet(  # for the in-memory step
                work / "sample.parquet", args.sample_learners, (low, high), batch_learners=args.batch_learners,
                random_start=True)
        elif step == "validate":
            out["answers"] = validate_file(log, batch_rows=args.batch_rows)
        elif step == "cache":
            cache = ResponseCache.build(log, cache_dir, batch_rows=args.batch_rows, block_rows=args.block_rows)
            out["answers"] = cache.n_rows
            out["learners"] = cache.n_learners
            out["bytes"] = sum(f.stat().st_size for f in cache_dir.iterdir())
            out["seconds_read"], out["seconds_group"] = cache.meta["seconds_read"], cache.meta["seconds_group"]
        elif step == "batches":
            cache = ResponseCache(cache_dir)
            info = describe_batches(cache.learner_batches(max_rows=args.max_rows))
            out["answers"] = cache.n_rows
            out["responses"], out["learners"], out["items"] = info["responses"], info["learners"], info["items"]
            out["merged_expansion_rows"] = info["merged_expansion_rows"]
        elif step == "csv_write":
            import pyarrow.csv as pcsv
            import pyarrow.parquet as pq

            source = pq.ParquetFile(log)
            out["answers"] = source.metadata.num_rows
            schema = pa.schema([pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type)
                                for f in source.schema_arrow])
            with pcsv.CSVWriter(work / "log.csv", schema) as writer:
                for i in range(source.num_row_groups):
                    writer.write_table(source.read_row_group(i).cast(schema))
            out["bytes"] = (work / "log.csv").stat().st_size
        elif step == "csv":
            out["answers"] = validate_file(work / "log.csv")
            out["bytes"] = (work / "log.csv").stat().st_size
            (work / "log.csv").unlink()
        elif step == "in_memory":
            r = Responses.read(str(work / "sample.parquet"))
            out["answers"] = len(r) + r.merged_rows
        else:
            raise SystemExit(f"unknown step {step}")
        out.setdefault("seconds", round(time.perf_counter() - t0, 2))
    out["answers_per_s"] = round(out["answers"] / out["seconds"]) if out["seconds"] else None
    out["peak_rss_mb"] = round(_maxrss() / MB, 1)
    out["peak_anon_mb"] = round(mem.peak_anon / MB, 1)
    out["baseline_rss_mb"] = round(baseline / MB, 1)
    out["arrow_peak_mb"] = round(pa.default_memory_pool().max_memory() / MB, 1)
    million = out["answers"] / 1e6
    out["peak_rss_mb_per_million_answers"] = round(out["peak_rss_mb"] / million, 2)
    out["peak_anon_mb_per_million_answers"] = round(out["peak_anon_mb"] / million, 2)
    if "bytes" in out:
        out["bytes_per_answer"] = round(out["bytes"] / out["answers"], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True, help="Write the figures here.")
    parser.add_argument("--workdir", type=Path, help="Where the log and cache go (default: a temporary folder).")
    parser.add_argument("--learners", type=int, default=200_000)
    parser.add_argument("--answers", type=lambda s: tuple(int(x) for x in s.split(",")), default=(20, 182),
                        help="LOW,HIGH: answers per learner drawn from [LOW, HIGH).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-learners", type=int, default=20_000, help="Learners simulated at once.")
    parser.add_argument("--batch-rows", type=int, default=1 << 20, help="Rows per chunk when reading.")
    parser.add_argument("--block-rows", type=int, default=1 << 21, help="Rows per group when grouping.")
    parser.add_argument("--max-rows", type=int, default=1 << 19, help="Rows per learner batch from the cache.")
    parser.add_argument("--sample-learners", type=int, default=10_000, help="Learners of the in-memory sample.")
    parser.add_argument("--csv", action="store_true", help="Also measure the CSV path.")
    parser.add_argument("--keep", action="store_true", help="Keep the workdir.")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:  # a child: one step, its figures on stdout
        print(json.dumps(run_step(args.step, args.workdir, args)))
        return
    made = args.workdir is None
    work = Path(tempfile.mkdtemp(prefix="metatutor-scale-")) if made else args.workdir
    work.mkdir(parents=True, exist_ok=True)
    repo = Path(__file__).resolve().parents[1]
    if work.resolve().is_relative_to(repo):
        raise SystemExit("the workdir must be outside the repository (the scale log is never committed)")
    steps = ["write", "validate", "cache", "batches", *(["csv_write", "csv"] if args.csv else []), "in_memory"]
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": {k: v for k, v in vars(args).items() if k not in ("json", "workdir", "step")},
        "memory": "peak_rss: getrusage ru_maxrss (with mapped file pages); peak_anon: RssAnon sampled every 20 ms; "
                  "arrow_peak: pyarrow memory pool max",
        "free_disk_gb": round(shutil.disk_usage(work).free / 1e9, 1),
        "steps": {},
    }
    try:
        for step in steps:
            cmd = [sys.executable, __file__, "--step", step, "--workdir", str(work), "--json", str(args.json),
                   "--learners", str(args.learners), "--answers", ",".join(map(str, args.answers)),
                   "--seed", str(args.seed), "--batch-learners", str(args.batch_learners),
                   "--batch-rows", str(args.batch_rows), "--block-rows", str(args.block_rows),
                   "--max-rows", str(args.max_rows), "--sample-learners", str(args.sample_learners)]
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            result["steps"][step] = figures
            print(f"{step:>10}: {json.dumps(figures)}", flush=True)
    finally:
        args.json.write_text(json.dumps(result, indent=1))
        if made and not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
