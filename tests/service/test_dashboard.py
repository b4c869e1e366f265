"""The dashboard in a real browser (Debian's chromium driven by selenium through chromium-driver), on the
demo school (the built-in maths course): a new learner types answers to ten items (right ones, one with a
known misconception, one that cannot be read), sees the verdicts, the targeted feedback, a hint, the
worked solution and their plan change; a teacher then sees the class's misconceptions and the learner's
typed answers. The same flow with the keyboard alone; every page at 375 px wide; no page breaks the
Content-Security-Policy. Screenshots go to $METATUTOR_TEST_OUTPUT/browser (default: test-output/browser)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed")
pytest.importorskip("selenium", reason="selenium is not installed (dev extra)")
import uvicorn
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from metatutor.content import generate
from metatutor.service import tables as t
from metatutor.service.app import create_app
from metatutor.service.demo import TEACHER, DemoKeys, setup_demo
from metatutor.service.security import new_key
from metatutor.service.settings import Settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SHOTS = Path(os.environ.get("METATUTOR_TEST_OUTPUT", "test-output")) / "browser"

pytestmark = pytest.mark.skipif(not (Path(CHROMIUM).exists() and Path(DRIVER).exists()),
                                reason="no chromium + chromedriver (apt-get install chromium chromium-driver)")


class School:
    def __init__(self, url: str, keys: DemoKeys, new_learner: Callable[[str], str]) -> None:
        self.url, self.keys, self.new_learner = url, keys, new_learner


@pytest.fixture(scope="module")
def school(tmp_path_factory: pytest.TempPathFactory) -> Iterator[School]:
    db = tmp_path_factory.mktemp("dashboard") / "demo.db"
    app = create_app(Settings(database_url=f"sqlite:///{db}"))
    keys = setup_demo(app.state.sessions, learners=30, classmates=6, per_template=8)

    def new_learner(name: str) -> str:
        """A learner of the demo class who has never answered, and their key."""
        with app.state.sessions() as session:
            session.add(t.Learner(id=name, teacher=TEACHER))
            session.commit()
            return new_key(session, "learner", name)[0]

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.05)
    yield School(f"http://127.0.0.1:{port}", keys, new_learner)
    srv.should_exit = True
    thread.join(10)


@pytest.fixture()
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console: CSP violations land there
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    driver.implicitly_wait(2)
    yield driver
    driver.quit()


def _wait(browser: webdriver.Chrome, seconds: float = 20) -> WebDriverWait:  # type: ignore[type-arg]
    """Waits that retry while htmx swaps the elements they read."""
    return WebDriverWait(browser, seconds, ignored_exceptions=(StaleElementReferenceException, NoSuchElementException))


def _login(browser: webdriver.Chrome, url: str, key: str) -> None:
    browser.get(url + "/")
    browser.find_element(By.ID, "key").send_keys(key)
    browser.find_element(By.ID, "login").click()
    _wait(browser).until(lambda b: b.current_url.endswith(("/practice", "/class", "/admin")))  # the cookie is set


def _no_csp_violations(browser: webdriver.Chrome) -> None:
    """Nothing the page loads or runs broke its Content-Security-Policy (Chromium logs each violation), no
    script failed and nothing it asked for was missing (MathLive's and KaTeX's fonts, say)."""
    logs = browser.get_log("browser")
    bad = [e["message"] for e in logs if "Content Security Policy" in e["message"] or "Refused to" in e["message"]
           or "Uncaught" in e["message"] or ("Failed to load resource" in e["message"]
                                             and "/class/learner/" not in e["message"])]
    assert not bad, bad[:3]


def _shot(browser: webdriver.Chrome, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / f"{name}.png"))


def _ready(browser: webdriver.Chrome) -> None:
    """The page's maths is drawn by KaTeX, its charts by Vega and its answer boxes are MathLive fields."""
    wait = _wait(browser)
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#statement .katex"))
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "form.answer math-field, form.answer input[type=radio]"))
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#mastery [data-vega-spec] svg"))


