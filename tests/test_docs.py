"""The user's documentation: its Python runs as written, on data the project makes itself, and no page a
newcomer follows sends them to data only the project's own machines have. (`make docs` builds the site
with `mkdocs build --strict`; `make test` runs it.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
USER_PAGES = ["index.md", "quickstart.md", "data.md", "train.md", "examples.md", "deploy.md", "api.md",
              "README.front.md"]


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), re.S)


@pytest.mark.parametrize("page", USER_PAGES)
def test_user_pages_need_no_private_data(page: str) -> None:
    """No command or code on a newcomer's page reads the project machines' dataset folder."""
    code = "\n".join(re.findall(r"```[a-z]*\n(.*?)```", (DOCS / page).read_text(), re.S))
    assert code, f"{page} shows no command"
    assert "shared/datasets" not in code and "../shared" not in code


def test_every_user_page_is_in_the_site() -> None:
    nav = (DOCS.parent / "mkdocs.yml").read_text()
    assert all(page in nav for page in USER_PAGES if page != "README.front.md")


@pytest.mark.slow
def test_quickstart_python_runs_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """The first Python block of the quickstart, as a user pastes it, in an empty folder."""
    first = python_blocks(DOCS / "quickstart.md")[0]
    assert "Simulator" in first and "DatasetFolder" not in first
    monkeypatch.chdir(tmp_path)
    exec(compile(first, "quickstart.md", "exec"), {"__name__": "quickstart"})
    out = capsys.readouterr().out
    auc = float(re.search(r"'auc': ([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    assert auc > 0.65  # DKT on simulated learners it never saw
    assert (tmp_path / "models" / "dkt" / "model.json").exists()
