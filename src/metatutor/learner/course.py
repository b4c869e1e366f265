"""`CourseMap`: the static structure every learner model and every policy shares: skills, items, which
skills each item needs, and the prerequisite graph, as index arrays.

Items are addressed by their position in `item_ids`, skills by their position in `skill_ids` (the
graph's order). An item's skills are the compressed links `link_skill[item_ptr[i]: item_ptr[i + 1]]`.

Glossary: I items, S skills, Z item-skill links.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import Any, Self

import numpy as np

from metatutor.data.responses import Responses
from metatutor.errors import ConfigError
from metatutor.learner.graph import SkillGraph


class CourseMap:
    """Skills, items, item → skills links and prerequisites of one course.

    Example:
        >>> g = SkillGraph.from_edges([("add", "mul")], ["add", "mul"])
        >>> c = CourseMap(g, ["q1", "q2", "q3"], [["add"], ["mul"], ["mul", "add"]])
        >>> c.skills_of(2).tolist(), c.skill_items[1].tolist()
        ([1, 0], [1, 2])
    """

    def __init__(self, graph: SkillGraph, item_ids: Sequence[str], item_skills: Sequence[Sequence[str]]) -> None:
        if len(item_ids) != len(item_skills):
            raise ConfigError(f"{len(item_ids)} items but {len(item_skills)} skill lists")
        self.graph = graph
        self.skill_ids = np.asarray(graph.skills, dtype=object)  # (S,)
        self.skill_index = {s: k for k, s in enumerate(graph.skills)}
        unknown = sorted({s for sk in item_skills for s in sk} - set(self.skill_index))
        if unknown:
            raise ConfigError(f"items use skill(s) missing from the skill graph: {', '.join(unknown[:10])}")
        self.item_ids = np.asarray([str(x) for x in item_ids], dtype=object)  # (I,)
        self.item_index = {str(x): i for i, x in enumerate(self.item_ids)}
        if len(self.item_index) != len(self.item_ids):
            raise ConfigError("item ids must be unique")
        lengths = np.array([len(sk) for sk in item_skills], dtype=np.int64)
        self.item_ptr = np.r_[0, np.cumsum(lengths)].astype(np.int64)  # (I+1,)
        self.link_skill = np.array([self.skill_index[s] for sk in item_skills for s in sk], dtype=np.int64)  # (Z,)
        self.link_item = np.repeat(np.arange(len(self.item_ids)), lengths)  # (Z,)
        self.item_lengths = lengths  # (I,) skills per item
        n = len(graph.skills)
        self.prereq = [np.array([self.skill_index[p] for p in graph.prerequisites(s)], dtype=np.int64)
                       for s in graph.skills]
        self.skill_items = [np.unique(self.link_item[self.link_skill == k]) for k in range(n)]

    @classmethod
    def from_responses(cls, responses: Responses, graph: SkillGraph | None = None) -> Self:
        """The items answered in `responses` with their skills (the union over their rows); the graph
        defaults to one estimated from the same logs."""
        graph = graph or SkillGraph.estimate(responses)
        present = np.flatnonzero(np.bincount(responses.item, minlength=len(responses.item_ids)) > 0)
        skills = item_skill_lists(responses)
        return cls(graph, [str(x) for x in responses.item_ids[present]], [skills[i] for i in present])

    @classmethod
    def of_course(cls, course: Any) -> Self:
        """The map of a simulator `Course` (every item, the author-given prerequisites)."""
        graph = SkillGraph.from_edges(course.prerequisites, course.skill_ids)
        return cls(graph, list(course.item_ids), [[course.skill_ids[k] for k in sk] for sk in course.item_skills])

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_skills(self) -> int:
        return len(self.skill_ids)

    def skills_of(self, item: int) -> np.ndarray:
        """(K,) skill indices of an item."""
        return self.link_skill[self.item_ptr[item]: self.item_ptr[item + 1]]

    def item_skill_names(self) -> list[list[str]]:
        """Every item's skill names, in item order."""
        return [[str(self.skill_ids[k]) for k in self.skills_of(i)] for i in range(self.n_items)]

    def closure(self, goals: Iterable[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(G,) goal skill indices (default: every skill) and the (S,) bool mask of the goals and
        everything they require."""
        names = list(self.graph.skills) if not goals else list(goals)
        mask = np.zeros(self.n_skills, dtype=bool)
        mask[[self.skill_index[s] for s in self.graph.closure(names)]] = True
        return np.array([self.skill_index[s] for s in names], dtype=np.int64), mask

    def items_of(self, skills: np.ndarray) -> np.ndarray:
        """The items that work on any of `skills` (sorted)."""
        parts = [self.skill_items[s] for s in np.asarray(skills, dtype=np.int64)]
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def inside(self, closure: np.ndarray) -> np.ndarray:
        """(I,) items that need no skill outside the bool mask `closure` (S,)."""
        outside = np.bincount(self.link_item, weights=~closure[self.link_skill], minlength=self.n_items)
        return outside == 0

    @cached_property
    def prereq_pad(self) -> np.ndarray:
        """(S, width) prerequisite indices padded with S (which points past the skills: callers append a
        neutral value to their per-skill vector)."""
        width = max((len(p) for p in self.prereq), default=0)
        out = np.full((len(self.prereq), width), len(self.prereq), dtype=np.int64)
        for k, pre in enumerate(self.prereq):
            out[k, :len(pre)] = pre
        return out

    def per_item(self, per_skill: np.ndarray, *, mean: bool = False) -> np.ndarray:
        """(I,) the sum (or mean) of a per-skill value over each item's skills."""
        out = np.bincount(self.link_item, weights=per_skill[self.link_skill], minlength=self.n_items)
        return out / np.maximum(self.item_lengths, 1) if mean else out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the same keys `SkillTracker.to_dict` has always written for its course)."""
        return {"skills": list(self.graph.skills), "prerequisites": [list(e) for e in self.graph.edges],
                "items": [str(x) for x in self.item_ids], "item_skills": self.item_skill_names()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        graph = SkillGraph.from_edges([(str(a), str(b)) for a, b in data["prerequisites"]], data["skills"])
        return cls(graph, list(data["items"]), [list(s) for s in data["item_skills"]])


def item_skill_lists(responses: Responses) -> list[list[str]]:
    """Skills of each item code of `responses` (the union over its responses)."""
    rows = responses.skill_rows()
    pairs = np.unique(np.stack([responses.item[rows], responses.skill]), axis=1)
    out: list[list[str]] = [[] for _ in range(len(responses.item_ids))]
    for i, s in pairs.T:
        out[int(i)].append(str(responses.skill_ids[s]))
    return out
