"""The dashboard's pages without a browser: what each role is sent to, typed answers graded on the page
(with and without JavaScript), the plan, the teacher's and the admin's pages, CSV downloads, and pages
that stay readable on a course of hundreds of skills."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed")
from fastapi.testclient import TestClient

from metatutor.service.app import create_app
from metatutor.service.settings import Settings
from metatutor.service.store import builtin_course
from metatutor.service.web.base import csv_response, natural, tex

ADMIN = {"X-API-Key": "admin-secret"}
HX = {"HX-Request": "true"}


def _client(tmp_path: Path, course: dict[str, Any], *learners: tuple[str, str]) -> TestClient:
    c = TestClient(create_app(Settings(database_url=f"sqlite:///{tmp_path / 'd.db'}", admin_key="admin-secret")))
    assert c.post("/api/course", json=course, headers=ADMIN).status_code == 200
    for learner, teacher in learners:
        c.post("/api/learners", json={"id": learner, "teacher": teacher}, headers=ADMIN)
    return c


@pytest.fixture()
def client(tmp_path: Path) -> TestClient:
    """The simulator's course: items without content (a right/wrong self-report)."""
    return _client(tmp_path, builtin_course(n_skills=3, items_per_skill=4), ("a", "t1"))


@pytest.fixture()
def maths(tmp_path: Path) -> TestClient:
    """The built-in maths course (two items per template): items with statements, keys and misconceptions."""
    from metatutor.content import course_body

    return _client(tmp_path, course_body(2), ("a", "t1"), ("b", "t1"))


def _login(client: TestClient, key: str) -> str:
    res = client.post("/login", data={"key": key}, follow_redirects=False)
    assert res.status_code == 303
    return res.headers["location"]


def _key(client: TestClient, role: str, subject: str) -> str:
    return str(client.post("/api/keys", json={"role": role, "subject": subject}, headers=ADMIN).json()["key"])


def _csrf(page: str) -> str:
    return page.split('"X-CSRF-Token": "', 1)[1].split('"', 1)[0]


def _form(page: str) -> dict[str, str]:
    """The hidden fields of the page's answer form."""
    form = page[page.index('<form class="answer"'):]
    form = form[:form.index("</form>")]
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))


def test_each_role_lands_on_its_page_and_a_bad_key_is_refused(client: TestClient) -> None:
    assert "Unknown, expired or revoked key" in client.post("/login", data={"key": "nope"}).text
    assert _login(client, "admin-secret") == "/admin"  # the admin's own page
    assert client.get("/practice", follow_redirects=False).headers["location"] == "/class"  # pick a learner
    page = client.get("/class").text
    assert "Class of t1" in page and 'id="heatmap"' in page
    learner = _key(client, "learner", "a")
    client.post("/logout", data={"csrf": _csrf(page)})
    assert client.get("/practice", follow_redirects=False).headers["location"] == "/"  # logged out
    assert _login(client, learner) == "/practice"
    assert "Practise" in client.get("/practice").text
    assert _login(client, _key(client, "teacher", "t1")) == "/class"


def test_items_without_content_keep_a_labelled_self_report(client: TestClient) -> None:
    _login(client, _key(client, "learner", "a"))
    page = client.get("/practice").text
    assert 'id="self-report"' in page and "Self-check question" in page and 'id="answer-right"' in page
    item = re.search(r'id="item-id">([^<]+)<', page).group(1)  # type: ignore[union-attr]
    res = client.post("/practice/answer", data={"learner": "a", "item": item, "correct": 1, "event": "e1",
                                                "csrf": _csrf(page)}, headers=HX)
    assert res.status_code == 200 and 'data-verdict="self-right"' in res.text and "1 answers so far" in res.text


