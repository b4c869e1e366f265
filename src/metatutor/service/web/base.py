"""What every dashboard page shares: who is logged in (a server-side session; every form posts its CSRF
token), the templates and their filters, the form and query fields, natural sorting and CSV answers."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from pydantic import AfterValidator

from metatutor.service.deps import SessionDep
from metatutor.service.fields import check_name
from metatutor.service.http import SCRIPT_HASHES
from metatutor.service.security import Principal, web_principal
from metatutor.service.web.wording import misconception_label, skill_name

HERE = Path(__file__).parent.parent  # the service package: templates/ and static/
router = APIRouter(include_in_schema=False)  # every page's route, whichever module defines it
COOKIE = "mt_session"
templates = Jinja2Templates(directory=HERE / "templates")
# lets Vega's interpreter (an ES module) import Vega's helpers from the global build; allowed by its hash
IMPORT_MAP = '{"imports": {"vega-util": "/static/vega-util-shim.js"}}'
_HASH = "'sha256-" + base64.b64encode(hashlib.sha256(IMPORT_MAP.encode()).digest()).decode() + "'"
if _HASH not in SCRIPT_HASHES:
    SCRIPT_HASHES.append(_HASH)
templates.env.globals["import_map"] = IMPORT_MAP


class LoginRequired(Exception):
    """A page was asked for without a live session: the handler sends the browser to the login form."""


class Visitor:
    """Who is logged in to the dashboard, and their session's CSRF token."""

    def __init__(self, who: Principal, csrf: str) -> None:
        self.who, self.csrf = who, csrf


def visitor(request: Request, session: SessionDep) -> Visitor:
    found = web_principal(session, request.cookies.get(COOKIE), request.app.state.keys)
    if found is None:
        raise LoginRequired
    return Visitor(*found)


def who(request: Request, session: SessionDep, csrf: str | None = None) -> Visitor:
    """The logged-in user; for a form post, the CSRF token (form field or `X-CSRF-Token`) and Origin are checked."""
    found = visitor(request, session)
    if request.method == "POST":
        same_origin(request)
        token = csrf or request.headers.get("x-csrf-token")
        if token != found.csrf:
            raise HTTPException(403, "this form has expired or did not come from this site: reload the page")
    return found


def same_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        host = request.headers.get("host", "")
        if origin.split("://", 1)[-1] != host:
            raise HTTPException(403, "a form from another site may not post here")


def page(request: Request, name: str, person: Visitor | None = None, *, status: int = 200,
         **context: Any) -> HTMLResponse:
    context.setdefault("who", person.who if person else None)
    context.setdefault("csrf", person.csrf if person else "")
    return templates.TemplateResponse(request, name, context, status_code=status)


def home(person: Principal) -> str:
    return {"learner": "/practice", "teacher": "/class"}.get(person.role, "/admin")


def is_htmx(request: Request) -> bool:
    return "hx-request" in request.headers


# ----- form and query fields -------------------------------------------------------------------------
Id = Annotated[str, Form(min_length=1, max_length=200), AfterValidator(check_name)]
Token = Annotated[str | None, Form(max_length=200)]
QueryId = Annotated[str | None, Query(max_length=200), AfterValidator(lambda v: v if v is None else check_name(v))]
# the typed answer, one value per answer box (each box at most 1,000 characters; tutoring caps the total)
Answers = Annotated[list[str] | None, Form(max_length=10)]


def check_answers(answers: list[str] | None) -> list[str] | None:
    if answers is None:
        return None
    for a in answers:
        if len(a) > 1_000:
            raise HTTPException(422, "an answer is at most 1,000 characters")
        try:
            check_name(a) if a.strip() else a
        except ValueError as exc:
            raise HTTPException(422, f"the answer: {exc}") from None
    return answers


# ----- text ------------------------------------------------------------------------------------------
_NUMBER = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[Any, ...]:
    """Sorts `s2` before `s10` and `1, 2, 12, 100` as numbers (ids that mix text and digits too)."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part.lower())
                 for part in _NUMBER.split(str(text)) if part)


def natural(values: Iterable[str]) -> list[str]:
    return sorted(values, key=natural_key)


def tex(text: str | None) -> Markup:
    """Text with inline LaTeX in `$…$` as HTML: the maths in `<span class="math" data-tex>` (KaTeX draws it
    in the browser; without JavaScript the LaTeX source shows), the rest escaped; `\\$` is a dollar sign."""
    if not text:
        return Markup("")
    out: list[str] = []
    buf: list[str] = []
    in_math, i = False, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            buf.append(nxt if (nxt == "$" and not in_math) else ch + nxt)
            i += 2
            continue
        if ch == "$":
            out.append(_math(buf) if in_math else str(escape("".join(buf))))
            buf, in_math = [], not in_math
        else:
            buf.append(ch)
        i += 1
    out.append(str(escape(("$" if in_math else "") + "".join(buf))))
    return Markup("".join(out))


def _math(buf: Sequence[str]) -> str:
    source = "".join(buf)
    return f'<span class="math" data-tex="{escape(source)}">{escape(source)}</span>'


def skill_label(skill: str) -> str:
    return skill_name(skill)


templates.env.filters["tex"] = tex
templates.env.filters["skill"] = skill_label
templates.env.filters["misconception"] = misconception_label
templates.env.filters["pct"] = lambda v: "–" if v is None else f"{100 * float(v):.0f}%"


# ----- CSV -------------------------------------------------------------------------------------------
_FORMULA = re.compile(r"^[=@\t\r]|^[+-](?![\d.])")


def _cell(value: Any) -> Any:
    """A spreadsheet cannot take a cell for a formula: text that starts like one gets a leading quote."""
    if isinstance(value, str) and _FORMULA.match(value):
        return "'" + value
    return "" if value is None else value


def csv_response(header: Sequence[str], rows: Iterable[Sequence[Any]], filename: str) -> Response:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", filename)[:100]
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{safe}"'})
