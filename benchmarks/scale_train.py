"""Training at scale: the registry's default model (`metatutor.models` `default`: the ensemble of attn + dkt +
irt) on the simulated EdNet-sized log of benchmarks/scale_data.py, read from its response cache, with 1 and 2
data-parallel processes (gloo over loopback, torchrun), measuring throughput, peak memory per answer and the
AUC on held-out simulated learners.

The logs are generated when the benchmark runs (never committed), in a temporary folder outside the
repository or --workdir: `Simulator.write_parquet` on scale_data.py's course (188 skills x 70 items),
--learners learners answering --answers LOW,HIGH items each, starting at random skills; and --test-learners
other learners (another seed) that no step trains or early-stops on. Steps, each in fresh processes:

    write     both logs (Parquet)
    cache     ResponseCache.build of each
    train1    `scale_train.train_cached` in one process (the code torchrun's ranks run, in a group of one)
    train2    the same through torchrun --nproc-per-node 2 (OMP_NUM_THREADS=1 per process)
    score     each trained model's pooled AUC on the held-out learners, read block by block

Every fit runs exactly --epochs epochs per neural member (no early stopping: patience = epochs), so the two
runs do the same work. Throughput is the training learners' answers divided by the fit's wall seconds (the
whole default model: the statistics pass, attn, dkt, IRT's EM, validation after every epoch, stacking);
`ratio` is the 2-process figure over the 1-process one, from this one run. Memory per process, as in
scale_data.py: `peak_anon` the largest RssAnon sampled every 20 ms, `peak_rss` getrusage's ru_maxrss (with
mapped pages of the cache), `baseline` ru_maxrss after the imports; per answer of the training log (all its
learners, validation included), summed over the processes of a run. A dedicated machine would give other
times: this one's two cores are shared with other jobs (the load is recorded).

Usage: OMP_NUM_THREADS=1 nice -n 10 python benchmarks/scale_train.py --json scale_train.json
           [--workdir /tmp/x] [--learners 200000] [--epochs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_data import MB, MemorySampler, _maxrss, course_config  # the same course and memory probe


def _load() -> list[float]:
    return list(os.getloadavg())


def write_logs(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from metatutor.data.cache import ResponseCache
    from metatutor.data.simulator import Simulator

    low, high = args.answers
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    out["answers"] = Simulator(course_config(), random_state=args.seed).write_parquet(
        work / "log.parquet", args.learners, (low, high), batch_learners=args.batch_learners, random_start=True)
    out["test_answers"] = Simulator(course_config(), random_state=args.seed + 1).write_parquet(
        work / "test.parquet", args.test_learners, (low, high), batch_learners=args.batch_learners, random_start=True)
    out["seconds_write"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    for name in ("log", "test"):
        ResponseCache.build(work / f"{name}.parquet", work / f"{name}.cache").close()
    out["seconds_cache"] = round(time.perf_counter() - t0, 1)
    return out


def train_step(work: Path, args: argparse.Namespace) -> None:
    """One rank of a training run: its figures to work/<run>/rank<r>.json."""
    import torch

    torch.set_num_threads(1)
    baseline = _maxrss()
    from metatutor.models.epochs import follow_epochs
    from metatutor.models.scale_train import train_cached

    run = work / args.label
    rank = int(os.environ.get("RANK", "0"))
    epochs: list[dict[str, Any]] = []
    started = time.perf_counter()

    def follow(name: str, epoch: int, record: dict[str, float]) -> None:
        epochs.append({"model": name, "epoch": epoch, "at_s": round(time.perf_counter() - started, 1),
                       **{k: v for k, v in record.items() if k != "epoch"}})

    settings = {"max_epochs": args.epochs, "patience": args.epochs}
    with MemorySampler() as mem, follow_epochs(follow):
        result = train_cached(work / "log.cache", run / "model", model="default", valid=args.valid, seed=args.seed,
                              settings=settings, checkpoints=run / "checkpoints", block_rows=args.block_rows)
    figures = {"rank": rank, "processes": result.processes, "fit_seconds": result.seconds,
               "train_learners": result.train_learners, "valid_learners": result.valid_learners,
               "train_responses": result.train_responses, "valid_auc": result.valid_auc, "epochs": epochs,
               "peak_anon_mb": round(mem.peak_anon / MB, 1), "peak_rss_mb": round(_maxrss() / MB, 1),
               "baseline_rss_mb": round(baseline / MB, 1)}
    (run / f"rank{rank}.json").write_text(json.dumps(figures))


def score_step(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Pooled AUC of a trained model on the held-out learners (never trained or early-stopped on)."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from metatutor.data.cache import ResponseCache
    from metatutor.models import load_model

    model = load_model(str(work / args.label / "model"))
    ys, ps = [], []
    with ResponseCache(work / "test.cache") as test:
        n_learners = test.n_learners
        for block in test.learner_batches(args.block_rows):
            ys.append(block.correct)
            ps.append(model.predict_proba(block))
        members = getattr(model, "members_", [])
        member_auc = {}
        for m in members:  # each member's AUC on the same learners, for the record
            p = np.concatenate([m.predict_proba(b) for b in test.learner_batches(args.block_rows)])
            member_auc[m.name] = round(float(roc_auc_score(np.concatenate(ys), p)), 4)
    y, p = np.concatenate(ys), np.concatenate(ps)
    return {"test_learners": n_learners, "test_answers": len(y),
            "test_auc": round(float(roc_auc_score(y, p)), 4), "member_test_auc": member_auc,
            "weights": [round(float(w), 3) for w in getattr(model, "weights_", [])]}


def _child(args: argparse.Namespace, work: Path, step: str, run: str = "") -> list[str]:
    return [__file__, "--step", step, "--label", run, "--workdir", str(work), "--json", str(args.json),
            "--learners", str(args.learners), "--answers", ",".join(map(str, args.answers)), "--seed", str(args.seed),
            "--test-learners", str(args.test_learners), "--epochs", str(args.epochs), "--valid", str(args.valid),
            "--block-rows", str(args.block_rows), "--batch-learners", str(args.batch_learners)]


def run_training(args: argparse.Namespace, work: Path, nproc: int) -> dict[str, Any]:
    run = f"train{nproc}"
    (work / run).mkdir(exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = _child(args, work, "train", run)
    if nproc == 1:
        cmd = [sys.executable, *child]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
               "--max-restarts", "0", *child]
    load_before = _load()
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    wall = time.perf_counter() - t0
    ranks = [json.loads((work / run / f"rank{r}.json").read_text()) for r in range(nproc)]
    main = ranks[0]
    answers = main["train_responses"]
    log_answers = args.log_answers
    out = {"processes": nproc, "wall_seconds": round(wall, 1), "fit_seconds": main["fit_seconds"],
           "answers_per_s": round(answers / main["fit_seconds"], 1), "train_responses": answers,
           "train_learners": main["train_learners"], "valid_learners": main["valid_learners"],
           "valid_auc": main["valid_auc"], "epochs": main["epochs"], "load_before": load_before, "load_after": _load(),
           "per_rank": [{k: r[k] for k in ("rank", "fit_seconds", "peak_anon_mb", "peak_rss_mb", "baseline_rss_mb")}
                        for r in ranks]}
    anon = sum(r["peak_anon_mb"] for r in ranks) * MB
    rss = sum(r["peak_rss_mb"] for r in ranks) * MB
    base = sum(r["baseline_rss_mb"] for r in ranks) * MB
    out["peak_anon_bytes_per_answer"] = round(anon / log_answers, 1)
    out["peak_rss_bytes_per_answer"] = round(rss / log_answers, 1)
    out["peak_anon_above_baseline_bytes_per_answer"] = round(max(anon - base, 0) / log_answers, 1)
    out.update(json.loads(subprocess.run([sys.executable, *_child(args, work, "score", run)], check=True, env=env,
                                         capture_output=True, text=True).stdout.strip().splitlines()[-1]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True, help="Write the figures here.")
    parser.add_argument("--workdir", type=Path, help="Where the logs, caches and models go (default: a temporary folder).")
    parser.add_argument("--learners", type=int, default=200_000)
    parser.add_argument("--answers", type=lambda s: tuple(int(x) for x in s.split(",")), default=(20, 182),
                        help="LOW,HIGH: answers per learner drawn from [LOW, HIGH).")
    parser.add_argument("--test-learners", type=int, default=5_000, help="Held-out learners (another seed).")
    parser.add_argument("--epochs", type=int, default=2, help="Epochs of each neural member (no early stopping).")
    parser.add_argument("--valid", type=float, default=0.2, help="Share of the log's learners that validates.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--block-rows", type=int, default=1 << 18, help="Responses a process reads at once.")
    parser.add_argument("--batch-learners", type=int, default=20_000, help="Learners simulated at once.")
    parser.add_argument("--nprocs", default="1,2", help="Process counts to train with, in turn.")
    parser.add_argument("--keep", action="store_true", help="Keep the workdir.")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--label", default="", help=argparse.SUPPRESS)  # not --run: torchrun would take it
    args = parser.parse_args()
    if args.step == "train":
        train_step(args.workdir, args)
        return
    if args.step == "score":
        print(json.dumps(score_step(args.workdir, args)))
        return
    made = args.workdir is None
    work = Path(tempfile.mkdtemp(prefix="metatutor-scale-train-")) if made else args.workdir
    work.mkdir(parents=True, exist_ok=True)
    repo = Path(__file__).resolve().parents[1]
    if work.resolve().is_relative_to(repo):
        raise SystemExit("the workdir must be outside the repository (the scale log is never committed)")
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": {k: v for k, v in vars(args).items() if k not in ("json", "workdir", "step", "label")},
        "model": "default (models registry): ensemble of attn + dkt + irt, stacked on the validation learners",
        "memory": "peak_anon: RssAnon sampled every 20 ms; peak_rss: getrusage ru_maxrss (with mapped cache pages); "
                  "per answer of the training log, summed over a run's processes",
        "runs": {},
    }
    try:
        t0 = time.perf_counter()
        if (work / "log.cache").is_dir() and (work / "test.cache").is_dir():
            from metatutor.data.cache import ResponseCache

            with ResponseCache(work / "log.cache") as c, ResponseCache(work / "test.cache") as t:
                result["data"] = {"answers": c.n_rows, "test_answers": t.n_rows, "reused": True}
        else:
            result["data"] = write_logs(work, args)
        result["data"]["seconds"] = round(time.perf_counter() - t0, 1)
        args.log_answers = result["data"]["answers"]
        print(f"data: {json.dumps(result['data'])}", flush=True)
        for nproc in (int(x) for x in args.nprocs.split(",")):
            result["runs"][str(nproc)] = figures = run_training(args, work, nproc)
            print(f"{nproc} process(es): {json.dumps({k: v for k, v in figures.items() if k != 'epochs'})}",
                  flush=True)
            args.json.write_text(json.dumps(result, indent=1))
        runs = result["runs"]
        if "1" in runs and "2" in runs:
            result["throughput_ratio_2_over_1"] = round(runs["2"]["answers_per_s"] / runs["1"]["answers_per_s"], 3)
    finally:
        args.json.write_text(json.dumps(result, indent=1))
        if made and not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