def _event(browser: webdriver.Chrome) -> str:
    return str(browser.find_element(By.CSS_SELECTOR, "form.answer input[name=event]").get_attribute("value"))


def _item(browser: webdriver.Chrome) -> Any:
    return generate(str(browser.find_element(By.CSS_SELECTOR, "form.answer").get_attribute("data-item")))


def _focus_field(browser: webdriver.Chrome, field: WebElement) -> None:
    browser.execute_script("arguments[0].shadowRoot.querySelector('[part=keyboard-sink]').focus()", field)


def _type(browser: webdriver.Chrome, answers: list[str], *, plain: bool = False) -> None:
    """Type one answer per box: in the MathLive field, or in the plain text box it replaces; Enter sends it."""
    radios = browser.find_elements(By.CSS_SELECTOR, "form.answer input[type=radio]")
    if radios:
        next((r for r in radios if r.get_attribute("value") == answers[0]), radios[0]).click()
        browser.find_element(By.ID, "submit-answer").click()
        return
    fields = browser.find_elements(By.CSS_SELECTOR, "form.answer math-field")
    for k, (field, text) in enumerate(zip(fields, answers, strict=True)):
        if plain:
            browser.find_elements(By.CSS_SELECTOR, "form.answer .toggle-plain")[k].click()
            box = browser.find_element(By.ID, f"answer-{k}")
            box.clear()  # a retry shows what was typed before
            box.send_keys(text)
        else:
            _focus_field(browser, field)
            ActionChains(browser).key_down(Keys.CONTROL).send_keys("a").key_up(Keys.CONTROL).send_keys(text).perform()
    ActionChains(browser).send_keys(Keys.ENTER).perform()


def _verdict(browser: webdriver.Chrome, before: str) -> str:
    """The verdict of the answer just sent (the form's event id changes once the panel is swapped)."""
    _wait(browser).until(lambda b: _event(b) != before and b.find_elements(By.ID, "verdict"))
    return str(browser.find_element(By.ID, "verdict").get_attribute("data-verdict"))


def _plain(text: str) -> str:
    """The words of a text with `$…$` maths, for comparing with what KaTeX drew (its maths reads differently)."""
    return text.split("$")[0].strip()


def _mastery(browser: webdriver.Chrome) -> dict[str, float]:
    rows = browser.find_elements(By.CSS_SELECTOR, "#mastery-table tr[data-skill]")
    return {str(r.get_attribute("data-skill")): float(str(r.get_attribute("data-mastery"))) for r in rows}


