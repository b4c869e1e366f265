"""The pair table's memory is bounded (`PairEffects.bound`): by a number of partners per item, or by a size
budget that keeps each item's partners answered together most often and says so."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from metatutor.data.simulator import Simulator, SimulatorConfig
from metatutor.models import make_model
from metatutor.models.pairs import PairEffects


@pytest.fixture(scope="module")
def log():  # type: ignore[no-untyped-def]
    return Simulator(SimulatorConfig(n_skills=6, items_per_skill=8), random_state=4).simulate(150, (10, 40))


def _count(r, **settings) -> PairEffects:  # type: ignore[no-untyped-def]
    return PairEffects.count(r.item, r.correct, r.starts, len(r.item_ids), **settings)


def _together(r) -> dict[tuple[int, int], int]:  # type: ignore[no-untyped-def]
    """How many ordered pairs of answers each (q, j) got, counted by hand."""
    out: dict[tuple[int, int], int] = {}
    for lo, hi in zip(r.starts[:-1], r.starts[1:], strict=True):
        items = r.item[lo:hi]
        for a in range(len(items)):
            for b in range(len(items)):
                if a != b:
                    out[items[a], items[b]] = out.get((items[a], items[b]), 0) + 1
    return out


def test_each_item_keeps_its_partners_answered_together_most_often(log) -> None:  # type: ignore[no-untyped-def]
    whole = _count(log, max_table_mb=None)
    kept = _count(log, max_partners=5, max_table_mb=None)
    together = _together(log)
    assert kept.partners_kept == 5 and whole.partners_kept == 0
    assert np.diff(kept.indptr).max() == 5 < np.diff(whole.indptr).max()
    for q in range(kept.n_items):
        mine = kept.partner[kept.indptr[q] : kept.indptr[q + 1]].astype(int)
        assert np.all(np.diff(mine) > 0)  # still sorted: lookups work
        rest = sorted((-together[q, j], j) for j in whole.partner[whole.indptr[q] : whole.indptr[q + 1]].astype(int))
        assert sorted(mine.tolist()) == sorted(j for _, j in rest[:5])  # the 5 most answered together (ties: code)
        # a kept pair's effect is the whole table's
        np.testing.assert_array_equal(kept.lookup(q, 1, mine), whole.lookup(q, 1, mine))


def test_a_size_budget_bounds_the_table_and_says_so(log, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    whole = _count(log, max_table_mb=None)
    budget_mb = whole.nbytes / 3 / 2**20
    with caplog.at_level(logging.WARNING, logger="metatutor.models.pairs"):
        bounded = _count(log, max_table_mb=budget_mb)
    assert bounded.nbytes <= budget_mb * 2**20 < whole.nbytes
    assert 0 < bounded.partners_kept < np.diff(whole.indptr).max()
    assert "exceed max_table_mb" in caplog.text and f"keeps its {bounded.partners_kept} partners" in caplog.text
    # the default budget leaves a small table whole, without a word
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="metatutor.models.pairs"):
        assert _count(log).n_pairs == whole.n_pairs
    assert not caplog.text


def test_the_pair_model_takes_the_bounds(log) -> None:  # type: ignore[no-untyped-def]
    model = make_model("pairs", max_partners=3).fit(log)
    assert np.diff(model.table_.indptr).max() == 3  # type: ignore[attr-defined]
    p = model.predict_proba(log)
    assert np.all((p > 0) & (p < 1))
