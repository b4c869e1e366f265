"""`benchmark practice --data PATH`: practice policies on a simulator fitted to real data.

The simulator is the project's DKT trained on the dataset's training learners (fold 1 of its protocol):
a simulated learner answers an item correctly with the probability DKT gives after everything they
answered so far. Each simulated learner starts as a real *test* learner: DKT's state and the policy's
tracker both replay that learner's first `warmup` real answers; their goals are the first three
distinct skills of the same learner's real later log (skills only, never answers). The policies plan
with a `SkillTracker` (BKT family) fitted on the same training learners, with a skill graph estimated
from them; they never see DKT.

Post-test: the mean DKT P(correct) over a fixed form of `form_items` items of the goal skills (drawn
per learner, the same for every policy). There is no ground-truth mastery and no clock in this
simulator, so `items_to_mastery` and `retention` are `null` for it.

Glossary: B simulated learners, F form items, H hidden, D embedding, K skills per item.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from metatutor.data.responses import Responses
from metatutor.evaluation.practice_result import PracticeResult
from metatutor.evaluation.protocols import iter_splits
from metatutor.feedback.report import replay
from metatutor.learner import SkillTracker
from metatutor.models.dkt import DKT
from metatutor.models.sequences import encode, make_batch
from metatutor.policy import make_policy

N_GOALS = 3


class DKTDriver:
    """Batched DKT stepping: P(correct) of chosen items, one answer at a time, and post-test scores."""

    def __init__(self, dkt: DKT, train: Responses) -> None:
        self.net, self.vocab = dkt.net_, dkt.vocab_
        enc = encode(train, self.vocab, max_skills=dkt.max_skills_)
        self.pads = {"pad_item": self.vocab.n_items, "pad_skill": self.vocab.n_skills + 1}
        self.item_skill = np.full((self.vocab.n_items + 1, enc.skill.shape[1]), self.vocab.n_skills + 1)
        self.item_skill[enc.item] = enc.skill  # (I+1, K) skills of each item code
        self.max_skills = dkt.max_skills_

    def codes(self, item_ids: np.ndarray) -> np.ndarray:
        lookup = {str(x): i for i, x in enumerate(self.vocab.item_ids)}
        return np.array([lookup.get(str(x), self.vocab.n_items) for x in item_ids], dtype=np.int64)

    @torch.no_grad()
    def start(self, prefix: Responses) -> tuple:
        """States after each learner's prefix (all prefixes have the same length)."""
        enc = encode(prefix, self.vocab, max_skills=self.max_skills)
        batch = make_batch(enc, np.arange(prefix.n_learners), **self.pads)
        _, state, _ = self.net(batch)
        return state

    @torch.no_grad()
    def logits(self, state: tuple, items: np.ndarray) -> torch.Tensor:
        """(B, F) logits of items (B, F) from states."""
        _, last_h = state  # (B, 1, H)
        return self.net.next_logits(last_h[:, 0], torch.from_numpy(items), torch.from_numpy(self.item_skill[items]))

    @torch.no_grad()
    def step(self, state: tuple, items: np.ndarray, y: np.ndarray) -> tuple:
        """States after answering `items` (B,) with `y` (B,)."""
        lstm_state, _ = state
        item = torch.from_numpy(items[:, None])
        _, x = self.net.inputs(item, torch.from_numpy(self.item_skill[items][:, None]),
                               torch.from_numpy(y[:, None].astype(np.float32)))
        hs, lstm_state = self.net.lstm(x, lstm_state)
        return lstm_state, hs[:, -1:]


def run_fitted(result: PracticeResult, data: str | Path, policies: list[str], *, warmup: int = 10,
               form_items: int = 50, progress: Callable[[str], None] | None = None) -> None:
    """Add the fitted simulator's rows and curves to `result` (learners and budget from its config)."""
    config = result.config
    split = next(iter_splits(data, "auto", folds=None))
    dkt = DKT(random_state=config.seed).fit(split.train, split.valid)
    driver = DKTDriver(dkt, split.train)
    tracker = SkillTracker.fit(split.train)
    test = split.test
    long_enough = np.flatnonzero(test.lengths > warmup)
    rng = np.random.default_rng([config.seed, 4])
    chosen = np.sort(rng.choice(long_enough, size=min(config.n_learners, len(long_enough)), replace=False))
    learners = test.select_learners(test.learners_present()[chosen])
    prefix = learners.first_k(warmup)
    goals, forms = _goals_and_forms(tracker, learners, warmup, form_items, rng)
    base_states = [replay(tracker, [(str(prefix.item_ids[i]), int(y), 60.0 * t) for t, (i, y) in
                                    enumerate(zip(prefix.item[s:e], prefix.correct[s:e], strict=True))], g)
                   for s, e, g in zip(prefix.starts[:-1], prefix.starts[1:], goals, strict=True)]
    to_driver = driver.codes(tracker.item_ids)  # tracker item -> DKT item code
    form_codes = to_driver[forms]  # (B, F)
    start = driver.start(prefix)
    ids = learners.learners_present()
    b = len(base_states)
    result.curves["fitted"] = {}
    for name in policies:
        policy = make_policy(name, tracker)
        states = copy.deepcopy(base_states)
        rngs = [np.random.default_rng([config.seed, 5, j]) for j in range(b)]
        state = start
        curve = []
        for step in range(config.budget):
            items = np.array([policy.recommend(s, r).item_index for s, r in zip(states, rngs, strict=True)])
            p = torch.sigmoid(driver.logits(state, to_driver[items][:, None]))[:, 0].numpy()
            y = (np.random.default_rng([config.seed, 6, step]).random(b) < p).astype(np.int64)
            state = driver.step(state, to_driver[items], y)
            for s, i, c in zip(states, items, y, strict=True):
                tracker.observe(s, int(i), int(c), 60.0 * (warmup + step))
            curve.append(torch.sigmoid(driver.logits(state, form_codes)).mean(1).numpy())
        final = curve[-1]
        result.rows += [{"policy": name, "simulator": "fitted", "learner": str(ids[j]),
                         "items_to_mastery": None, "posttest": float(final[j]), "retention": None} for j in range(b)]
        result.curves["fitted"][name] = [round(float(c.mean()), 4) for c in curve]
        if progress:
            progress(f"{name} (fitted)")


def _goals_and_forms(tracker: SkillTracker, learners: Responses, warmup: int, form_items: int,
                     rng: np.random.Generator) -> tuple[list[list[str]], np.ndarray]:
    """Per learner: the first distinct skills of their real log after the warmup (skills only), and a
    post-test form of `form_items` tracker items of those skills (drawn with replacement)."""
    known = {s: k for k, s in enumerate(tracker.graph.skills)}
    goals, forms = [], []
    for j in range(learners.n_learners):
        lo, hi = learners.starts[j] + warmup, learners.starts[j + 1]
        later = learners.skill[learners.skill_ptr[lo]: learners.skill_ptr[hi]]
        names = [s for s in dict.fromkeys(str(learners.skill_ids[c]) for c in later) if s in known][:N_GOALS]
        if not names:
            names = [str(s) for s in rng.choice(list(known), size=N_GOALS, replace=False)]
        pool = np.concatenate([tracker.skill_items[known[s]] for s in names])
        goals.append(names)
        forms.append(rng.choice(pool, size=form_items, replace=True))
    return goals, np.stack(forms)
