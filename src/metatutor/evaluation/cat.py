"""`benchmark cat`: adaptive testing on real learners (BOBCAT protocol) and on simulated examinees.

Real data (Ghosh & Lan, BOBCAT, IJCAI 2021, protocol): each learner's first attempt per problem; learners
with fewer than 20 such responses are dropped; learner parts by the dataset's folds (AKT test files, or a
seeded k-fold): part k tests, part k+1 validates, the rest trains (60/20/20). For each test learner and
shuffle seed 100..109, the last ⌊N/5⌋ responses are held out and never selectable; the selector asks n
questions from the rest (answers revealed from the data); after n ∈ {1, 3, 5, 10} every held-out response
is predicted. AUC and accuracy are pooled over learners, averaged over the 10 shuffles, then over folds.
"""

from __future__ import annotations

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
from metatutor.data.folders import DatasetFolder
from metatutor.data.readers import read_responses
from metatutor.data.responses import Responses
from metatutor.data.splits import holdout_split
from metatutor.errors import ConfigError
from metatutor.evaluation.benchmark import BenchmarkResult
from metatutor.evaluation.metrics import score

log = logging.getLogger(__name__)
NS = (1, 3, 5, 10)
SEEDS = tuple(range(100, 110))
SELECTORS = ("random", "mfi", "kl", "meta", "default")
Progress = Callable[[str], None]


class CATResult(BenchmarkResult):
    """Rows `{"selector", "fold", "n", "auc", "acc"}`; summary[selector]["auc_at_n"] / ["acc_at_n"]."""

    def __init__(self, dataset: str, protocol: str) -> None:
        super().__init__(task="cat", dataset=dataset, protocol=protocol)
        self.fit_seconds: dict[str, list[float]] = {}
        self.learners: dict[int, int] = {}
        self.default_model: dict[int, dict[str, Any]] = {}  # per fold: the learner model `default` chose

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
            }
        return out

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "test_learners": self.learners, "default_model": self.default_model}

    def to_markdown(self) -> str:
        summary = self.summary()
        lines = [f"### cat: {self.dataset} ({self.protocol} protocol, BOBCAT setting)", "",
                 "| selector | " + " | ".join(f"AUC n={n}" for n in NS) + " | "
                 + " | ".join(f"acc n={n}" for n in NS) + " |", "|---|" + "---|" * (2 * len(NS))]
        for sel, s in summary.items():
            aucs = [f"{100 * s['auc_at_n'].get(str(n), float('nan')):.2f}" for n in NS]
            accs = [f"{100 * s['acc_at_n'].get(str(n), float('nan')):.2f}" for n in NS]
            lines.append(f"| {sel} | " + " | ".join(aucs + accs) + " |")
        return "\n".join(lines) + "\n"


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


def run_selection(pools: Pools, choose: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
                  predict: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
                  *, ns: tuple[int, ...] = NS) -> dict[int, tuple[float, float]]:
    """Ask max(ns) questions with `choose(items, y, available) -> slots`; after each n in `ns` predict the
    held-out responses with `predict(items, y, query)`; pooled (AUC, accuracy) per n."""
    n_l = pools.n_learners
    available = pools.pool_mask.copy()
    items = np.zeros((n_l, 0), dtype=np.int64)
    y = np.zeros((n_l, 0), dtype=np.int64)
    rows = np.arange(n_l)
    out = {}
    for step in range(1, max(ns) + 1):
        slot = choose(items, y, available)
        if not available[rows, slot].all():
            raise RuntimeError("a selector chose an item outside the learner's pool")
        available[rows, slot] = False
        items = np.concatenate([items, pools.pool_item[rows, slot][:, None]], axis=1)
        y = np.concatenate([y, pools.pool_y[rows, slot][:, None]], axis=1)
        if step in ns:
            p = predict(items, y, pools.held_item)
            m = score(pools.held_y[pools.held_mask], p[pools.held_mask])
            out[step] = (m["auc"], m["acc"])
    return out


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
    if name == "default":
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


