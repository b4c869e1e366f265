"""IRT calibration and cohort EAP scoring: metatutor and girth side by side, in one process.

Cases: 1PL and 2PL on two dense simulated matrices (2,000 × 100 and 20,000 × 500: θ ~ N(0, 1),
a ~ logN(0, 0.3), b ~ N(0, 1), every learner answers every item) and on the first attempts of
assist2009_pid (sparse, real: every learner of the AKT fold-1 train + valid + test files, each learner's
first attempt per problem, learners with >= 20 of them, the BOBCAT protocol's `first_attempts`); skipped
with a message when the data is absent. Then cohort EAP on each.

Like with like:
- 1PL: girth's `rasch_mml` fixes a ≡ 1 and θ ~ N(0, 1), so metatutor runs `kind="1pl", ability_sd=1.0`;
  the row "1pl-spread" compares metatutor's 1PL with a learned spread (its default) with girth's
  `onepl_mml` (one learned discrimination), on the dense matrices only (on the sparse one girth's
  product of probabilities underflows).
- Priors: girth is marginal maximum likelihood, so on the dense matrices metatutor runs with flat priors
  (sd 1e3 on b and log a). On the sparse log, items answered all right or all wrong have no finite maximum
  likelihood estimate (girth clips them to its ±6 search bounds), so metatutor keeps its default priors there
  (b ~ N(0, 2²), log a ~ N(0, 0.5²)); the estimates then differ by design, and r is reported, not targeted.
- Quadrature: girth's defaults (41 Gauss-Legendre points on [-4.5, 4.5], normal weights); metatutor
  calibrates on 41 even points on [-5, 5] and scores EAP on its default 121 even points on [-6, 6].
- Inputs are ready before the clock starts: girth gets its items × learners int matrix (`INVALID_RESPONSE`
  where a learner did not answer), metatutor its (learner, item, correct) triples; each library's own
  conversions are timed.
- Time: the best of up to --repeats runs (a single run when the first takes over 20 s), the same rule for
  both libraries, after an untimed warm-up of each on a small matrix; wall-clock and CPU time of the
  process both (on a shared machine the wall clock adds waits for a core). Run it single-threaded:
  `OMP_NUM_THREADS=1 nice -n 10 python benchmarks/calibration_speed.py --json docs/results/calibration_speed.json`.

girth's 2PL on the sparse log runs --girth-sparse-2pl-iterations iterations (default 1; its own default of 25
would take hours, each iteration looping over 16,763 items): its time is then a lower bound on a full run,
its estimates unconverged, and the row says so.

Also timed: `ItemBank.calibrate` (default settings, 1PL and 2PL) on the sparse log, as the product runs it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from metatutor.assessment.bank import ItemBank
from metatutor.assessment.estimation import eap_cohort
from metatutor.models.calibration import Calibration, CalibrationConfig, calibrate

log = logging.getLogger("calibration_speed")
FLAT = CalibrationConfig(difficulty_sd=1e3, log_discrimination_sd=1e3)  # marginal maximum likelihood, as girth
SLOW_S = 20.0


def best_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any, int, float]:
    """(best wall-clock seconds, the result of the first run, runs made, best CPU seconds of this process).
    Both libraries run single-threaded, so on a machine shared with other jobs the CPU time is what the
    call costs, and the wall-clock time adds the waits for a core."""
    walls: list[float] = []
    cpus: list[float] = []
    out: Any = None
    while not walls or (len(walls) < repeats and walls[0] <= SLOW_S):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        out = result if out is None else out
    return min(walls), out, len(walls), min(cpus)


def r(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))[0, 1])


def simulate(n_learners: int, n_items: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n_learners)
    a, b = rng.lognormal(0.0, 0.3, n_items), rng.normal(size=n_items)
    y = (rng.random((n_learners, n_items)) < 1 / (1 + np.exp(-a * (theta[:, None] - b)))).astype(np.int64)
    learner, item = np.divmod(np.arange(n_learners * n_items), n_items)
    return {"name": f"dense {n_learners}x{n_items}", "learner": learner, "item": item, "correct": y.ravel(),
            "n_learners": n_learners, "n_items": n_items, "theta": theta, "a": a, "b": b, "dense": True}


def assist_first_attempts(root: Path) -> dict[str, Any] | None:
    from metatutor.assessment.pools import first_attempts
    from metatutor.data import DatasetFolder

    folder = root / "assist2009_pid"
    if not folder.is_dir():
        return None
    responses = first_attempts(DatasetFolder(folder).all_responses(), min_responses=20)
    items, item = np.unique(responses.item, return_inverse=True)
    learners, learner = np.unique(responses.learner, return_inverse=True)
    return {"name": "assist2009_pid first attempts", "learner": learner, "item": item,
            "correct": responses.correct.astype(np.int64), "n_learners": len(learners), "n_items": len(items),
            "dense": False, "responses": responses}


def girth_matrix(case: dict[str, Any]) -> np.ndarray:
    from girth.utilities import INVALID_RESPONSE

    out = np.full((case["n_items"], case["n_learners"]), INVALID_RESPONSE, dtype=np.int64)
    out[case["item"], case["learner"]] = case["correct"]
    return out


def calibration_rows(case: dict[str, Any], matrix: np.ndarray, repeats: int,
                     sparse_2pl_iterations: int) -> tuple[list[dict[str, Any]], Any]:
    import girth

    twopl_options = None if case["dense"] else {"max_iteration": sparse_2pl_iterations}

    triples = (case["learner"], case["item"], case["correct"])
    sizes = {"n_learners": case["n_learners"], "n_items": case["n_items"]}
    base = FLAT if case["dense"] else CalibrationConfig()
    runs: list[tuple[str, CalibrationConfig, Callable[[], Any]]] = [
        ("1pl", replace(base, kind="1pl", ability_sd=1.0), lambda: girth.rasch_mml(matrix)),
        ("2pl", replace(base, kind="2pl"), lambda: girth.twopl_mml(matrix, options=twopl_options)),
    ]
    if case["dense"]:
        runs.insert(1, ("1pl-spread", replace(base, kind="1pl"), lambda: girth.onepl_mml(matrix)))
    rows, fit_2pl = [], None
    for model, cfg, run_girth in runs:
        log.info("%s %s: metatutor", case["name"], model)

        def run_ours(cfg: CalibrationConfig = cfg) -> Calibration:
            return calibrate(*triples, **sizes, config=cfg)

        mt_s, cal, mt_runs, mt_cpu = best_time(run_ours, repeats)
        log.info("%s %s: girth", case["name"], model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # girth's log(0) on underflowing products
            g_s, ref, g_runs, g_cpu = best_time(run_girth, repeats)
        # both on θ ~ N(0, 1): metatutor's learned-spread 1PL has θ = sd · z, so b / sd is on girth's scale
        b = cal.b / cal.sd
        row: dict[str, Any] = {
            "data": case["name"], "model": model, **sizes, "responses": len(case["correct"]),
            "metatutor_s": mt_s, "girth_s": g_s, "ratio_metatutor_over_girth": mt_s / g_s,
            "metatutor_cpu_s": mt_cpu, "girth_cpu_s": g_cpu, "ratio_cpu": mt_cpu / g_cpu,
            "runs": {"metatutor": mt_runs, "girth": g_runs}, "metatutor_e_steps": cal.iterations,
            "metatutor_priors": "flat (sd 1e3)" if case["dense"] else "default (b ~ N(0, 2^2), log a ~ N(0, 0.5^2))",
            "r_difficulty": r(b, ref["Difficulty"]),
            "max_abs_diff_difficulty": float(np.max(np.abs(b - ref["Difficulty"]))),
        }
        if model == "2pl" and twopl_options is not None:
            row["girth_max_iteration"] = sparse_2pl_iterations
            row["girth_s_is_lower_bound"] = sparse_2pl_iterations < 25  # girth's default is 25 iterations
        if model == "2pl":
            row["r_discrimination"] = r(cal.a, ref["Discrimination"])
            row["max_abs_diff_discrimination"] = float(np.max(np.abs(cal.a - ref["Discrimination"])))
            fit_2pl = cal
        if model == "1pl-spread":
            row["metatutor_sd"], row["girth_discrimination"] = cal.sd, float(ref["Discrimination"])
        if "b" in case:  # simulated: each against the generating difficulties (and discriminations)
            row["r_truth_difficulty"] = {"metatutor": r(b, case["b"]), "girth": r(ref["Difficulty"], case["b"])}
            if model == "2pl":
                row["r_truth_discrimination"] = {"metatutor": r(cal.a, case["a"]),
                                                 "girth": r(ref["Discrimination"], case["a"])}
        faster = mt_s <= g_s and mt_cpu <= g_cpu
        if case["dense"]:
            row["target_met"] = bool(faster and row["r_difficulty"] >= 0.9999
                                     and row.get("r_discrimination", 1.0) >= 0.9999)
        else:
            row["target_met"] = bool(faster)
        log.info("%s", row)
        rows.append(row)
    return rows, fit_2pl


def eap_row(case: dict[str, Any], matrix: np.ndarray, a: np.ndarray, b: np.ndarray, repeats: int) -> dict[str, Any]:
    import girth

    triples = (case["learner"], case["item"], case["correct"])
    c = np.zeros(len(b))
    mt_s, (theta, _), mt_runs, mt_cpu = best_time(
        lambda: eap_cohort(*triples, a, b, c, n_learners=case["n_learners"]), repeats)
    g_s, ref, g_runs, g_cpu = best_time(lambda: girth.ability_eap(matrix, b, a), repeats)
    row: dict[str, Any] = {
        "data": case["name"], "n_learners": case["n_learners"], "n_items": case["n_items"],
        "item_parameters": "generating" if "b" in case else "metatutor's 2PL calibration",
        "metatutor_s": mt_s, "girth_s": g_s, "ratio_metatutor_over_girth": mt_s / g_s,
        "metatutor_cpu_s": mt_cpu, "girth_cpu_s": g_cpu, "ratio_cpu": mt_cpu / g_cpu,
        "runs": {"metatutor": mt_runs, "girth": g_runs}, "r_ability": r(theta, ref),
        "max_abs_diff_ability": float(np.max(np.abs(theta - ref))), "target_met": bool(mt_s <= g_s and mt_cpu <= g_cpu),
    }
    # the same posterior means on a 4,001-point grid: what each library's quadrature approximates
    fine = eap_cohort(*triples, a, b, c, n_learners=case["n_learners"], grid=np.linspace(-6.0, 6.0, 4001))[0]
    row["max_abs_diff_fine_grid"] = {"metatutor": float(np.max(np.abs(theta - fine))),
                                     "girth": float(np.max(np.abs(ref - fine)))}
    if "theta" in case:
        row["r_truth_ability"] = {"metatutor": r(theta, case["theta"]), "girth": r(ref, case["theta"])}
    log.info("%s", row)
    return row


_BEFORE = """
import json, sys, time
import metatutor
from metatutor.assessment.bank import ItemBank
from metatutor.assessment.pools import first_attempts
from metatutor.data import DatasetFolder
responses = first_attempts(DatasetFolder(sys.argv[1]).all_responses(), min_responses=20)
out = {"metatutor_from": metatutor.__file__}
for kind in ("1pl", "2pl"):
    t0, c0 = time.perf_counter(), time.process_time()
    ItemBank.calibrate(responses, kind=kind)
    out[kind + "_s"], out[kind + "_cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps(out))
"""


def bank_before(src: Path, folder: Path) -> dict[str, Any]:
    """`ItemBank.calibrate` (defaults) of another source tree (e.g. `git archive HEAD src`), in a subprocess;
    one run of each kind."""
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run([sys.executable, "-c", _BEFORE, str(folder)], env=env, capture_output=True, text=True,
                          check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("METATUTOR_DATA",
                                                    Path(__file__).resolve().parents[2] / "shared" / "datasets")))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", default="2000x100,20000x500")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--before-src", type=Path,
                        help="a source tree (its src/ folder) whose ItemBank.calibrate to time on the sparse log too")
    parser.add_argument("--girth-sparse-2pl-iterations", type=int, default=1,
                        help="cap on girth.twopl_mml's iterations on the sparse log (its default, 25, takes hours "
                             "there: each iteration loops over 16,763 items); below 25 its time is a lower bound")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    import girth

    # warm-up: imports and first-call costs of both libraries, untimed
    warm = simulate(200, 10, seed=99)
    calibrate(warm["learner"], warm["item"], warm["correct"], n_learners=200, n_items=10)
    eap_cohort(warm["learner"], warm["item"], warm["correct"], warm["a"], warm["b"], np.zeros(10), n_learners=200)
    girth.twopl_mml(girth_matrix(warm))
    girth.ability_eap(girth_matrix(warm), warm["b"], warm["a"])

    shapes = [tuple(int(v) for v in size.split("x")) for size in args.sizes.split(",") if size]
    cases = [simulate(n_learners, n_items, seed=args.seed) for n_learners, n_items in shapes]
    real = assist_first_attempts(args.data)
    notes = []
    if real is None:
        notes.append(f"assist2009_pid not found under {args.data}: the real-data case is skipped")
        print(notes[-1], file=sys.stderr)
    else:
        cases.append(real)
    out: dict[str, Any] = {
        "settings": {
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "nice": os.nice(0),
            "python": platform.python_version(), "numpy": np.__version__,
            "girth": getattr(girth, "__version__", "0.8"), "cpu": platform.processor() or platform.machine(),
            "timing": f"best of up to {args.repeats} runs (1 when the first exceeds {SLOW_S:.0f} s), after a warm-up; "
                      "wall-clock (_s) and CPU time of the process (_cpu_s)",
            "load_average_at_start": os.getloadavg(),
            "girth_options": "defaults: 41 Gauss-Legendre points on [-4.5, 4.5], N(0, 1); twopl_mml max 25 "
                             "iterations, lookup table on",
            "metatutor_calibration": "marginal MAP by EM with SQUAREM, 41 even points on [-5, 5], tol 1e-5 per learner",
            "metatutor_eap": "121 even points on [-6, 6], N(0, 1) prior",
        },
        "calibration": [], "eap": [], "notes": notes,
    }
    for case in cases:
        matrix = girth_matrix(case)
        rows, fit_2pl = calibration_rows(case, matrix, args.repeats, args.girth_sparse_2pl_iterations)
        out["calibration"] += rows
        a, b = (case["a"], case["b"]) if "b" in case else (fit_2pl.a, fit_2pl.b)
        out["eap"].append(eap_row(case, matrix, a, b, args.repeats))
        if "responses" in case:
            responses, bank_times = case["responses"], {}
            for kind in ("1pl", "2pl"):

                def run_bank(kind: str = kind, responses: Any = responses) -> ItemBank:
                    return ItemBank.calibrate(responses, kind=kind)

                wall, _, _, cpu = best_time(run_bank, args.repeats)
                bank_times[f"{kind}_s"], bank_times[f"{kind}_cpu_s"] = wall, cpu
            out["itembank_calibrate_sparse"] = {"data": case["name"], "settings": "defaults", **bank_times}
            if args.before_src is not None:
                log.info("ItemBank.calibrate of %s", args.before_src)
                out["itembank_calibrate_sparse"]["before"] = {"src": str(args.before_src),
                                                              **bank_before(args.before_src,
                                                                            args.data / "assist2009_pid")}
        del matrix
    out["settings"]["load_average_at_end"] = os.getloadavg()
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
