"""The fairness audit of a learner model's predictions: are some groups of learners predicted worse?

For every split of the learners into groups (`evaluation.groups`) and every group: its size (learners,
answers) and base rate (share right), the AUC, the expected calibration error (ECE: the answer-weighted
mean gap between predicted and observed success over `bins` equal-width bins of the prediction) and its
reliability curve. Between the groups: ABROCA, the area between two groups' ROC curves (Gardner, Brooks
& Baker 2019, "Evaluating the fairness of predictive student models through slicing analysis"; with more
than two groups, the largest of each group against the rest), and the gaps in AUC and ECE (largest minus
smallest). The per-group bookkeeping is fairlearn's `MetricFrame`.

Chance gaps are not bias: each gap carries the p-value of a randomisation test that shuffles the group
labels among the audited learners (whole learners, since one learner's answers are not independent),
recomputing the gap `permutations` times: p = (1 + #{shuffled gap ≥ observed}) / (1 + permutations).
Also per split: the cold-start AUC of each group at k = 1, 3, 5 (the next `query` answers predicted from
the first k alone) and, descriptively, the AUC of each group on the most frequent skills.

The goals the audit checks (`AuditConfig`): ABROCA ≤ 0.01 and every group's ECE ≤ 0.02.

Glossary: N answers, L audited learners, k groups in a split, B bins.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from metatutor.data.responses import Responses
from metatutor.errors import ConfigError


@dataclass(frozen=True)
class AuditConfig:
    permutations: int = 1000  # shuffles of the group labels per randomisation test
    bins: int = 10  # equal-width bins of the prediction for ECE and the reliability curves
    ks: tuple[int, ...] = (1, 3, 5)  # cold start: answers seen before the next `query` are predicted
    query: int = 10
    top_skills: int = 10  # per-skill slices: the most answered skills
    first: int = 5  # the built-in `first_answers` split looks at this many first answers
    abroca_goal: float = 0.01
    ece_goal: float = 0.02
    alpha: float = 0.05  # a gap with p below alpha is reported as significant
    seed: int = 0


# ----- the metrics --------------------------------------------------------------------------------------
def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Σ_b (n_b / n) |mean y − mean p| over `bins` equal-width bins of p (NaN without answers)."""
    if len(y) == 0:
        return float("nan")
    b = _bin(p, bins)
    n = np.bincount(b, minlength=bins)
    gap = np.bincount(b, weights=np.asarray(y, np.float64) - p, minlength=bins)
    return float(np.abs(gap).sum() / n.sum())


def reliability_curve(y: np.ndarray, p: np.ndarray, bins: int = 10) -> dict[str, list[float]]:
    """Per non-empty bin: mean prediction, observed share right and the number of answers."""
    b = _bin(p, bins)
    n = np.bincount(b, minlength=bins)
    keep = n > 0
    mean_p = np.bincount(b, weights=p, minlength=bins)[keep] / n[keep]
    mean_y = np.bincount(b, weights=np.asarray(y, np.float64), minlength=bins)[keep] / n[keep]
    return {"predicted": mean_p.round(4).tolist(), "observed": mean_y.round(4).tolist(), "answers": n[keep].tolist()}


