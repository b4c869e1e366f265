"""MkDocs hook: a docstring's `x["items"][0]` is a subscript, not a cross-reference, but mkdocs-autorefs
warns that it cannot find the target `0` (and `--strict` then fails). Such warnings, for targets that
cannot be a Python name (numbers, quoted strings), are shown as INFO; a real unresolved reference
(`metatutor.no_such_thing`) still fails the build."""

from __future__ import annotations

import logging
import re

UNRESOLVED = re.compile(r"Could not find cross-reference target '(?P<ref>[^']*)'")
NAME = re.compile(r"^[A-Za-z_][\w.]*$")


class _Subscripts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        match = UNRESOLVED.search(record.getMessage())
        if match and not NAME.match(match.group("ref")):
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def on_startup(command: str, dirty: bool) -> None:
    for name in ("mkdocs.plugins.mkdocs_autorefs._internal.plugin", "mkdocs.plugins.mkdocs_autorefs.plugin",
                 "mkdocs.plugins.mkdocs_autorefs"):
        logging.getLogger(name).addFilter(_Subscripts())
