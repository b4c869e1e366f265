"""Learners as tasks: support = a learner's first k responses, query = the responses that follow.

`cold_start_episodes` cuts the evaluation episodes (answers of the query hidden: a method cannot
peek); `EpisodeSampler` draws seeded meta-batches of training learners; `episode_tensors` turns an
episode (support + query of the same learners) into padded tensors for the neural methods.

Glossary: B learners, k support size, Q query size, K skills per response.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from metatutor.data.responses import Responses
from metatutor.models.base import Vocabulary
from metatutor.models.sequences import encode


@dataclass(frozen=True)
class Episodes:
    """Support and query of the same learners; `answers` are the hidden query answers (scoring only)."""

    k: int
    support: Responses  # each learner's first k responses (no rows when k = 0)
    query: Responses  # the next responses, `correct` zeroed
    answers: np.ndarray  # (N_query,) the real answers of `query`, for scoring


def hide_answers(responses: Responses) -> Responses:
    """The same rows with every answer set to 0, so that nothing downstream can read them."""
    return dataclasses.replace(responses, correct=np.zeros(len(responses), dtype=np.int8))


def cold_start_episodes(responses: Responses, k: int, *, query: int = 10) -> Episodes:
    """Episodes of the learners with at least k + query responses."""
    order = responses.order
    long_enough = np.repeat(responses.lengths >= k + query, responses.lengths)
    support = responses.select_rows(long_enough & (order < k))
    q = responses.select_rows(long_enough & (order >= k) & (order < k + query))
    return Episodes(k=k, support=support, query=hide_answers(q), answers=q.correct.astype(np.int8))


def support_slices(support: Responses, learners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B,) start and end rows in `support` of each learner code (start == end: no support)."""
    lo = np.searchsorted(support.learner, learners, side="left")
    hi = np.searchsorted(support.learner, learners, side="right")
    return lo, hi


def support_tensors(support: Responses, learners: np.ndarray, vocab: Vocabulary, *, max_skills: int,
                    k: int | None = None) -> dict[str, torch.Tensor]:
    """The support of each learner code in `learners` (codes of `support.learner_ids`): their last `k`
    responses (all of them when k is None), left-padded so the last step is aligned at the end:
        s_item (B, k), s_skill (B, k, K), s_y (B, k), s_mask (B, k)
    """
    pad_item, pad_skill = vocab.n_items, vocab.n_skills + 1
    lo, hi = support_slices(support, learners)
    s_len = hi - lo
    width = int(s_len.max(initial=0)) if k is None else k
    used = np.minimum(s_len, width)
    pos = np.arange(width)[None, :] - (width - used)[:, None]  # left padding
    mask = pos >= 0
    if not len(support):
        mask[:] = False
    enc = encode(support, vocab, max_skills=max_skills)
    rows = np.where(mask, hi[:, None] - used[:, None] + pos, 0)
    item = np.where(mask, enc.item[rows], pad_item) if len(support) else np.full(mask.shape, pad_item)
    skill = (np.where(mask[..., None], enc.skill[rows], pad_skill) if len(support)
             else np.full((*mask.shape, max_skills), pad_skill))
    y = np.where(mask, enc.y[rows], 0.0) if len(support) else np.zeros(mask.shape)
    return {"s_item": torch.from_numpy(item).long(), "s_skill": torch.from_numpy(skill).long(),
            "s_y": torch.from_numpy(y.astype(np.float32)), "s_mask": torch.from_numpy(mask)}


def query_tensors(query: Responses, vocab: Vocabulary, *, max_skills: int) -> dict[str, torch.Tensor]:
    """One row per learner of `query`, right-padded:
        q_item (B, Q), q_skill (B, Q, K), q_y (B, Q) (zeros when answers are hidden), q_mask (B, Q),
        q_rows (B, Q) row of each position in `query` (-1 at padding)
    """
    pad_item, pad_skill = vocab.n_items, vocab.n_skills + 1
    enc = encode(query, vocab, max_skills=max_skills)
    lengths = query.lengths
    pos = np.arange(int(lengths.max(initial=0)))[None, :]
    mask = pos < lengths[:, None]
    rows = np.where(mask, query.starts[:-1][:, None] + pos, -1)
    safe = np.maximum(rows, 0)
    return {"q_item": torch.from_numpy(np.where(mask, enc.item[safe], pad_item)).long(),
            "q_skill": torch.from_numpy(np.where(mask[..., None], enc.skill[safe], pad_skill)).long(),
            "q_y": torch.from_numpy(np.where(mask, enc.y[safe], 0).astype(np.float32)),
            "q_mask": torch.from_numpy(mask), "q_rows": torch.from_numpy(rows).long()}


def episode_tensors(support: Responses, query: Responses, vocab: Vocabulary, *, max_skills: int,
                    k: int | None = None) -> dict[str, torch.Tensor]:
    """Padded tensors of an episode batch, one row per learner of `query` (see `support_tensors` and
    `query_tensors`)."""
    learners = query.learner[query.starts[:-1]]
    return {**support_tensors(support, learners, vocab, max_skills=max_skills, k=k),
            **query_tensors(query, vocab, max_skills=max_skills)}


class EpisodeSampler:
    """Seeded meta-batches of training learners: a support size k drawn from `ks`, then `batch_size`
    learners with at least k + 1 responses; their next (up to) `query` responses form the query."""

    def __init__(self, responses: Responses, vocab: Vocabulary, *, max_skills: int, ks: tuple[int, ...],
                 query: int = 10, batch_size: int = 64, random_state: int | None = 0) -> None:
        self.responses, self.vocab, self.max_skills = responses, vocab, max_skills
        self.ks, self.query, self.batch_size = ks, query, batch_size
        self.rng = np.random.default_rng(random_state)
        self.enc = encode(responses, vocab, max_skills=max_skills)

    def sample(self) -> tuple[int, dict[str, torch.Tensor]]:
        k = int(self.rng.choice(self.ks))
        lengths = self.responses.lengths
        eligible = np.flatnonzero(lengths >= k + 1)
        learners = self.rng.choice(eligible, size=min(self.batch_size, len(eligible)), replace=False)
        return k, self.batch(learners, k)

    def batch(self, learners: np.ndarray, k: int) -> dict[str, torch.Tensor]:
        enc, starts = self.enc, self.responses.starts[learners]
        n_q = np.minimum(self.responses.lengths[learners] - k, self.query)
        s_rows = starts[:, None] + np.arange(k)[None, :]
        qpos = np.arange(self.query)[None, :]
        q_mask = qpos < n_q[:, None]
        q_rows = np.where(q_mask, starts[:, None] + k + qpos, 0)
        pad_item, pad_skill = self.vocab.n_items, self.vocab.n_skills + 1
        return {
            "s_item": torch.from_numpy(enc.item[s_rows]).long(),
            "s_skill": torch.from_numpy(enc.skill[s_rows]).long(),
            "s_y": torch.from_numpy(enc.y[s_rows]),
            "s_mask": torch.ones(len(learners), k, dtype=torch.bool),
            "q_item": torch.from_numpy(np.where(q_mask, enc.item[q_rows], pad_item)).long(),
            "q_skill": torch.from_numpy(np.where(q_mask[..., None], enc.skill[q_rows], pad_skill)).long(),
            "q_y": torch.from_numpy(np.where(q_mask, enc.y[q_rows], 0).astype(np.float32)),
            "q_mask": torch.from_numpy(q_mask),
        }
