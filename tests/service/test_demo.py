"""`metatutor demo`, the README's main command: it sets up the demo school (the built-in maths course),
says each step as it goes (also when its output is not a terminal), prints the URL and the keys, and
serves the dashboard and the API until interrupted."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed")


def test_demo_serves_the_dashboard_and_the_api(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "metatutor.cli", "demo", "--port", "0", "--learners", "20",
           "--database", str(tmp_path / "demo.db")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        lines = []
        assert proc.stdout is not None
        while not any("API docs" in line for line in lines):
            line = proc.stdout.readline()
            assert line, "the demo exited early:\n" + "".join(lines)
            lines.append(line)
        out = "".join(lines)
        steps = out[:out.index("http://")]
        for step in ("built the maths course: 16 skills", "simulated learners answered", "meta-training the learner model",
                     "fitted the learner model (meta)",
                     "classmates answered", "the demo school is ready"):
            assert step in steps, out  # each step said before the URL, through a pipe
        url = re.search(r"http://127\.0\.0\.1:\d+/", out).group(0)  # type: ignore[union-attr]
        learner_key = re.search(r"learner demo-learner: log in with key (\S+)", out).group(1)  # type: ignore[union-attr]
        for _ in range(100):  # the server starts after the keys are printed
            try:
                with urllib.request.urlopen(url, timeout=2) as res:
                    page = res.read().decode()
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        assert "Log in" in page
        req = urllib.request.Request(url + "api/learners/demo-learner/next", headers={"X-API-Key": learner_key})
        with urllib.request.urlopen(req, timeout=5) as res:
            nxt = res.read().decode()
        assert '"item"' in nxt and '"reason"' in nxt
        item = json.loads(nxt)["item"]
        req = urllib.request.Request(url + f"api/learners/demo-learner/items/{item}", headers={"X-API-Key": learner_key})
        with urllib.request.urlopen(req, timeout=5) as res:
            shown = json.loads(res.read())
        assert shown["statement"] and shown["parts"] and "key" not in shown  # an item with content, never its key
        req = urllib.request.Request(url + "api/learners/demo-learner/kt", headers={"X-API-Key": learner_key})
        with urllib.request.urlopen(req, timeout=10) as res:
            view = json.loads(res.read())
        assert view["model"] == "irt" and len(view["skills"]) == 16 and view["answers"] == 0
        admin_key = re.search(r"admin \(API and dashboard\): (\S+)", out).group(1)  # type: ignore[union-attr]
        req = urllib.request.Request(url + "api/models", headers={"X-API-Key": admin_key})
        with urllib.request.urlopen(req, timeout=5) as res:
            served = [v for v in json.loads(res.read()) if v["kind"] == "tracker" and v["active"]]
        assert [v["info"]["model"] for v in served] == ["meta"]  # the meta-learned model decides what comes next
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        form = urllib.parse.urlencode({"key": learner_key}).encode()
        with browser.open(url + "login", data=form, timeout=5) as practice:
            page = practice.read().decode()
            assert practice.url.endswith("/practice") and "mastery-table" in page and 'id="statement"' in page
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
        if proc.stdout is not None:
            proc.stdout.close()
