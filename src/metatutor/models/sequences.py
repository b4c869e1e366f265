"""Padded learner batches for sequence models.

Learners are grouped by length (little padding), each batch a dict of tensors:
    item  (B, T)    item code (unknown items: n_items)
    skill (B, T, K) skill codes, padded with n_skills + 1 (K = most skills on one response)
    y     (B, T)    answers as float
    mask  (B, T)    True at real positions
    rows  (B, T)    row index into the Responses (-1 at padding), to scatter predictions back
Glossary: B learners, T steps, K skills per response.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from metatutor.data.responses import Responses
from metatutor.models.base import Vocabulary


@dataclass(frozen=True)
class Encoded:
    """A Responses table in model codes (computed once per table)."""

    item: np.ndarray  # (N,)
    skill: np.ndarray  # (N, K) padded with n_skills + 1
    y: np.ndarray  # (N,)
    starts: np.ndarray  # (L+1,)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.starts)


def encode(responses: Responses, vocab: Vocabulary, *, max_skills: int) -> Encoded:
    counts = np.minimum(responses.n_skills_per_response, max_skills)
    pad = vocab.n_skills + 1
    skill = np.full((len(responses), max_skills), pad, dtype=np.int64)
    codes = vocab.skills(responses)
    rows = responses.skill_rows()
    rank = np.arange(len(rows)) - np.repeat(responses.skill_ptr[:-1], responses.n_skills_per_response)
    keep = rank < max_skills
    skill[rows[keep], rank[keep]] = codes[keep]
    no_skill = counts == 0
    skill[no_skill, 0] = vocab.n_skills  # a response without skills uses the "unknown skill" vector
    return Encoded(vocab.items(responses), skill, responses.correct.astype(np.float32), responses.starts.copy())


def length_batches(lengths: np.ndarray, *, batch_size: int, rng: np.random.Generator | None = None,
                   max_tokens: int | None = None) -> list[np.ndarray]:
    """Learner indices grouped by similar length; shuffled within equal-length runs when `rng` is given."""
    noise = rng.random(len(lengths)) if rng is not None else np.zeros(len(lengths))
    order = np.lexsort((noise, -lengths))
    batches: list[np.ndarray] = []
    current: list[int] = []
    longest = 0
    for idx in order:
        longest = max(longest, int(lengths[idx])) if current else int(lengths[idx])
        if current and (len(current) >= batch_size or (max_tokens and longest * (len(current) + 1) > max_tokens)):
            batches.append(np.asarray(current))
            current, longest = [], int(lengths[idx])
        current.append(idx)
    if current:
        batches.append(np.asarray(current))
    if rng is not None:
        rng.shuffle(batches)
    return batches


def make_batch(enc: Encoded, learners: np.ndarray, *, pad_item: int, pad_skill: int,
               steps: int = 0) -> dict[str, torch.Tensor]:
    """The padded batch of some learners (indices into `enc`), at least `steps` steps long (data-parallel
    replicas pad their shares of a batch alike, so that they cut it into the same windows)."""
    lengths = enc.lengths[learners]
    t = max(int(lengths.max()), steps)
    pos = np.arange(t)[None, :]
    mask = pos < lengths[:, None]
    rows = np.where(mask, enc.starts[learners][:, None] + pos, -1)
    safe = np.where(mask, rows, 0)
    item = np.where(mask, enc.item[safe], pad_item)
    skill = np.where(mask[..., None], enc.skill[safe], pad_skill)
    y = np.where(mask, enc.y[safe], 0.0)
    return {
        "item": torch.from_numpy(item.astype(np.int64)),
        "skill": torch.from_numpy(skill.astype(np.int64)),
        "y": torch.from_numpy(y.astype(np.float32)),
        "mask": torch.from_numpy(mask),
        "rows": torch.from_numpy(rows.astype(np.int64)),
    }


def item_skill_table(enc: Encoded, vocab: Vocabulary) -> np.ndarray:
    """(n_items, K) the skill codes of each known item, as first seen in `enc` (padding where an item
    never occurs): what a serving state needs to score the whole bank."""
    table = np.full((vocab.n_items, enc.skill.shape[1]), vocab.n_skills + 1, dtype=np.int64)
    items, first = np.unique(enc.item, return_index=True)
    known = items < vocab.n_items
    table[items[known]] = enc.skill[first[known]]
    return table


def candidate_skills(codes: np.ndarray, table: np.ndarray, vocab: Vocabulary,
                     given: np.ndarray | None = None) -> np.ndarray:
    """(M, K) skill codes of item codes to score: a known item's row of `table` (`item_skill_table`);
    an unknown one (code ≥ n_items) its row of `given` (M, K') where given, else the "unknown skill"."""
    skills = np.full((len(codes), table.shape[1]), vocab.n_skills + 1, dtype=np.int64)
    known = codes < vocab.n_items
    skills[known] = table[codes[known]]
    if given is None:
        skills[~known, 0] = vocab.n_skills
    else:
        width = min(table.shape[1], np.asarray(given).shape[1])
        skills[~known, :width] = np.asarray(given)[~known, :width]
    return skills
