"""Vega-Lite specs of the dashboard's charts. Every chart stays readable at any course size: the caller
passes the skills to show (at most a few dozen), and charts that can be fit to their card are."""

from __future__ import annotations

from typing import Any

import numpy as np

from metatutor.learner import LearnerState, Tracker
from metatutor.service.web.wording import skill_name

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
STATUS_COLORS = {"domain": ["mastered", "learning", "weak", "blocked", "not started"],
                 "range": ["#2e7d32", "#1976d2", "#e65100", "#757575", "#b0bec5"]}


def mastery_chart(skills: list[dict[str, Any]]) -> dict[str, Any]:
    """Mastery per skill (bars) with ± its uncertainty (rules), coloured by status."""
    values = [{"skill": skill_name(s["skill"]), "mastery": round(s["mastery"], 3), "status": s["status"],
               "low": max(0.0, s["mastery"] - s["uncertainty"]), "high": min(1.0, s["mastery"] + s["uncertainty"])}
              for s in skills]
    y = {"field": "skill", "type": "nominal", "sort": None, "title": None, "axis": {"labelLimit": 150}}
    return {"$schema": SCHEMA, "width": "container", "height": {"step": 18}, "data": {"values": values},

            "layer": [{"mark": "bar", "encoding": {
                "y": y, "x": {"field": "mastery", "type": "quantitative", "scale": {"domain": [0, 1]},
                              "title": "chance the skill is mastered", "axis": {"format": ".0%"}},
                "color": {"field": "status", "type": "nominal", "scale": STATUS_COLORS,
                          "legend": {"orient": "bottom", "title": None, "columns": 3}},
                "tooltip": [{"field": "skill"}, {"field": "mastery", "format": ".0%"}, {"field": "status"}]}},
                {"mark": {"type": "rule", "color": "#333"}, "encoding": {
                    "y": y, "x": {"field": "low", "type": "quantitative"}, "x2": {"field": "high"}}}]}


def predicted_chart(skills: list[dict[str, Any]]) -> dict[str, Any]:
    """The KT model's mean P(correct) per skill (bars)."""
    values = [{**s, "skill": skill_name(s["skill"])} for s in skills]
    return {"$schema": SCHEMA, "width": "container", "height": {"step": 18}, "data": {"values": values},
             "mark": {"type": "bar", "color": "#5e35b1"},
            "encoding": {"y": {"field": "skill", "type": "nominal", "sort": None, "title": None,
                               "axis": {"labelLimit": 150}},
                         "x": {"field": "p_correct", "type": "quantitative", "scale": {"domain": [0, 1]},
                               "title": "predicted chance of a right answer", "axis": {"format": ".0%"}},
                         "tooltip": [{"field": "skill"}, {"field": "p_correct", "format": ".0%"}, {"field": "items"}]}}


def heatmap_chart(heat: list[dict[str, Any]], skills: list[str], learners: list[str]) -> dict[str, Any]:
    """Mastery by skill (rows, in the given order) and learner (columns)."""
    values = [{**h, "skill": skill_name(h["skill"])} for h in heat]
    return {"$schema": SCHEMA, "data": {"values": values}, "mark": "rect",
            "width": {"step": 26}, "height": {"step": 18},
            "encoding": {"y": {"field": "skill", "type": "nominal", "title": None,
                               "sort": [skill_name(s) for s in skills], "axis": {"labelLimit": 170}},
                         "x": {"field": "learner", "type": "nominal", "title": None, "sort": learners,
                               "axis": {"labelAngle": -60, "orient": "top"}},
                         "color": {"field": "mastery", "type": "quantitative", "title": "mastery",
                                   "scale": {"domain": [0, 1], "scheme": "blues"},
                                   "legend": {"orient": "bottom", "format": ".0%"}},
                         "tooltip": [{"field": "learner"}, {"field": "skill"},
                                     {"field": "mastery", "format": ".0%"}]}}


def curves_chart(tracker: Tracker, states: dict[str, LearnerState], *, bucket: int = 5) -> dict[str, Any]:
    """Learning curves: share correct by attempt number (in groups of `bucket`), each learner thin and the
    class mean thick, with a legend that says which is which."""
    values = []
    by_start: dict[int, list[float]] = {}
    for name, state in states.items():
        y = np.array([c for _, c, _ in state.history], dtype=float)
        for start in range(0, len(y), bucket):
            share = float(y[start:start + bucket].mean())
            values.append({"learner": name, "attempt": start + 1, "correct": share, "line": "one learner"})
            by_start.setdefault(start, []).append(share)
    values += [{"learner": "class mean", "attempt": s + 1, "correct": float(np.mean(v)), "line": "class mean"}
               for s, v in sorted(by_start.items())]
    return {"$schema": SCHEMA, "width": "container", "height": 220, "data": {"values": values},

            "mark": {"type": "line", "point": False},
            "encoding": {"x": {"field": "attempt", "type": "quantitative",
                               "title": f"answer number (groups of {bucket}; a learner's recent answers)"},
                         "y": {"field": "correct", "type": "quantitative", "title": "share right",
                               "scale": {"domain": [0, 1]}, "axis": {"format": ".0%"}},
                         "detail": {"field": "learner"},
                         "color": {"field": "line", "type": "nominal", "title": None,
                                   "scale": {"domain": ["one learner", "class mean"], "range": ["#90a4ae", "#c62828"]},
                                   "legend": {"orient": "bottom"}},
                         "strokeWidth": {"field": "line", "type": "nominal", "legend": None,
                                         "scale": {"domain": ["one learner", "class mean"], "range": [1, 3]}},
                         "tooltip": [{"field": "learner"}, {"field": "attempt"},
                                     {"field": "correct", "format": ".0%"}]}}


def level_chart(path: list[dict[str, Any]], max_items: int) -> dict[str, Any]:
    """The level estimate after each answer with its ± band, on a fixed scale (−3 to +3) so that the first
    point does not make a degenerate axis."""
    values = [{**p, "low": max(p["theta"] - p["se"], -3.0), "high": min(p["theta"] + p["se"], 3.0)} for p in path]
    x = {"field": "answers", "type": "quantitative", "title": "questions answered",
         "scale": {"domain": [0, max(max_items, 1)]}, "axis": {"tickMinStep": 1, "format": "d"}}
    y = {"field": "theta", "type": "quantitative", "title": "level (0 = average)",
         "scale": {"domain": [-3, 3], "clamp": True}, "axis": {"format": "+.1f", "values": [-3, -2, -1, 0, 1, 2, 3]}}
    return {"$schema": SCHEMA, "width": "container", "height": 200, "data": {"values": values},

            "layer": [{"mark": {"type": "area", "opacity": 0.25}, "encoding": {
                "x": x, "y": {**y, "field": "low"}, "y2": {"field": "high"}}},
                {"mark": {"type": "line", "point": True}, "encoding": {"x": x, "y": y,
                 "tooltip": [{"field": "answers"}, {"field": "theta", "format": "+.2f"}, {"field": "se", "format": ".2f"}]}}]}
