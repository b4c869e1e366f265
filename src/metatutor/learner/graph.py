"""`SkillGraph`: prerequisites between skills as a validated DAG (the course structure that learner models
and policies share).

Given by a course author (CSV `prerequisite,skill` rows or YAML `skill: [prerequisites]`) or estimated
from response data (`SkillGraph.estimate`). Every problem (a cycle, an unknown skill, a self-loop, a bad
line) is collected and raised at once as `SkillGraphError`, naming the skills involved.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Self

import networkx as nx
import numpy as np

from metatutor.data.responses import Responses
from metatutor.errors import SkillGraphError

_PRE_COLUMNS = ("prerequisite", "prereq", "source", "from", "parent")
_SKILL_COLUMNS = ("skill", "target", "to", "child")


@dataclass(frozen=True)
class SkillGraph:
    """Skills and `(prerequisite, skill)` edges, checked to form a DAG.

    Example:
        >>> g = SkillGraph.from_edges([("add", "multiply"), ("multiply", "fractions")])
        >>> g.order()
        ['add', 'multiply', 'fractions']
        >>> sorted(g.closure(["fractions"]))
        ['add', 'fractions', 'multiply']
    """

    skills: tuple[str, ...]
    edges: tuple[tuple[str, str], ...]

    @classmethod
    def from_edges(cls, edges: Iterable[tuple[str, str]], skills: Iterable[str] | None = None, *,
                   source: str | None = None) -> Self:
        """A graph from edges; with `skills`, an edge naming any other skill is an error."""
        edge_list = [(str(a), str(b)) for a, b in edges]
        problems: list[str] = []
        if skills is not None:
            known = [str(s) for s in skills]
            allowed = set(known)
            unknown = sorted({s for e in edge_list for s in e} - allowed)
            if unknown:
                problems.append(f"unknown skill(s) {', '.join(repr(s) for s in unknown[:10])}"
                                + (f" ({len(unknown)} in all)" if len(unknown) > 10 else ""))
        else:
            known = list(dict.fromkeys(s for e in edge_list for s in e))
        loops = sorted({a for a, b in edge_list if a == b})
        if loops:
            problems.append(f"skill(s) listed as their own prerequisite: {', '.join(repr(s) for s in loops)}")
        g = nx.DiGraph()
        g.add_nodes_from(known)
        g.add_edges_from((a, b) for a, b in edge_list if a != b)
        try:
            cycle = nx.find_cycle(g)
        except nx.NetworkXNoCycle:
            cycle = []
        if cycle:
            path = " -> ".join([str(a) for a, _ in cycle] + [str(cycle[0][0])])
            problems.append(f"prerequisites form a cycle: {path}")
        if problems:
            raise SkillGraphError(problems, source=source)
        unique = tuple(dict.fromkeys((a, b) for a, b in edge_list if a != b))
        return cls(tuple(known), unique)

    @classmethod
    def read(cls, path: str | Path, skills: Iterable[str] | None = None) -> Self:
        """Read a CSV (`prerequisite,skill` header) or YAML/JSON (`{skill: [prerequisites]}`) file."""
        p = Path(path)
        if not p.is_file():
            raise SkillGraphError([f"no such file {str(p)!r}"])
        if p.suffix.lower() in (".yaml", ".yml", ".json"):
            return cls._from_mapping(_load_mapping(p), skills, source=str(p))
        with p.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        if not rows:
            raise SkillGraphError(["the file is empty"], source=str(p))
        header = [h.strip().lower() for h in rows[0]]
        pre_col = next((header.index(c) for c in _PRE_COLUMNS if c in header), None)
        skill_col = next((header.index(c) for c in _SKILL_COLUMNS if c in header), None)
        if pre_col is None or skill_col is None:
            raise SkillGraphError([f"need columns 'prerequisite' and 'skill'; found {', '.join(header)}"], source=str(p))
        edges, bad = [], []
        for line, row in enumerate(rows[1:], start=2):
            if len(row) <= max(pre_col, skill_col) or not row[pre_col].strip() or not row[skill_col].strip():
                bad.append(line)
                continue
            edges.append((row[pre_col].strip(), row[skill_col].strip()))
        if bad:
            raise SkillGraphError([f"missing prerequisite or skill on line(s) {', '.join(map(str, bad[:10]))}"],
                                  source=str(p))
        return cls.from_edges(edges, skills, source=str(p))

    @classmethod
    def _from_mapping(cls, data: Any, skills: Iterable[str] | None, *, source: str) -> Self:
        if isinstance(data, dict) and "prerequisites" in data:
            skills = skills if skills is not None else data.get("skills")
            data = data["prerequisites"]
        if not isinstance(data, dict):
            raise SkillGraphError(["expected a mapping of skill -> list of prerequisites"], source=source)
        edges = []
        for skill, pres in data.items():
            for pre in [pres] if isinstance(pres, str) else (pres or []):
                edges.append((str(pre), str(skill)))
        names = list(skills) if skills is not None else None
        if names is None:
            names = list(dict.fromkeys([str(s) for s in data] + [a for a, _ in edges]))
        return cls.from_edges(edges, names, source=source)

    @classmethod
    def estimate(cls, responses: Responses, *, min_learners: int = 20, mastery: float = 0.6,
                 min_confidence: float = 0.8, min_margin: float = 0.1, last: int = 3) -> Self:
        """Prerequisites implied by the data: A -> B when learners who master B nearly always master A
        (P(A | B) ≥ `min_confidence`) much more than the converse (P(A | B) − P(B | A) ≥ `min_margin`),
        and A is usually practised first. A learner "masters" a skill when the mean of their `last`
        answers on it is at least `mastery`. Edges are added strongest first, skipping any that would
        close a cycle, then reduced transitively.
        """
        mastered, observed, first_seen = _skill_outcomes(responses, mastery=mastery, last=last)
        m, o = mastered.astype(np.float64), observed.astype(np.float64)
        both_mastered = m.T @ m  # (S, S)
        b_mastered_a_seen = o.T @ m  # [a, b]: a observed, b mastered
        support = o.T @ o
        with np.errstate(invalid="ignore", divide="ignore"):
            conf = both_mastered / b_mastered_a_seen  # P(a mastered | b mastered)
        margin = conf - conf.T
        before = _practised_before(first_seen)
        ok = (support >= min_learners) & (conf >= min_confidence) & (margin >= min_margin) \
            & (before * 2 >= support) & ~np.eye(len(conf), dtype=bool)
        ids = [str(s) for s in responses.skill_ids]
        used = np.zeros(len(ids), dtype=bool)  # skills these logs use (the vocabulary may be shared)
        used[np.unique(responses.skill)] = True
        present = np.flatnonzero(used).tolist()
        ok &= used[:, None] & used[None, :]
        pairs = sorted(zip(*np.nonzero(ok), strict=True), key=lambda ab: -margin[ab])
        g = nx.DiGraph()
        g.add_nodes_from(ids[k] for k in present)
        for a, b in pairs:
            if not nx.has_path(g, ids[b], ids[a]):
                g.add_edge(ids[a], ids[b])
        reduced = nx.transitive_reduction(g)
        return cls.from_edges(sorted(reduced.edges), [ids[k] for k in present])

    @cached_property
    def graph(self) -> nx.DiGraph:
        g = nx.DiGraph()
        g.add_nodes_from(self.skills)
        g.add_edges_from(self.edges)
        return g

    def prerequisites(self, skill: str) -> list[str]:
        return sorted(self.graph.predecessors(skill))

    def ancestors(self, skill: str) -> set[str]:
        return set(nx.ancestors(self.graph, skill))

    def closure(self, goals: Iterable[str]) -> set[str]:
        """The goals and every skill they (transitively) require."""
        out: set[str] = set()
        for goal in goals:
            if goal not in self.graph:
                raise SkillGraphError([f"unknown goal skill {goal!r}"])
            out |= {goal} | self.ancestors(goal)
        return out

    def order(self, skills: Iterable[str] | None = None) -> list[str]:
        """Skills in prerequisite order (ties by name); all skills, or only `skills` given."""
        keep = set(self.skills if skills is None else skills)
        return [s for s in nx.lexicographical_topological_sort(self.graph) if s in keep]

    def to_dict(self) -> dict[str, Any]:
        return {"skills": list(self.skills), "prerequisites": {s: self.prerequisites(s) for s in self.skills}}

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        with p.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["prerequisite", "skill"])
            w.writerows(self.edges)
        return p


def course_graph(course: Any) -> SkillGraph:
    """The skill graph of a simulator `Course` (its author-given prerequisites)."""
    return SkillGraph.from_edges(course.prerequisites, course.skill_ids)


def _load_mapping(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        return json.loads(text)
    import yaml  # only for YAML graphs

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SkillGraphError([f"not valid YAML: {exc}"], source=str(path)) from None


def _skill_outcomes(responses: Responses, *, mastery: float, last: int) -> tuple[np.ndarray, ...]:
    """(L, S) mastered, observed, and first practice position (inf when never) per learner and skill."""
    rows = responses.skill_rows()
    learner = np.repeat(np.arange(responses.n_learners), responses.lengths)[rows]  # position, not vocabulary code
    skill = responses.skill
    y = responses.correct[rows].astype(np.float64)
    pos = np.arange(len(responses))[rows]
    n_l, n_s = responses.n_learners, len(responses.skill_ids)
    key = learner * n_s + skill
    order = np.lexsort((-pos, key))  # per (learner, skill), latest first
    k_sorted = key[order]
    starts = np.r_[0, np.flatnonzero(np.diff(k_sorted)) + 1]
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    recent = order[rank < last]
    total = np.bincount(key[recent], weights=y[recent], minlength=n_l * n_s)
    count = np.bincount(key[recent], minlength=n_l * n_s)
    observed = (count > 0).reshape(n_l, n_s)
    mastered = observed & (total >= mastery * np.maximum(count, 1)).reshape(n_l, n_s)
    first = np.full(n_l * n_s, np.inf)
    np.minimum.at(first, key, pos.astype(np.float64))
    return mastered, observed, first.reshape(n_l, n_s)


def _practised_before(first: np.ndarray, *, chunk: int = 256) -> np.ndarray:
    """(S, S) learners who practised skill a before skill b (both practised), in learner chunks."""
    out = np.zeros((first.shape[1], first.shape[1]), dtype=np.int64)
    for lo in range(0, len(first), chunk):
        f = first[lo: lo + chunk]
        seen = np.isfinite(f)
        out += ((f[:, :, None] < f[:, None, :]) & seen[:, :, None] & seen[:, None, :]).sum(0)
    return out
