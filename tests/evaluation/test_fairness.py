"""The fairness audit: its metrics by hand, the randomisation test, and the audit finding a bias injected into
one group while reporting no significant gap on the unbiased control."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from metatutor.data.responses import Responses
from metatutor.data.simulator import Simulator
from metatutor.data.splits import kfold_splits
from metatutor.errors import InvalidResponsesError
from metatutor.evaluation.audit import InjectedBias, audit_model, coldstart_predictions, support_only
from metatutor.evaluation.fairness import (
    AuditConfig,
    abroca,
    expected_calibration_error,
    randomisation_test,
    reliability_curve,
    split_gaps,
)
from metatutor.evaluation.fairness_report import render_html, write_report
from metatutor.evaluation.groups import builtin_splits, group_splits, read_attributes
from metatutor.models import make_model


def test_ece_and_reliability_by_hand() -> None:
    y = np.array([1, 0, 1, 1])
    p = np.array([0.05, 0.15, 0.95, 0.85])  # bins 0, 1, 9, 8 with 10 bins
    # |1-0.05| + |0-0.15| + |1-0.95| + |1-0.85| over 4
    assert expected_calibration_error(y, p, 10) == pytest.approx((0.95 + 0.15 + 0.05 + 0.15) / 4)
    curve = reliability_curve(y, p, 2)  # bins [0, .5): (0.1, 0.5), [.5, 1]: (0.9, 1.0)
    assert curve == {"predicted": [0.1, 0.9], "observed": [0.5, 1.0], "answers": [2, 2]}


def test_abroca_is_zero_for_the_same_curve_and_one_for_opposite_curves() -> None:
    y = np.array([0, 1, 0, 1])
    p = np.array([0.2, 0.8, 0.2, 0.8])
    assert abroca(y, p, np.array([True, True, False, False])) == pytest.approx(0.0)
    # group A perfectly ranked (AUC 1), group B inverted (AUC 0): the ROC curves enclose the whole square
    y2 = np.array([0, 1, 0, 1])
    p2 = np.array([0.1, 0.9, 0.9, 0.1])
    assert abroca(y2, p2, np.array([True, True, False, False])) == pytest.approx(1.0, abs=1e-3)


def test_split_gaps_agree_with_sklearn(rng: np.random.Generator) -> None:
    y = rng.integers(0, 2, 2000)
    p = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.25, 2000), 0.01, 0.99)
    g = rng.integers(0, 2, 2000)
    gaps = split_gaps(y.astype(float), p, g, 2)
    aucs = [roc_auc_score(y[g == j], p[g == j]) for j in (0, 1)]
    assert gaps["auc_gap"] == pytest.approx(abs(aucs[0] - aucs[1]), abs=1e-9)
    eces = [expected_calibration_error(y[g == j], p[g == j]) for j in (0, 1)]
    assert gaps["ece_gap"] == pytest.approx(max(eces) - min(eces))


def test_randomisation_test_p_values(rng: np.random.Generator) -> None:
    """Labels that carry the bias get the smallest p; labels independent of it do not."""
    learners, per = 200, 20
    answer_learner = np.repeat(np.arange(learners), per)
    y = rng.integers(0, 2, learners * per).astype(float)
    group = np.arange(learners) % 2
    good = np.clip(0.5 + 0.35 * (y - 0.5) + rng.normal(0, 0.2, len(y)), 0.01, 0.99)
    bad = np.where(group[answer_learner] == 1, rng.uniform(0.01, 0.99, len(y)), good)
    biased = randomisation_test(y, bad, answer_learner, group, permutations=199, rng=np.random.default_rng(1))
    fair = randomisation_test(y, good, answer_learner, group, permutations=199, rng=np.random.default_rng(1))
    assert biased["abroca_p"] == pytest.approx(1 / 200) and biased["auc_gap_p"] == pytest.approx(1 / 200)
    assert fair["abroca_p"] > 0.05 and fair["auc_gap_p"] > 0.05


def test_builtin_and_attribute_splits(simulated: Responses, tmp_path: Path) -> None:
    splits = builtin_splits(simulated, first=5)
    lengths = pd.Series(simulated.lengths, index=simulated.learners_present())
    short = splits["history"][splits["history"].str.startswith("<")].index
    assert (lengths[short] < np.median(simulated.lengths)).all()
    ids = simulated.learners_present()
    table = pd.DataFrame({"learner": ids, "School_ID": [f"s{j % 3}" for j in range(len(ids))],
                          "age": np.arange(len(ids)) % 40 + 10})
    path = tmp_path / "attrs.csv"
    table.to_csv(path, index=False)
    found = group_splits(simulated, read_attributes(path))
    assert set(found) == {"history", "first_answers", "school", "age"}
    assert set(found["school"]) == {"s0", "s1", "s2"}
    assert set(found["age"]) == {"< 29.5", "≥ 29.5"}  # a many-valued number is cut at its median
    table.iloc[:2].assign(learner=[ids[0], ids[0]]).to_csv(path, index=False)
    with pytest.raises(InvalidResponsesError, match="repeat"):
        read_attributes(path)


@pytest.fixture(scope="module")
def fitted() -> tuple[object, Responses, pd.DataFrame]:
    """An IRT fitted on simulated learners, the test learners, and a random A/B attribute of theirs."""
    r = Simulator(random_state=1).simulate(600, (20, 70))
    split = kfold_splits(r, k=4, random_state=0)[0]
    model = make_model("irt").fit(split.train)
    ids = split.test.learners_present().astype(str)
    groups = np.random.default_rng(5).choice(["A", "B"], len(ids))
    return model, split.test, pd.DataFrame({"group": groups}, index=pd.Index(ids, name="learner"))


def test_the_audit_finds_an_injected_bias_and_not_a_chance_gap(fitted: tuple) -> None:
    """The required check: a model whose predictions for group B are made worse on purpose is flagged (all
    three gaps significant, cold start too); the same model without the bias shows no significant gap on
    that random attribute."""
    model, test, attrs = fitted
    config = AuditConfig(permutations=200, ks=(3,))
    control = audit_model(model, test, attributes=attrs, splits=["group"], config=config)
    biased_model = InjectedBias(model, set(attrs.index[attrs.group == "B"]), shrink=0.5, noise=1.0)
    biased = audit_model(biased_model, test, attributes=attrs, splits=["group"], config=config)
    fair, unfair = control.splits[0], biased.splits[0]
    assert fair.significant(0.05) == []
    assert set(unfair.significant(0.05)) == {"abroca", "auc_gap", "ece_gap"}
    assert unfair.gaps["abroca"] > 5 * fair.gaps["abroca"]
    auc = {g["group"]: g["auc"] for g in unfair.groups}
    assert auc["B"] < auc["A"] - 0.05
    assert unfair.coldstart[0]["auc_gap_p"] < 0.05 < fair.coldstart[0]["auc_gap_p"]
    assert biased.unmet() and "group (abroca" in biased.unmet()[0]


def test_groups_table_matches_fairlearn_bookkeeping(fitted: tuple) -> None:
    model, test, attrs = fitted
    audit = audit_model(model, test, attributes=attrs, splits=["group"], config=AuditConfig(permutations=20, ks=()))
    p = model.predict_proba(test)
    labels = attrs.group.reindex(test.learners_present().astype(str)).to_numpy()
    per_answer = np.repeat(labels, test.lengths)
    for row in audit.splits[0].groups:
        mine = per_answer == row["group"]
        assert row["answers"] == int(mine.sum())
        assert row["learners"] == int((labels == row["group"]).sum())
        assert row["base_rate"] == pytest.approx(test.correct[mine].mean(), abs=1e-6)
        assert row["auc"] == pytest.approx(roc_auc_score(test.correct[mine], p[mine]), abs=1e-6)


def test_support_only_predictions_see_only_the_first_k_answers(fitted: tuple) -> None:
    """Cold start: changing any answer after the first k never changes the prediction of the next ones."""
    model, test, _ = fitted
    queries, sequences, answers = support_only(test, 3, 10)
    assert len(queries) == len(answers) == sequences.n_learners
    assert np.all(sequences.lengths == 4)
    _, y, p = coldstart_predictions(model, test, 3, query=10)
    flipped = test.__class__(**{**{f: getattr(test, f) for f in ("learner", "item", "skill_ptr", "skill", "timestamp",
                                                                  "learner_ids", "item_ids", "skill_ids")},
                                "correct": np.where(test.order >= 3, 1 - test.correct, test.correct).astype(np.int8)})
    _, y2, p2 = coldstart_predictions(model, flipped, 3, query=10)
    assert np.allclose(p, p2) and not np.array_equal(y, y2)


def test_reports_render_from_the_json(fitted: tuple, tmp_path: Path) -> None:
    model, test, attrs = fitted
    audit = audit_model(model, test, attributes=attrs, config=AuditConfig(permutations=20, ks=(1,)))
    payload = json.loads(json.dumps(audit.to_json(), allow_nan=False))  # strict JSON
    md = write_report(payload, tmp_path / "audit.md")
    text = md.read_text()
    assert "| group |" in text and "ABROCA" in text and "Cold start" in text
    for split in ("history", "first_answers", "group"):
        assert (tmp_path / "audit_figures" / f"{split}.png").stat().st_size > 1000
        assert f"audit_figures/{split}.png" in text
    page = render_html(payload)
    assert page.count("data:image/png;base64,") == 3 and "<script" not in page
