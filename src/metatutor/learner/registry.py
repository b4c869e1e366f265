"""Learner models by name: fit one (`fit_tracker`), read a saved one whatever it is (`load_tracker`,
`tracker_from_bytes`). `DEFAULT_TRACKER` is the one `metatutor train` writes and the service serves."""

from __future__ import annotations

import importlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from metatutor.data.responses import Responses
from metatutor.errors import ConfigError
from metatutor.learner.base import Tracker
from metatutor.learner.graph import SkillGraph

# name -> "module:class"; "meta" is the meta-learned default, "tracker" the hand-built baseline
TRACKERS = {"meta": "metatutor.learner.meta_tracker:MetaTracker",
            "tracker": "metatutor.learner.skill_tracker:SkillTracker"}
DEFAULT_TRACKER = "meta"


def tracker_class(name: str) -> type[Tracker]:
    """The class of a learner model by name (`default` is `DEFAULT_TRACKER`)."""
    name = DEFAULT_TRACKER if name == "default" else name
    if name not in TRACKERS:
        raise ConfigError(f"unknown learner model {name!r}; choose from {', '.join(TRACKERS)} or default")
    module, cls = TRACKERS[name].split(":")
    out: type[Tracker] = getattr(importlib.import_module(module), cls)
    return out


def fit_tracker(name: str, train: Responses, valid: Responses | None = None, graph: SkillGraph | None = None,
                **settings: Any) -> Tracker:
    """Fit a learner model by name on training learners (validation learners choose what they choose)."""
    cls = tracker_class(name)
    if cls.name == "tracker":
        return cls.fit(train, graph, **settings)  # type: ignore[attr-defined]
    return cls.fit(train, valid, graph, **settings)  # type: ignore[attr-defined]


def load_tracker(path: str | Path) -> Tracker:
    """Any learner model saved with `save` (its `learner.json` says which)."""
    folder = Path(path)
    try:
        kind = json.loads((folder / "learner.json").read_text()).get("kind")
    except FileNotFoundError:
        raise ConfigError(f"{folder} holds no learner model (learner.json missing)") from None
    names = {v.split(":")[1]: k for k, v in TRACKERS.items()}
    if kind not in TRACKERS:
        raise ConfigError(f"{folder} holds an unknown learner model {kind!r} (known: {', '.join(names.values())})")
    return tracker_class(kind).load(folder)


def tracker_to_bytes(tracker: Tracker) -> bytes:
    """A learner model as one blob (an uncompressed tar of its saved directory), for a database row."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        tracker.save(tmp)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for f in sorted(Path(tmp).iterdir()):
                tar.add(f, arcname=f.name)
        return buf.getvalue()


def tracker_from_bytes(blob: bytes) -> Tracker:
    """A learner model from `tracker_to_bytes`; a `ConfigError` for anything else."""
    import tempfile

    try:
        with tempfile.TemporaryDirectory() as tmp, tarfile.open(fileobj=io.BytesIO(blob), mode="r") as tar:
            names = tar.getnames()
            if not names or any("/" in n or n.startswith(".") for n in names):
                raise ConfigError("not a saved learner model (unexpected files in the blob)")
            tar.extractall(tmp, filter="data")
            return load_tracker(tmp)
    except tarfile.TarError as exc:
        raise ConfigError(f"not a saved learner model ({type(exc).__name__})") from None


LEARNER_MODELS = ("default", *TRACKERS)  # what `metatutor train --model` fits as a learner model


def fit_for_course(name: str, train: Responses, valid: Responses | None, responses: Responses, *,
                   random_state: int = 0, max_epochs: int | None = None, settings: dict[str, Any] | None = None) -> Tracker:
    """A learner model by name fitted on `train` (validation learners pick what they pick), serving the
    course of every item in `responses` (prerequisites estimated from `train`); `settings`: the
    meta-learned model's (`meta.filter.FilterConfig`)."""
    from metatutor.learner.course import CourseMap

    estimated = SkillGraph.estimate(train)
    skills = [str(s) for s in responses.skill_ids[np.unique(responses.skill)]]
    course = CourseMap.from_responses(responses, SkillGraph.from_edges(estimated.edges, skills))
    cls = tracker_class(name)
    if cls.name == "tracker":
        return cls.fit(train, course.graph, random_state=random_state).with_course(course)  # type: ignore[attr-defined]
    from metatutor.meta.base import Population

    dkt: dict[str, object] = {"random_state": random_state, **({} if max_epochs is None else {"max_epochs": max_epochs})}
    population = Population(train, valid, dkt_settings=dkt)
    return cls.fit(train, valid, course=course, population=population,  # type: ignore[attr-defined]
                   random_state=random_state, settings=settings)


class ResponseScorer:
    """A learner model read as `metatutor predict` reads a knowledge-tracing model: P(correct) of each
    response from the learner's earlier ones, and each learner's mastery after all of theirs."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.name = tracker.name

    def predict_proba(self, responses: Responses) -> np.ndarray:
        return self.tracker.predict_responses(responses)

    def mastery(self, responses: Responses) -> Any:
        import pandas as pd

        t = self.tracker
        rows = []
        for j in range(responses.n_learners):
            lo, hi = responses.starts[j], responses.starts[j + 1]
            times = responses.timestamp
            history = [(str(responses.item_ids[responses.item[r]]), int(responses.correct[r]),
                        float(times[r]) if times is not None else 60.0 * (r - lo)) for r in range(lo, hi)]
            rows.append(t.mastery(t.replay(history)))
        ids = [str(responses.learner_ids[responses.learner[s]]) for s in responses.starts[:-1]]
        return pd.DataFrame(np.array(rows).reshape(len(ids), t.n_skills), index=pd.Index(ids, name="learner"),
                            columns=[str(s) for s in t.skill_ids])


def scorer(path: str | Path) -> ResponseScorer:
    """The learner model saved at `path`, for scoring logs."""
    return ResponseScorer(load_tracker(path))
