"""Many simulated learners at once, written to Parquet in batches: a log of any size (EdNet's 780k learners
and 95M answers, say) from a seed, with memory bounded by one batch of learners.

The learners follow the model of `metatutor.data.simulator` (ability, speed, forgetting time, mastery per
skill, prerequisites slowing learning, sessions of `session_length` answers), stepped in lockstep with
NumPy rather than one by one, so the random draws differ from `Simulator.simulate`'s. Forgetting is
evaluated when a skill matters (its item is answered, or it is a prerequisite of one): the exponential
survival is memoryless, so this has the same law as checking every skill at every answer.

Glossary: B learners in a batch, S skills, I items, P prerequisites per skill at most.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    from metatutor.data.simulator import Course, SimulatorConfig

DAY = 86_400.0
EPOCH = 1_546_300_800.0  # 2019-01-01 UTC: learners start within the year after it
SCHEMA = pa.schema([("learner", pa.dictionary(pa.int32(), pa.string())), ("item", pa.dictionary(pa.int32(), pa.string())),
                    ("skill", pa.dictionary(pa.int32(), pa.string())), ("correct", pa.int8()),
                    ("timestamp", pa.float64())])


@dataclass(frozen=True)
class CohortLog:
    """What `write_cohort` wrote."""

    path: Path
    learners: int
    answers: int
    bytes: int


class _Tables:
    """The course as arrays: each item's (up to two) skills, each skill's items and prerequisites."""

    def __init__(self, course: Course) -> None:
        n_items, n_skills = len(course.item_ids), len(course.skill_ids)
        self.difficulty = np.asarray(course.difficulty, dtype=np.float64)  # (I,)
        self.item_skill = np.full((n_items, 2), -1, dtype=np.int64)  # (I, 2), -1: none
        for i, sk in enumerate(course.item_skills):
            self.item_skill[i, : len(sk)] = sk[:2]
        members = [np.flatnonzero((self.item_skill == j).any(axis=1)) for j in range(n_skills)]
        width = max(1, max(len(m) for m in members))
        self.skill_items = np.zeros((n_skills, width), dtype=np.int64)  # (S, max items): the items of skill j
        self.n_skill_items = np.array([max(1, len(m)) for m in members])
        for j, m in enumerate(members):
            self.skill_items[j, : len(m)] = m if len(m) else 0
        pre = course.prerequisite_indices()
        self.prereq = np.full((n_skills, max(1, max(len(p) for p in pre))), -1, dtype=np.int64)  # (S, P)
        for j, p in enumerate(pre):
            self.prereq[j, : len(p)] = p
        self.order = np.asarray(course.skill_order, dtype=np.int64)  # skills in prerequisite order
        depth = np.zeros(n_skills)
        for j in course.skill_order:
            depth[j] = max((depth[p] + 1 for p in pre[j]), default=0)
        self.depth = depth
        self.item_names = pa.array(course.item_ids, pa.string())
        self.skill_names = pa.array(["~~".join(course.skill_ids[s] for s in sk) for sk in course.item_skills],
                                    pa.string())


def write_cohort(course: Course, config: SimulatorConfig, path: str | Path, *, n_learners: int,
                 n_responses: int | tuple[int, int] = (20, 181), seed: int = 0, batch_learners: int = 20_000,
                 policy: str = "builder", random_start: bool = False) -> CohortLog:
    """Simulate `n_learners` learners on `course` and write their answers to Parquet, batch by batch.

    Columns: `learner` (`u0000001`…), `item`, `skill` (ids joined by `~~`), `correct` (0/1), `timestamp`
    (seconds since 1970). Within a batch, rows are in time order (learners interleave, as in a real log);
    batches follow each other. With `random_start`, each learner of the skill-builder policy starts at a
    random skill of the prerequisite order (learners entering a large course at different points), so
    that all of a large course's items are answered. The file is a function of (course, config, n_learners,
    n_responses, seed, batch_learners, policy, random_start).
    """
    import pyarrow.parquet as pq

    if policy not in ("builder", "random"):
        raise ValueError(f"policy must be 'builder' or 'random', not {policy!r}")
    tables = _Tables(course)
    out = Path(path)
    width = max(7, len(str(n_learners)))
    answers = 0
    with pq.ParquetWriter(out, SCHEMA, compression="zstd") as writer:
        for k, first in enumerate(range(0, n_learners, batch_learners)):
            b = min(batch_learners, n_learners - first)
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k,)))
            learner, item, correct, time = _simulate_batch(tables, config, rng, b, n_responses, policy, random_start)
            names = pa.array([f"u{first + j + 1:0{width}d}" for j in range(b)], pa.string())
            order = np.argsort(time, kind="stable")  # a log in time order; each learner's own order is kept
            batch = pa.record_batch([
                pa.DictionaryArray.from_arrays(pa.array(learner[order].astype(np.int32)), names),
                pa.DictionaryArray.from_arrays(pa.array(item[order].astype(np.int32)), tables.item_names),
                pa.DictionaryArray.from_arrays(pa.array(item[order].astype(np.int32)), tables.skill_names),
                pa.array(correct[order], pa.int8()), pa.array(time[order], pa.float64()),
            ], schema=SCHEMA)
            writer.write_batch(batch, row_group_size=1 << 20)
            answers += len(order)
    return CohortLog(out, n_learners, answers, out.stat().st_size)


def _simulate_batch(t: _Tables, config: SimulatorConfig, rng: np.random.Generator, b: int,
                    n_responses: int | tuple[int, int], policy: str, random_start: bool
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(learner, item, correct, time) of every answer of `b` new learners, learner-major."""
    n_skills = len(t.depth)
    ability = rng.normal(0.0, config.ability_sd, b)  # (B,)
    speed = np.clip(rng.lognormal(0.0, 0.4, b), 0.2, 3.0)
    forget_days = config.forget_days * rng.lognormal(0.0, 0.3, b)
    count = np.full(b, n_responses) if isinstance(n_responses, int) else rng.integers(*n_responses, size=b)
    p0 = np.clip(config.prior_mastery * 0.6 ** t.depth[None, :] * np.exp(0.5 * ability)[:, None], 0, 0.95)
    mastered = rng.random((b, n_skills)) < p0  # (B, S)
    clock = rng.uniform(0.0, 365.0 * DAY, b)  # (B,) each learner's start
    checked = np.repeat(clock[:, None], n_skills, axis=1)  # (B, S) when each skill's mastery was last updated
    pos = rng.integers(n_skills, size=b) if random_start else np.zeros(b, np.int64)
    streak, tries = np.zeros(b, np.int64), np.zeros(b, np.int64)
    last = np.zeros(b, np.int8)
    rows_l, rows_i, rows_c, rows_t = [], [], [], []
    for step in range(int(count.max()) if b else 0):
        idx = np.flatnonzero(count > step)  # learners still answering
        if policy == "builder":
            if step:
                streak[idx] = np.where(last[idx] == 1, streak[idx] + 1, 0)
                tries[idx] += 1
                done = idx[(streak[idx] >= 3) | (tries[idx] >= 12)]
                pos[done] += 1
                streak[done] = 0
                tries[done] = 0
            skill = t.order[pos[idx] % n_skills]
            item = t.skill_items[skill, (rng.random(len(idx)) * t.n_skill_items[skill]).astype(np.int64)]
        else:
            item = rng.integers(len(t.difficulty), size=len(idx))
        now = clock[idx]
        sk = t.item_skill[item]  # (n, 2)
        for col in range(2):  # bring the item's skills and their prerequisites up to date
            s = sk[:, col]
            _forget(mastered, checked, forget_days, idx, s, now, rng)
            for p in range(t.prereq.shape[1]):
                _forget(mastered, checked, forget_days, idx, np.where(s >= 0, t.prereq[np.maximum(s, 0), p], -1), now,
                        rng)
        know = np.ones(len(idx), bool)
        for col in range(2):
            s = sk[:, col]
            know &= (s < 0) | mastered[idx, np.maximum(s, 0)]
        z = ability[idx] - t.difficulty[item] + np.where(know, config.gap, -config.gap)
        correct = (rng.random(len(idx)) < 1.0 / (1.0 + np.exp(-z))).astype(np.int8)
        for col in range(2):  # learning, skill by skill as the one-learner simulator does
            s = sk[:, col]
            has = s >= 0
            s0 = np.maximum(s, 0)
            pre = t.prereq[s0]  # (n, P)
            missing = ((pre >= 0) & ~mastered[idx[:, None], np.maximum(pre, 0)]).sum(axis=1)
            p_learn = np.minimum(config.learn_rate * speed[idx] * config.prerequisite_penalty ** missing, 0.9)
            draw = rng.random(len(idx)) < p_learn
            learn = has & ~mastered[idx, s0]
            mastered[idx[learn], s0[learn]] = draw[learn]
            checked[idx[has], s0[has]] = now[has]
        rows_l.append(idx)
        rows_i.append(item)
        rows_c.append(correct)
        rows_t.append(now)
        last[idx] = correct
        clock[idx] += rng.uniform(20, 100, len(idx))
        if (step + 1) % config.session_length == 0:
            clock[idx] += rng.uniform(1, 3, len(idx)) * DAY
    learner, item, correct, time = (np.concatenate(x) if x else np.zeros(0) for x in (rows_l, rows_i, rows_c, rows_t))
    by_learner = np.argsort(learner, kind="stable")
    return (learner[by_learner].astype(np.int64), item[by_learner].astype(np.int64), correct[by_learner].astype(np.int8),
            EPOCH + time[by_learner])


def _forget(mastered: np.ndarray, checked: np.ndarray, forget_days: np.ndarray, idx: np.ndarray, skill: np.ndarray,
            now: np.ndarray, rng: np.random.Generator) -> None:
    """Each mastered (learner idx, skill) pair is kept with probability exp(-Δt / τ) since it was last checked."""
    ok = skill >= 0
    who, s, t = idx[ok], skill[ok], now[ok]
    dt = np.maximum(t - checked[who, s], 0.0) / DAY
    lost = mastered[who, s] & (rng.random(len(who)) < 1.0 - np.exp(-dt / forget_days[who]))
    mastered[who[lost], s[lost]] = False
    checked[who, s] = t
