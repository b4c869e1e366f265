"""Item-to-item answer effects learned from many learners, and a learner model built on them.

For an answered item q and another item j, among the training learners who answered both: how far q's
answer moves j's log-odds, e_y(q → j) = logit P(j right | q answered y) - logit P(j right | both answered),
with P(j right | q answered y) shrunk towards P(j right | both answered) by `shrink` pseudo-learners.
How often two items are answered together (which says something about a learner's assignments, not about
their answers) cancels out of the difference: only answers move a prediction. A pair never answered
together has no effect.

`PairEffects` holds the effects as a sparse table (one row of partners per item); `PairKT` predicts a
response from the item's success rate and the mean effect of the learner's earlier answers on it, and
keeps an O(partners) online state.

Memory is bounded twice. Counting: at most `MAX_PAIRS` ordered pairs of answers are counted (a lower cap
on each learner's answers beyond), and the counts of the distinct pairs are merged chunk by chunk. The
table: 10 bytes a pair (a uint16 partner and two float32 effects; 12 with more than 65,535 items), within
`max_table_mb` (default `TABLE_MB`): beyond it each item keeps only its partners answered together most
often, as many as fit, with a warning that says how many were kept; `max_partners` sets that number
outright. assist2009_pid's whole table is 30.7 M pairs, 307 MB, within the default. `PairLearners`
(`metatutor.assessment.learners`) counts its table here too, with the same bounds. The adaptive-test learner model `assessment.learners.PairLearners`
adds the same effects to a base model.

Where they pay: ASSISTments problems are answered in assignments that whole classes do, so under a
learner-level split the training learners include a test learner's classmates, and the effects act as a
collaborative filter over them (docs/benchmarks.md §3 and §4a say what the figures rest on).

Example:
    >>> from metatutor.data.simulator import Simulator
    >>> r = Simulator(random_state=0).simulate(60, (20, 40))
    >>> model = PairKT().fit(r)
    >>> bool(((model.predict_proba(r) > 0) & (model.predict_proba(r) < 1)).all())
    True
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from metatutor.data.responses import Responses
from metatutor.models.base import (
    LearnerModel,
    Vocabulary,
    logit,
    overall_rate,
    segment_ids,
    shrunk_item_logits,
    sigmoid,
)

log = logging.getLogger(__name__)

DENSE_CELLS = 50_000_000  # up to this many (item, item, answer) cells the counts are a dense table
CHUNK_ROWS = 20_000_000  # pairs gathered before they are counted (bounds the memory of a fit)
MAX_PAIRS = 150_000_000  # pairs counted in all (assist2009_pid's training parts: 53 M, statics': 81 M)
TABLE_MB = 512.0  # the table's memory at most (assist2009_pid's whole table: 307 MB)


def pair_cap(lengths: np.ndarray, max_per_learner: int, max_pairs: int = MAX_PAIRS) -> int:
    """The largest per-learner cap on answers (≤ `max_per_learner`) whose ordered pairs stay within
    `max_pairs` over all learners of these sequence lengths."""
    count = lambda cap: int((np.minimum(lengths, cap) * (np.minimum(lengths, cap) - 1)).sum())  # noqa: E731
    lo, hi = 2, max(2, max_per_learner)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if count(mid) <= max_pairs else (lo, mid - 1)
    return lo


def partner_dtype(n_items: int) -> type[np.integer[Any]]:
    return np.uint16 if n_items <= np.iinfo(np.uint16).max else np.int32


@dataclass(frozen=True)
class PairEffects:
    """Sparse item-to-item answer effects: row q's partners are `partner[indptr[q]:indptr[q + 1]]`
    (sorted), and `effect[y]` at the same positions is the log-odds effect on them of answering q
    wrong (y = 0) or right (y = 1)."""

    n_items: int
    indptr: np.ndarray  # (n_items + 1,) int64
    partner: np.ndarray  # (P,) uint16 below 65,536 items (a fifth less to store), else int32
    effect: np.ndarray  # (2, P) float32
    cap: int = 0  # answers counted per learner at most (0: not known, e.g. read back from a file)
    counted: int = 0  # ordered pairs of answers counted
    partners_kept: int = 0  # partners kept per item at most when the table was bounded (0: all were kept)

    @classmethod
    def count(cls, item: np.ndarray, correct: np.ndarray, starts: np.ndarray, n_items: int, *,
              shrink: float = 10.0, max_per_learner: int = 1000, max_pairs: int = MAX_PAIRS,
              min_together: int = 1, random_state: int | None = 0, dense_cells: int = DENSE_CELLS, chunk_rows: int = CHUNK_ROWS,
              max_partners: int | None = None, max_table_mb: float | None = TABLE_MB) -> Self:
        """Count every ordered pair of two answers of the same learner (item codes < `n_items`; a learner's
        rows are `starts[l]:starts[l + 1]`). At most `max_per_learner` answers of each learner, a seeded
        sample, bound the work at n²; on very large data the cap comes down so that at most `max_pairs`
        pairs are counted in all. Up to `dense_cells` (item, item, answer) cells they are counted in a dense
        table, beyond as sorted keys, `chunk_rows` pairs at a time, merged as they come. The table keeps at
        most `max_partners` partners per item and fits in `max_table_mb` (see `bound`)."""
        rng = np.random.default_rng(random_state)
        cap = pair_cap(np.diff(starts), max_per_learner, max_pairs)
        n = int(n_items)
        cells = 2 * n * n
        dense = cells <= dense_cells
        tables: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (keys, answers, right answers)
        merged: tuple[np.ndarray, np.ndarray, np.ndarray] = (np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
        keys: list[np.ndarray] = []
        right: list[np.ndarray] = []
        size = counted = 0

        def flush() -> None:
            nonlocal size, merged
            k, r = np.concatenate(keys), np.concatenate(right)
            keys.clear()
            right.clear()
            size = 0
            if dense:
                tables.append((np.empty(0, np.int64), np.bincount(k, minlength=cells), np.bincount(k, weights=r, minlength=cells)))
            else:  # merged into the counts so far: memory is the distinct pairs, not every chunk's
                uk, inv = np.unique(np.concatenate([merged[0], k]), return_inverse=True)
                ones = np.ones(len(k))
                merged = (uk, np.bincount(inv, weights=np.concatenate([merged[1], ones]), minlength=len(uk)),
                          np.bincount(inv, weights=np.concatenate([merged[2], r]), minlength=len(uk)))

        for lo, hi in itertools.pairwise(starts):
            rows = np.arange(lo, hi)
            if len(rows) > cap:
                rows = np.sort(rng.choice(rows, cap, replace=False))
            it, y = item[rows].astype(np.int64), correct[rows].astype(np.int64)
            q, j = np.nonzero(~np.eye(len(it), dtype=bool))
            keys.append((it[q] * n + it[j]) * 2 + y[q])
            right.append(y[j])
            size += len(q)
            counted += len(q)
            if size > chunk_rows:
                flush()
        if keys:
            flush()
        key: np.ndarray
        tries: np.ndarray
        wins: np.ndarray
        if dense and tables:
            tries = np.sum([t for _, t, _ in tables], axis=0).astype(np.float64)
            wins = np.sum([w for _, _, w in tables], axis=0)
            key = np.flatnonzero(tries)
            tries, wins = tries[key], wins[key]
        else:
            key, tries, wins = merged
        table = cls.from_counts(n, key, tries, wins, shrink=shrink, min_together=min_together)
        table = table.bound(max_partners=max_partners, max_table_mb=max_table_mb)
        return dataclasses.replace(table, cap=cap, counted=counted)

    @classmethod
    def from_counts(cls, n_items: int, key: np.ndarray, tries: np.ndarray, wins: np.ndarray, *,
                    shrink: float, min_together: int = 1) -> Self:
        """The table from counts per sorted key (q · n_items + j) · 2 + (q's answer): how many learners
        answered j after that answer to q, and how many of them right. Pairs answered together fewer than
        `min_together` times are left out (no effect)."""
        pair, answer = key // 2, key % 2
        pairs, inv = np.unique(pair, return_inverse=True)
        c, w = np.zeros((2, len(pairs))), np.zeros((2, len(pairs)))
        c[answer, inv], w[answer, inv] = tries, wins
        if min_together > 1:
            keep = c.sum(0) >= min_together
            pairs, c, w = pairs[keep], c[:, keep], w[:, keep]
        either = (w.sum(0) + 1.0) / (c.sum(0) + 2.0)  # P(j right | both answered), Laplace-smoothed
        given = (w + shrink * either) / (c + shrink)  # P(j right | q answered y), shrunk
        effect = (logit(given) - logit(either)).astype(np.float32)
        rows = pairs // n_items
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_items))]).astype(np.int64)
        table = cls(int(n_items), indptr, (pairs % n_items).astype(partner_dtype(n_items)), effect)
        object.__setattr__(table, "_together", c.sum(0))  # for `bound`, dropped once bounded
        return table

    @property
    def n_pairs(self) -> int:
        return len(self.partner)

    @property
    def nbytes(self) -> int:
        """The table's memory: partners, effects and row offsets."""
        return int(self.partner.nbytes + self.effect.nbytes + self.indptr.nbytes)

    def bound(self, *, max_partners: int | None = None, max_table_mb: float | None = TABLE_MB) -> Self:
        """This table with at most `max_partners` partners per item and within `max_table_mb`: each item
        keeps its partners answered together most often (ties: the lower code), as many as fit, and a
        warning says so. Only a table fresh from `from_counts` knows how often pairs were answered together;
        any other is returned as it is."""
        together = self.__dict__.get("_together")
        if together is None:
            return self
        object.__setattr__(self, "_together", None)
        degree = np.diff(self.indptr)
        k = int(degree.max(initial=0)) if max_partners is None else max(0, int(max_partners))
        per_pair = self.partner.itemsize + self.effect.itemsize * 2
        if max_table_mb is not None:
            budget = int((max_table_mb * 2**20 - self.indptr.nbytes) // per_pair)
            if int(np.minimum(degree, k).sum()) > budget:
                k = _largest_cap(degree, budget)
                log.warning("pair table: %d item pairs (%.0f MB) exceed max_table_mb = %g; each item keeps its %d "
                            "partners answered together most often (%d pairs, %.0f MB); raise max_table_mb to keep "
                            "more", self.n_pairs, self.nbytes / 2**20, max_table_mb, k,
                            int(np.minimum(degree, k).sum()), (np.minimum(degree, k).sum() * per_pair
                                                                + self.indptr.nbytes) / 2**20)
        if k >= int(degree.max(initial=0)):
            return self
        rows = np.repeat(np.arange(self.n_items), degree)
        order = np.lexsort((self.partner, -together, rows))  # each row's partners, most answered first
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order)) - np.repeat(self.indptr[:-1], degree)
        keep = rank < k  # positions stay in key order
        indptr = np.concatenate([[0], np.cumsum(np.minimum(degree, k))]).astype(np.int64)
        return dataclasses.replace(self, indptr=indptr, partner=self.partner[keep], effect=self.effect[:, keep],
                                   partners_kept=k)

    def lookup(self, q: np.ndarray, y: np.ndarray, j: np.ndarray) -> np.ndarray:
        """The effect of answer(s) y to item(s) q on item(s) j (broadcast together; 0 for pairs never
        answered together and for item codes outside the table)."""
        q, y, j = np.broadcast_arrays(np.asarray(q), np.asarray(y), np.asarray(j))
        out = np.zeros(q.shape, dtype=np.float32)
        inside = (q >= 0) & (q < self.n_items) & (j >= 0) & (j < self.n_items)
        if not self.n_pairs or not inside.any():
            return out
        qi, ji = q[inside].astype(np.int64), j[inside].astype(np.int64)
        keys = self._keys()
        pos = np.minimum(np.searchsorted(keys, qi * self.n_items + ji), self.n_pairs - 1)
        hit = keys[pos] == qi * self.n_items + ji
        out[inside] = np.where(hit, self.effect[(y[inside] > 0).astype(np.int64), pos], 0.0)
        return out

    def _keys(self) -> np.ndarray:
        if "_keys_cache" not in self.__dict__:  # q · n + j per entry, sorted: built once, on first lookup
            rows = np.repeat(np.arange(self.n_items, dtype=np.int64), np.diff(self.indptr))
            object.__setattr__(self, "_keys_cache", rows * self.n_items + self.partner.astype(np.int64))
        keys: np.ndarray = self.__dict__["_keys_cache"]
        return keys

    def add_row(self, total: np.ndarray, q: int, y: int) -> None:
        """total[j] += e_y(q → j) for every partner j of q (in place; nothing for an unknown item)."""
        if 0 <= q < self.n_items:
            lo, hi = self.indptr[q], self.indptr[q + 1]
            total[self.partner[lo:hi]] += self.effect[1 if y else 0, lo:hi]

    def to_arrays(self, prefix: str = "pairs/") -> dict[str, np.ndarray]:
        return {f"{prefix}indptr": self.indptr, f"{prefix}partner": self.partner, f"{prefix}effect": self.effect}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str = "pairs/") -> Self:
        indptr = np.asarray(arrays[f"{prefix}indptr"], dtype=np.int64)
        n = len(indptr) - 1
        return cls(n, indptr, np.asarray(arrays[f"{prefix}partner"], dtype=partner_dtype(n)),
                   np.asarray(arrays[f"{prefix}effect"], dtype=np.float32))


