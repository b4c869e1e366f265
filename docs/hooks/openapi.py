"""MkDocs hook: the HTTP API page's table of routes, generated from the service's own OpenAPI document at
build time (so it cannot go stale), and that document itself published as `openapi.json` beside the site.

The page marks the place with `<!-- openapi-routes -->`. Building the document creates the application on a
throw-away SQLite database; nothing else is touched.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

MARKER = "<!-- openapi-routes -->"
_spec: dict[str, Any] | None = None


def _openapi() -> dict[str, Any]:
    global _spec
    if _spec is None:
        from metatutor.service.app import create_app
        from metatutor.service.settings import Settings

        with tempfile.TemporaryDirectory() as tmp:
            app = create_app(Settings(database_url=f"sqlite:///{Path(tmp) / 'docs.db'}"))
            _spec = app.openapi()
            app.state.engine.dispose()
    return _spec


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def routes_table(spec: dict[str, Any]) -> str:
    rows = ["| method | path | what it does |", "|---|---|---|"]
    for path, operations in spec.get("paths", {}).items():
        for method, op in operations.items():
            if method.startswith("x-") or not isinstance(op, dict):
                continue
            what = op.get("summary") or (op.get("description") or "").split("\n\n")[0]
            rows.append(f"| `{method.upper()}` | `{path}` | {_cell(what)} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if MARKER not in markdown:
        return markdown
    spec = _openapi()
    info = spec.get("info", {})
    head = f"Generated from the service's OpenAPI document ({info.get('title', '')} {info.get('version', '')}).\n\n"
    return markdown.replace(MARKER, head + routes_table(spec))


def on_files(files: Any, config: Any) -> Any:
    """`openapi.json` as a file of the site, so that pages can link to it."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, "openapi.json", content=json.dumps(_openapi(), indent=1)))
    return files