def test_a_new_learner_types_answers_and_the_teacher_sees_the_misconceptions(school: School,
                                                                            browser: webdriver.Chrome) -> None:
    browser.set_window_size(1280, 1250)  # the screenshots the README shows
    key = school.new_learner("new-learner")
    _login(browser, school.url, key)
    _ready(browser)
    plan_before = browser.find_element(By.ID, "plan").text
    mastery_before = _mastery(browser)
    seen = {"misconception": None, "hint": False, "unreadable": False, "changes": 0, "solutions": 0}
    typed_wrong: list[str] = []
    solved = 0
    while solved < 10:
        item, event = _item(browser), _event(browser)
        count = int(browser.find_element(By.ID, "answer-count").text.split()[0])
        wrong = [m for m in item.misconceptions if all(a is not None for a in m.answer)]
        if solved == 3 and not seen["unreadable"]:  # one that cannot be read: told so, not counted, same item
            _type(browser, ["(("] * len(item.parts), plain=True)
            assert _verdict(browser, event) == "unreadable"
            assert "did not count" in browser.find_element(By.ID, "unreadable").text
            assert int(browser.find_element(By.ID, "answer-count").text.split()[0]) == count
            assert _item(browser).id == item.id
            seen["unreadable"] = True
            continue
        if solved == 2:  # a hint first: shown, and counted by the answer
            browser.find_element(By.ID, "hint-button").click()
            hint = _wait(browser).until(lambda b: b.find_element(By.CSS_SELECTOR, "#hints li"))
            assert _plain(item.hints[0]) in hint.text
            seen["hint"] = True
        if solved in (1, 5, 8) and wrong:
            answer = list(wrong[0].answer)
            _type(browser, answer, plain=solved == 5)
            assert _verdict(browser, event) == "incorrect"
            feedback = browser.find_element(By.ID, "misconception-feedback").text
            assert _plain(wrong[0].feedback) in feedback
            if seen["misconception"] is None:
                seen["misconception"] = wrong[0].id
                typed_wrong.append(answer[0])
                _shot(browser, "learner-practice-misconception")
        else:
            _type(browser, [p.answer for p in item.parts], plain=solved % 3 == 2)
            assert _verdict(browser, event) == "correct"
            if solved == 2:
                assert "1 hint" in browser.find_element(By.ID, "result").text
        solution = browser.find_elements(By.CSS_SELECTOR, "#solution li")
        assert len(solution) == len(item.solution)  # the worked solution once the attempt is over
        seen["solutions"] += 1
        seen["changes"] += len(browser.find_elements(By.CSS_SELECTOR, "#plan-changes li"))
        assert int(browser.find_element(By.ID, "answer-count").text.split()[0]) == count + 1
        assert browser.find_element(By.ID, "reason").text  # the next item says why, in the learner's words
        solved += 1
    assert seen["misconception"] and seen["hint"] and seen["unreadable"] and seen["solutions"] == 10
    assert seen["changes"] >= 10  # every answer said what it changed in the plan
    assert browser.find_element(By.ID, "plan").text != plan_before
    after = _mastery(browser)
    assert max(abs(after[s] - mastery_before[s]) for s in mastery_before) > 0.05
    _wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#mastery [data-vega-spec] svg"))
    _no_csp_violations(browser)
    _shot(browser, "learner-practice")

    browser.find_element(By.ID, "logout").click()
    _login(browser, school.url, school.keys.teacher)
    rows = _wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#misconception-table tr[data-misconception]"))
    shown = {str(r.get_attribute("data-misconception")): r for r in rows}
    assert seen["misconception"] in shown and len(shown) >= 3  # the classmates' and the new learner's
    counts = [int(c.text) for c in browser.find_elements(By.CSS_SELECTOR, "#misconception-table td.num")[::2]]
    assert counts == sorted(counts, reverse=True)  # most learners first
    rates = [float(str(r.get_attribute("data-rate"))) for r in browser.find_elements(By.CSS_SELECTOR, "#missed-table tr[data-rate]")]
    assert rates and rates == sorted(rates, reverse=True)  # the most-missed items, sorted
    learners = browser.find_elements(By.CSS_SELECTOR, "#learners td a[href^='/class/learner/']")
    risky = browser.find_elements(By.CSS_SELECTOR, "#at-risk li")
    assert len(risky) < len(learners)  # not everyone is flagged
    _wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#heatmap svg .mark-rect.role-mark path"))
    legend = _wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#curves svg .role-legend"))
    assert "class mean" in legend[0].text
    _no_csp_violations(browser)
    _shot(browser, "teacher-class")
    browser.get(school.url + "/class/learner/new-learner")
    table = _wait(browser).until(lambda b: b.find_element(By.ID, "answers-table"))
    assert typed_wrong[0] in table.text and "incorrect" in table.text  # the answers as the learner typed them
    _wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#kt svg .mark-rect.role-mark path"))
    _no_csp_violations(browser)
    _shot(browser, "teacher-learner-report")


