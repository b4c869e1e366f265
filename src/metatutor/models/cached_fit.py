"""Fitting on a log larger than memory: the learners of a `ResponseCache`, read block by block and shared
between data-parallel replicas.

`CachedSplit(cache, train, valid, replicas=...)` holds the learner positions on each side (`holdout`
picks them as `holdout_split` would). What a fit reads from it:

* the vocabulary: the items and skills the training learners answered (`ResponseCache.answered`, each
  replica over its share of them, the sets joined);
* `stats`: one pass over the training learners, each replica over its contiguous share, the sums joined:
  each learner's number of responses, each item's answers and right answers (the items' starting biases),
  the skills of each item where it was first answered, the (item, skill) links;
* each epoch's batches (`epochs`): the global batches are cut from those lengths alike on every replica
  (the model's own plan, shuffled by (seed, epoch)); a replica makes every `world`-th row of each, reading
  the learners of the next batches in blocks of about `block_rows` responses; a replica left without rows
  in a batch makes one of padding only, so that every replica takes every step;
* the validation learners' scores (`gather_valid`): each replica scores its share, the shares joined in
  rank order, so that every replica computes the same AUC and stops at the same epoch.

Memory of a replica: the vocabularies, a few arrays per training learner and per item, the validation
answers' scores, and one block of learners; never the whole log.

`fit_split(model, split)` fits DKT, the attention model, IRT (its EM's counts summed over the replicas)
and their ensembles this way.

Glossary: L training learners, I items, K skills per response.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from metatutor.data.cache import ResponseCache
from metatutor.data.responses import Responses
from metatutor.errors import ConfigError
from metatutor.models.base import LearnerModel, Vocabulary, logit, segment_ids, shrunk_logits
from metatutor.models.checkpoints import EpochCheckpoints
from metatutor.models.ensemble import EnsembleKT
from metatutor.models.irt import IRT
from metatutor.models.replicas import Replicas
from metatutor.models.sequence_base import Batch, SequenceKT
from metatutor.models.sequences import Encoded, encode
from metatutor.models.training import BestEpoch

BLOCK_ROWS = 1 << 18  # responses read at once by a replica
_NEVER = np.iinfo(np.int64).max


@dataclass(frozen=True)
class TrainStats:
    """What one pass over the training learners tells a fit (see the module docstring)."""

    lengths: np.ndarray  # (L,) responses of each training learner, in `CachedSplit.train` order
    tries: np.ndarray  # (I,) answers of each item
    wins: np.ndarray  # (I,) right answers of each item
    item_skills: np.ndarray  # (I, K) each item's skill codes where first answered (`sequences.item_skill_table`)
    max_skills: int  # most skills on one response
    link_keys: np.ndarray  # (E,) item · (S + 1) + skill code of each (item, skill) link answered, sorted
    link_counts: np.ndarray  # (E,) how many responses had it

    def item_logits(self, prior_count: float) -> np.ndarray:
        """(I,) `base.shrunk_item_logits` of the training learners' answers."""
        total = float(self.tries.sum())
        p_all = float(np.clip(self.wins.sum() / total, 1e-3, 1 - 1e-3)) if total else 0.5
        return shrunk_logits(self.wins, self.tries, p_all, prior_count)


