"""The package's architecture, read from its source: no import cycles between metatutor modules, and the
layers in order (lower never imports higher):

    errors < data < content < metatutor < models < meta < learner < {policy, assessment} < feedback
        < evaluation < {service, cli}

(`content`: items with content, their grading and the classmates who answer them, whose logs are `Responses`; `learner`: the learner-model interface that
every decision reads, with its implementations, built on `models` and `meta` and below everything that
decides; `metatutor` is the root package's `__init__`: it names only data-layer and error types, heavy
parts loading on use, and every layer above data may use it.)

Every `import` counts, at module level or inside a function (a lazy import is still a dependency); only
imports under `if TYPE_CHECKING:` are left out of the cycle check (they never run), though not out of
the layer check. Layers of one tier (policy and assessment; service and cli) do not import each other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
TIERS: list[set[str]] = [{"errors"}, {"data"}, {"content"}, {"metatutor"}, {"models"}, {"meta"},
                         {"learner"},  # the learner-model interface (issue 28): decisions import it, not models
                         {"policy", "assessment"}, {"feedback"}, {"evaluation"}, {"service", "cli"}]

# Imports that break the rules above on purpose, each with its reason. Keep this short.
ALLOWED_LAYER_EDGES: dict[tuple[str, str], str] = {
    ("cli", "service"): "the CLI's `serve` and service-admin commands start and manage the web service",
}
ALLOWED_CYCLE_EDGES: dict[tuple[str, str], str] = {
    # convenience entry points inside the data layer that delegate lazily to the module that does the work
    ("metatutor.data.responses", "metatutor.data.readers"): "`Responses.read(path)` (STYLE §2) calls the readers",
    ("metatutor.data.readers", "metatutor.data.folders"): "`read_responses(folder)` reads a dataset folder",
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / "metatutor").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()
# folders without an `__init__.py` (namespace packages): importable names that hold no code of their own
NAMESPACES = {".".join(d.relative_to(SRC).parts) for d in (SRC / "metatutor").rglob("*")
              if d.is_dir() and any(d.glob("*.py")) and not (d / "__init__.py").exists()}


def _type_only(tree: ast.Module) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:`."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def _resolve(name: str) -> str | None:
    """The metatutor module or package that an imported name lives in (None: not ours)."""
    while name not in MODULES and name not in NAMESPACES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name if name in MODULES or name in NAMESPACES else None


def imports(module: str) -> Iterator[tuple[str, int, bool]]:
    """(imported metatutor module, line, type-only) for every import statement in `module`."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), filename=str(path))
    type_only = _type_only(tree)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            # `from pkg import sub` imports the submodule `pkg.sub` when there is one
            names = [f"{base}.{a.name}" if _resolve(f"{base}.{a.name}") == f"{base}.{a.name}" else base
                     for a in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name)
            if target is not None and target != module:
                yield target, node.lineno, id(node) in type_only


def layer(module: str) -> str:
    parts = module.split(".")
    return "metatutor" if len(parts) == 1 else parts[1]


def tier(module: str) -> int:
    name = layer(module)
    return next(i for i, t in enumerate(TIERS) if name in t)


def test_every_module_has_a_layer() -> None:
    known = set().union(*TIERS)
    assert {layer(m) for m in MODULES} <= known


def test_lower_layers_never_import_higher_ones() -> None:
    wrong = []
    for module in MODULES:
        for target, line, _ in imports(module):
            a, b = layer(module), layer(target)
            if a == b or (a, b) in ALLOWED_LAYER_EDGES:
                continue
            if tier(target) >= tier(module):
                wrong.append(f"{module}:{line} imports {target} ({a} may not import {b})")
    assert not wrong, "\n".join(sorted(set(wrong)))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in NAMESPACES}
    return graph | {m: {t for t, _, type_only in imports(m) if not type_only and (m, t) not in ALLOWED_CYCLE_EDGES}
                    for m in MODULES}


def test_no_import_cycles() -> None:
    cycles = _cycles(import_graph())
    assert not cycles, "import cycles between metatutor modules:\n" + "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("edge", sorted(ALLOWED_CYCLE_EDGES))
def test_every_allowed_cycle_edge_still_exists(edge: tuple[str, str]) -> None:
    """An exception that the code no longer needs is dropped from the list."""
    module, target = edge
    assert target in {t for t, _, _ in imports(module)}


@pytest.mark.parametrize("edge", sorted(ALLOWED_LAYER_EDGES))
def test_every_allowed_layer_edge_still_exists(edge: tuple[str, str]) -> None:
    assert any(layer(t) == edge[1] for m in MODULES if layer(m) == edge[0] for t, _, _ in imports(m))


def test_the_checks_see_cycles_and_function_level_imports() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    # a function-level import counts: evaluation.practice imports practice_fitted inside a function
    assert "metatutor.evaluation.practice_fitted" in {t for t, _, _ in imports("metatutor.evaluation.practice")}
