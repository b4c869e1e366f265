"""A property test: hostile values in any place of any request of the OpenAPI spec (each path parameter,
query parameter, JSON body field, header and upload) never get a 5xx, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed")
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from metatutor.service.app import create_app
from metatutor.service.settings import Settings
from metatutor.service.store import builtin_course

ADMIN = {"X-API-Key": "admin-secret"}

# raw JSON texts: many are not JSON that Python's json module would write (NaN, lone surrogates, 1e999)
HOSTILE_JSON = ["NaN", "Infinity", "-Infinity", "1e999", "-1e308", "1e308", "-1", "0", "2147483648",
                "9223372036854775808", "true", "false", "null", '""', '" "', '"\\ud800"', '"a\\udfffb"',
                '"a\\u0000b"', '"\\u001b[2J"', '"\\ufffe"', json.dumps("x" * 5000), json.dumps("é" * 300),
                '"../../etc/passwd"', '"javascript:alert(1)"', '"%00"', "[]", "{}", "[" * 60 + "]" * 60,
                '{"a":' * 60 + "1" + "}" * 60, "[1, 2, 3]", '"-1e12"', '"2999-01-01T00:00:00Z"',
                '"0001-01-01T00:00:00Z"', '"9999-12-31T23:59:59+14:00"']
# raw path and query texts (percent-encoded where a URL needs it)
HOSTILE_TEXT = ["%00", "a%00b", "%ED%A0%80", "%FF", "x" * 300, "..", "%2e%2e%2f", "-1", "0", "99999999999999999999",
                "NaN", "inf", "true", "%20", "%0A", "%1B", "%EF%BF%BE", "' OR 1=1 --", "<script>"]
HOSTILE_BYTES = [b"", b"\x00" * 100, b"PAR1\x00\x00garbage", b"\xff\xfe\xfd", b"a,b\n1\n1,2,3,4\n", b"{" * 5000,
                 b'{"model": NaN}', b"item,skills\n\x00,\x00\n", "é,\ud800".encode("utf-8", "surrogatepass")]


def _world(settings: Settings) -> tuple[TestClient, dict[str, str]]:
    c = TestClient(create_app(settings))
    c.post("/api/course", json=builtin_course(n_skills=3, items_per_skill=4), headers=ADMIN)
    c.post("/api/learners", json={"id": "own", "teacher": "t1"}, headers=ADMIN)
    c.post("/api/learners/own/responses", headers=ADMIN, json={"responses": [
        {"event_id": f"e{n}", "item": "i01-001", "correct": n % 2 == 0, "timestamp": n} for n in range(4)]})
    c.post("/api/assessments/bank", json={"kind": "1pl", "items": [{"id": "i01-001", "b": 0.0}]}, headers=ADMIN)
    c.post("/api/learners/own/assessments", json={"max_items": 1}, headers=ADMIN)
    learner = c.post("/api/keys", json={"role": "learner", "subject": "own"}, headers=ADMIN).json()["key"]
    return c, {"X-API-Key": learner}


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    if "anyOf" in schema:
        schema = next((s for s in schema["anyOf"] if s.get("type") != "null"), schema["anyOf"][0])
        return _resolve(spec, schema)
    return schema


def _example(spec: dict[str, Any], schema: dict[str, Any], depth: int = 0) -> Any:
    """A plausible value of a schema: the base a hostile value is put into."""
    schema = _resolve(spec, schema)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" and depth < 6:
        return {k: _example(spec, v, depth + 1) for k, v in schema.get("properties", {}).items()}
    if kind == "array" and depth < 6:
        items = schema.get("prefixItems") or [schema.get("items", {})]
        return [_example(spec, s, depth + 1) for s in items]
    return {"integer": 1, "number": 1.0, "boolean": True, "string": "own"}.get(kind or "", "own")


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value: the whole, each member, each element."""
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _leaves(v, (*path, i))
    return out


def _with(value: Any, path: tuple[Any, ...], marker: str) -> Any:
    if not path:
        return marker
    value = json.loads(json.dumps(value))
    node = value
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = marker
    return value


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, ops in spec["paths"].items() for m, op in ops.items()]


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
def test_hostile_values_never_get_a_server_error(settings: Settings, tmp_path: Path) -> None:
    client, learner = _world(settings)
    spec = client.get("/openapi.json").json()
    operations = _operations(spec)

    @given(op=st.sampled_from(operations), pick=st.integers(0, 10_000), raw=st.sampled_from(HOSTILE_JSON),
           text=st.sampled_from(HOSTILE_TEXT), blob=st.sampled_from(HOSTILE_BYTES), as_learner=st.booleans())
    @hsettings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(op: tuple[str, str, dict[str, Any]], pick: int, raw: str, text: str, blob: bytes,
              as_learner: bool) -> None:
        method, template, spec_op = op
        params = spec_op.get("parameters", [])
        path_values = {p["name"]: ("1" if "id" in p["name"] and p["name"] != "learner_id" else "own")
                       for p in params if p["in"] == "path"}
        query: list[str] = []
        headers = dict(learner if as_learner else ADMIN)
        body = spec_op.get("requestBody", {}).get("content", {})
        places: list[str] = [f"path:{n}" for n in path_values] + [f"query:{p['name']}" for p in params
                                                                   if p["in"] == "query"] + ["header"]
        json_base = None
        if "application/json" in body:
            json_base = _example(spec, body["application/json"]["schema"])
            places += [f"json:{i}" for i in range(len(_leaves(json_base)))]
        if "multipart/form-data" in body:
            places += ["upload"]
        where = places[pick % len(places)]
        files = None
        content = None
        if where.startswith("path:"):
            path_values[where[5:]] = text
        elif where.startswith("query:"):
            query.append(f"{where[6:]}={text}")
        elif where == "header":
            headers["X-API-Key"] = text if len(text) < 250 else text[:250]
        if json_base is not None:
            marker = "__HOSTILE__"
            leaf = _leaves(json_base)[int(where[5:])] if where.startswith("json:") else None
            value = _with(json_base, leaf, marker) if leaf is not None else json_base
            content = json.dumps(value).replace(json.dumps(marker), raw)
        if "multipart/form-data" in body:
            schema = _resolve(spec, body["multipart/form-data"]["schema"])
            files = {name: (f"{name}.csv", blob if where == "upload" else b"x,y\n1,2\n")
                     for name, prop in schema.get("properties", {}).items() if prop.get("format") == "binary"
                     or _resolve(spec, prop).get("format") == "binary" or "contentMediaType" in prop}
        url = re.sub(r"\{(\w+)\}", lambda m: path_values[m.group(1)], template) + ("?" + "&".join(query) if query else "")
        if files is not None:
            res = client.request(method, url, files=files, headers=headers)
        elif content is not None:
            res = client.request(method, url, content=content.encode("utf-8", "surrogatepass"),
                                 headers={**headers, "Content-Type": "application/json"})
        else:
            res = client.request(method, url, headers=headers)
        assert res.status_code < 500, f"{method} {url} [{where} = {raw if where.startswith('json') else text}]: " \
                                      f"{res.status_code} {res.text[:300]}"

    try:
        check()
    finally:
        client.app.state.engine.dispose()  # type: ignore[attr-defined]