class CachedSplit:
    """Training and validation learners (positions) of a `ResponseCache`, read by `replicas` in blocks of
    about `block_rows` responses (see the module docstring)."""

    def __init__(self, cache: ResponseCache, train: np.ndarray, valid: np.ndarray, *,
                 replicas: Replicas | None = None, block_rows: int = BLOCK_ROWS) -> None:
        self.cache = cache
        self.train = np.asarray(train, dtype=np.int64)
        self.valid = np.asarray(valid, dtype=np.int64)
        if not len(self.train):
            raise ConfigError(f"{cache.folder}: no training learners to fit on")
        self.replicas = replicas or Replicas.single()
        self.block_rows = block_rows
        self._vocab: Vocabulary | None = None
        self._stats: dict[int, TrainStats] = {}

    @classmethod
    def holdout(cls, cache: ResponseCache, *, valid_fraction: float = 0.2, random_state: int | None = 0,
                **options: Any) -> CachedSplit:
        """A seeded share of the learners validates, the rest trains (`ResponseCache.holdout`)."""
        train, valid = cache.holdout(valid_fraction, random_state)
        return cls(cache, train, valid, **options)

    @property
    def train_responses(self) -> int:
        """Responses of the training learners (after a first `stats`)."""
        return int(next(iter(self._stats.values())).lengths.sum()) if self._stats else 0

    def blocks(self, positions: np.ndarray) -> Iterator[Responses]:
        """Learners at these (sorted) positions, in blocks of whole learners."""
        if len(positions):
            yield from self.cache.learner_batches(self.block_rows, learners=positions)

    def vocabulary(self) -> Vocabulary:
        """The items and skills the training learners answered (what `Vocabulary.of` gives in memory)."""
        if self._vocab is None:
            cache = self.cache
            items, skills = cache.answered(self.replicas.shard(self.train))
            seen = np.zeros(len(cache.item_ids) + len(cache.skill_ids), dtype=np.int64)
            seen[items], seen[len(cache.item_ids) + skills] = 1, 1
            seen = self.replicas.max(seen)
            self._vocab = Vocabulary(cache.item_ids[np.flatnonzero(seen[: len(cache.item_ids)])],
                                     cache.skill_ids[np.flatnonzero(seen[len(cache.item_ids) :])])
        return self._vocab

    def stats(self, vocab: Vocabulary, *, max_skills: int | None = None) -> TrainStats:
        """One pass over the training learners (kept; `max_skills` columns of `item_skills`, any when None)."""
        if max_skills is None and self._stats:
            return next(iter(self._stats.values()))
        k = max_skills or 4
        if k not in self._stats:
            self._stats[k] = self._count(vocab, k)
        return self._stats[k]

    def _count(self, vocab: Vocabulary, k: int) -> TrainStats:
        n, pad, width = vocab.n_items, vocab.n_skills + 1, vocab.n_skills + 1
        mine = self.replicas.shard(np.arange(len(self.train)))
        lengths = np.zeros(len(self.train), dtype=np.int64)
        tries, wins = np.zeros(n + 1), np.zeros(n + 1)
        first_key = np.full(n + 1, _NEVER, dtype=np.int64)
        first_row = np.full((n + 1, k), pad, dtype=np.int64)
        most, done = 0, 0
        link_keys, link_counts = np.zeros(0, np.int64), np.zeros(0, np.int64)
        for block in self.blocks(self.train[mine]):
            index = mine[done : done + block.n_learners]  # (learners,) indices into `train`
            done += block.n_learners
            lengths[index] = block.lengths
            enc = encode(block, vocab, max_skills=k)
            tries += np.bincount(enc.item, minlength=n + 1)
            wins += np.bincount(enc.item, weights=enc.y, minlength=n + 1)
            most = max(most, int(block.n_skills_per_response.max(initial=0)))
            order = index[segment_ids(block)] * (1 << 31) + block.order  # the row order of the whole table
            items, first = np.unique(enc.item, return_index=True)
            better = order[first] < first_key[items]
            first_key[items[better]] = order[first[better]]
            first_row[items[better]] = enc.skill[first[better]]
            keys, counts = np.unique(enc.item[block.skill_rows()] * width + vocab.skills(block), return_counts=True)
            link_keys, link_counts = _merge(np.concatenate([link_keys, keys]), np.concatenate([link_counts, counts]))
        r = self.replicas
        lengths = r.sum(lengths)
        tries, wins = r.sum(np.stack([tries, wins]))
        global_key = r.min(first_key)
        owner = (first_key == global_key) & (global_key < _NEVER)
        table = r.sum(np.where(owner[:, None], first_row, 0))
        table = np.where((global_key < _NEVER)[:, None], table, pad)
        gathered = r.gather(np.stack([link_keys, link_counts], axis=1))
        link_keys, link_counts = _merge(gathered[:, 0], gathered[:, 1])
        return TrainStats(lengths=lengths, tries=tries[:n], wins=wins[:n], item_skills=table[:n],
                          max_skills=int(r.max(np.array([most]))[0]), link_keys=link_keys, link_counts=link_counts)

    # ----- training batches and validation ----------------------------------------------------------
    def shared_seed(self, seed: int | None) -> int:
        """`seed`, or one drawn by the main rank and shared (every replica must cut the same batches)."""
        if seed is not None:
            return int(seed)
        drawn = int(np.random.default_rng().integers(2**62)) if self.replicas.is_main else 0
        return int(self.replicas.sum(np.array([drawn]))[0])

    def epochs(self, model: SequenceKT[Any], lengths: np.ndarray, seed: int | None) -> Callable[[int], ShardedEpoch]:
        """Epoch e's batches: `model`'s plan over the training learners shuffled by (seed, e), this replica's
        rows of each; dropout seeded by (seed, e, rank), so that a resumed epoch repeats itself."""
        plan, base = model._planner(lengths), self.shared_seed(seed)

        def epoch(e: int) -> ShardedEpoch:
            torch.manual_seed(int(np.random.SeedSequence([base, e, self.replicas.rank]).generate_state(1)[0]))
            return ShardedEpoch(self, model, plan(np.random.default_rng([base, e])))

        return epoch

    def stopper(self, net: nn.Module, predict: Callable[[Responses], np.ndarray], *, patience: int,
                max_seconds: float | None, name: str) -> BestEpoch:
        """Early stopping on the validation learners' AUC, scored by all replicas together."""
        return _SharedBestEpoch(self, net, predict, patience=patience, max_seconds=max_seconds, name=name)

    def gather_valid(self, score: Callable[[Responses], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(answers (N,), scores (N, ...)) of all validation learners: each replica scores its share."""
        ys: list[np.ndarray] = [np.zeros(0)]
        values: list[np.ndarray] = []
        for block in self.blocks(self.replicas.shard(self.valid)):
            ys.append(block.correct.astype(np.float64))
            values.append(np.asarray(score(block), dtype=np.float64).reshape(len(block), -1))
        width = values[0].shape[1] if values else 1
        width = int(self.replicas.max(np.array([width]))[0])
        local = np.column_stack([np.concatenate(ys), np.concatenate([np.zeros((0, width)), *values])])
        both = self.replicas.gather(local)
        return both[:, 0], both[:, 1:]


def _merge(keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct keys (sorted) with their counts summed."""
    distinct, inverse = np.unique(keys.astype(np.int64), return_inverse=True)
    return distinct, np.bincount(inverse, weights=counts, minlength=len(distinct)).astype(np.int64)


class ShardedEpoch:
    """One epoch's batches for one replica: its rows of every global batch, in order, made from blocks of
    learners read from the cache when the loop reaches them."""

    def __init__(self, split: CachedSplit, model: SequenceKT[Any], parts: list[np.ndarray]) -> None:
        self.split, self.model, self.parts = split, model, parts

    def __len__(self) -> int:
        return len(self.parts)

    def __iter__(self) -> Iterator[Batch]:
        group: list[tuple[np.ndarray, np.ndarray]] = []
        rows = 0
        for part in self.parts:  # (B, 4) rows (learner, start, end, first scored)
            mine = self.split.replicas.part(part)
            group.append((part, mine))
            rows += int((mine[:, 2] - mine[:, 1]).sum())
            if rows >= self.split.block_rows:
                yield from self._made(group)
                group, rows = [], 0
        yield from self._made(group)

    def _made(self, group: list[tuple[np.ndarray, np.ndarray]]) -> Iterator[Batch]:
        if not group:
            return
        split, model = self.split, self.model
        learners = np.unique(np.concatenate([mine[:, 0] for _, mine in group]))  # indices into `train`
        enc = model._encode(split.cache.learners_at(split.train[learners])) if len(learners) else None
        for part, mine in group:
            steps = int((part[:, 2] - part[:, 1]).max())  # the global batch's: the same windows everywhere
            if len(mine) and enc is not None:
                local = mine.copy()
                local[:, 0] = np.searchsorted(learners, mine[:, 0])
                yield model._make(enc, local, steps=steps)
            else:
                yield self._padding(steps)

    def _padding(self, steps: int) -> Batch:
        """A batch of one row of padding only (nothing scored), `steps` long."""
        model = self.model
        vocab = model.vocab_
        enc = Encoded(item=np.array([vocab.n_items]), skill=np.full((1, model.max_skills_), vocab.n_skills + 1),
                      y=np.zeros(1, np.float32), starts=np.array([0, 1]))
        batch = model._make(enc, np.array([[0, 0, 1, 0]]), steps=steps)
        return {k: torch.zeros_like(v) if v.dtype == torch.bool else torch.full_like(v, -1) if k == "rows" else v
                for k, v in batch.items()}


class _SharedBestEpoch(BestEpoch):
    """`BestEpoch` whose validation AUC is over the validation learners of all replicas."""

    def __init__(self, split: CachedSplit, net: nn.Module, predict: Callable[[Responses], np.ndarray], *,
                 patience: int, max_seconds: float | None, name: str) -> None:
        super().__init__(net, None, predict, patience=patience, max_seconds=max_seconds, name=name)
        self.split = split

    def _valid_auc(self) -> float | None:
        if not len(self.split.valid):
            return None
        y, p = self.split.gather_valid(self.predict)
        return float(roc_auc_score(y, p[:, 0])) if len(np.unique(y)) == 2 else None


# ----- the models that fit from a cache ---------------------------------------------------------------
def fit_split(model: LearnerModel, split: CachedSplit, *, checkpoints: EpochCheckpoints | None = None) -> LearnerModel:
    """Fit `model` on a `CachedSplit` (see the module docstring): DKT and the attention model
    (`SequenceKT.fit_split`), IRT, and ensembles of those."""
    if isinstance(model, SequenceKT):
        return model.fit_split(split, checkpoints=checkpoints)
    if isinstance(model, IRT):
        return _fit_irt(model, split)
    if isinstance(model, EnsembleKT):
        return _fit_ensemble(model, split, checkpoints)
    raise ConfigError(f"the {model.name} model does not train from a response cache; attn, dkt, irt and their "
                      "ensembles do (others: read the log in memory, `metatutor train --no-stream`)")


def _fit_irt(model: IRT, split: CachedSplit) -> IRT:
    """IRT's calibration over the training learners, each replica holding its share's (learner, item, answer)
    triples (compact: 9 bytes an answer) and the EM's counts summed over the replicas."""
    from metatutor.models.calibration import calibrate

    if model.config.kind not in ("1pl", "2pl"):
        raise ConfigError(f"IRT kind must be '1pl' or '2pl', not {model.config.kind!r}")
    vocab = split.vocabulary()
    stats = split.stats(vocab)
    mine = split.replicas.shard(split.train)
    learner, item, correct, done = [], [], [], 0
    for block in split.blocks(mine):
        learner.append((done + segment_ids(block)).astype(np.int32))
        item.append(vocab.items(block).astype(np.int32))
        correct.append(block.correct)
        done += block.n_learners
    reduce = split.replicas.sum if split.replicas.world > 1 else None
    cal = calibrate(np.concatenate(learner or [np.zeros(0, np.int32)]), np.concatenate(item or [np.zeros(0, np.int32)]),
                    np.concatenate(correct or [np.zeros(0, np.int8)]), n_learners=done, n_items=vocab.n_items,
                    config=model.calibration_config(), reduce=reduce)
    model.__dict__.pop("_grid_p", None)
    model.vocab_ = vocab
    model.difficulty_, model.discrimination_, model.prior_sd_ = cal.b, cal.a, cal.sd
    # an unseen item borrows the mean difficulty of its skills' training items (as `IRT.fit`)
    width = vocab.n_skills + 1
    link_item, link_skill = stats.link_keys // width, stats.link_keys % width
    sums = np.bincount(link_skill, weights=stats.link_counts * cal.b[link_item], minlength=width)
    counts = np.bincount(link_skill, weights=stats.link_counts, minlength=width)
    model.skill_difficulty_ = np.where(counts > 0, sums / np.maximum(counts, 1), cal.b.mean())
    return model


def _fit_ensemble(model: EnsembleKT, split: CachedSplit, checkpoints: EpochCheckpoints | None) -> EnsembleKT:
    """Each member in turn (a finished one kept in the checkpoints), then the stacking weights on the
    validation learners' logits, gathered from all replicas."""
    members: list[LearnerModel] = []
    for j, member in enumerate(model._new_members()):
        part = None if checkpoints is None else checkpoints.sub(f"m{j}-{member.name}", config=asdict(member.config))
        fitted = None if part is None else part.load_fitted()
        if fitted is None:
            fitted = fit_split(member, split, checkpoints=part)
            if part is not None:
                part.save_fitted(fitted)
            split.replicas.barrier()
        members.append(fitted)
    model.members_ = members
    model.vocab_ = split.vocabulary()
    for m in members:  # one vocabulary object for all (members loaded from checkpoints read their own)
        m.vocab_ = model.vocab_
    if model.config.weights == "stacked" and len(split.valid):
        y, x = split.gather_valid(lambda r: np.stack([logit(m.predict_proba(r)) for m in members], axis=1))
        model.stack(x, y)
    else:
        model.stack(None, None)
    return model
