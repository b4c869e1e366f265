from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from metatutor.feedback import class_report, learner_report, replay
from metatutor.learner import SkillTracker, Tracker
from metatutor.policy.resources import Resource, ResourceCatalog


def _item_of(tracker: Tracker, skill: str) -> str:
    k = list(tracker.graph.skills).index(skill)
    single = [i for i in tracker.skill_items[k] if tracker.item_ptr[i + 1] - tracker.item_ptr[i] == 1]
    return str(tracker.item_ids[single[0]])


def test_learner_report_marks_mastered_weak_and_blocked(tracker: SkillTracker, tmp_path: Path) -> None:
    root = tracker.graph.order()[0]
    child = next(s for s in tracker.graph.skills if tracker.graph.prerequisites(s) == [root])
    history = [(_item_of(tracker, root), 1, 60.0 * t) for t in range(8)]
    history += [(_item_of(tracker, child), 0, 60.0 * (8 + t)) for t in range(4)]
    state = replay(tracker, history, [child])
    (tmp_path / "r.csv").write_text(f"skill,kind,title,url\n{child},video,Intro to {child},https://x\n"
                                    f"{child},hint,Remember the rule,\n{root},reading,Basics,\n")
    catalog = ResourceCatalog.read(tmp_path / "r.csv")
    report = learner_report(tracker, state, learner="ann", catalog=catalog, rng=np.random.default_rng(0))
    status = {s.skill: s for s in report.skills}
    assert status[root].status == "mastered"
    assert status[child].status in ("weak", "learning") and status[child].wrong == 4
    assert child in report.weak_skills
    assert report.frequent_mistakes[0] == {"item": _item_of(tracker, child), "wrong": 4}
    assert [p.skill for p in report.path] == [child]
    assert report.resources == [Resource(child, "video", f"Intro to {child}", "https://x"),
                                Resource(child, "hint", "Remember the rule", "")]
    assert 2 <= len(report.next_steps) <= 3 and all(r.reason for r in report.next_steps)
    json.dumps(report.to_dict())
    assert "Weak skills" in report.to_markdown()


def test_blocked_skill_names_its_prerequisites(tracker: SkillTracker) -> None:
    deep = tracker.graph.order()[-1]
    state = replay(tracker, [], [deep])
    blocked = learner_report(tracker, state).blocked
    assert deep in blocked and set(blocked[deep]) == set(tracker.graph.prerequisites(deep))


def test_class_report_finds_learners_at_risk_and_missed_items(tracker: SkillTracker) -> None:
    root = tracker.graph.order()[0]
    good = replay(tracker, [(_item_of(tracker, root), 1, 60.0 * t) for t in range(10)], [root])
    stuck = replay(tracker, [(_item_of(tracker, root), 0, 60.0 * t) for t in range(45)], [root])
    report = class_report(tracker, {"good": good, "stuck": stuck})
    assert [r["learner"] for r in report.at_risk] == ["stuck"]
    assert "stalled" in report.at_risk[0]["why"] or "mean mastery" in report.at_risk[0]["why"]
    assert report.most_missed[0]["item"] == _item_of(tracker, root) and report.most_missed[0]["wrong"] == 45
    assert len(report.heatmap) == 2 * tracker.n_skills
    json.dumps(report.to_dict())


def test_stalled_progress_is_found_from_a_stored_state_with_a_short_history(tracker: SkillTracker) -> None:
    """The service keeps only a learner's last answers in the state; a stall must still be found."""
    root = tracker.graph.order()[0]
    stuck = replay(tracker, [(_item_of(tracker, root), 0, 60.0 * t) for t in range(300)], [root])
    stored = tracker.state_from_dict(tracker.state_to_dict(stuck, keep_history=50))
    for state in (stuck, stored):
        risk = class_report(tracker, {"stuck": state}).at_risk
        assert risk and "stalled" in risk[0]["why"] and "last 20 answers" in risk[0]["why"]
        assert risk[0]["recent_gain"] < 0.02


def test_reports_run_on_every_learner_model(any_tracker: Tracker) -> None:
    root = any_tracker.graph.order()[0]
    history = [(_item_of(any_tracker, root), t % 2, 60.0 * t) for t in range(30)]  # type: ignore[arg-type]
    state = replay(any_tracker, history, [any_tracker.graph.order()[-1]])
    report = learner_report(any_tracker, state, learner="ann", rng=np.random.default_rng(0))
    assert report.answers == 30 and report.next_steps and all(0 <= s.mastery <= 1 for s in report.skills)
    assert all(s.uncertainty >= 0 for s in report.skills) and report.path
    json.dumps(report.to_dict())
    stuck = replay(any_tracker, [(_item_of(any_tracker, root), 0, 60.0 * t) for t in range(45)], [root])  # type: ignore[arg-type]
    cls = class_report(any_tracker, {"ann": state, "stuck": stuck})
    assert len(cls.heatmap) == 2 * any_tracker.n_skills and cls.most_missed
    json.dumps(cls.to_dict())
