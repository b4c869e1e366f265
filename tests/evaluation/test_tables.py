"""Tables are rendered from their JSON, never typed: CI fails when a committed table under docs/results/
differs from what its JSON renders (`benchmarks/render_tables.py --check`)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from metatutor.evaluation.tables import legacy_track, render, render_kt_runs

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "results"


def _render_tables() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render_tables", ROOT / "benchmarks" / "render_tables.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_committed_table_is_what_its_json_renders() -> None:
    problems = _render_tables().check(RESULTS)
    assert not problems, "\n".join(problems) + "\nrun: python benchmarks/render_tables.py"


def test_the_check_command_fails_on_a_changed_figure(tmp_path: Path) -> None:
    results = tmp_path / "results"
    shutil.copytree(RESULTS, results, ignore=shutil.ignore_patterns("service_load", "service_kt"))
    script = [sys.executable, str(ROOT / "benchmarks" / "render_tables.py"), "--check", "--results", str(results)]
    assert subprocess.run(script, capture_output=True, text=True).returncode == 0
    data = json.loads((results / "kt_attn_statics.json").read_text())
    data["summary"]["attn"]["auc"] = 0.8260  # what the table said before it was re-rendered
    (results / "kt_attn_statics.json").write_text(json.dumps(data))
    table = results / "cat_statics.md"
    table.write_text(table.read_text().replace("80.46", "80.64", 1))  # a typed figure
    done = subprocess.run(script, capture_output=True, text=True)
    assert done.returncode == 1
    assert "kt_attn_statics.md differs" in done.stdout and "cat_statics.md differs" in done.stdout
    assert "0.8260" in done.stdout


def test_a_combined_table_names_the_run_of_each_row() -> None:
    runs = [(name, json.loads((RESULTS / name).read_text()), models)
            for name, models in (("kt_statics.json", ["irt"]), ("kt_statics_dkt.json", ["dkt"]))]
    text = render_kt_runs(runs)
    rows = [line for line in text.splitlines() if line.startswith("| irt") or line.startswith("| dkt")]
    assert rows[0].endswith("`kt_statics.json` |") and rows[1].endswith("`kt_statics_dkt.json` |")
    assert "0.8278 ± 0.0047" in rows[1]  # the DKT run's own summary, not the older DKT of kt_statics.json


def test_tracks_and_provenance_are_shown() -> None:
    data = json.loads((RESULTS / "kt_ensemble_pairs_statics.json").read_text())
    assert "| ensemble-pairs | classmates* |" in render(data)  # no track field then: read from the name
    data["rows"] = [{**r, "track": "classmates", "leak_max_change": 0.0} for r in data["rows"]]
    data["summary"]["ensemble-pairs"]["track"] = "classmates"
    data["provenance"] = {"code": {"commit": "0123456789abcdef", "dirty": True}, "versions": {"python": "3.11.9"},
                          "machine": {"cores": 2, "cpu_model": "x", "cpu_probe_s": 0.15}, "data": {"sha256": "ab" * 32},
                          "written": "2026-12-01T00:00:00+00:00"}
    text = render(data)
    assert "| ensemble-pairs | classmates |" in text and "| 0 |" in text
    assert "commit 0123456789 (uncommitted changes)" in text and "data sha256 abababababab" in text
    assert legacy_track("cat", "default") == "classmates" and legacy_track("kt", "ensemble") == "sequence"


def test_unknown_task_is_an_error() -> None:
    with pytest.raises(ValueError, match="no table"):
        render({"task": "nope"})
