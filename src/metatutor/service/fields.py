"""The values the service accepts, one policy for each kind, checked at the boundary (request bodies, path
and query parameters, uploads) so that nothing past it meets a value the database or a model cannot hold.

* Strings: a length limit that matches the column, and a character policy: no control characters (tab and
  newline only in free text), no NUL, no lone UTF-16 surrogates, no Unicode non-characters. PostgreSQL
  refuses NUL and over-long strings; SQLite would store them silently; neither should see them.
* Numbers: finite (no NaN or ±Infinity), within a stated range, and never a JSON `true`/`false`.
* Times: seconds since 1970-01-01 UTC, from 0 to the server's clock plus `MAX_CLOCK_SKEW_S`.
* Free-form JSON (an item's `meta`): at most `MAX_JSON_DEPTH` levels and `MAX_JSON_NODES` values.
"""

from __future__ import annotations

import math
import re
import time
from typing import Annotated, Any

from pydantic import AfterValidator, Field, Strict, StringConstraints

from metatutor.service.pacing import pace

MAX_CLOCK_SKEW_S = 86_400.0  # a client clock may run this far ahead of the server's
MAX_JSON_DEPTH = 8
MAX_JSON_NODES = 5_000

# C0/C1 controls but tab, newline and carriage return; surrogates; the non-characters U+FDD0-U+FDEF, U+FFFE/F
_BAD_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")
_BAD_NAME = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")


def check_text(value: str) -> str:
    """Free text: printable characters, tabs and line breaks."""
    if (bad := _BAD_TEXT.search(value)) is not None:
        raise ValueError(f"character U+{ord(bad.group()):04X} is not allowed (at position {bad.start()})")
    return value


def check_name(value: str) -> str:
    """An id or a one-line label: printable characters only, not blank."""
    pace()  # a body of many thousand ids validates in parts, beside the other requests
    if (bad := _BAD_NAME.search(value)) is not None:
        raise ValueError(f"character U+{ord(bad.group()):04X} is not allowed (at position {bad.start()})")
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def check_time(value: float) -> float:
    latest = time.time() + MAX_CLOCK_SKEW_S
    if not 0.0 <= value <= latest:
        raise ValueError(f"a time must be seconds since 1970-01-01 UTC, between 0 and the server's clock plus "
                         f"{MAX_CLOCK_SKEW_S:.0f} s ({latest:.0f}); got {value!r}")
    return value


def check_json(value: Any) -> Any:
    """Plain JSON of bounded depth and size: objects with string keys, arrays, strings, finite numbers,
    booleans and null."""
    nodes = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_JSON_NODES:
            raise ValueError(f"more than {MAX_JSON_NODES} values")
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(node, dict):
            for k, v in node.items():
                if not isinstance(k, str):
                    raise ValueError("object keys must be strings")
                check_text(k)
                stack.append((v, depth + 1))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
        elif isinstance(node, str):
            check_text(node)
        elif isinstance(node, float) and not math.isfinite(node):
            raise ValueError("numbers must be finite")
        elif node is not None and not isinstance(node, bool | int | float):
            raise ValueError(f"{type(node).__name__} is not JSON")
    return value


def bounded_text(max_length: int, *, min_length: int = 0) -> Any:
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length), AfterValidator(check_text)]


def bounded_name(max_length: int = 200) -> Any:
    return Annotated[str, StringConstraints(min_length=1, max_length=max_length), AfterValidator(check_name)]


Name = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(check_name)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=500), AfterValidator(check_name)]
FreeJSON = Annotated[dict[str, Any], AfterValidator(check_json)]
# numbers in JSON bodies: finite, and `true`/`false` are not numbers (Strict); an int is a float
Finite = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Timestamp = Annotated[float, Strict(), Field(allow_inf_nan=False), AfterValidator(check_time)]
Flag = Annotated[bool, Strict()]
Count = Annotated[int, Strict()]

LEARNER_ID_PATTERN = r"^[A-Za-z0-9_.:@-]+$"  # new learners; imported ids need only be Names
URL_REGEX = r"^([Hh][Tt][Tt][Pp][Ss]?://\S+|/\S*|)$"
URL_PATTERN = re.compile(URL_REGEX)


def check_url(value: str) -> str:
    """An http(s) URL or a path on this site (no `javascript:`, `data:` or other schemes)."""
    if not URL_PATTERN.match(value):
        raise ValueError("a resource URL must start with http://, https:// or / (no other schemes)")
    return check_name(value) if value else value


Url = Annotated[str, StringConstraints(max_length=2000, pattern=URL_REGEX), AfterValidator(check_url)]