def roc_points(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, TPR) at every distinct threshold, from (0, 0) to (1, 1)."""
    return _Ranked(np.asarray(y), np.asarray(p, np.float64)).curve(np.ones(len(y), dtype=bool))


def abroca(y: np.ndarray, p: np.ndarray, in_group: np.ndarray) -> float:
    """The area between the ROC curves of the answers in `in_group` and of the others."""
    ranked = _Ranked(np.asarray(y), np.asarray(p, np.float64))
    mask = np.asarray(in_group, dtype=bool)[ranked.order]
    return _area_between(ranked.curve(mask), ranked.curve(~mask))


def _bin(p: np.ndarray, bins: int) -> np.ndarray:
    return np.minimum((np.asarray(p, np.float64) * bins).astype(np.int64), bins - 1)


GRID = np.linspace(0.0, 1.0, 2001)


def _area_between(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    if not (np.isfinite(a[1]).all() and np.isfinite(b[1]).all()):
        return float("nan")
    return float(np.trapezoid(np.abs(np.interp(GRID, *a) - np.interp(GRID, *b)), GRID))


class _Ranked:
    """Answers sorted by prediction once, so that any subset's ROC curve is two cumulative sums."""

    def __init__(self, y: np.ndarray, p: np.ndarray) -> None:
        self.order = np.argsort(-p, kind="stable")
        self.y = y[self.order].astype(np.float64)
        ps = p[self.order]
        self.last = np.r_[np.flatnonzero(np.diff(ps) != 0), len(ps) - 1] if len(ps) else np.zeros(0, np.int64)

    def curve(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ROC of the answers where `mask` (in sorted order); NaN TPR/FPR when a class is missing."""
        m = mask.astype(np.float64)
        tp = np.cumsum(self.y * m)[self.last]
        fp = np.cumsum((1.0 - self.y) * m)[self.last]
        pos, neg = (tp[-1], fp[-1]) if len(tp) else (0.0, 0.0)
        if pos == 0 or neg == 0:
            return np.array([0.0, 1.0]), np.array([np.nan, np.nan])
        return np.r_[0.0, fp / neg], np.r_[0.0, tp / pos]

    def auc(self, mask: np.ndarray) -> float:
        fpr, tpr = self.curve(mask)
        return float(np.trapezoid(tpr, fpr))


# ----- gaps and their randomisation test ------------------------------------------------------------------
def split_gaps(y: np.ndarray, p: np.ndarray, group: np.ndarray, k: int, *, bins: int = 10,
               ranked: Any = None) -> dict[str, float]:
    """ABROCA (two groups: between them; more: the largest of one against the rest), and the AUC and ECE
    gaps (largest minus smallest) of answers labelled `group` (codes 0..k-1)."""
    ranked = ranked or _Ranked(y, p)
    g = group[ranked.order]
    curves = [ranked.curve(g == j) for j in range(k)]
    aucs = np.array([np.trapezoid(tpr, fpr) for fpr, tpr in curves])
    if k == 2:
        area = _area_between(curves[0], curves[1])
    else:
        area = max(_area_between(curves[j], ranked.curve(g != j)) for j in range(k))
    b = _bin(p, bins) + bins * group
    n = np.bincount(b, minlength=bins * k).reshape(k, bins)
    gap = np.bincount(b, weights=y - p, minlength=bins * k).reshape(k, bins)
    ece = np.abs(gap).sum(1) / np.maximum(n.sum(1), 1)
    return {"abroca": area, "auc_gap": float(np.nanmax(aucs) - np.nanmin(aucs)) if np.isfinite(aucs).any()
            else float("nan"), "ece_gap": float(ece.max() - ece.min())}


def randomisation_test(y: np.ndarray, p: np.ndarray, answer_learner: np.ndarray, learner_group: np.ndarray, *,
                       permutations: int, rng: np.random.Generator, bins: int = 10) -> dict[str, float]:
    """p-values of the observed gaps (`split_gaps`) when the learners' group codes `learner_group` (L,) are
    shuffled among the learners; `answer_learner` (N,) is each answer's learner (0..L-1)."""
    y = np.asarray(y, np.float64)
    p = np.asarray(p, np.float64)
    k = int(learner_group.max()) + 1
    ranked = _Ranked(y, p)
    observed = split_gaps(y, p, learner_group[answer_learner], k, bins=bins, ranked=ranked)
    above = dict.fromkeys(observed, 0)
    for _ in range(permutations):
        shuffled = split_gaps(y, p, rng.permutation(learner_group)[answer_learner], k, bins=bins, ranked=ranked)
        for key, value in shuffled.items():
            above[key] += bool(value >= observed[key] - 1e-12)
    return {f"{key}_p": (1 + above[key]) / (1 + permutations) for key in observed}


# ----- one split ------------------------------------------------------------------------------------------
@dataclass
class SplitAudit:
    """The audit of one split: per group, the gaps with their p-values, cold start and skill slices."""

    name: str
    groups: list[dict[str, Any]]  # label, learners, answers, base_rate, mean_prediction, auc, ece
    gaps: dict[str, float]  # abroca, auc_gap, ece_gap and their *_p
    reliability: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # per group
    roc: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # per group, thinned to 200 points
    coldstart: list[dict[str, Any]] = field(default_factory=list)  # per k: per-group AUC, gap, p
    skills: list[dict[str, Any]] = field(default_factory=list)  # per skill: per-group AUC and the gap
    goals: dict[str, Any] = field(default_factory=dict)

    def significant(self, alpha: float) -> list[str]:
        """The gaps whose randomisation p-value is below `alpha`."""
        return [k for k in ("abroca", "auc_gap", "ece_gap") if self.gaps.get(f"{k}_p", 1.0) < alpha]


def _metric_frame(y: np.ndarray, p: np.ndarray, labels: pd.Series | pd.DataFrame, bins: int) -> pd.DataFrame:
    """Per group: answers, base rate, mean prediction, AUC and ECE (fairlearn's MetricFrame)."""
    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import roc_auc_score

    def auc(yt: np.ndarray, yp: np.ndarray) -> float:
        return float(roc_auc_score(yt, yp)) if len(np.unique(yt)) == 2 else float("nan")

    metrics = {"answers": lambda yt, yp: len(yt), "base_rate": lambda yt, yp: float(np.mean(yt)),
               "mean_prediction": lambda yt, yp: float(np.mean(yp)), "auc": auc,
               "ece": lambda yt, yp: expected_calibration_error(np.asarray(yt), np.asarray(yp), bins)}
    return MetricFrame(metrics=metrics, y_true=y, y_pred=p, sensitive_features=labels).by_group


def audit_split(name: str, responses: Responses, proba: np.ndarray, split: pd.Series, config: AuditConfig, *,
                coldstart: dict[int, tuple[Responses, np.ndarray, np.ndarray]] | None = None) -> SplitAudit:
    """Audit one split (learner id -> label) of the learners in `responses`, whose predictions are `proba`;
    `coldstart` maps k to (query answers, their answers, their predictions)."""
    rng = np.random.default_rng(config.seed)
    learner_ids = responses.learners_present().astype(str)
    labels = split.reindex(learner_ids)
    audited = labels.notna().to_numpy()
    levels = sorted(labels.dropna().unique())
    if len(levels) < 2:
        raise ConfigError(f"the split {name!r} has fewer than two groups among the audited learners")
    code = {v: j for j, v in enumerate(levels)}
    answer_mask = np.repeat(audited, responses.lengths)
    y = responses.correct[answer_mask].astype(np.float64)
    p = np.asarray(proba, np.float64)[answer_mask]
    learner_group = np.array([code[v] for v in labels[audited]], dtype=np.int64)
    answer_learner = np.repeat(np.arange(int(audited.sum())), responses.lengths[audited])
    answer_labels = pd.Series(np.asarray(levels, dtype=object)[learner_group[answer_learner]], name=name)
    table = _metric_frame(y, p, answer_labels, config.bins)
    learners = np.bincount(learner_group, minlength=len(levels))
    groups = [{"group": str(g), "learners": int(learners[code[g]]),
               **{c: _num(table.loc[g, c]) for c in table.columns}} for g in levels]
    gaps = split_gaps(y, p, learner_group[answer_learner], len(levels), bins=config.bins)
    gaps |= randomisation_test(y, p, answer_learner, learner_group, permutations=config.permutations, rng=rng,
                               bins=config.bins)
    out = SplitAudit(name=name, groups=groups, gaps={k: round(float(v), 6) for k, v in gaps.items()})
    for g in levels:
        inside = answer_labels.to_numpy() == g
        out.reliability[str(g)] = reliability_curve(y[inside], p[inside], config.bins)
        fpr, tpr = roc_points(y[inside], p[inside])
        keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 200)).round().astype(int))
        out.roc[str(g)] = {"fpr": fpr[keep].round(4).tolist(), "tpr": tpr[keep].round(4).tolist()}
    for k, (query, answers, predicted) in sorted((coldstart or {}).items()):
        out.coldstart.append(_coldstart_row(k, query, answers, predicted, split, config, rng))
    out.skills = _skill_slices(responses, proba, answer_mask, answer_labels, config)
    worst_ece = max(float(g["ece"]) for g in groups)
    out.goals = {"abroca": config.abroca_goal, "ece": config.ece_goal,
                 "abroca_met": bool(out.gaps["abroca"] <= config.abroca_goal),
                 "ece_met": bool(worst_ece <= config.ece_goal), "worst_ece": round(worst_ece, 6),
                 "significant": out.significant(config.alpha)}
    return out