def test_a_typed_answer_is_graded_on_the_page(maths: TestClient) -> None:
    from metatutor.content import generate

    _login(maths, _key(maths, "learner", "a"))
    page = maths.get("/practice").text
    assert 'class="math" data-tex=' in page  # the statement's maths, for KaTeX
    form = _form(page)
    item = generate(form["item"])
    assert item.parts[0].answer not in re.sub(r'data-tex="[^"]*"', "", page.split('id="statement"')[1][:500])
    wrong = next(m for m in item.misconceptions if all(a is not None for a in m.answer))
    res = maths.post("/practice/answer", data={**form, "answer": list(wrong.answer)}, headers=HX)
    assert 'data-verdict="incorrect"' in res.text and 'id="misconception-feedback"' in res.text
    assert 'id="solution"' in res.text and 'id="plan-changes"' in res.text and "1 answers so far" in res.text
    form = _form(res.text)
    hint = maths.post("/practice/hint", data={"learner": "a", "item": form["item"], "csrf": form["csrf"]}, headers=HX)
    assert hint.status_code == 200 and '<ol id="hints">' in hint.text and "2 of" in hint.text
    again = maths.post("/practice/answer", data={**form, "answer": ["(("]}, headers=HX)
    assert 'data-verdict="unreadable"' in again.text and "1 answers so far" in again.text  # not counted
    assert _form(again.text)["item"] == form["item"]  # the same item again
    right = generate(form["item"])
    done = maths.post("/practice/answer", data={**_form(again.text), "answer": [p.answer for p in right.parts]},
                      headers=HX)
    assert 'data-verdict="correct"' in done.text and "You used 1 hint" in done.text
    answers = maths.get("/api/learners/a/report", headers=ADMIN).json()["answers"]
    assert answers == 2


def test_without_javascript_a_posted_answer_comes_back_with_its_verdict(maths: TestClient) -> None:
    _login(maths, _key(maths, "learner", "a"))
    page = maths.get("/practice").text
    form = _form(page)
    res = maths.post("/practice/answer", data={**form, "answer": ["(("]}, follow_redirects=False)
    assert res.status_code == 303 and parse_qs(urlparse(res.headers["location"]).query)["item"] == [form["item"]]
    shown = maths.get(res.headers["location"]).text
    assert 'data-verdict="unreadable"' in shown and _form(shown)["item"] == form["item"]
    from metatutor.content import generate

    item = generate(form["item"])
    res = maths.post("/practice/answer", data={**_form(shown), "answer": [p.answer for p in item.parts]},
                     follow_redirects=False)
    shown = maths.get(res.headers["location"]).text
    assert 'data-verdict="correct"' in shown and 'id="solution"' in shown


def test_practice_never_proposes_a_skill_the_page_marks_blocked(maths: TestClient) -> None:
    from metatutor.content import generate

    _login(maths, "admin-secret")
    page = maths.get("/practice?learner=a").text
    for n in range(8):
        form = _form(page)
        skill = re.search(r'<p class="skill-name">([^<]*)</p>', page).group(1)  # type: ignore[union-attr]
        row = re.search(r"<tr data-skill=\"[^\"]+\" data-mastery=\"[^\"]+\"><td>" + re.escape(skill) +
                        r"</td>.*?<td class=\"status-([a-z-]+)\"", page, re.S)
        assert row is not None and row.group(1) != "blocked", (n, skill)
        item = generate(form["item"])
        answer = [p.answer for p in item.parts] if n % 3 else ["0"] * len(item.parts)
        page = maths.post("/practice/answer", data={**form, "answer": answer}, headers=HX).text
    assert 'id="technical-reason"' in page  # the policy's own reason, for the teacher or admin only
    _login(maths, _key(maths, "learner", "b"))
    mine = maths.get("/practice").text
    assert 'id="technical-reason"' not in mine
    reason = re.search(r'<p class="reason" id="reason">([^<]+)</p>', mine).group(1)  # type: ignore[union-attr]
    assert "predicted" not in reason and "→" not in reason and reason.endswith(".")


def test_the_teacher_sees_misconceptions_statements_and_typed_answers(maths: TestClient) -> None:
    from metatutor.content import generate

    _login(maths, _key(maths, "learner", "a"))
    page = maths.get("/practice").text
    wrongs = []
    for _ in range(3):
        form = _form(page)
        item = generate(form["item"])
        wrong = next(m for m in item.misconceptions if all(a is not None for a in m.answer))
        wrongs.append((wrong.id, " | ".join(str(a) for a in wrong.answer)))
        page = maths.post("/practice/answer", data={**form, "answer": list(wrong.answer)}, headers=HX).text
    _login(maths, _key(maths, "teacher", "t1"))
    page = maths.get("/class").text
    shown = re.findall(r'<tr data-misconception="([^"]+)">', page)
    assert {m for m, _ in wrongs} <= set(shown)
    rates = [float(r) for r in re.findall(r'<tr data-rate="([^"]+)">', page)]
    assert rates == sorted(rates, reverse=True)
    report = maths.get("/class/learner/a").text
    assert all(f"<code>{html.escape(a)}</code>" in report for _, a in wrongs) and 'id="answers-table"' in report
    assert "ability" not in report.lower()  # one figure per question: no second, unexplained "ability"


