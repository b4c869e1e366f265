import numpy as np
import pytest

from metatutor.models.readout import ReluBank


def dense(c: np.ndarray, slope: np.ndarray, w: np.ndarray, group: np.ndarray, u: np.ndarray, bias: np.ndarray,
          shift: np.ndarray | None = None) -> np.ndarray:
    out = np.maximum(c[group] + u[:, None] * slope[group], 0.0) @ w + bias
    return out if shift is None else out + shift[group]


@pytest.mark.parametrize("spread", [0.05, 1.0, 5.0])  # few units switch inside a group ... most do
def test_the_bank_equals_the_dense_read_out(spread: float) -> None:
    rng = np.random.default_rng(0)
    n, g, h = 3000, 40, 32
    group, u, bias = rng.integers(0, g - 2, n), rng.normal(0, spread, n), rng.normal(size=n)  # two groups empty
    c, slope, w, shift = rng.normal(size=(g, h)), rng.normal(size=(g, h)), rng.normal(size=h), rng.normal(size=g)
    slope[0, :5] = 0.0  # units that never switch: on or off for the whole group
    c[0, :2] = 0.0
    fixed = ReluBank.build(group, u, bias, w, slope=slope)
    free = ReluBank.build(group, u, bias, w, n_groups=g)
    expected = dense(c, slope, w, group, u, bias, shift)
    np.testing.assert_allclose(fixed.logits(c, shift), expected, atol=1e-5)
    np.testing.assert_allclose(free.logits(c, shift, slope=slope), expected, atol=1e-5)
    assert fixed.logits(c).dtype == np.float32


def test_items_at_a_kink_and_ties_in_u() -> None:
    w, slope = np.array([1.0, -2.0]), np.array([[1.0, 1.0]])
    c = np.array([[-0.5, 0.25]])  # unit 0 switches on at u = 0.5, unit 1 at u = -0.25
    u = np.array([0.5, 0.5, -0.25, 1.0, -1.0, 0.0])
    bank = ReluBank.build(np.zeros(6), u, np.zeros(6), w, slope=slope)
    np.testing.assert_allclose(bank.logits(c), dense(c, slope, w, np.zeros(6, dtype=int), u, np.zeros(6)), atol=1e-6)


def test_codes_place_each_item_in_a_larger_output() -> None:
    rng = np.random.default_rng(1)
    codes = np.array([7, 2, 5])
    w, slope, c = rng.normal(size=4), rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    group, u = np.array([0, 1, 0]), np.array([0.3, -0.1, -0.4])
    bank = ReluBank.build(group, u, np.zeros(3), w, slope=slope, codes=codes, size=9)
    out = bank.logits(c)
    assert out.shape == (9,)
    np.testing.assert_allclose(out[codes], dense(c, slope, w, group, u, np.zeros(3)), atol=1e-6)


def test_wrong_shapes_are_refused() -> None:
    bank = ReluBank.build(np.array([0, 1]), np.zeros(2), np.zeros(2), np.ones(3), n_groups=2)
    with pytest.raises(ValueError, match="pass slope"):
        bank.logits(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="c and slope"):
        bank.logits(np.zeros((3, 3)), slope=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="groups must lie"):
        ReluBank.build(np.array([0, 5]), np.zeros(2), np.zeros(2), np.ones(3), n_groups=2)
