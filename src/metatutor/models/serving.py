"""A fitted learner model served one learner at a time by item and skill *names*: what the web service
keeps per learner between requests.

`ServedModel(model)` wraps a model that has an online state (attn, dkt, irt and the ensemble of them):
`new_state()`, `step(state, item, skills, correct)` (one response, O(1) in the history),
`predict(state, items)` (P(correct) of each named item as the next response), and the state to and
from bytes (safetensors), so that a database row can hold it. Items the model never saw get its
"unseen item" prediction; their skills (from the course) still inform the update.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
from safetensors.numpy import load, save

from metatutor.errors import ConfigError
from metatutor.models.base import LearnerModel

# Above this many items one prediction scores the whole bank at once (the model's fast path) and picks
# the named items from it; below, only the named items are scored
WHOLE_BANK_FROM = 64


class OnlineState(Protocol):
    """One learner's serving state, the protocol every model's online state follows (`AttentionKT`'s
    `AttentionOnlineState`, `DKTOnlineState`, `IRTOnlineState`, `PairOnlineState` and the ensemble's
    `EnsembleOnlineState`, which combines its members'): `model.online()` makes a fresh one,
    `type(state).from_arrays(model, arrays)` reads back what `to_arrays` wrote."""

    @property
    def count(self) -> int:
        """Responses added so far."""

    def update(self, item: int, skills: np.ndarray, correct: int) -> None:
        """Add one response: model item code, its skill codes (padded with n_skills + 1), 0/1."""

    def predict(self, items: np.ndarray | None = None, *, skills: np.ndarray | None = None) -> np.ndarray:
        """P(correct) on each item code in `items` as the next response (default: every known item);
        `skills` (M, K): the skill codes of items the model has not seen."""

    def predict_logit(self) -> Any:
        """(N,) float32 logits of every known item as the next response (an array or a tensor)."""

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The state as plain arrays (for a database or safetensors)."""


def servable(model: LearnerModel) -> bool:
    """Whether the model keeps an online state (so that a service can step it one response at a time)."""
    members = getattr(model, "members_", None)
    if members is not None:
        return all(servable(m) for m in members)
    return hasattr(model, "online")


class ServedModel:
    """A fitted model with an online state, addressed by item and skill names."""

    def __init__(self, model: LearnerModel) -> None:
        model._check_fitted()
        if not servable(model):
            raise ConfigError(f"a {model.name!r} model has no online state, so it cannot be served one response "
                              "at a time: serve attn, dkt, irt or an ensemble of them")
        self.model = model
        self.vocab = model.vocab_
        self._online: Any = model.online  # type: ignore[attr-defined]
        self._state_class: Any = type(self._online())
        self._width: int | None = getattr(model, "max_skills_", None)  # None: the ensemble pads per member

    @property
    def name(self) -> str:
        return self.model.name

    def new_state(self) -> OnlineState:
        """A learner with no responses yet."""
        state: OnlineState = self._online()
        return state

    def skill_codes(self, skills: Sequence[str]) -> np.ndarray:
        """A response's skill codes as the model's `update` takes them (unknown skills: the model's
        "unseen skill"; padded or cut to the model's width)."""
        v = self.vocab
        codes = self._codes(skills)
        if self._width is None:
            return codes
        out = np.full(self._width, v.n_skills + 1, dtype=np.int64)
        out[: min(self._width, len(codes))] = codes[: self._width]
        return out

    def step(self, state: OnlineState, item: str, skills: Sequence[str], correct: int | bool) -> None:
        """Add one response (item name, the names of its skills, right or wrong) to the state."""
        state.update(int(self.vocab.item_codes([item])[0]), self.skill_codes(skills), int(correct))

    def predict(self, state: OnlineState, items: Sequence[str],
                skills_of: Callable[[str], Sequence[str]] | None = None) -> np.ndarray:
        """(len(items),) P(correct) of each named item as the learner's next response. `skills_of(item)`
        names an item's skills: the model uses them for items it has not seen (without it, all such
        items get one "unseen item" prediction)."""
        codes = self.vocab.item_codes(list(items))
        unseen = np.flatnonzero(codes >= self.vocab.n_items)
        out = np.empty(len(codes))
        seen = np.flatnonzero(codes < self.vocab.n_items)
        if len(seen) >= WHOLE_BANK_FROM:
            out[seen] = state.predict()[codes[seen]]
        elif len(seen):
            out[seen] = state.predict(codes[seen])
        if len(unseen):
            # unseen items with the same skills get the same prediction: score each skill set once
            groups: dict[tuple[str, ...], list[int]] = {}
            for j in unseen:
                groups.setdefault(tuple(skills_of(items[int(j)])) if skills_of else (), []).append(int(j))
            rows = [self.skill_codes(list(k)) for k in groups]
            width = max(len(r) for r in rows)
            table = np.full((len(rows), width), self.vocab.n_skills + 1, dtype=np.int64)
            for g, r in enumerate(rows):
                table[g, : len(r)] = r
            scored = state.predict(np.full(len(rows), self.vocab.n_items), skills=table)
            for g, members in enumerate(groups.values()):
                out[members] = scored[g]
        return out

    def _codes(self, skills: Sequence[str]) -> np.ndarray:
        return self.vocab.skill_codes(list(skills)) if len(skills) else np.array([self.vocab.n_skills], dtype=np.int64)

    def state_to_bytes(self, state: OnlineState) -> bytes:
        """The state as one safetensors blob (for a database row)."""
        return save({k: np.ascontiguousarray(v) for k, v in state.to_arrays().items()})

    def state_from_bytes(self, blob: bytes) -> OnlineState:
        """A state written by `state_to_bytes` for this model."""
        try:
            arrays = load(blob)
        except Exception as exc:
            raise ConfigError(f"not a stored learner state ({type(exc).__name__})") from None
        state: OnlineState = self._state_class.from_arrays(self.model, arrays)
        return state