def test_class_and_learner_reports_download_as_csv(maths: TestClient) -> None:
    _login(maths, _key(maths, "learner", "a"))
    form = _form(maths.get("/practice").text)
    maths.post("/practice/answer", data={**form, "answer": ["-5"]}, headers=HX)
    own = maths.get("/class/learner/a?format=csv&table=answers")
    assert own.headers["content-type"].startswith("text/csv") and "attachment" in own.headers["content-disposition"]
    _login(maths, _key(maths, "teacher", "t1"))
    res = maths.get("/class?format=csv")
    lines = res.text.strip().splitlines()
    assert lines[0] == "learner,skill,mastery,uncertainty,status,answers,wrong,needs"
    assert len(lines) == 1 + 2 * 16 and {ln.split(",")[0] for ln in lines[1:]} == {"a", "b"}
    skills = maths.get("/class/learner/a?format=csv").text.splitlines()
    assert skills[0].startswith("skill,mastery") and len(skills) == 17
    answers = maths.get("/class/learner/a?format=csv&table=answers").text.splitlines()
    assert answers[0].startswith("timestamp,item,answer,verdict") and len(answers) == 2
    assert answers[1].split(",")[1:3] == [form["item"], "-5"]  # a negative number stays a number


def test_admin_pages_load_a_course_a_roster_learners_and_keys(client: TestClient) -> None:
    _login(client, "admin-secret")
    page = client.get("/admin").text
    csrf = _csrf(page)
    assert "3 skills, 12 items (0 with statements)" in page
    done = client.post("/admin/course", data={"csrf": csrf, "source": "builtin", "per_template": 1})
    assert done.status_code == 200 and "Course loaded: 16 skills" in done.text and "16 skills, 38 items" in done.text
    bad = client.post("/admin/course", data={"csrf": csrf, "source": "json"},
                      files={"course_file": ("c.json", b"{not json")})
    assert bad.status_code == 422 and 'id="admin-error"' in bad.text and "not JSON" in bad.text
    course = json.dumps(builtin_course(n_skills=2, items_per_skill=2)).encode()
    ok = client.post("/admin/course", data={"csrf": csrf, "source": "json"}, files={"course_file": ("c.json", course)})
    assert "Course loaded: 2 skills" in ok.text
    roster = client.post("/admin/roster", data={"csrf": csrf}, files={
        "users": ("users.csv", b"sourcedId,role\nt7,teacher\nkid1,student\nkid2,student\n"),
        "enrollments": ("enrollments.csv", b"sourcedId,classSourcedId,userSourcedId,role\n"
                        b"e1,c,t7,teacher\ne2,c,kid1,student\ne3,c,kid2,student\n")})
    assert "2 learners added" in roster.text and 'href="/class?teacher=t7"' in roster.text
    added = client.post("/admin/learners", data={"csrf": csrf, "learner": "kid3", "teacher": "t7"})
    assert "Learner kid3 added to the class of t7" in added.text
    made = client.post("/admin/keys", data={"csrf": csrf, "role": "learner", "subject": "kid3"})
    key = re.search(r'<span class="key">([^<]+)</span>', made.text).group(1)  # type: ignore[union-attr]
    assert client.get("/api/learners/kid3/state", headers={"X-API-Key": key}).status_code == 200
    assert 'id="new-key"' not in client.get("/admin").text  # shown once, on that page only
    missing = client.post("/admin/keys", data={"csrf": csrf, "role": "learner", "subject": "nobody"})
    assert missing.status_code == 404 and "no learner" in missing.text
    assert client.post("/admin/keys", data={"role": "admin"}).status_code == 403  # no CSRF token