def _tab_to(browser: webdriver.Chrome, matches: Callable[[], bool], *, limit: int = 40) -> None:
    """Press Tab until the focused element is the one wanted."""
    for _ in range(limit):
        if matches():
            return
        ActionChains(browser).send_keys(Keys.TAB).perform()
    raise AssertionError(f"Tab did not reach the element; the keyboard is on {_active(browser)}")


def _active(browser: webdriver.Chrome) -> dict[str, str]:
    return dict(browser.execute_script(
        "const a = document.activeElement; return {tag: a.tagName.toLowerCase(), id: a.id || '', "
        "text: (a.textContent || '').trim().slice(0, 60), form: a.closest('form') ? a.closest('form').className : ''}"))


def test_the_whole_flow_works_with_the_keyboard_alone(school: School, browser: webdriver.Chrome) -> None:
    key = school.new_learner("keyboard-learner")
    browser.get(school.url + "/")
    ActionChains(browser).send_keys(Keys.TAB).perform()
    assert _active(browser)["text"] == "Skip to the content"  # the first stop
    _tab_to(browser, lambda: _active(browser)["id"] == "key")
    ActionChains(browser).send_keys(key, Keys.ENTER).perform()
    _wait(browser).until(lambda b: b.current_url.endswith("/practice"))
    _ready(browser)
    for n in range(3):
        item, event = _item(browser), _event(browser)
        if n == 1:  # a hint, from the keyboard: back from the answer box to the hint button
            _tab_to(browser, lambda: _active(browser)["id"] == "hint-button")
            ActionChains(browser).send_keys(Keys.ENTER).perform()
            _wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#hints li"))
            assert _active(browser)["tag"] == "li"  # the keyboard lands on the new hint
        if not (n == 0 or _active(browser)["form"] == "answer"):
            _tab_to(browser, lambda: _active(browser)["form"] == "answer")
        if item.answer_type.value == "choice":  # a radio group: arrows move, space picks
            ActionChains(browser).send_keys(Keys.SPACE).perform()
            value = browser.execute_script("return document.activeElement.value")
            expected = "correct" if value == item.parts[0].answer else "incorrect"
            _tab_to(browser, lambda: _active(browser)["id"] == "submit-answer")
        else:
            if n == 0:
                _tab_to(browser, lambda: _active(browser)["form"] == "answer")
            ActionChains(browser).send_keys(item.parts[0].answer).perform()
            for k in range(1, len(item.parts)):
                _tab_to(browser, lambda k=k: _active(browser)["id"] == f"answer-{k}-math")
                ActionChains(browser).send_keys(item.parts[k].answer).perform()
            expected = "correct"
        ActionChains(browser).send_keys(Keys.ENTER).perform()
        assert _verdict(browser, event) == expected
        assert _active(browser)["form"] == "answer" or _active(browser)["id"] == "answer-right"  # ready for the next
    _tab_to(browser, lambda: _active(browser)["id"] == "logout", limit=80)
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    _wait(browser).until(lambda b: b.find_elements(By.ID, "key"))
    _no_csp_violations(browser)


UNLABELLED = """
const out = [];
for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea, button, math-field')) {
  if (el.hidden || el.closest('[hidden]')) continue;
  const id = el.id && document.querySelector('label[for="' + el.id + '"]');
  const named = id || el.closest('label') || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')
                || (el.tagName === 'BUTTON' && el.textContent.trim());
  if (!named) out.push(el.outerHTML.slice(0, 120));
}
return out;"""


def _fits_a_phone(browser: webdriver.Chrome, name: str) -> None:
    """No sideways scrolling at 375 px, every field labelled for a screen reader, the CSP kept."""
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 375, (name, width)
    if browser.find_elements(By.ID, "logout"):
        assert browser.find_element(By.ID, "logout").rect["x"] + browser.find_element(By.ID, "logout").rect["width"] <= 375
    assert browser.execute_script(UNLABELLED) == [], name
    _no_csp_violations(browser)


