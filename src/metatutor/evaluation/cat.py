"""`benchmark cat`: adaptive testing on real learners (BOBCAT protocol) and on simulated examinees.

Real data (Ghosh & Lan, BOBCAT, IJCAI 2021, protocol): each learner's first attempt per problem; learners
with fewer than 20 such responses are dropped; learner parts by the dataset's folds (AKT test files, or a
seeded k-fold): part k tests, part k+1 validates, the rest trains (60/20/20). For each test learner and
shuffle seed 100..109, the last ⌊N/5⌋ responses are held out and never selectable; the selector asks n
questions from the rest (answers revealed from the data); after n ∈ {1, 3, 5, 10} every held-out response
is predicted. AUC and accuracy are pooled over learners, averaged over the 10 shuffles, then over folds.

Tracks (`metatutor.models.TRACK`): `default-classmates` may choose item-to-item answer effects counted over
the training learners (`PairLearners`, collaborative filtering over a test learner's classmates under this
split); every other selector, `default` included, is on the `sequence` track.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from metatutor.assessment.learners import (
    BlendLearners,
    CATLearners,
    DKTLearners,
    IRTLearners,
    PairLearners,
    information_choice,
    random_choice,
)
from metatutor.assessment.meta_selector import MetaCAT, MetaCATConfig
from metatutor.assessment.pools import Pools, first_attempts, make_pools
from metatutor.assessment.replay import NS, run_selection
from metatutor.data.folders import DatasetFolder
from metatutor.data.readers import read_responses
from metatutor.data.responses import Responses
from metatutor.data.splits import holdout_split
from metatutor.errors import ConfigError
from metatutor.evaluation.benchmark import BenchmarkResult, select_by_track

log = logging.getLogger(__name__)
SEEDS = tuple(range(100, 110))
SELECTORS = ("random", "mfi", "kl", "meta", "default", "default-classmates")
SELECTOR_TRACK = {name: "classmates" if name == "default-classmates" else "sequence" for name in SELECTORS}
# what `benchmark cat` runs when no selectors are named, per track
CAT_SELECTORS = {"sequence": ["random", "mfi", "kl", "meta", "default"], "classmates": ["default-classmates"]}
Progress = Callable[[str], None]


class CATResult(BenchmarkResult):
    """Rows `{"selector", "fold", "n", "auc", "acc"}`; summary[selector]["auc_at_n"] / ["acc_at_n"]."""

    def __init__(self, dataset: str, protocol: str) -> None:
        super().__init__(task="cat", dataset=dataset, protocol=protocol)
        self.fit_seconds: dict[str, list[float]] = {}
        self.learners: dict[int, int] = {}
        self.default_model: dict[int, dict[str, Any]] = {}  # per fold: the learner model `default` chose
        self.default_classmates_model: dict[int, dict[str, Any]] = {}  # the same for `default-classmates`

    def summary(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for sel in dict.fromkeys(r["selector"] for r in self.rows):
            rows = [r for r in self.rows if r["selector"] == sel]
            ns = sorted({r["n"] for r in rows})
            out[sel] = {
                "auc_at_n": {str(n): float(np.mean([r["auc"] for r in rows if r["n"] == n])) for n in ns},
                "acc_at_n": {str(n): float(np.mean([r["acc"] for r in rows if r["n"] == n])) for n in ns},
                "auc_std_at_n": {str(n): float(np.std([r["auc"] for r in rows if r["n"] == n])) for n in ns},
                "folds": len({r["fold"] for r in rows}),
                "fit_seconds": float(np.mean(self.fit_seconds.get(sel, [0.0]))),
                "track": SELECTOR_TRACK.get(sel, "sequence"),
            }
        return out

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "test_learners": self.learners, "default_model": self.default_model,
                "default_classmates_model": self.default_classmates_model}

    def to_markdown(self) -> str:
        from metatutor.evaluation.tables import render_cat

        return render_cat(json.loads(json.dumps(self.to_json())))


def learner_parts(data: str | Path, protocol: str, *, k: int = 5, seed: int = 0,
                  format: str | None = None) -> list[Responses]:
    """The dataset's learners in k disjoint parts sharing one vocabulary: the AKT test files
    (`folds`) or a seeded split of all learners (`kfold`)."""
    path = Path(data)
    if protocol == "folds":
        if not path.is_dir():
            raise ConfigError("the folds protocol needs a folder with X_test{k} files")
        folder = DatasetFolder(path)
        group = folder.group()
        tests = {f"test{j}": group.parts[("test", j)] for j in group.folds if ("test", j) in group.parts}
        if len(tests) < 3:
            raise ConfigError(f"the folds protocol needs at least 3 test files in {path}; found {len(tests)}")
        parts = folder.read_parts(tests, format=format)
        return [parts[name] for name in tests]
    if protocol == "kfold":
        responses = read_responses(path, format=format)
        learners = responses.learners_present()
        perm = learners[np.random.default_rng(seed).permutation(len(learners))]
        return [responses.select_learners(chunk) for chunk in np.array_split(perm, k)]
    raise ConfigError(f"benchmark cat supports the folds and kfold protocols, not {protocol!r}")


@dataclass(frozen=True)
class CATFold:
    fold: int
    train: Responses
    valid: Responses
    test: Responses


def cat_folds(parts: list[Responses], *, min_responses: int = 20) -> Iterator[CATFold]:
    """Fold j (1-based): part j tests, part j+1 validates, the others train."""
    kept = [first_attempts(p, min_responses=min_responses) for p in parts]
    for j in range(len(kept)):
        v = (j + 1) % len(kept)
        train = Responses.concat([kept[i] for i in range(len(kept)) if i not in (j, v)])
        yield CATFold(fold=j + 1, train=train, valid=kept[v], test=kept[j])


Chooser = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
Predictor = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
# `default` is our recommended setting, fixed on fold 1's VALIDATION learners of assist2009_pid before any test
# fold was scored (docs/benchmarks.md §4a): maximum-information questions on the 2PL; held-out answers predicted
# by the 2PL's posterior predictive (with the takers' ability prior), its mean logit with a DKT trained on
# answers in random order, or that blend plus item-to-item answer effects (`PairLearners`), whichever predicts
# the fold's validation learners best (`choose_default_model`). The mfi row keeps the 2PL's predictions alone.
DEFAULT_SELECTOR = "mfi"


def make_selector(name: str, irt: IRTLearners, meta: MetaCAT | None, pools: Pools, rng: np.random.Generator,
                  default_model: CATLearners | None = None) -> tuple[Chooser, Predictor]:
    """The question chooser and the held-out predictor of a selector row."""
    if name in ("default", "default-classmates"):
        choose = make_selector(DEFAULT_SELECTOR, irt, meta, pools, rng)[0]
        return choose, (default_model or irt).predict
    if name == "random":
        return (lambda items, y, available: random_choice(available, rng)), irt.predict
    if name in ("mfi", "kl"):
        return (lambda items, y, available: information_choice(irt, items, y, pools.pool_item, available,
                                                               criterion=name)), irt.predict
    if name == "meta" and meta is not None:
        return (lambda items, y, available: meta.choose(pools, items, y, available)), meta.predict
    raise ConfigError(f"unknown selector {name!r}")


def choose_default_model(irt: IRTLearners, train: Responses, valid: Responses, *, seed: int = 0,
                         classmates: bool = True) -> tuple[CATLearners, dict[str, Any]]:
    """The learner model of `default-classmates` (or, with `classmates=False`, of `default`) for one fold:
    the 2PL alone, its mean logit with a DKT, or (classmates only) that blend plus item-to-item answer
    effects (`PairLearners`), whichever predicts the validation learners' held-out answers best
    (maximum-information questions, 3 shuffles, mean AUC over n). The DKT early-stops on a fifth of the
    *training* learners and the pairs are counted on the training learners, so that the validation
    learners judge every candidate on equal terms."""
    candidates, scores = default_candidates(irt, train, valid, seed=seed, classmates=classmates)
    return pick_default(candidates, scores, classmates=classmates)


def pick_default(candidates: dict[str, CATLearners], scores: dict[str, float], *, classmates: bool
                 ) -> tuple[CATLearners, dict[str, Any]]:
    """The best-scoring candidate, among those of the track (`+pairs` ones only with `classmates`)."""
    allowed = {k: v for k, v in scores.items() if classmates or not k.endswith("+pairs")}
    chosen = max(allowed, key=lambda k: allowed[k])
    log.info("default learner model%s: %s (validation AUC %s)", " (classmates)" if classmates else "", chosen,
             allowed)
    return candidates[chosen], {"chosen": chosen, "valid_auc": allowed}


def default_candidates(irt: IRTLearners, train: Responses, valid: Responses, *, seed: int = 0,
                       classmates: bool = True) -> tuple[dict[str, CATLearners], dict[str, float]]:
    """The candidate learner models of the default selectors and their validation AUC (see
    `choose_default_model`); the `+pairs` one only with `classmates`."""
    fit_on, stop_on = holdout_split(train, valid_fraction=0.2, random_state=seed)
    blend = BlendLearners(irt, DKTLearners(random_state=seed).fit(fit_on, stop_on))
    models: list[CATLearners] = [irt, blend]
    if classmates:
        models.append(PairLearners(blend, random_state=seed).fit(train))
    candidates: dict[str, CATLearners] = {m.name: m for m in models}
    scores: dict[str, float] = {}
    for name, model in candidates.items():
        aucs = []
        for s in (0, 1, 2):
            pools = make_pools(valid, seed=s)
            choose = make_selector("mfi", irt, None, pools, np.random.default_rng(s))[0]
            aucs += [auc for auc, _ in run_selection(pools, choose, model.predict).values()]
        scores[name] = float(np.mean(aucs))
    return candidates, scores


def selector_track(name: str) -> str:
    if name not in SELECTOR_TRACK:
        raise ConfigError(f"unknown selectors {name}; choose from {', '.join(SELECTORS)}")
    return SELECTOR_TRACK[name]


def run_cat_benchmark(data: str | Path, *, protocol: str = "folds", selectors: list[str] | None = None,
                      folds: list[int] | None = None, seed: int = 0, k: int = 5, format: str | None = None,
                      track: str = "all", progress: Progress | None = None) -> CATResult:
    selectors = select_by_track(selectors, track, track_of=selector_track, defaults=CAT_SELECTORS, what="selector")
    parts = learner_parts(data, protocol, k=k, seed=seed, format=format)
    result = CATResult(dataset=Path(data).name, protocol=protocol)
    result.track = track
    defaults = [s for s in selectors if s in ("default", "default-classmates")]
    for fold in cat_folds(parts):
        if folds and fold.fold not in folds:
            continue
        t0 = time.perf_counter()
        irt = IRTLearners("2pl").fit(fold.train, fold.valid)
        irt_seconds = time.perf_counter() - t0
        result.learners[fold.fold] = fold.test.n_learners
        meta, meta_seconds = None, 0.0
        if "meta" in selectors or (DEFAULT_SELECTOR == "meta" and defaults):
            t0 = time.perf_counter()
            meta = MetaCAT(MetaCATConfig(random_state=seed)).fit(fold.train, fold.valid, irt=irt)
            meta_seconds = time.perf_counter() - t0
        default_models: dict[str, CATLearners] = {}
        dkt_seconds = 0.0
        if defaults:  # one DKT (and one pair table) for both default selectors
            t0 = time.perf_counter()
            candidates, scores = default_candidates(irt, fold.train, fold.valid, seed=seed,
                                                    classmates="default-classmates" in defaults)
            for sel, store in (("default", result.default_model), ("default-classmates",
                                                                    result.default_classmates_model)):
                if sel in defaults:
                    default_models[sel], store[fold.fold] = pick_default(candidates, scores,
                                                                         classmates=sel == "default-classmates")
            dkt_seconds = time.perf_counter() - t0
        for sel in selectors:
            uses_meta = sel == "meta" or (sel in defaults and DEFAULT_SELECTOR == "meta")
            result.fit_seconds.setdefault(sel, []).append(irt_seconds + (meta_seconds if uses_meta else 0.0)
                                                          + (dkt_seconds if sel in defaults else 0.0))
            per_n: dict[int, list[tuple[float, float]]] = {n: [] for n in NS}
            for s in SEEDS:
                pools = make_pools(fold.test, seed=s)
                rng = np.random.default_rng([seed, s])
                choose, predict = make_selector(sel, irt, meta, pools, rng, default_models.get(sel))
                for n, m in run_selection(pools, choose, predict).items():
                    per_n[n].append(m)
            for n, ms in per_n.items():
                result.rows.append({"selector": sel, "track": SELECTOR_TRACK[sel], "fold": fold.fold, "n": n,
                                    "auc": float(np.mean([m[0] for m in ms])),
                                    "acc": float(np.mean([m[1] for m in ms]))})
            if progress:
                progress(f"fold {fold.fold} {sel}")
    return result