def test_pages_stay_readable_on_a_course_of_hundreds_of_skills(tmp_path: Path) -> None:
    skills = [str(n) for n in range(1, 222)]  # numeric ids, as in a real dataset's log
    items = [{"id": f"q{k}", "skills": [skills[k % len(skills)]]} for k in range(2000)]
    course = {"skills": skills, "prerequisites": [["1", "2"], ["2", "12"], ["12", "100"]], "items": items}
    learners = [(f"u{n}", "t1") for n in (1, 2, 10, 11, 12, 100)]
    c = _client(tmp_path, course, *learners)
    for name, _ in learners:
        answers = [{"event_id": f"{name}-{k}", "item": f"q{k}", "correct": k % 3 > 0} for k in range(0, 400, 7)]
        c.post(f"/api/learners/{name}/responses", json={"responses": answers}, headers=ADMIN)
    _login(c, _key(c, "teacher", "t1"))
    page = c.get("/class").text
    heat = json.loads(re.search(r"id=\"heatmap\" data-vega-spec='([^']*)'", page).group(1).replace("&#34;", '"'))  # type: ignore[union-attr]
    assert len({v["skill"] for v in heat["data"]["values"]}) == 30  # the most practised, not 221 columns
    assert "Showing 30 of" in page
    found = json.loads(re.search(r"id=\"heatmap\" data-vega-spec='([^']*)'",  # type: ignore[union-attr]
                                 c.get("/class?skills=all&q=10").text).group(1).replace("&#34;", '"'))
    assert {v["skill"] for v in found["data"]["values"]} <= {s for s in skills if "10" in s}
    order = re.findall(r'<td><a href="/class/learner/([^"]+)">', page)
    assert order == natural(order) == ["u1", "u2", "u10", "u11", "u12", "u100"]
    risky = page.split('id="at-risk"')[1].split("</section>")[0].count("<li>")
    assert risky < len(learners)
    _login(c, _key(c, "learner", "u1"))
    mine = c.get("/practice").text
    spec = json.loads(re.search(r"<div class=\"chart\" data-vega-spec='([^']*)'", mine).group(1).replace("&#34;", '"'))  # type: ignore[union-attr]
    assert len(spec["data"]["values"]) == 15  # the chart shows the learner's first skills ...
    rows = re.findall(r'<tr data-skill="([^"]+)"', mine)
    assert len(rows) == 221  # ... the table all of them, the learner's own first, then in natural order
    practised = {skills[k % len(skills)] for k in range(0, 400, 7)}
    own = rows[:len(practised)]
    assert set(own) == practised
    planned = set(re.findall(r"<li><strong>([^<]+)</strong>", mine.split('id="plan"')[1].split("</section>")[0]))
    rest = [r for r in rows[len(practised):] if r not in {"2", "12", "100"} | planned]
    assert len(rest) > 100 and rest == natural(rest)


def test_the_assessment_explains_its_level_and_why_it_stopped(client: TestClient) -> None:
    items = [{"id": f"i0{s}-00{k}", "b": (k - 2) / 2} for s in (1, 2, 3) for k in (1, 2, 3, 4)]
    client.post("/api/assessments/bank", json={"kind": "1pl", "items": items}, headers=ADMIN)
    _login(client, _key(client, "learner", "a"))
    csrf = _csrf(client.get("/assess").text)
    res = client.post("/assess/start", data={"learner": "a", "max_items": 2, "csrf": csrf}, headers=HX)
    for _ in range(2):
        item = re.search(r'id="item-id">([^<]+)<', res.text).group(1)  # type: ignore[union-attr]
        assert "Self-check question" in res.text
        test_id = re.search(r'action="/assess/(\d+)/answer"', res.text).group(1)  # type: ignore[union-attr]
        res = client.post(f"/assess/{test_id}/answer", data={"item": item, "correct": 1, "csrf": csrf}, headers=HX)
    assert "Finished after 2 questions: it reached its 2 questions." in res.text and "max_items" not in res.text
    assert "0 is an average learner" in res.text
    spec = json.loads(re.search(r"data-vega-spec='([^']*)'", res.text).group(1).replace("&#34;", '"'))  # type: ignore[union-attr]
    assert spec["layer"][1]["encoding"]["y"]["scale"]["domain"] == [-3, 3]  # a fixed axis, not 0.000000
    report = client.get("/class/learner/a").text
    assert 'id="summary-level"' in report and "last adaptive assessment, 2 questions" in report


def test_an_assessment_without_an_item_bank_says_so_on_the_page(client: TestClient) -> None:
    _login(client, "admin-secret")
    csrf = _csrf(client.get("/class").text)
    res = client.post("/assess/start", data={"learner": "a"}, headers={"HX-Request": "true", "X-CSRF-Token": csrf})
    assert res.status_code == 200 and 'id="assess-error"' in res.text and "item bank" in res.text


def test_errors_on_pages_are_pages(client: TestClient) -> None:
    _login(client, _key(client, "learner", "a"))
    for path, code in (("/class/learner/b", 403), ("/admin", 403), ("/nowhere", 404)):
        res = client.get(path)
        assert res.status_code == code and res.headers["content-type"].startswith("text/html")
        assert 'id="error"' in res.text and 'id="logout"' in res.text  # with the header, to go on from