def _num(value: Any) -> float | int:
    v = float(value)
    return int(v) if v.is_integer() and abs(v) > 1 else round(v, 6)


def _coldstart_row(k: int, query: Responses, answers: np.ndarray, predicted: np.ndarray, split: pd.Series,
                   config: AuditConfig, rng: np.random.Generator) -> dict[str, Any]:
    """Per-group AUC of the cold-start predictions at k, the AUC gap and its randomisation p-value."""
    labels = split.reindex(query.learners_present().astype(str))
    audited = labels.notna().to_numpy()
    levels = sorted(labels.dropna().unique())
    row: dict[str, Any] = {"k": k, "auc": {}}
    if len(levels) < 2:
        return row
    code = {v: j for j, v in enumerate(levels)}
    mask = np.repeat(audited, query.lengths)
    learner_group = np.array([code[v] for v in labels[audited]], dtype=np.int64)
    answer_learner = np.repeat(np.arange(int(audited.sum())), query.lengths[audited])
    y, p = np.asarray(answers, np.float64)[mask], np.asarray(predicted, np.float64)[mask]
    ranked = _Ranked(y, p)
    g = learner_group[answer_learner][ranked.order]
    row["auc"] = {str(v): round(ranked.auc(g == code[v]), 6) for v in levels}
    row["answers"] = {str(v): int((learner_group[answer_learner] == code[v]).sum()) for v in levels}
    tested = randomisation_test(y, p, answer_learner, learner_group, permutations=config.permutations, rng=rng,
                                bins=config.bins)
    gaps = split_gaps(y, p, learner_group[answer_learner], len(levels), bins=config.bins)
    row["auc_gap"], row["auc_gap_p"] = round(gaps["auc_gap"], 6), round(tested["auc_gap_p"], 6)
    return row