def _largest_cap(degree: np.ndarray, budget: int) -> int:
    """The largest k with Σ min(degree, k) ≤ budget (at least 0)."""
    lo, hi = 0, int(degree.max(initial=0))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if int(np.minimum(degree, mid).sum()) <= budget else (lo, mid - 1)
    return lo


def mean_earlier_effects(table: PairEffects, item: np.ndarray, correct: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """(N,) for each response, the mean effect of the same learner's earlier answers on its item (0 for a
    learner's first response): a learner's rows are `starts[l]:starts[l + 1]`, in their order."""
    out = np.zeros(len(item))
    for lo, hi in itertools.pairwise(starts):
        n = int(hi - lo)
        if n < 2:
            continue
        for a in range(0, n, 512):  # blocks of current positions keep the (pairs,) arrays small
            b = min(n, a + 512)
            t, q = np.tril_indices(b, -1)  # q < t
            keep = t >= a
            t, q = t[keep], q[keep]
            e = table.lookup(item[lo + q], correct[lo + q], item[lo + t])
            out[lo + a: lo + b] = (np.bincount(t - a, weights=e, minlength=b - a)
                                   / np.maximum(np.arange(a, b), 1))
    return out


@dataclass(frozen=True)
class PairConfig:
    shrink: float = 10.0  # pseudo-learners that shrink each conditional rate towards the pair's overall one
    max_per_learner: int = 1000  # answers of one learner counted at most (a seeded sample beyond)
    min_together: int = 1  # pairs answered together by fewer training learners have no effect
    item_prior: float = 20.0  # pseudo-answers that shrink an item's success rate towards the overall one
    max_partners: int | None = None  # partners kept per item at most (those answered together most often)
    max_table_mb: float | None = TABLE_MB  # the table's memory at most (fewer partners per item beyond)
    random_state: int | None = 0


class PairKT(LearnerModel):
    """P(correct) = σ(c + w_item · item log-odds + w_pair · mean effect of the learner's earlier answers).
    With validation learners, (c, w_item, w_pair) are a logistic regression of their answers on the two
    features; without, (0, 1, 1). Not a sequence model: the order of earlier answers does not matter."""

    name = "pairs"
    config_class = PairConfig

    def fit(self, train: Responses, valid: Responses | None = None) -> Self:
        cfg = self.config
        self.vocab_ = Vocabulary.of(train)
        n = self.vocab_.n_items
        items = self.vocab_.items(train)
        self.table_ = PairEffects.count(items, train.correct, train.starts, n, shrink=cfg.shrink,
                                        max_per_learner=cfg.max_per_learner, min_together=cfg.min_together,
                                        random_state=cfg.random_state, max_partners=cfg.max_partners,
                                        max_table_mb=cfg.max_table_mb)
        log.info("pairs: %d item pairs over %d items", self.table_.n_pairs, n)
        base = float(logit(overall_rate(train.correct)))  # an unseen item (code n): the overall rate
        self.item_logit_ = np.append(shrunk_item_logits(items, train.correct, n, cfg.item_prior) + base, base)
        rows, skills = train.skill_rows(), self.vocab_.skills(train)
        self.links_ = np.stack([items[rows], skills]).astype(np.int64)  # (2, Z) the (item, skill) links seen
        self.coef_ = np.array([0.0, 1.0, 1.0])  # intercept, item, pairs
        if valid is not None and len(np.unique(valid.correct)) == 2:
            from sklearn.linear_model import LogisticRegression

            x = self._features(valid)
            reg = LogisticRegression(C=1.0).fit(x, valid.correct)
            self.coef_ = np.array([reg.intercept_[0], *reg.coef_[0]], dtype=np.float64)
            log.info("pairs: intercept, item and pair weights %s", np.round(self.coef_, 3))
        return self

    def _features(self, responses: Responses) -> np.ndarray:
        items = self.vocab_.items(responses)
        pairs = mean_earlier_effects(self.table_, items, responses.correct, responses.starts)
        return np.stack([self.item_logit_[items], pairs], axis=1)

    def predict_proba(self, responses: Responses) -> np.ndarray:
        self._check_fitted()
        return np.asarray(sigmoid(self._features(responses) @ self.coef_[1:] + self.coef_[0]))

    def _skill_probabilities(self, responses: Responses) -> np.ndarray:
        out = np.empty((responses.n_learners, self.vocab_.n_skills + 1))
        items, seg = self.vocab_.items(responses), segment_ids(responses)
        for lo, hi in itertools.pairwise(responses.starts):
            state = self.online()
            for i, y in zip(items[lo:hi], responses.correct[lo:hi], strict=True):
                state.update(int(i), np.zeros(0, np.int64), int(y))
            out[seg[lo]] = self.skill_means(state.predict())
        return out

    def skill_means(self, p: np.ndarray) -> np.ndarray:
        """(S+1,) the mean of per-item values `p` (n_items,) over each skill's items (unknown skill: all)."""
        item, skill = self.links_
        s = self.vocab_.n_skills + 1
        total, count = np.bincount(skill, weights=p[item], minlength=s), np.bincount(skill, minlength=s)
        return np.where(count > 0, total / np.maximum(count, 1), float(p.mean()) if len(p) else 0.5)

    def online(self) -> PairOnlineState:
        self._check_fitted()
        return PairOnlineState(self)

    def _get_arrays(self) -> dict[str, np.ndarray]:
        return {**self.table_.to_arrays(), "item_logit": self.item_logit_, "links": self.links_, "coef": self.coef_}

    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.table_ = PairEffects.from_arrays(arrays)
        self.item_logit_ = np.asarray(arrays["item_logit"], dtype=np.float64)
        self.links_ = np.asarray(arrays["links"], dtype=np.int64)
        self.coef_ = np.asarray(arrays["coef"], dtype=np.float64)


class PairOnlineState:
    """One learner's serving state for `PairKT`: the summed effects of their answers on every known item
    and how many answers they were. An update adds one row of the table (O(partners))."""

    def __init__(self, model: PairKT) -> None:
        self.model = model
        self.total = np.zeros(model.vocab_.n_items, dtype=np.float32)
        self.count = 0

    def update(self, item: int, skills: np.ndarray | None, correct: int) -> None:
        """Add one response: model item code (`n_items`: unseen, no effects), skills (unused), 0/1."""
        self.model.table_.add_row(self.total, int(item), int(correct))
        self.count += 1

    def predict_logit(self) -> np.ndarray:
        """(I,) float32 logits of every known item's P(correct) as the next response."""
        c = self.model.coef_.astype(np.float32)
        mean = self.total / np.float32(max(self.count, 1))
        return np.asarray(c[0] + c[1] * self.model.item_logit_[:-1].astype(np.float32) + c[2] * mean)

    def predict(self, items: np.ndarray | None = None, *, skills: np.ndarray | None = None) -> np.ndarray:
        """P(correct) on each item code in `items` as the next response (default: every known item);
        an unseen item (code ≥ n_items) gets the overall rate and no effects."""
        logits = self.predict_logit().astype(np.float64)
        if items is None:
            return np.asarray(sigmoid(logits))
        codes = np.asarray(items, dtype=np.int64)
        known = codes < len(logits)
        c = self.model.coef_
        unseen = c[0] + c[1] * self.model.item_logit_[-1]
        return np.asarray(sigmoid(np.where(known, logits[np.minimum(codes, len(logits) - 1)], unseen)))

    def to_arrays(self) -> dict[str, Any]:
        return {"total": self.total, "count": np.array([self.count])}

    @classmethod
    def from_arrays(cls, model: PairKT, arrays: dict[str, np.ndarray]) -> PairOnlineState:
        state = cls(model)
        state.total = np.asarray(arrays["total"], dtype=np.float32).copy()
        state.count = int(arrays["count"][0])
        return state
