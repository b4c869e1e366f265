"""Where should the ensemble's stacking weights be fitted? Measured on validation learners only.

`EnsembleKT` early-stops every member on the validation learners and fits its stacking weights on the same
learners. The alternative is to cross-fit: one half of the validation learners early-stops the members, the
other half fits the weights. Both are compared on learners that neither touched (the result: the alternative
was not adopted, docs/benchmarks.md §3):

* the fold's validation learners are split (seeded, by learner) into halves H1 and H2; H1 is split again
  into H1a and H1b. H2 is the scoring set: no model, stop or weight ever sees it.
* run X: every member fitted on the training learners and early-stopped on all of H1;
  run Y: the same members (same seeds) early-stopped on H1a only.
* `same` (what `EnsembleKT` does): X's members, weights fitted on H1 (the learners that early-stopped them).
  `crossfit` (the alternative): Y's members, weights fitted on H1b (learners that did not early-stop them).
  `same-half`: Y's members, weights fitted on H1a: the same members as `crossfit` and as many weight-fitting
  learners, only differing in whether those learners early-stopped the members (isolates that effect).
  `equal`: X's members, mean logit.
* AUC on H2 for the 3-member `ensemble` (attn, dkt, irt) and the 4-member `ensemble-pairs` (+ pairs), with a
  paired bootstrap over H2's learners for the differences.

Test learners are scored only in a separate stage (`--stage test`), to be run after the choice is recorded;
it adds `crossfit-deployed`: X's members (early-stopped on H1) with weights fitted on H2, which is what a
cross-fitted `EnsembleKT` would deploy from this fold's validation learners (not adopted: see
docs/benchmarks.md §3).

Usage:
    python benchmarks/ensemble_stacking.py --data ../shared/datasets/assist2009_pid --fold 1 --out /tmp/stack
    python benchmarks/ensemble_stacking.py --out /tmp/stack --stage valid --json docs/results/ensemble_stacking_assist2009_pid.json
    python benchmarks/ensemble_stacking.py --out /tmp/stack --stage test   # once the choice is made
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

MEMBERS = ("attn", "dkt", "irt", "pairs")  # the registry's ensemble-pairs, member j seeded seed + j


def _halves(responses: Any, seed: int) -> tuple[Any, Any]:
    from metatutor.data.splits import holdout_split

    a, b = holdout_split(responses, valid_fraction=0.5, random_state=seed)
    return a, b


def fit_runs(data: str, fold: int, out: Path, seed: int) -> None:
    from metatutor.data.folders import DatasetFolder
    from metatutor.models import make_model

    split = DatasetFolder(data).fold_split(fold)
    h1, h2 = _halves(split.valid, seed)
    h1a, h1b = _halves(h1, seed + 1)
    sets = {"h1": h1, "h1a": h1a, "h1b": h1b, "h2": h2, "test": split.test}
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "answers.npz", **{k: v.correct for k, v in sets.items()},
             **{f"{k}_learner": v.learner for k, v in sets.items()})
    info: dict[str, Any] = {"data": data, "fold": fold, "seed": seed,
                            "learners": {k: int(v.n_learners) for k, v in sets.items()},
                            "responses": {k: len(v) for k, v in sets.items()}, "seconds": {}}
    for run, stop in (("X", h1), ("Y", h1a)):
        for j, name in enumerate(MEMBERS):
            path = out / f"{run}_{name}.npz"
            if path.exists():
                continue
            started = time.perf_counter()
            model = make_model(name, random_state=seed + j).fit(split.train, stop)
            info["seconds"][f"{run}_{name}"] = round(time.perf_counter() - started, 1)
            np.savez(path, **{k: model.predict_proba(v) for k, v in sets.items()})  # type: ignore[arg-type]
            print(f"run {run} {name}: {info['seconds'][f'{run}_{name}']} s", flush=True)
    old = json.loads((out / "info.json").read_text()) if (out / "info.json").exists() else {"seconds": {}}
    info["seconds"] = {**old.get("seconds", {}), **info["seconds"]}
    (out / "info.json").write_text(json.dumps(info, indent=2))


def _logits(out: Path, run: str, members: tuple[str, ...], part: str) -> np.ndarray:
    from metatutor.models.base import logit

    return np.stack([logit(np.load(out / f"{run}_{m}.npz")[part]) for m in members], axis=1)


def _weights(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    reg = LogisticRegression(C=1.0).fit(x, y)  # EnsembleConfig.stack_c
    return reg.coef_[0], float(reg.intercept_[0])


def _auc_by_learner(y: np.ndarray, p: dict[str, np.ndarray], learner: np.ndarray, *, boots: int, seed: int
                    ) -> tuple[dict[str, float], dict[str, list[float]]]:
    from sklearn.metrics import roc_auc_score

    aucs = {k: float(roc_auc_score(y, v)) for k, v in p.items()}
    codes, inverse = np.unique(learner, return_inverse=True)
    rows = [np.flatnonzero(inverse == i) for i in range(len(codes))]
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {k: [] for k in p}
    for _ in range(boots):
        take = np.concatenate([rows[i] for i in rng.integers(len(rows), size=len(rows))])
        for k, v in p.items():
            draws[k].append(float(roc_auc_score(y[take], v[take])))
    return aucs, draws


def score(out: Path, part: str, *, boots: int, seed: int) -> dict[str, Any]:
    """AUC on `part` ("h2" or "test") of each way of fitting the weights, for both ensembles."""
    answers = np.load(out / "answers.npz")
    y = answers[part]
    report: dict[str, Any] = {}
    for label, members in (("ensemble", MEMBERS[:3]), ("ensemble-pairs", MEMBERS)):
        p: dict[str, np.ndarray] = {}
        weights: dict[str, list[float]] = {}
        ways = [("same", "X", "h1"), ("crossfit", "Y", "h1b"), ("same-half", "Y", "h1a")]
        if part == "test":  # X with weights on H2: a cross-fitted `EnsembleKT` on this fold's validation file
            ways.append(("crossfit-deployed", "X", "h2"))
        for way, run, fit_on in ways:
            w, c = _weights(_logits(out, run, members, fit_on), answers[fit_on])
            p[way] = 1 / (1 + np.exp(-(_logits(out, run, members, part) @ w + c)))
            weights[way] = [round(float(v), 4) for v in (*w, c)]
        p["equal"] = 1 / (1 + np.exp(-_logits(out, "X", members, part).mean(1)))
        aucs, draws = _auc_by_learner(y, p, answers[f"{part}_learner"], boots=boots, seed=seed)
        diff = {f"{a} - {b}": np.array(draws[a]) - np.array(draws[b])
                for a, b in (("crossfit", "same"), ("crossfit", "same-half"), ("same", "equal"))
                + ((("crossfit-deployed", "same"),) if part == "test" else ())}
        report[label] = {
            "auc": {k: round(v, 5) for k, v in aucs.items()},
            "difference": {k: {"mean": round(aucs[k.split(" - ")[0]] - aucs[k.split(" - ")[1]], 5),
                               "ci95": [round(float(np.quantile(d, 0.025)), 5), round(float(np.quantile(d, 0.975)), 5)]}
                           for k, d in diff.items()},
            "weights_and_intercept": weights,
            "members_auc": {f"{run}_{m}": round(float(_auc_by_learner(y, {m: np.load(out / f"{run}_{m}.npz")[part]},
                                                                        answers[f"{part}_learner"], boots=0,
                                                                        seed=seed)[0][m]), 5)
                            for run in ("X", "Y") for m in members},
        }
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/datasets/assist2009_pid")
    ap.add_argument("--fold", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True, help="folder for the members' predictions")
    ap.add_argument("--stage", choices=("fit", "valid", "test"), default="fit")
    ap.add_argument("--boots", type=int, default=200)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if args.stage == "fit":
        fit_runs(args.data, args.fold, args.out, args.seed)
        return
    from metatutor.evaluation.provenance import collect

    info = json.loads((args.out / "info.json").read_text())
    result = {"task": "ensemble_stacking", "scored_on": "H2 (validation learners)" if args.stage == "valid"
              else "test learners", **info, "report": score(args.out, "h2" if args.stage == "valid" else "test",
                                                             boots=args.boots, seed=args.seed),
              "provenance": collect({"command": "benchmarks/ensemble_stacking.py", **vars(args) | {
                  "out": str(args.out), "json": str(args.json)}}, info["data"])}
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
