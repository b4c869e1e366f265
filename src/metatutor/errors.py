"""The named errors metatutor raises, shared by the library, the CLI and the service."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class MetatutorError(Exception):
    """Base class: every error metatutor raises on purpose derives from it."""


class InvalidResponsesError(MetatutorError, ValueError):
    """Input data is not a valid table of learner responses.

    Collects every problem found before raising, each with the rows or lines it
    concerns, so a user can fix a file in one pass.
    """

    def __init__(self, problems: Sequence[str], *, source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(where + "; ".join(self.problems))


class ConfigError(MetatutorError, ValueError):
    """A setting, option or argument has a value that cannot be used."""


class NotFittedError(MetatutorError, RuntimeError):
    """A model was used before `fit` (or `load`)."""


class LeakAuditError(MetatutorError, RuntimeError):
    """A benchmark's leak audit found a prediction that changed when answers it must not see were flipped."""


def describe_positions(positions: Iterable[int], *, noun: str = "rows", limit: int = 5) -> str:
    """`rows 3, 17, 40, …; 12 in all` for 1-based positions (already 1-based when given)."""
    items = list(positions)
    shown = ", ".join(str(p) for p in items[:limit])
    if len(items) > limit:
        return f"{noun} {shown}, …; {len(items)} in all"
    return f"{noun} {shown}"


def shorten(value: object, limit: int = 40) -> str:
    """`repr`-free text of a value for an error message, cut to `limit` characters (`abc…`): a message
    never quotes a whole line or cell of the user's file."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class SkillGraphError(MetatutorError, ValueError):
    """A skill graph is not a usable prerequisite DAG (a cycle, an unknown skill, a bad file).

    Lists every problem at once, each naming the skills or lines it concerns.
    """

    def __init__(self, problems: Sequence[str], *, source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(where + "; ".join(self.problems))


class InvalidContentError(MetatutorError, ValueError):
    """Learning content (an item file, an item, a template id) cannot be used.

    Lists every problem at once, each naming the item (or row) and the field it concerns.
    """

    def __init__(self, problems: Sequence[str], *, source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(where + "; ".join(self.problems))
