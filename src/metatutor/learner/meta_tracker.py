"""`MetaTracker`: the default learner model behind every decision, meta-learned over learners-as-tasks
(`metatutor.meta.filter.MetaFilter`) on the project's best sequence model, the population DKT.

A learner's belief is the DKT's LSTM state after their last answer plus a Gaussian belief about their
own block φ (an output bias and a logit offset per skill), whose prior and drift were meta-learned so
that a new learner's first answers personalise it both for the next answer and for answers further
ahead. Each answer is one LSTM step and one filter step (O(1) in the history); the whole course is
scored through the DKT bank (`readout.ReluBank`), items never seen in training from their skills.

Mastery of a skill is P(mastered) under the skill's BKT guess and slip (fitted on the same training
learners) of the predicted P(correct) on a typical item of the skill (its items' mean difficulty):
m = (P − guess) / (1 − guess − slip), clipped to [0, 1], so that one mastery threshold means the same
under every implementation. Its sd is the filter's spread carried through the same map. Planning
(`practice_gain`) looks one hypothetical answer ahead per skill set, right or wrong, with the head
linearised at the current state. The model is saved as one directory (JSON + safetensors).

Glossary: I course items, S course skills, C model skill codes (+2), G skill sets, B learners, T steps.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from metatutor.data.responses import Responses
from metatutor.errors import ConfigError
from metatutor.learner.base import Gain, Tracker
from metatutor.learner.course import CourseMap
from metatutor.learner.graph import SkillGraph
from metatutor.learner.meta_serving import QUARTER_PI, MetaBelief, MetaParts
from metatutor.learner.profile import LearnerProfiles, ProfileMatch
from metatutor.learner.state import LearnerState
from metatutor.meta.base import Population
from metatutor.meta.filter import MetaFilter
from metatutor.meta.filtering import encode_sequences, run_filter
from metatutor.models.base import Vocabulary, logit, sigmoid
from metatutor.models.bkt import BKT
from metatutor.models.dkt_net import DKTConfig, DKTNet

FORMAT = 1
DEFAULT_GUESS, DEFAULT_SLIP = 0.2, 0.1


class MetaTracker(Tracker):
    """See the module docstring. Build one with `MetaTracker.fit(train, valid)` or `load(path)`."""

    name = "meta"

    def __init__(self, *, course: CourseMap, net: DKTNet, vocab: Vocabulary, max_skills: int, item_beta: np.ndarray,
                 ahead: np.ndarray, prior_mean: dict[str, np.ndarray], prior_var: dict[str, np.ndarray],
                 drift: dict[str, float], guess: np.ndarray, slip: np.ndarray, dkt_config: DKTConfig,
                 early_edges: np.ndarray | None = None, early_offset: np.ndarray | None = None,
                 mastery_threshold: float = 0.95, desired_retention: float = 0.9, progress_every: int = 20,
                 profile_answers: int = 10, profiles: LearnerProfiles | None = None,
                 difficulty: dict[str, float] | None = None) -> None:
        self.course, self.net, self.vocab, self.max_skills = course, net.eval(), vocab, max_skills
        self.item_beta = np.asarray(item_beta, dtype=np.float32)  # (n_items + 1,) β per model item code
        self.ahead = np.asarray(ahead, dtype=np.float64)  # (D,) the "next answer" vector
        self.prior_mean = {k: np.asarray(v, dtype=np.float64) for k, v in prior_mean.items()}
        self.prior_var = {k: np.asarray(v, dtype=np.float64) for k, v in prior_var.items()}
        self.drift = {k: float(v) for k, v in drift.items()}
        self.guess, self.slip = np.asarray(guess, dtype=np.float64), np.asarray(slip, dtype=np.float64)  # (S,)
        self.range_ = np.maximum(1.0 - self.guess - self.slip, 0.1)
        self.dkt_config = dkt_config
        self.mastery_threshold, self.desired_retention = mastery_threshold, desired_retention
        self.progress_every, self.profile_answers, self.profiles = progress_every, profile_answers, profiles
        self.skill_codes = self._skill_rows(course.item_skill_names())  # (I, K) model skill codes
        item_codes = vocab.item_codes(list(course.item_ids))
        # a predicted difficulty (logits, e.g. from an item's template and parameters) for items never seen
        self.difficulty = {str(k): float(v) for k, v in (difficulty or {}).items()}
        shift = np.array([-self.difficulty.get(str(i), 0.0) if c == vocab.n_items else 0.0
                          for i, c in zip(course.item_ids, item_codes, strict=True)])
        self.parts = MetaParts.build(
            net, item_codes=item_codes, skill_codes=self.skill_codes, item_beta=self.item_beta, ahead=self.ahead,
            skill_items=course.skill_items, course_skill_codes=vocab.skill_codes(list(course.skill_ids)), shift=shift)
        # an item's early difficulty: (B + 1,) position edges, (B + 1, n_items + 1) offset per bucket and item
        self.early_edges = np.zeros(0, dtype=np.int64) if early_edges is None else np.asarray(early_edges, np.int64)
        self.early_offset = (np.zeros((1, vocab.n_items + 1), dtype=np.float32) if early_offset is None
                             else np.asarray(early_offset, dtype=np.float32))
        self._early_items = self.early_offset[:, self.parts.code].astype(np.float64)  # (B + 1, I)
        # which skill sets hold each course skill (planning)
        self._set_has = (self.parts.set_codes[:, :, None] == self.parts.skill_code[None, None, :]).any(1)  # (G, S)

    # ----- building ---------------------------------------------------------------------------------
    @classmethod
    def fit(cls, train: Responses, valid: Responses | None = None, graph: SkillGraph | None = None, *,
            course: CourseMap | None = None, population: Population | None = None,
            settings: dict[str, Any] | None = None, random_state: int = 0, profiles: int = 8) -> Self:
        """Meta-train on `train` (validation learners pick the checkpoint), for the course given (default:
        the items of `train`, with `graph` or one estimated from the logs)."""
        population = population or Population(train, valid, dkt_settings={"random_state": random_state})
        method = MetaFilter(**{"random_state": random_state, **(settings or {})}).fit(train, valid, population)
        course = course or CourseMap.from_responses(train, graph)
        guess, slip = bkt_guess_slip(train, course)
        tracker = cls.from_filter(method, course, guess=guess, slip=slip, dkt_config=population.dkt.config)
        if profiles:
            tracker.profiles = LearnerProfiles.fit(tracker, train, answers=tracker.profile_answers, n=profiles,
                                                   random_state=random_state)
        return tracker

    @classmethod
    def from_filter(cls, method: MetaFilter, course: CourseMap, *, guess: np.ndarray, slip: np.ndarray,
                    dkt_config: DKTConfig, **settings: Any) -> Self:
        """The serving form of a fitted `MetaFilter` for a course."""
        bb = method.backbone_.eval()
        with torch.no_grad():
            beta = (bb.net.item_bias.weight[:, 0] - bb.irt_weight * bb.irt_difficulty).numpy()  # type: ignore[operator]
            edges = method.early_edges_.numpy()
            early = (method.early_.T * method.early_w_[:, None]).numpy() if len(edges) else None
            ahead = bb.ahead.weight[0].double().numpy()
            mean = {n: p.detach().double().numpy() for n, p in method.mu0_.items()}
            var = {n: p.detach().exp().double().numpy() for n, p in method.log_var0_.items()}
            drift = {n: float(p.detach().exp()) for n, p in method.log_drift_.items()}
        net = DKTNet(bb.vocab.n_items, bb.vocab.n_skills, dkt_config)
        net.load_state_dict(bb.net.state_dict())
        return cls(course=course, net=net, vocab=bb.vocab, max_skills=bb.max_skills, item_beta=beta, ahead=ahead,
                   prior_mean=mean, prior_var=var, drift=drift, guess=guess, slip=slip, dkt_config=dkt_config,
                   early_edges=edges, early_offset=early, **settings)

    def _skill_rows(self, skills: Sequence[Sequence[str]]) -> np.ndarray:
        """(M, K) model skill codes of items with these skill names (the DKT's padding and width)."""
        pad = self.vocab.n_skills + 1
        out = np.full((len(skills), self.max_skills), pad, dtype=np.int64)
        for j, names in enumerate(skills):
            codes = self.vocab.skill_codes(list(names))[: self.max_skills] if len(names) else [self.vocab.n_skills]
            out[j, : len(codes)] = codes
        return out

    # ----- beliefs --------------------------------------------------------------------------------------
    def _new_belief(self, time: float) -> MetaBelief:
        return MetaBelief(h=None, c=None, mu={k: v.copy() for k, v in self.prior_mean.items()},
                          var={k: v.copy() for k, v in self.prior_var.items()})

    def _bucket(self, position: int) -> int:
        return int(np.searchsorted(self.early_edges, position, side="right"))

    def _step(self, state: LearnerState, item: int, correct: int, now: float,
              evidence: dict[str, Any] | None) -> np.ndarray:
        extra = float(self._early_items[self._bucket(state.answers), item])
        self.parts.step(state.belief, item, correct, self.drift, extra)
        m = self.mastery(state)
        if state.answers + 1 == self.profile_answers:
            state.belief.start = m.copy()
        return np.asarray(m[self.course.skills_of(item)] >= self.mastery_threshold)

    def p_correct(self, state: LearnerState, items: np.ndarray | None = None) -> np.ndarray:
        p = sigmoid(self.parts.bank_logits(state.belief, self._early_items[self._bucket(state.answers)]))
        return p if items is None else p[np.asarray(items, dtype=np.int64)]

    def p_correct_skills(self, state: LearnerState, skill_sets: Sequence[Sequence[int]]) -> np.ndarray:
        rows = self._skill_rows([[str(self.skill_ids[k]) for k in s] for s in skill_sets])
        return np.array([float(sigmoid(np.array(self.parts.other_logit(state.belief, r)))) for r in rows])

    def skill_p_correct(self, state: LearnerState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(S,) moderated P(correct) of each skill's typical item, its moderated logit and the scale κ
        (the moderation's divisor), from which the plug-in logit is κ times the moderated one."""
        z, spread, _ = self.parts.skill_logits(state.belief)
        kappa = np.sqrt(1.0 + QUARTER_PI * spread)
        return sigmoid(z / kappa), z / kappa, kappa

    def _to_mastery(self, p: np.ndarray) -> np.ndarray:
        return np.clip((p - self.guess) / self.range_, 0.0, 1.0)

    def mastery(self, state: LearnerState) -> np.ndarray:
        return self._to_mastery(self.skill_p_correct(state)[0])

    def mastery_sd(self, state: LearnerState) -> np.ndarray:
        b: MetaBelief = state.belief
        z, spread, jac = self.parts.skill_logits(b, jacobian="state" in b.mu)
        if jac is not None:
            spread = spread + (jac ** 2 * b.var["state"]).sum(1)
        p = sigmoid(z)
        return np.minimum(p * (1.0 - p) * np.sqrt(spread) / self.range_, 0.5)

    def beliefs(self, state: LearnerState) -> tuple[np.ndarray, np.ndarray]:
        return self.mastery(state), self.p_correct(state)

    def ability(self, state: LearnerState) -> float:
        return float(state.belief.ability)

    # ----- planning ---------------------------------------------------------------------------------------
    def _expected_change(self, state: LearnerState, belief: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(G, S) the expected change of each skill's mastery after one answer to a typical item of each
        skill set, and (2, G, S) that change after a wrong and a right answer; `belief` (S,): plan from
        this mastery instead of the model's."""
        p_set, dz, _, _ = self.parts.hypotheticals(state.belief)
        _, z_mod, kappa = self.skill_p_correct(state)
        if belief is not None:  # the moderated logit whose mastery is the given one
            z_mod = logit(np.clip(self.guess + np.asarray(belief) * self.range_, 1e-6, 1 - 1e-6))
        now = self._to_mastery(sigmoid(z_mod))
        after = self._to_mastery(sigmoid(z_mod + dz / kappa)) - now  # (2, G, S)
        expected = p_set[:, None] * after[1] + (1.0 - p_set[:, None]) * after[0]
        return expected, after, now

    def practice_gain(self, state: LearnerState, weight: np.ndarray, *, belief: np.ndarray | None = None,
                      gate: np.ndarray | None = None) -> Gain:
        """The expected rise of Σ weight · mastery from one answer to a typical item of each item's skill
        set (the DKT's learned dynamics gate learning by prerequisites; `gate` is not used)."""
        expected, _, _ = self._expected_change(state, belief)
        per_set = expected @ weight  # (G,)
        per_skill = np.where(self._set_has, expected * weight, -np.inf).max(0)
        return Gain(per_set[self.parts.group], np.where(np.isfinite(per_skill), per_skill, 0.0))

    def diagnosticity(self, state: LearnerState, items: np.ndarray) -> np.ndarray:
        """The gap between the item's own skills' mastery after a right and after a wrong answer."""
        _, after, _ = self._expected_change(state)
        gap = ((after[1] - after[0]) * self._set_has).sum(1)  # (G,)
        return np.asarray(gap[self.parts.group[np.asarray(items, dtype=np.int64)]])

    def learn_rates(self, state: LearnerState, mastery: np.ndarray) -> np.ndarray:
        """Each skill's expected mastery rise per answer (its best skill set) over what is left to learn,
        between 0.02 and 0.9; the DKT has learned how prerequisites gate learning, so `mastery` (the
        planned prerequisites) is not used."""
        expected, _, now = self._expected_change(state)
        best = np.where(self._set_has, expected, -np.inf).max(0)
        best = np.where(np.isfinite(best), best, 0.0)
        return np.clip(best / np.maximum(1.0 - now, 1e-6), 0.02, 0.9)

    # ----- profiles ---------------------------------------------------------------------------------------
    def profile(self, state: LearnerState) -> ProfileMatch | None:
        """The learner profile nearest this learner's start (None when the model has no profiles)."""
        if self.profiles is None:
            return None
        start = state.belief.start if state.belief.start is not None else self.mastery(state)
        return self.profiles.match(start, answers=state.answers)

    # ----- many learners -----------------------------------------------------------------------------------
    @torch.no_grad()
    def predict_responses(self, responses: Responses) -> np.ndarray:
        """(N,) P(correct) of each response from the learner's earlier ones, batched in torch (the
        filter's batch form, `meta.filtering.run_filter`), for logs of course items only."""
        index = np.array([self.item_index.get(str(x), -1) for x in responses.item_ids], dtype=np.int64)
        items = index[responses.item]
        if (items < 0).any():
            return super().predict_responses(responses)
        out = np.empty(len(responses))
        parts, pad = self.parts, self.vocab.n_skills + 1
        ahead = torch.as_tensor(self.ahead, dtype=torch.float32)
        beta_table = torch.as_tensor(parts.beta, dtype=torch.float32)  # per course item
        early = torch.as_tensor(self.early_offset)
        edges = torch.as_tensor(self.early_edges)
        for lo in range(0, responses.n_learners, 256):
            hi = min(lo + 256, responses.n_learners)
            lengths = responses.lengths[lo:hi]
            width = int(lengths.max(initial=0))
            pos = np.arange(width)[None, :]
            mask = pos < lengths[:, None]
            rows = np.where(mask, responses.starts[lo:hi][:, None] + pos, 0)
            course_item = items[rows]
            item = torch.as_tensor(np.where(mask, parts.code[course_item], self.vocab.n_items))
            skill = torch.as_tensor(np.where(mask[..., None], self.skill_codes[course_item], pad))
            y = torch.as_tensor(np.where(mask, responses.correct[rows], 0).astype(np.float32))
            bucket = torch.bucketize(torch.as_tensor(np.broadcast_to(pos, mask.shape).copy()), edges, right=True)
            beta = beta_table[torch.as_tensor(course_item)] + early[bucket, item]
            f, _ = encode_sequences(self.net, item, skill, y, torch.as_tensor(mask), ahead=ahead, beta=beta)
            b = len(lengths)
            mu = {k: torch.as_tensor(v, dtype=torch.float32).expand(b, -1) for k, v in self.prior_mean.items()}
            var = {k: torch.as_tensor(v, dtype=torch.float32).expand(b, -1) for k, v in self.prior_var.items()}
            drift = {k: torch.tensor(v) for k, v in self.drift.items()}
            _, _, online = run_filter(self.net.out, mu, var, f, drift, pad)
            out[rows[mask]] = torch.sigmoid(online).double().numpy()[mask]
        return out

    # ----- persistence --------------------------------------------------------------------------------------
    def _belief_to_dict(self, belief: MetaBelief) -> dict[str, Any]:
        return {"h": None if belief.h is None else belief.h.tolist(), "c": None if belief.c is None else belief.c.tolist(),
                "mu": {k: v.tolist() for k, v in belief.mu.items()}, "var": {k: v.tolist() for k, v in belief.var.items()},
                "start": None if belief.start is None else belief.start.tolist()}

    def _belief_from_dict(self, data: dict[str, Any]) -> MetaBelief:
        def arr(x: Any, dtype: Any) -> np.ndarray | None:
            return None if x is None else np.asarray(x, dtype=dtype)

        belief = MetaBelief(h=arr(data["h"], np.float32), c=arr(data["c"], np.float32),
                            mu={k: np.asarray(v, dtype=np.float64) for k, v in data["mu"].items()},
                            var={k: np.asarray(v, dtype=np.float64) for k, v in data["var"].items()},
                            start=arr(data.get("start"), np.float64))
        bad = [k for k, v in self.prior_mean.items() if k not in belief.mu or belief.mu[k].shape != v.shape]
        if bad or (belief.h is not None and belief.h.shape != self.parts.h0.shape):
            raise ConfigError("this learner state was stored for another model (its sizes differ)")
        return belief

    def _meta(self) -> dict[str, Any]:
        return {"kind": self.name, "format": FORMAT, "course": self.course.to_dict(), "vocabulary": self.vocab.to_json(),
                "max_skills": self.max_skills, "dkt_config": asdict(self.dkt_config), "blocks": list(self.prior_mean),
                "drift": self.drift, "mastery_threshold": self.mastery_threshold,
                "desired_retention": self.desired_retention, "progress_every": self.progress_every,
                "profile_answers": self.profile_answers, "difficulty": self.difficulty,
                "profiles": None if self.profiles is None else self.profiles.to_dict()}

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"net.{k}": v.detach().numpy() for k, v in self.net.state_dict().items()}
        arrays |= {"item_beta": self.item_beta, "ahead": self.ahead, "guess": self.guess, "slip": self.slip,
                   "early_edges": self.early_edges, "early_offset": self.early_offset}
        arrays |= {f"prior_mean.{k}": v for k, v in self.prior_mean.items()}
        arrays |= {f"prior_var.{k}": v for k, v in self.prior_var.items()}
        return {k: np.ascontiguousarray(v) for k, v in arrays.items()}

    def save(self, path: str | Path) -> Path:
        """`learner.json` (the course, vocabulary, settings, profiles) and `arrays.safetensors`."""
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        (out / "learner.json").write_text(json.dumps(self._meta()))
        save_file(self._arrays(), str(out / "arrays.safetensors"))
        return out

    @classmethod
    def load(cls, path: str | Path) -> Self:
        folder = Path(path)
        try:
            meta = json.loads((folder / "learner.json").read_text())
        except FileNotFoundError:
            raise ConfigError(f"{folder} holds no learner model (learner.json missing)") from None
        return cls.from_parts(meta, load_file(str(folder / "arrays.safetensors")), where=str(folder))

    @classmethod
    def from_parts(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray], *, where: str = "the model") -> Self:
        """A model from the two parts `save` writes."""
        if meta.get("kind") != cls.name:
            raise ConfigError(f"{where} holds a {meta.get('kind')!r} learner model, not a meta-learned one")
        vocab = Vocabulary.from_json(meta["vocabulary"])
        cfg = DKTConfig(**meta["dkt_config"])
        net = DKTNet(vocab.n_items, vocab.n_skills, cfg)
        net.load_state_dict({k[4:]: torch.from_numpy(v.copy()) for k, v in arrays.items() if k.startswith("net.")})
        blocks = meta["blocks"]
        profiles = None if meta.get("profiles") is None else LearnerProfiles.from_dict(meta["profiles"])
        return cls(course=CourseMap.from_dict(meta["course"]), net=net, vocab=vocab, max_skills=int(meta["max_skills"]),
                   item_beta=arrays["item_beta"], ahead=arrays["ahead"],
                   prior_mean={b: arrays[f"prior_mean.{b}"] for b in blocks},
                   prior_var={b: arrays[f"prior_var.{b}"] for b in blocks}, drift=meta["drift"],
                   guess=arrays["guess"], slip=arrays["slip"], dkt_config=cfg, early_edges=arrays["early_edges"],
                   early_offset=arrays["early_offset"],
                   mastery_threshold=float(meta["mastery_threshold"]), desired_retention=float(meta["desired_retention"]),
                   progress_every=int(meta["progress_every"]), profile_answers=int(meta["profile_answers"]),
                   profiles=profiles, difficulty=meta.get("difficulty"))

    def with_course(self, course: CourseMap, difficulty: dict[str, float] | None = None) -> MetaTracker:
        """The same model serving another course; items it never saw are predicted from their skills and
        their `difficulty` where given (logits; harder is higher)."""
        meta = {**self._meta(), "course": course.to_dict(), "difficulty": {**self.difficulty, **(difficulty or {})}}
        return type(self).from_parts(meta, self._arrays())


def bkt_guess_slip(train: Responses, course: CourseMap) -> tuple[np.ndarray, np.ndarray]:
    """(S,) BKT guess and slip of each course skill fitted on `train` (defaults for skills it lacks)."""
    bkt = BKT(forgetting=False).fit(train)
    codes = bkt.vocab_.skill_codes(list(course.skill_ids))
    known = codes < bkt.vocab_.n_skills
    guess = np.full(course.n_skills, DEFAULT_GUESS)
    slip = np.full(course.n_skills, DEFAULT_SLIP)
    guess[known] = bkt.params_["guess"][codes[known]]
    slip[known] = bkt.params_["slip"][codes[known]]
    return guess, slip

