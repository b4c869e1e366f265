"""Every script in examples/ runs (on simulated data) and gives sensible figures."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str, **kwargs: Any) -> Any:
    """The script's `main()`, as `python examples/NAME.py` runs it (its output is printed as it goes)."""
    module = runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name="example")
    return module["main"](**kwargs)


def test_every_example_is_tested() -> None:
    tested = {"fit_and_evaluate", "serve_one_learner", "adaptive_test"}
    assert {p.stem for p in EXAMPLES.glob("*.py")} == tested


@pytest.mark.slow
def test_fit_and_evaluate(capsys: pytest.CaptureFixture[str]) -> None:
    test_auc = run_example("fit_and_evaluate")
    out = capsys.readouterr().out
    assert set(test_auc) == {"irt", "bkt", "dkt"}
    # simulated learners who learn: every model beats chance on unseen learners, and DKT beats IRT
    assert all(auc > 0.6 for auc in test_auc.values()), test_auc
    assert test_auc["dkt"] > test_auc["irt"]
    assert "reloaded" in out and "mastery table 80 learners x 12 skills" in out


@pytest.mark.slow
def test_serve_one_learner(capsys: pytest.CaptureFixture[str]) -> None:
    asked = run_example("serve_one_learner", turns=12)
    out = capsys.readouterr().out
    # the rule shows the item whose P(correct) is nearest 70%: with 300 items one lies close to it
    assert len(asked) == 12 and all(abs(p - 0.7) < 0.1 for p in asked), asked
    assert "12 answers stored in" in out


def test_adaptive_test(capsys: pytest.CaptureFixture[str]) -> None:
    summary = run_example("adaptive_test", examinees=30)
    out = capsys.readouterr().out
    assert summary["correlation"] > 0.85, summary
    assert 5 <= summary["mean_items"] <= 30
    assert "stopped (" in out and "calibrated 300 items" in out
