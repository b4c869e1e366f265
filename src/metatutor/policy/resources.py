"""Resources linked to skills (videos, readings, hints) and which ones to suggest for weak skills."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Self

import pandas as pd

from metatutor.errors import ConfigError

KINDS = ("video", "reading", "hint", "exercise", "other")


@dataclass(frozen=True)
class Resource:
    skill: str
    kind: str
    title: str
    url: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ResourceCatalog:
    """Resources per skill, read from a CSV with columns `skill, kind, title[, url]`."""

    def __init__(self, resources: list[Resource]) -> None:
        bad = sorted({r.kind for r in resources} - set(KINDS))
        if bad:
            raise ConfigError(f"unknown resource kind(s) {', '.join(bad)}; use {', '.join(KINDS)}")
        self.resources = list(resources)

    @classmethod
    def read(cls, path: str | Path) -> Self:
        frame = pd.read_csv(path, dtype=str).fillna("")
        missing = {"skill", "kind", "title"} - set(frame.columns)
        if missing:
            raise ConfigError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        urls = frame["url"] if "url" in frame.columns else [""] * len(frame)
        return cls([Resource(str(s), str(k), str(t), str(u))
                    for s, k, t, u in zip(frame["skill"], frame["kind"], frame["title"], urls, strict=True)])

    def for_skill(self, skill: str) -> list[Resource]:
        return [r for r in self.resources if r.skill == skill]

    def recommend(self, weak_skills: list[str], *, per_skill: int = 2) -> list[Resource]:
        """Up to `per_skill` resources for each weak skill, weakest first, videos and readings before hints."""
        rank = {k: i for i, k in enumerate(KINDS)}
        out: list[Resource] = []
        for skill in weak_skills:
            out += sorted(self.for_skill(skill), key=lambda r: rank[r.kind])[:per_skill]
        return out
