"""Item-to-item answer effects (`PairEffects`) and the learner model on them (`PairKT`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from metatutor.data.responses import Responses
from metatutor.models import load_model, make_model, model_from_bytes
from metatutor.models.pairs import PairEffects, PairKT, mean_earlier_effects, pair_cap


def table_of(r: Responses, **settings: object) -> PairEffects:
    return PairEffects.count(r.item, r.correct, r.starts, len(r.item_ids), **settings)  # type: ignore[arg-type]


def test_effects_say_which_items_go_together(two_skill_world) -> None:  # type: ignore[no-untyped-def]
    train = two_skill_world(600, 0)
    table = table_of(train)
    code = {str(x): i for i, x in enumerate(train.item_ids)}
    a0, a1, b1 = code["a0"], code["a1"], code["b1"]
    assert table.lookup(a0, 1, a1) > 0.5 and table.lookup(a0, 0, a1) < -0.5  # a0's answer moves a1 both ways
    assert abs(table.lookup(a0, 1, b1)) < 0.2 and abs(table.lookup(a0, 0, b1)) < 0.2  # and leaves b1 alone
    assert table.counted == 600 * 20 * 19  # every ordered pair of every learner's answers
    assert table.n_pairs == 20 * 19  # every item with every other, none with itself
    # no effect for items outside the table or pairs never answered together
    assert table.lookup(-1, 1, a1) == 0 and table.lookup(a0, 1, len(code)) == 0


def test_an_effect_is_the_shrunk_change_in_log_odds() -> None:
    # learners answer q then j: of the 4 who got q right, 3 got j right; of the 4 who got q wrong, 1 did
    frame = pd.DataFrame([(f"u{k}", item, "s", y) for k, (yq, yj) in enumerate([(1, 1)] * 3 + [(1, 0)] + [(0, 1)]
                                                                                + [(0, 0)] * 3)
                          for item, y in (("q", yq), ("j", yj))], columns=["learner", "item", "skill", "correct"])
    r = Responses.from_frame(frame)
    q, j = (int(np.flatnonzero(r.item_ids == name)[0]) for name in ("q", "j"))
    table = table_of(r, shrink=2.0)
    either = (4 + 1) / (8 + 2)
    given = (3 + 2 * either) / (4 + 2)
    expected = np.log(given / (1 - given)) - np.log(either / (1 - either))
    assert np.isclose(table.lookup(q, 1, j), expected, atol=1e-6)
    assert np.isclose(table.lookup(q, 0, j), -expected, atol=1e-6)  # symmetric counts, opposite effect


def test_dense_and_sorted_counting_agree_and_rare_pairs_can_be_left_out(two_skill_world) -> None:  # type: ignore[no-untyped-def]
    train = two_skill_world(200, 1)
    dense = table_of(train)
    sparse = table_of(train, dense_cells=0, chunk_rows=5000)  # sorted keys, counted in small pieces
    np.testing.assert_array_equal(dense.indptr, sparse.indptr)
    np.testing.assert_array_equal(dense.partner, sparse.partner)
    np.testing.assert_allclose(dense.effect, sparse.effect, atol=1e-6)
    assert table_of(train, min_together=201).n_pairs == 0 < table_of(train, min_together=200).n_pairs


def test_pair_counts_stay_within_their_budget(two_skill_world) -> None:  # type: ignore[no-untyped-def]
    train = two_skill_world(50, 2)  # 20 answers each: 50 · 20 · 19 = 19,000 pairs uncapped
    assert table_of(train).cap == 1000 and table_of(train).counted == 19_000
    small = table_of(train, max_pairs=5000)
    assert small.cap == 10 and small.counted == 50 * 10 * 9 <= 5000  # 50 · 11 · 10 would be over
    assert pair_cap(np.array([3, 3]), 1000, max_pairs=1) == 2  # never below two answers


def test_mean_earlier_effects_use_only_earlier_answers(two_skill_world) -> None:  # type: ignore[no-untyped-def]
    train = two_skill_world(300, 3)
    table = table_of(train)
    item, y = train.item[:20], train.correct[:20]
    feature = mean_earlier_effects(table, item, y, np.array([0, 20]))
    assert feature[0] == 0
    for t in (1, 7, 19):
        assert np.isclose(feature[t], np.mean([table.lookup(item[s], y[s], item[t]) for s in range(t)]), atol=1e-6)


def test_pairs_beat_item_rates_on_new_learners_and_stacking_weighs_them(two_skill_world) -> None:  # type: ignore[no-untyped-def]
    train, valid, test = (two_skill_world(n, seed) for n, seed in ((600, 10), (200, 11), (200, 12)))
    model = PairKT().fit(train, valid)
    assert model.coef_[2] > 1  # the validation learners give the effects real weight
    item_only = PairKT().fit(train, valid)
    item_only.coef_ = np.array([model.coef_[0], model.coef_[1], 0.0])
    auc = lambda m: roc_auc_score(test.correct, m.predict_proba(test))  # noqa: E731
    assert auc(model) > auc(item_only) + 0.1


def test_online_state_matches_batch_prediction_and_round_trips(two_skill_world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    train, test = two_skill_world(300, 20), two_skill_world(5, 21)
    model = PairKT().fit(train, two_skill_world(100, 22))
    batch = model.predict_proba(test)
    one = test.select_learners([test.learners_present()[0]])
    items = model.vocab_.items(one)
    state = model.online()
    for t, (i, y) in enumerate(zip(items, one.correct, strict=True)):
        assert np.isclose(state.predict(np.array([i]))[0], batch[t], atol=1e-5)
        state.update(int(i), np.zeros(0, np.int64), int(y))
    assert model.table_.partner.dtype == np.uint16  # fewer than 65,536 items: two bytes a partner
    restored = type(state).from_arrays(model, state.to_arrays())
    np.testing.assert_allclose(restored.predict(), state.predict())
    assert state.predict(np.array([model.vocab_.n_items]))[0] == model.predict_proba(
        two_skill_unseen())[0]  # an unseen item: its overall rate, no effects
    for again in (load_model(str(model.save(tmp_path / "m"))), model_from_bytes(model.to_bytes())):
        np.testing.assert_allclose(again.predict_proba(test), batch)


def two_skill_unseen() -> Responses:
    """One learner answering one item the model never saw."""
    return Responses.from_frame(pd.DataFrame([("new", "zz", "a", 1)], columns=["learner", "item", "skill", "correct"]))


def test_pairs_join_the_stacked_ensemble() -> None:
    model = make_model("ensemble-pairs", max_epochs=2, hidden=16, embed=8)
    assert [m for m in model.config.members] == ["attn", "dkt", "irt", "pairs"]
    assert isinstance(make_model("pairs"), PairKT)
