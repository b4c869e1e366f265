from __future__ import annotations

from metatutor.feedback import replay
from metatutor.feedback.at_risk import RiskRule, at_risk, goals_mastered
from metatutor.learner import SkillTracker, Tracker


def _item_of(tracker: Tracker, skill: str, k: int = 0) -> str:
    s = list(tracker.graph.skills).index(skill)
    single = [i for i in tracker.skill_items[s] if tracker.item_ptr[i + 1] - tracker.item_ptr[i] == 1]
    return str(tracker.item_ids[single[k % len(single)]])


def _answers(tracker: Tracker, skill: str, pattern: list[int], start: float = 0.0) -> list[tuple[str, int, float]]:
    return [(_item_of(tracker, skill, n), y, start + 60.0 * n) for n, y in enumerate(pattern)]


def test_only_the_stuck_learner_is_flagged_in_a_new_class(tracker: SkillTracker) -> None:
    root = tracker.graph.order()[0]
    states = {
        "new": replay(tracker, [], [root]),  # no answers: nothing to act on yet
        "few": replay(tracker, _answers(tracker, root, [0] * 5), [root]),  # too few answers to tell
        "good": replay(tracker, _answers(tracker, root, [1] * 12), [root]),
        "learning": replay(tracker, _answers(tracker, root, [0] * 6 + [1] * 8), [root]),  # wrong, then right
        "stuck": replay(tracker, _answers(tracker, root, [0] * 45), [root]),
    }
    flagged = at_risk(tracker, states)
    assert [r.learner for r in flagged] == ["stuck"]
    assert flagged[0].reason == "stuck" and flagged[0].why.startswith("10 of the last 10 answers wrong")
    assert flagged[0].skills == (root,)


def test_low_mastery_alone_flags_nobody_but_falling_far_behind_does(tracker: SkillTracker) -> None:
    root, deep = tracker.graph.order()[0], tracker.graph.order()[-1]
    goals = [deep]  # a long way to go for everyone: low mastery of the goals is no reason on its own
    children = [s for s in tracker.graph.skills if tracker.graph.prerequisites(s) == [root]]
    history = _answers(tracker, root, [1] * 8)
    for k, child in enumerate(children):
        history += _answers(tracker, child, [1] * 8, start=1000.0 * (k + 1))
    ahead = {f"a{n}": replay(tracker, history, goals) for n in range(4)}
    assert at_risk(tracker, ahead) == []
    behind = replay(tracker, _answers(tracker, root, [1, 0, 0, 1, 0] * 5), goals)  # 40% right: not stuck
    flagged = at_risk(tracker, {**ahead, "behind": behind})
    assert [r.learner for r in flagged] == ["behind"] and flagged[0].reason == "behind"
    median = goals_mastered(tracker, ahead["a0"])  # the goals' ancestors among the skills practised
    assert median >= 3 and goals_mastered(tracker, behind) == 1
    assert flagged[0].why == f"1 skills mastered against the class median of {median}"
    assert at_risk(tracker, {**ahead, "behind": behind}, RiskRule(min_median=median + 1)) == []
