"""How long `metatutor train` takes per 100k answers, for each model and `--preset`, on a simulated log.

The log comes from the built-in simulator (seeded), is written as a CSV, and each configuration runs the
real command (`metatutor train LOG --out DIR --model M --preset P`) in a fresh process, timed from start
to exit (reading, fitting, saving). The validation AUC is the command's own (its seeded 20% of learners,
who also early-stopped the neural models, so it flatters them a little; nothing here is a test figure).

    python benchmarks/train_speed.py --json docs/results/train_speed_simulated.json \
        --markdown docs/results/train_speed_simulated.md
    python benchmarks/train_speed.py --from-json docs/results/train_speed_simulated.json --markdown M.md  # re-render
    python benchmarks/train_speed.py --models ensemble --presets fast --learners 200   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from metatutor.data.simulator import Simulator
from metatutor.evaluation.provenance import collect


def table(payload: dict[str, Any]) -> str:
    """The Markdown table of a run (docs/methods.md includes it)."""
    machine = payload.get("provenance", {}).get("machine", {})
    lines = ["| model | preset | answers | seconds | seconds per 100k answers | validation AUC | epochs |",
             "|---|---|---|---|---|---|---|"]
    for r in payload["rows"]:
        auc = "" if r["valid_auc"] is None else f"{r['valid_auc']:.4f}"
        lines.append(f"| {r['model']} | {r['preset']} | {r['answers']} | {r['seconds']:.0f} | "
                     f"{r['seconds_per_100k']:.0f} | {auc} | {r['epochs'] or ''} |")
    if machine:
        lines += ["", f"- machine: {machine.get('cores')} cores, load average "
                      f"{', '.join(f'{x:.1f}' for x in machine.get('load_average') or [])} at the end of the run, "
                      f"OMP_NUM_THREADS={machine.get('omp_num_threads')}, CPU probe {machine.get('cpu_probe_s')} s"]
    lines += ["- epochs: of the neural models together (the meta-learned `default` records none)"]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--learners", type=int, default=1000, help="simulated learners (default: about 100k answers)")
    ap.add_argument("--length", default="50,150", help="answers per learner, drawn from [low, high)")
    ap.add_argument("--models", default="default,ensemble", help="comma-separated `train --model` names")
    ap.add_argument("--presets", default="default,fast", help="comma-separated `train --preset` names")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="write the rows and the run's provenance here")
    ap.add_argument("--markdown", type=Path, help="write the table here")
    ap.add_argument("--from-json", type=Path, help="no run: render the table of this earlier run's JSON")
    args = ap.parse_args()
    if args.from_json:
        text = table(json.loads(args.from_json.read_text()))
        print(text)
        if args.markdown:
            args.markdown.write_text(text)
        return 0
    low, high = (int(x) for x in args.length.split(","))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "simulated.csv"
        responses = Simulator(random_state=args.seed).simulate(args.learners, (low, high))
        responses.to_frame().to_csv(log, index=False)
        answers = len(responses)
        print(f"{answers} answers of {responses.n_learners} learners ({low}-{high - 1} each)", flush=True)
        for model in args.models.split(","):
            for preset in args.presets.split(","):
                out = Path(tmp) / f"{model}-{preset}"
                started = time.perf_counter()
                done = subprocess.run([sys.executable, "-m", "metatutor.cli", "train", str(log), "--out", str(out),
                                       "--model", model, "--preset", preset, "--seed", str(args.seed)],
                                      capture_output=True, text=True, env={**os.environ, "COLUMNS": "120"})
                seconds = time.perf_counter() - started
                if done.returncode != 0:
                    print(done.stdout[-2000:], done.stderr[-2000:], file=sys.stderr)
                    return 1
                record = json.loads((out / "training.json").read_text())
                epochs = record.get("epochs") or []
                row = {"model": model, "preset": preset, "answers": answers, "seconds": round(seconds, 1),
                       "fit_seconds": record.get("seconds"), "seconds_per_100k": round(seconds * 1e5 / answers, 1),
                       "valid_auc": record.get("valid_auc"), "epochs": len(epochs)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    config = {"command": "benchmarks/train_speed.py", **{k: str(v) if isinstance(v, Path) else v
                                                         for k, v in vars(args).items()}}
    payload = {"task": "train_speed", "rows": rows, "provenance": collect(config)}
    if args.json:
        args.json.write_text(json.dumps(payload, indent=2))
    text = table(payload)
    print("\n" + text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