def _skill_slices(responses: Responses, proba: np.ndarray, answer_mask: np.ndarray, answer_labels: pd.Series,
                  config: AuditConfig) -> list[dict[str, Any]]:
    """Per-group AUC on each of the `top_skills` most answered skills (an answer counts for each of its
    skills); descriptive, no test."""
    rows = responses.skill_rows()
    keep = answer_mask[rows]
    skill_of = responses.skill[keep]
    if not len(skill_of):
        return []
    top = pd.Series(skill_of).value_counts().index[: config.top_skills]
    position = np.cumsum(answer_mask) - 1  # an audited answer's position among the audited ones
    link_rows = rows[keep]
    chosen = np.isin(skill_of, top)
    frame = pd.DataFrame({"group": answer_labels.to_numpy()[position[link_rows[chosen]]],
                          "skill": responses.skill_ids[skill_of[chosen]].astype(str)})
    y = responses.correct[link_rows[chosen]].astype(np.float64)
    p = np.asarray(proba, np.float64)[link_rows[chosen]]
    table = _metric_frame(y, p, frame, config.bins)
    out = []
    for skill in responses.skill_ids[top].astype(str):
        part = table.xs(skill, level="skill") if skill in table.index.get_level_values("skill") else None
        if part is None:
            continue
        aucs = {str(g): _num(v) for g, v in part["auc"].items()}
        finite = [v for v in aucs.values() if np.isfinite(v)]
        out.append({"skill": skill, "answers": {str(g): int(v) for g, v in part["answers"].items()}, "auc": aucs,
                    "auc_gap": round(max(finite) - min(finite), 6) if len(finite) > 1 else None})
    return out


def clean_json(value: Any) -> Any:
    """`value` with NaN and infinities as None and numpy scalars as Python numbers (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value


# ----- the whole audit ------------------------------------------------------------------------------------
@dataclass
class FairnessAudit:
    """The audit of a model's predictions on some learners, split by split (see the module docstring);
    `simulation` holds the practice and adaptive-test studies when they were run."""

    model: str
    data: str
    learners: int
    answers: int
    config: AuditConfig
    splits: list[SplitAudit] = field(default_factory=list)
    simulation: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> list[dict[str, Any]]:
        """One row per split: ABROCA and its p, the worst group ECE, whether the goals are met."""
        return [{"split": s.name, "groups": len(s.groups), "abroca": s.gaps["abroca"], "abroca_p": s.gaps["abroca_p"],
                 "auc_gap": s.gaps["auc_gap"], "auc_gap_p": s.gaps["auc_gap_p"], "worst_ece": s.goals["worst_ece"],
                 "ece_gap_p": s.gaps["ece_gap_p"], "abroca_met": s.goals["abroca_met"], "ece_met": s.goals["ece_met"]}
                for s in self.splits]

    def unmet(self) -> list[str]:
        """The splits where a goal is not met, with which."""
        out = []
        for s in self.splits:
            missed = [k for k in ("abroca", "ece") if not s.goals[f"{k}_met"]]
            if missed:
                out.append(f"{s.name} ({', '.join(missed)})")
        return out

    def to_json(self) -> dict[str, Any]:
        data = {"task": "fairness", "model": self.model, "data": self.data, "learners": self.learners,
                "answers": self.answers, "config": asdict(self.config), "summary": self.summary(),
                "unmet": self.unmet(), "splits": [asdict(s) for s in self.splits], "simulation": self.simulation,
                "notes": self.notes}
        return clean_json(data)


def audit_predictions(responses: Responses, proba: np.ndarray, splits: dict[str, pd.Series], *,
                      config: AuditConfig | None = None, model: str = "", data: str = "",
                      coldstart: dict[int, tuple[Responses, np.ndarray, np.ndarray]] | None = None) -> FairnessAudit:
    """Audit predictions `proba` (N,) of `responses` over every split (learner id -> group label)."""
    config = config or AuditConfig()
    if len(proba) != len(responses):
        raise ConfigError(f"{len(proba)} predictions for {len(responses)} answers")
    audit = FairnessAudit(model=model, data=data, learners=responses.n_learners, answers=len(responses),
                          config=config)
    for name, split in splits.items():
        audit.splits.append(audit_split(name, responses, proba, split, config, coldstart=coldstart))
    return audit