def test_the_learner_page_shows_the_kt_model_s_view_once_one_is_active(client: TestClient, tmp_path: Path) -> None:
    from metatutor.data.simulator import Simulator, SimulatorConfig
    from metatutor.models import make_model

    _login(client, "admin-secret")
    assert 'id="kt"' not in client.get("/class/learner/a").text  # no KT model yet: no card
    logs = Simulator(SimulatorConfig(n_skills=3, items_per_skill=4), random_state=0).simulate(20)
    folder = make_model("irt").fit(logs).save(tmp_path / "irt")
    files = {"model": ("model.json", (folder / "model.json").read_bytes()),
             "arrays": ("arrays.safetensors", (folder / "arrays.safetensors").read_bytes())}
    csrf = _csrf(client.get("/admin").text)
    done = client.post("/admin/models", data={"csrf": csrf}, files=files)  # the admin's page, not curl
    assert done.status_code == 200 and "made active" in done.text
    answers = [{"event_id": f"e{n}", "item": "i01-001", "correct": True} for n in range(3)]
    client.post("/api/learners/a/responses", json={"responses": answers}, headers=ADMIN)
    page = client.get("/class/learner/a").text
    card = page[page.index('id="kt"'):]
    assert "irt, version" in card
    spec = json.loads(re.search(r"data-vega-spec='([^']*)'", card).group(1).replace("&#34;", '"'))  # type: ignore[union-attr]
    shown = {v["skill"]: v["p_correct"] for v in spec["data"]["values"]}
    api = {s["skill"]: s["p_correct"] for s in client.get("/api/learners/a/kt", headers=ADMIN).json()["skills"]}
    assert shown == api and len(shown) == 3


def test_text_helpers() -> None:
    assert natural(["s10", "s2", "s1", "100", "12", "2", "1"]) == ["1", "2", "12", "100", "s1", "s2", "s10"]
    html = str(tex("Work out $\\frac{1}{2} + <b>$ & \\$5 <i>"))
    assert html == ('Work out <span class="math" data-tex="\\frac{1}{2} + &lt;b&gt;">\\frac{1}{2} + &lt;b&gt;</span>'
                    " &amp; $5 &lt;i&gt;")
    assert str(tex("$\\$3.00$ each")).startswith('<span class="math" data-tex="\\$3.00">')


def test_csv_cells_that_look_like_formulas_are_text() -> None:
    res = csv_response(["a", "b"], [["=cmd()", "-5"], ["@x", "+2.5"], ["-x", None]], "r.csv")
    assert res.body.decode().splitlines() == ["a,b", "'=cmd(),-5", "'@x,+2.5", "'-x,"]


def test_the_admin_page_uploads_the_learner_model_every_decision_reads(client: TestClient, tmp_path: Path) -> None:
    from metatutor.data.simulator import Simulator, SimulatorConfig
    from metatutor.data.splits import holdout_split
    from metatutor.learner.registry import fit_for_course

    _login(client, "admin-secret")
    logs = Simulator(SimulatorConfig(n_skills=3, items_per_skill=4), random_state=0).simulate(30, (10, 20))
    fit_on, valid_on = holdout_split(logs, valid_fraction=0.2, random_state=0)
    folder = fit_for_course("meta", fit_on, valid_on, logs, max_epochs=1,
                            settings={"meta_steps": 3, "eval_every": 3}).save(tmp_path / "learner")
    files = {"model": ("learner.json", (folder / "learner.json").read_bytes()),
             "arrays": ("arrays.safetensors", (folder / "arrays.safetensors").read_bytes())}
    csrf = _csrf(client.get("/admin").text)
    done = client.post("/admin/learner-model", data={"csrf": csrf}, files=files)  # the admin's page, not curl
    assert done.status_code == 200 and "Learner model (meta)" in done.text and "made active" in done.text
    active = [v for v in client.get("/api/models", headers=ADMIN).json() if v["kind"] == "tracker" and v["active"]]
    assert [v["info"]["model"] for v in active] == ["meta"]
    assert client.get("/api/learners/a/next", headers=ADMIN).status_code == 200
    bad = client.post("/admin/learner-model", data={"csrf": _csrf(client.get("/admin").text)},
                      files={"model": ("learner.json", b"{}")})
    assert bad.status_code == 422 and "holds an unknown learner model" in html.unescape(bad.text)  # said on the page