def choose_default_model(irt: IRTLearners, train: Responses, valid: Responses, *, seed: int = 0
                         ) -> tuple[CATLearners, dict[str, Any]]:
    """The learner model of `default` for one fold: the 2PL alone, its mean logit with a DKT, or that blend
    plus item-to-item answer effects (`PairLearners`), whichever predicts the validation learners' held-out
    answers best (maximum-information questions, 3 shuffles, mean AUC over n). The DKT early-stops on a
    fifth of the *training* learners and the pairs are counted on the training learners, so that the
    validation learners judge every candidate on equal terms."""
    fit_on, stop_on = holdout_split(train, valid_fraction=0.2, random_state=seed)
    blend = BlendLearners(irt, DKTLearners(random_state=seed).fit(fit_on, stop_on))
    pairs = PairLearners(blend, random_state=seed).fit(train)
    candidates: dict[str, CATLearners] = {m.name: m for m in (irt, blend, pairs)}
    scores: dict[str, float] = {}
    for name, model in candidates.items():
        aucs = []
        for s in (0, 1, 2):
            pools = make_pools(valid, seed=s)
            choose = make_selector("mfi", irt, None, pools, np.random.default_rng(s))[0]
            aucs += [auc for auc, _ in run_selection(pools, choose, model.predict).values()]
        scores[name] = float(np.mean(aucs))
    chosen = max(scores, key=lambda k: scores[k])
    log.info("default learner model: %s (validation AUC %s)", chosen, scores)
    return candidates[chosen], {"chosen": chosen, "valid_auc": scores}


def run_cat_benchmark(data: str | Path, *, protocol: str = "folds", selectors: list[str] | None = None,
                      folds: list[int] | None = None, seed: int = 0, k: int = 5, format: str | None = None,
                      progress: Progress | None = None) -> CATResult:
    selectors = selectors or list(SELECTORS)
    unknown = [s for s in selectors if s not in SELECTORS]
    if unknown:
        raise ConfigError(f"unknown selectors {', '.join(unknown)}; choose from {', '.join(SELECTORS)}")
    parts = learner_parts(data, protocol, k=k, seed=seed, format=format)
    result = CATResult(dataset=Path(data).name, protocol=protocol)
    for fold in cat_folds(parts):
        if folds and fold.fold not in folds:
            continue
        t0 = time.perf_counter()
        irt = IRTLearners("2pl").fit(fold.train, fold.valid)
        irt_seconds = time.perf_counter() - t0
        result.learners[fold.fold] = fold.test.n_learners
        meta, meta_seconds = None, 0.0
        if "meta" in selectors or (DEFAULT_SELECTOR == "meta" and "default" in selectors):
            t0 = time.perf_counter()
            meta = MetaCAT(MetaCATConfig(random_state=seed)).fit(fold.train, fold.valid, irt=irt)
            meta_seconds = time.perf_counter() - t0
        default_model: CATLearners | None = None
        dkt_seconds = 0.0
        if "default" in selectors:
            t0 = time.perf_counter()
            default_model, result.default_model[fold.fold] = choose_default_model(irt, fold.train, fold.valid,
                                                                                  seed=seed)
            dkt_seconds = time.perf_counter() - t0
        for sel in selectors:
            uses_meta = sel == "meta" or (sel == "default" and DEFAULT_SELECTOR == "meta")
            result.fit_seconds.setdefault(sel, []).append(irt_seconds + (meta_seconds if uses_meta else 0.0)
                                                          + (dkt_seconds if sel == "default" else 0.0))
            per_n: dict[int, list[tuple[float, float]]] = {n: [] for n in NS}
            for s in SEEDS:
                pools = make_pools(fold.test, seed=s)
                rng = np.random.default_rng([seed, s])
                choose, predict = make_selector(sel, irt, meta, pools, rng, default_model)
                for n, m in run_selection(pools, choose, predict).items():
                    per_n[n].append(m)
            for n, ms in per_n.items():
                result.rows.append({"selector": sel, "fold": fold.fold, "n": n,
                                    "auc": float(np.mean([m[0] for m in ms])),
                                    "acc": float(np.mean([m[1] for m in ms]))})
            if progress:
                progress(f"fold {fold.fold} {sel}")
    return result