def test_every_page_fits_a_phone_and_labels_its_fields(school: School, browser: webdriver.Chrome) -> None:
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 375, "height": 812, "deviceScaleFactor": 2, "mobile": True})
    browser.get(school.url + "/")
    _fits_a_phone(browser, "login")
    _login(browser, school.url, school.new_learner("phone-learner"))
    _ready(browser)
    event = _event(browser)
    _type(browser, ["((" for _ in _item(browser).parts], plain=True)
    _verdict(browser, event)
    _fits_a_phone(browser, "practice")
    _shot(browser, "phone-practice")
    browser.get(school.url + "/assess")
    browser.find_element(By.ID, "start").click()
    _wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#assess-level svg"))
    _fits_a_phone(browser, "assess")
    browser.get(school.url + "/class/learner/phone-learner")
    _fits_a_phone(browser, "report")
    browser.get(school.url + "/class/learner/learner-01")  # another learner's report: a page, not JSON
    assert "Not allowed (403)" in browser.find_element(By.TAG_NAME, "h1").text
    _fits_a_phone(browser, "403")
    browser.find_element(By.ID, "logout").click()
    _login(browser, school.url, school.keys.teacher)
    _wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#heatmap svg"))
    _fits_a_phone(browser, "class")
    _shot(browser, "phone-class")
    browser.get(school.url + "/class/learner/learner-01")
    _wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#kt svg"))
    _fits_a_phone(browser, "teacher's report")
    browser.get(school.url + "/class/learner/nobody")
    assert "Not found (404)" in browser.find_element(By.TAG_NAME, "h1").text
    _fits_a_phone(browser, "404")
    browser.find_element(By.ID, "logout").click()
    _login(browser, school.url, school.keys.admin)
    assert browser.current_url.endswith("/admin")  # the admin key lands on the admin's page
    _fits_a_phone(browser, "admin")
    _shot(browser, "phone-admin")


def test_a_learner_takes_an_adaptive_assessment_with_typed_answers(school: School, browser: webdriver.Chrome) -> None:
    _login(browser, school.url, school.new_learner("assessed-learner"))
    browser.get(school.url + "/assess")
    browser.find_element(By.ID, "start").click()
    wait = _wait(browser)
    ses = []
    for n in range(6):
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#assess-question #statement .katex"))
        item = generate(str(browser.find_element(By.ID, "assess-item").get_attribute("data-item")))
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "form.answer math-field, form.answer input[type=radio]"))
        if n == 2:  # unreadable: the same question again, the test unchanged
            _type(browser, ["(("] * len(item.parts), plain=True)
            wait.until(lambda b: b.find_elements(By.ID, "unreadable"))
            assert browser.find_element(By.ID, "assess-item").get_attribute("data-item") == item.id
            continue
        _type(browser, [p.answer for p in item.parts] if n % 2 else ["-1234"] * len(item.parts), plain=n == 4)
        wait.until(lambda b, item=item: b.find_elements(By.ID, "assess-last")
                   and b.find_element(By.ID, "assess-item").get_attribute("data-item") != item.id)
        ses.append(float(str(browser.find_element(By.ID, "assess-se").get_attribute("data-se"))))
    assert ses[-1] < ses[0]  # each answer makes the estimate more precise
    assert "average" in browser.find_element(By.ID, "level-meaning").text  # the figure says what it means
    axis = wait.until(lambda b: b.find_element(By.CSS_SELECTOR, "#assess-level svg")).text
    assert "0.000000" not in axis and "+1.0" in axis
    _no_csp_violations(browser)
    _shot(browser, "learner-assessment")


def test_the_api_reference_works_offline(school: School, browser: webdriver.Chrome) -> None:
    browser.get(school.url + "/docs")
    ops = _wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".opblock"))
    assert len(ops) > 20  # Swagger UI drew every operation from /openapi.json, with nothing from a CDN
    _no_csp_violations(browser)
