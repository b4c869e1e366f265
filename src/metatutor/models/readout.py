"""Exact, fast scoring of a whole item bank through a one-layer ReLU read-out.

Serving scores every item of a bank after each response. In DKT, the items of one skill set differ in
their read-out's input only along one line: the pre-activation of item i is c_g + u_i · s_g, with g its
skill set, u_i its offset μ_i, and c_g, s_g (H,) vectors of the set (c_g also holds the learner's state).
Its logit b_i + Σ_k w_k relu(c_gk + u_i s_gk) is then a piecewise-linear function of u_i that bends only
where a unit switches on or off, at u = -c_gk / s_gk. Trained offsets span a narrow range, so few units
switch between a set's easiest and hardest item. `ReluBank.logits` therefore takes, per set, the units
active at its lowest u (one line: intercept and slope), adds the switches that fall inside the set's
range (each placed among the set's items, sorted by u, by one binary search), and evaluates a line per
item: the same logits as the (N, H) pass, up to float rounding, in a few passes over N numbers. The
attention model's bank has the same shape: there u_i is item i's weight on its set's second node.

Glossary: N items, G groups (skill sets), H hidden units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ReluBank:
    """A bank's items sorted by group, then by u, with the read-out's weights and, when it is fixed,
    each group's slope; `order[j]` is the item code (the place in the output) of sorted place j."""

    order: np.ndarray  # (N,) item codes in sorted order
    u: np.ndarray  # (N,) float64 coordinate of each sorted item
    bias: np.ndarray  # (N,) float64 b_i of each sorted item
    key: np.ndarray  # (N,) float64 group · gap + u, increasing
    start: np.ndarray  # (G,) where each group's items start in sorted order
    lo: np.ndarray  # (G,) each group's lowest u (0 for a group without items)
    hi: np.ndarray  # (G,) and its highest
    weight: np.ndarray  # (H,) the read-out's weights w
    gap: float  # the distance between groups in `key` (more than twice the largest |u|)
    size: int  # length of the output (at least 1 + the largest item code)
    slope: np.ndarray | None  # (G, H) each group's change of pre-activation per unit of u, if fixed

    @classmethod
    def build(cls, group: np.ndarray, u: np.ndarray, bias: np.ndarray, weight: np.ndarray, *,
              n_groups: int | None = None, slope: np.ndarray | None = None, codes: np.ndarray | None = None,
              size: int | None = None) -> ReluBank:
        """group, u, bias: (N,) per item; weight (H,); slope (G, H) when it does not change between calls
        (else give it to `logits`); codes: each item's place in the output (default 0..N-1) of `size`."""
        group = np.asarray(group, dtype=np.int64).reshape(-1)
        u = np.asarray(u, dtype=np.float64).reshape(-1)
        bias = np.asarray(bias, dtype=np.float64).reshape(-1)
        weight = np.asarray(weight, dtype=np.float64)
        codes = np.arange(len(group)) if codes is None else np.asarray(codes, dtype=np.int64).reshape(-1)
        if not len(group) == len(u) == len(bias) == len(codes):
            raise ValueError("group, u, bias and codes need one entry per item")
        if n_groups is None:
            n_groups = len(slope) if slope is not None else int(group.max(initial=-1)) + 1
        if slope is not None:
            slope = np.asarray(slope, dtype=np.float64)
            if slope.shape != (n_groups, len(weight)):
                raise ValueError(f"slope must be ({n_groups}, {len(weight)})")
        if len(group) and (group.min() < 0 or group.max() >= n_groups):
            raise ValueError(f"groups must lie in 0..{n_groups - 1}")
        order = np.lexsort((u, group))
        gap = 4.0 * (float(np.abs(u).max(initial=0.0)) + 1.0)
        g, v = group[order], u[order]
        start = np.searchsorted(g, np.arange(n_groups), side="left")
        count = np.searchsorted(g, np.arange(n_groups), side="right") - start
        lo = np.where(count > 0, v[np.minimum(start, len(v) - 1)] if len(v) else 0.0, 0.0)
        hi = np.where(count > 0, v[np.maximum(start + count - 1, 0)] if len(v) else 0.0, 0.0)
        size = int(codes.max(initial=-1)) + 1 if size is None else size
        return cls(codes[order], v, bias[order], g * gap + v, start, lo, hi, weight, gap, size, slope)

    def logits(self, c: np.ndarray, shift: np.ndarray | None = None, *, slope: np.ndarray | None = None) -> np.ndarray:
        """b_i + shift_g + Σ_k w_k relu(c_gk + u_i slope_gk) of every item i (of group g), written at its
        code in a new float32 array `size` long (positions no item holds are left unset for the caller).
        c: (G, H) each group's pre-activation at u = 0; shift: (G,) a constant per group; slope: (G, H),
        needed when the bank has none."""
        c = np.asarray(c, dtype=np.float64)
        slope = self.slope if slope is None else np.asarray(slope, dtype=np.float64)
        if slope is None:
            raise ValueError("this bank's slope changes between calls: pass slope")
        if c.shape != slope.shape or c.shape != (len(self.lo), len(self.weight)):
            raise ValueError(f"c and slope must be ({len(self.lo)}, {len(self.weight)})")
        w = self.weight
        on = c + self.lo[:, None] * slope > 0  # units active at each group's lowest u
        level = np.where(on, c, 0.0) @ w
        if shift is not None:
            level += shift
        rise = np.where(on, slope, 0.0) @ w
        g, k = np.nonzero(on != (c + self.hi[:, None] * slope > 0))  # units that switch inside a group
        # each group's line changes where a unit switches: on adds the unit's line, off removes it
        sign, cs, ss = np.where(on[g, k], -w[k], w[k]), c[g, k], slope[g, k]
        at = np.searchsorted(self.key, g * self.gap - cs / ss)  # first item right of it
        # pieces: each group's start (its line at lo), then its switches; deltas relative to the piece before
        switch_c, switch_s = sign * cs, sign * ss
        end_c = level + np.bincount(g, switch_c, minlength=len(level))
        end_s = rise + np.bincount(g, switch_s, minlength=len(rise))
        where = np.concatenate([self.start, at])
        step_c = np.concatenate([level - np.concatenate([[0.0], end_c[:-1]]), switch_c])
        step_s = np.concatenate([rise - np.concatenate([[0.0], end_s[:-1]]), switch_s])
        order = np.argsort(where, kind="stable")  # a group's start before any switch at the same place
        length = np.diff(where[order], append=len(self.u))
        value = (self.bias + np.repeat(np.cumsum(step_c[order]), length)
                 + np.repeat(np.cumsum(step_s[order]), length) * self.u)
        out = np.empty(self.size, dtype=np.float32)
        out[self.order] = value
        return out
