"""Responses as a learners × items table, and the two products that quadrature methods (marginal maximum
likelihood, EAP) spend their time in: each learner's log-likelihood at every grid point, and each item's
expected counts at every grid point under the learners' posteriors.

A sparse log is held as CSR matrices, a dense one (most cells answered) as numpy arrays, and a complete
one (every learner answered every item) as its correct-matrix alone; the products are single sparse or BLAS
matrix multiplications either way, never a loop over items or learners. A learner who answered an item
twice counts twice.

Glossary: N responses, L learners, I items, G grid points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

DENSE_FRACTION = 0.2  # answered share of the cells above which dense BLAS beats sparse products
DENSE_MAX_CELLS = 20_000_000  # beyond this many cells (160 MB a float64 table) stay sparse


@dataclass(frozen=True, eq=False)
class ResponseMatrix:
    """`correct` (L, I): correct answers per cell; `answered` (L, I): answers per cell, None when every
    cell holds exactly one. Both CSR matrices, or both numpy arrays."""

    correct: sp.csr_matrix | np.ndarray
    answered: sp.csr_matrix | np.ndarray | None
    n_learners: int
    n_items: int
    # the transposes (I, L), kept as CSR: row-wise products run faster than products with a CSC view
    correct_t: sp.csr_matrix | np.ndarray | None = None
    answered_t: sp.csr_matrix | np.ndarray | None = None

    @classmethod
    def from_triples(cls, learner: np.ndarray, item: np.ndarray, correct: np.ndarray, *, n_learners: int,
                     n_items: int) -> ResponseMatrix:
        """From (learner code, item code, 0/1) triples (N,)."""
        learner = np.asarray(learner, dtype=np.int64)
        item = np.asarray(item, dtype=np.int64)
        y = np.asarray(correct, dtype=np.float64)
        cells = n_learners * n_items
        if cells and cells <= DENSE_MAX_CELLS and len(y) >= DENSE_FRACTION * cells:
            flat = learner * n_items + item
            if fills_every_cell_once(learner, item, n_learners=n_learners, n_items=n_items):
                filled = np.zeros(cells)
                filled[flat] = y
                return cls(filled.reshape(n_learners, n_items), None, n_learners, n_items)
            answered = np.bincount(flat, minlength=cells).astype(np.float64).reshape(n_learners, n_items)
            right = np.bincount(flat, weights=y, minlength=cells).reshape(n_learners, n_items)
            return cls(right, answered, n_learners, n_items)
        shape = (n_learners, n_items)
        ones = np.ones(len(y))
        answered_sp = sp.csr_matrix((ones, (learner, item)), shape=shape)  # duplicates are summed
        right_sp = sp.csr_matrix((y, (learner, item)), shape=shape)
        return cls(right_sp, answered_sp, n_learners, n_items, right_sp.T.tocsr(), answered_sp.T.tocsr())

    @property
    def is_sparse(self) -> bool:
        return sp.issparse(self.correct)

    def log_likelihood(self, log_p: np.ndarray, log_q: np.ndarray) -> np.ndarray:
        """(L, G) Σ over each learner's answers of log P (right) or log (1 - P) (wrong), from the items'
        log P and log (1 - P) at every grid point, (I, G) each."""
        out = np.asarray(self.correct @ (log_p - log_q))
        if self.answered is None:
            return out + log_q.sum(axis=0)
        return out + np.asarray(self.answered @ log_q)

    def expected_counts(self, posterior: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(seen, right), (I, G) each: the answers, and the right answers, each item got at every grid
        point, every learner's answers spread over the grid by their posterior (L, G)."""
        correct_t = self.correct.T if self.correct_t is None else self.correct_t
        right = np.asarray(correct_t @ posterior)
        if self.answered is None:
            return np.broadcast_to(posterior.sum(axis=0), right.shape), right
        answered_t = self.answered.T if self.answered_t is None else self.answered_t
        return np.asarray(answered_t @ posterior), right

    def answers_per_item(self) -> np.ndarray:
        """(I,) how many answers each item got."""
        if self.answered is None:
            return np.full(self.n_items, float(self.n_learners))
        return np.asarray(self.answered.sum(axis=0)).ravel()

    def right_per_item(self) -> np.ndarray:
        """(I,) how many right answers each item got."""
        return np.asarray(self.correct.sum(axis=0)).ravel()


def fills_every_cell_once(learner: np.ndarray, item: np.ndarray, *, n_learners: int, n_items: int) -> bool:
    """Whether the (learner, item) pairs (N,) hold every cell of the (L, I) table exactly once."""
    if len(learner) != n_learners * n_items:
        return False
    flat = np.asarray(learner, dtype=np.int64) * n_items
    flat += np.asarray(item, dtype=np.int64)
    hit = np.zeros(n_learners * n_items, dtype=bool)
    hit[flat] = True
    return bool(hit.all())  # N pairs fill N cells only when no pair repeats


def sum_over_answers(learner: np.ndarray, item: np.ndarray, values: np.ndarray, *, n_learners: int) -> np.ndarray:
    """(L, G) for each learner, the sum of `values` (I, G) over the items they answered (an item answered
    twice counts twice): one sparse product; (1, G), the column sums, when every learner answered every item
    once (it broadcasts to (L, G))."""
    n_items = len(values)
    if fills_every_cell_once(learner, item, n_learners=n_learners, n_items=n_items):
        return values.sum(axis=0, keepdims=True)
    counts = sp.csr_matrix((np.ones(len(learner)), (learner, item)), shape=(n_learners, n_items))
    return np.asarray(counts @ values)
