from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from metatutor.cli import app
from metatutor.errors import ConfigError
from metatutor.evaluation.practice import PracticeConfig, PracticeResult, run_builtin, run_practice_benchmark
from metatutor.evaluation.practice_fitted import run_fitted

SMALL = PracticeConfig(n_learners=12, budget=20, max_items=60, curve_items=30, train_learners=150, seed=0)


@pytest.fixture(scope="module")
def small_run() -> object:
    return run_builtin(SMALL, ["random", "mastery", "default"])


def test_rows_and_summary_have_the_issue_shape(small_run) -> None:  # type: ignore[no-untyped-def]
    result = small_run
    assert len(result.rows) == 3 * SMALL.n_learners
    for row in result.rows:
        assert {"policy", "simulator", "items_to_mastery", "posttest", "retention"} <= set(row)
        assert row["simulator"] == "builtin"
        assert 0 <= row["items_to_mastery"] <= SMALL.max_items
        assert 0 < row["posttest"] < 1 and 0 < row["retention"] < 1
    summary = result.summary()
    assert set(summary) == {"random", "mastery", "default"}
    for s in summary.values():
        assert {"items_to_mastery", "posttest", "retention", "posttest_ci95"} <= set(s)
    assert all(len(c) == SMALL.curve_items for c in result.curves["builtin"].values())


def test_every_policy_meets_the_same_learners(small_run) -> None:  # type: ignore[no-untyped-def]
    # learners already mastering the goals at the start do so under every policy
    zero = {p: {r["learner"] for r in small_run.rows if r["policy"] == p and r["items_to_mastery"] == 0}
            for p in ("random", "mastery", "default")}
    assert zero["random"] == zero["mastery"] == zero["default"]


def test_retention_does_not_exceed_posttest_on_average(small_run) -> None:  # type: ignore[no-untyped-def]
    for s in small_run.summary().values():
        assert s["retention"] <= s["posttest"] + 1e-9  # forgetting only, no practice in between


def test_same_seed_same_result() -> None:
    a = run_builtin(SMALL, ["thompson"]).rows
    b = run_builtin(SMALL, ["thompson"]).rows
    assert a == b


def test_unknown_policy_and_missing_data_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="unknown policy"):
        run_practice_benchmark(SMALL, ["nope"])
    with pytest.raises(ConfigError, match="no such dataset"):
        run_practice_benchmark(SMALL, ["random"], data="no/such/folder")


@pytest.mark.slow
def test_fitted_simulator_adds_rows_and_curves(csv_path: Path) -> None:
    config = PracticeConfig(n_learners=10, budget=8, seed=0)
    result = PracticeResult(config)
    run_fitted(result, csv_path, ["random", "default"], form_items=10)
    rows = [r for r in result.rows if r["simulator"] == "fitted"]
    assert len(rows) == 2 * 10 and {r["policy"] for r in rows} == {"random", "default"}
    assert all(0 < r["posttest"] < 1 and r["items_to_mastery"] is None and r["retention"] is None for r in rows)
    assert len({r["learner"] for r in rows}) == 10  # real test learners, each once per policy
    assert all(len(c) == 8 for c in result.curves["fitted"].values())
    summary = result.summary()["random"]["by_simulator"]["fitted"]
    assert summary["retention"] is None and summary["posttest"] is not None
    assert "| fitted | random |" in result.to_markdown()


def test_cli_writes_json_markdown_and_plot(tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    res = CliRunner().invoke(app, ["benchmark", "practice", "--learners", "6", "--budget", "10", "--max-items", "30",
                                   "--policies", "random,default", "--json", str(out), "--markdown",
                                   str(tmp_path / "p.md"), "--plot", str(tmp_path / "p.png")])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["task"] == "practice" and set(data["summary"]) == {"random", "default"}
    assert (tmp_path / "p.png").stat().st_size > 1000 and "| builtin | default |" in (tmp_path / "p.md").read_text()
    bad = CliRunner().invoke(app, ["benchmark", "practice", "--policies", "nope"])
    assert bad.exit_code == 2 and "unknown policy" in bad.output
