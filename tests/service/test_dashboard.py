"""The dashboard in a real browser (Debian's chromium driven by selenium through chromium-driver): a demo
learner practises and sees mastery move, a teacher sees the class heatmap, an assessment runs. Screenshots
go to $METATUTOR_TEST_OUTPUT/browser (default: test-output/browser)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed")
pytest.importorskip("selenium", reason="selenium is not installed (dev extra)")
import uvicorn
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from metatutor.service.app import create_app
from metatutor.service.demo import DemoKeys, setup_demo
from metatutor.service.settings import Settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SHOTS = Path(os.environ.get("METATUTOR_TEST_OUTPUT", "test-output")) / "browser"

pytestmark = pytest.mark.skipif(not (Path(CHROMIUM).exists() and Path(DRIVER).exists()),
                                reason="no chromium + chromedriver (apt-get install chromium chromium-driver)")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, DemoKeys]]:
    db = tmp_path_factory.mktemp("dashboard") / "demo.db"
    app = create_app(Settings(database_url=f"sqlite:///{db}"))
    keys = setup_demo(app.state.sessions, learners=150, classmates=6)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", keys
    srv.should_exit = True
    thread.join(10)


@pytest.fixture()
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def _wait(browser: webdriver.Chrome) -> WebDriverWait:
    """Waits that retry while htmx swaps the elements they read."""
    return WebDriverWait(browser, 10, ignored_exceptions=(StaleElementReferenceException, NoSuchElementException))


def _login(browser: webdriver.Chrome, url: str, key: str) -> None:
    browser.get(url + "/")
    browser.find_element(By.ID, "key").send_keys(key)
    browser.find_element(By.ID, "login").click()
    _wait(browser).until(lambda b: b.current_url.endswith(("/practice", "/class")))  # the cookie is set


def _mastery(browser: webdriver.Chrome) -> dict[str, float]:
    rows = browser.find_elements(By.CSS_SELECTOR, "#mastery-table tr[data-skill]")
    return {r.get_attribute("data-skill"): float(r.get_attribute("data-mastery")) for r in rows}


def _shot(browser: webdriver.Chrome, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / f"{name}.png"))


def test_learner_practises_and_sees_mastery_move(server: tuple[str, DemoKeys], browser: webdriver.Chrome) -> None:
    url, keys = server
    _login(browser, url, keys.learner)
    wait = _wait(browser)
    wait.until(lambda b: b.current_url.endswith("/practice"))
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "[data-vega-spec] svg"))  # the vendored charts draw
    before = _mastery(browser)
    assert len(before) == 12
    for n in range(1, 6):
        item = browser.find_element(By.ID, "item-id").text
        browser.find_element(By.ID, "answer-right" if n % 2 else "answer-wrong").click()
        wait.until(lambda b, n=n: b.find_element(By.ID, "answer-count").text.startswith(f"{n} answers"))
        assert item in browser.find_element(By.ID, "last-answer").text
        assert browser.find_element(By.ID, "reason").text.startswith("Why this item:")
    after = _mastery(browser)
    assert max(abs(after[s] - before[s]) for s in before) > 0.01  # mastery moved on the page
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#practice [data-vega-spec] svg"))
    _shot(browser, "learner-practice")


def test_teacher_sees_the_class_heatmap(server: tuple[str, DemoKeys], browser: webdriver.Chrome) -> None:
    url, keys = server
    _login(browser, url, keys.teacher)
    wait = _wait(browser)
    wait.until(lambda b: b.current_url.endswith("/class"))
    cells = wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#heatmap svg .mark-rect.role-mark path"))
    learners = browser.find_elements(By.CSS_SELECTOR, "#learners td a[href^='/class/learner/']")
    assert len(cells) == 12 * len(learners) and len(learners) == 7  # 6 classmates and the demo learner
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#curves svg"))
    _shot(browser, "teacher-class")
    learners[0].click()
    wait.until(lambda b: "Report:" in b.find_element(By.TAG_NAME, "h2").text)
    bars = wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#kt svg .mark-rect.role-mark path"))
    assert len(bars) == 12 and "dkt" in browser.find_element(By.CSS_SELECTOR, "#kt h3").text  # the demo's KT model
    _shot(browser, "teacher-learner-report")


def test_learner_takes_an_adaptive_assessment(server: tuple[str, DemoKeys], browser: webdriver.Chrome) -> None:
    url, keys = server
    _login(browser, url, keys.learner)
    browser.get(url + "/assess")
    browser.find_element(By.ID, "start").click()
    wait = _wait(browser)
    ses = []
    for n in range(5):
        item = wait.until(lambda b: b.find_element(By.ID, "assess-item")).text
        browser.find_element(By.ID, "assess-right" if n % 2 else "assess-wrong").click()
        wait.until(lambda b, item=item: not b.find_elements(By.ID, "assess-item")
                   or b.find_element(By.ID, "assess-item").text != item)
        ses.append(float(browser.find_element(By.ID, "assess-estimate").text.split("±")[1].split()[0]))
    assert ses[-1] < ses[0]  # each answer makes the estimate more precise
    _shot(browser, "learner-assessment")
