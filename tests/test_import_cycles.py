"""No import cycle among feedbot's modules (every package at the top of the repository but
tests/: bot, storage, surveys, bench, ...), and every import deferred into a function says
why.

The rule: every import of a project module counts, wherever it stands: at module level,
under `if TYPE_CHECKING:` and inside a function. A function-level or TYPE_CHECKING import
does not fail at import time, but the cycle it closes is still there: the modules cannot
be read, tested or moved one without the other (bot/ was held together that way by
dozens of function-level imports). Importing `a.b.c` also runs `a/__init__.py` and
`a/b/__init__.py`, so it counts as importing those packages too.

The one exception is DEFERRED below: the database factory, with its reason.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = tuple(
    sorted(p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name != "tests")
)

# Imports allowed to point back, each a (module, imported module) pair with its reason.
DEFERRED = {
    ("storage.db", "storage.sqlite"): "Database.open picks the backend; backends subclass it",
    ("storage.db", "storage.postgres"): "Database.open picks the backend; backends subclass it",
}


@dataclass(frozen=True)
class Import:
    """One import statement of a project module."""

    target: str
    line: int
    in_function: bool


def module_files(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Every module of `packages` under `root`, by dotted name (a package by its own)."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    # `from a.b import c` imports the module a.b.c when there is one, else a name of a.b.
    return [f"{base}.{alias.name}" for alias in node.names] + [base]


def imports_of(path: Path, module: str, known: Mapping[str, Path]) -> list[Import]:
    """The imports of project modules in `path`, each with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import | ast.ImportFrom):
                names = _targets(child, module, is_package)
                if isinstance(child, ast.ImportFrom):
                    # A submodule named in the list, else the module imported from.
                    subs = [n for n in names[:-1] if n in known]
                    names = subs or names[-1:]
                for name in names:
                    parts = name.split(".")
                    for depth in range(1, len(parts) + 1):
                        target = ".".join(parts[:depth])
                        if target in known and target != module:
                            found.append(Import(target, child.lineno, in_function))
            visit(child, inner)

    visit(tree, False)
    return found


def import_graph(root: Path = ROOT) -> dict[str, dict[str, int]]:
    """module -> {imported module: line of the first import of it}."""
    files = module_files(root)
    graph: dict[str, dict[str, int]] = {}
    for module, path in files.items():
        edges: dict[str, int] = {}
        for found in imports_of(path, module, files):
            if (module, found.target) not in DEFERRED:
                edges.setdefault(found.target, found.line)
        graph[module] = edges
    return graph


def cycles(graph: Mapping[str, Mapping[str, int]]) -> list[list[str]]:
    """One cycle (a -> b -> ... -> a) per strongly connected group of modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph.get(node, {}):
            if succ not in index:
                connect(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, {}):
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_cycle_in(group, graph) for group in groups]


def _cycle_in(group: set[str], graph: Mapping[str, Mapping[str, int]]) -> list[str]:
    """A shortest cycle through the group's first module, as a path back to it."""
    start = min(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for succ in sorted(graph[node]):
            if succ == start:
                return [*paths[node], start]
            if succ in group and succ not in paths:
                paths[succ] = [*paths[node], succ]
                queue.append(succ)
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover


def describe(cycle: list[str], graph: Mapping[str, Mapping[str, int]]) -> str:
    """ "a (line 3) -> b (line 9) -> a", the line being where each module imports the next."""
    steps = [f"{a} (line {graph[a][b]})" for a, b in pairwise(cycle)]
    return " -> ".join([*steps, cycle[-1]])


def test_no_import_cycle_among_the_project_modules() -> None:
    assert {"bot", "storage", "surveys", "bench"} <= set(PACKAGES)
    graph = import_graph()
    assert "bot.app" in graph and "bot.handlers.survey" in graph["bot.app"]
    found = [describe(cycle, graph) for cycle in cycles(graph)]
    assert not found, "import cycles:\n" + "\n".join(found)


def test_every_allowed_back_import_still_exists() -> None:
    files = module_files(ROOT)
    for module, target in DEFERRED:
        assert target in {i.target for i in imports_of(files[module], module, files)}, (
            f"{module} no longer imports {target}: drop it from DEFERRED"
        )


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}}, [["a", "b", "c", "a"]]),
        ({"a": {"b": 1}, "b": {"a": 4, "c": 2}, "c": {}}, [["a", "b", "a"]]),
        ({"a": {"b": 1}, "b": {"c": 2}, "c": {}}, []),
        ({"a": {"a": 1}}, [["a", "a"]]),
    ],
)
def test_the_cycle_finder_reports_each_cycle_as_a_path(
    graph: dict[str, dict[str, int]], expected: list[list[str]]
) -> None:
    assert cycles(graph) == expected


def test_a_cycle_closed_inside_a_function_or_under_type_checking_counts(tmp_path: Path) -> None:
    package = tmp_path / "bot"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "app.py").write_text("from bot import jobs\n")
    (package / "jobs.py").write_text("def run() -> None:\n    from bot.app import build\n")
    (package / "menus.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bot import app\n"
    )
    (package / "handlers.py").write_text("import bot.menus\n")
    files = module_files(tmp_path, ("bot",))
    graph = {m: {i.target: i.line for i in imports_of(p, m, files)} for m, p in files.items()}

    assert graph["bot.jobs"] == {"bot": 2, "bot.app": 2}
    assert graph["bot.handlers"] == {"bot": 1, "bot.menus": 1}
    assert cycles(graph) == [["bot.app", "bot.jobs", "bot.app"]]
    assert describe(cycles(graph)[0], graph) == "bot.app (line 1) -> bot.jobs (line 2) -> bot.app"


# --- imports deferred into functions ------------------------------------------------------


def _comment_lines(source: str) -> set[int]:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {token.start[0] for token in tokens if token.type == tokenize.COMMENT}


def _import_runs(tree: ast.AST) -> Iterator[list[ast.stmt]]:
    """Runs of consecutive import statements inside functions (each run once)."""
    seen: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(node):
            if id(inner) in seen:
                continue
            seen.add(id(inner))
            for field in ("body", "orelse", "finalbody", "handlers"):
                statements = getattr(inner, field, [])
                if not isinstance(statements, list):
                    continue  # a lambda's or an if-expression's body
                run: list[ast.stmt] = []
                for stmt in statements:
                    if isinstance(stmt, ast.Import | ast.ImportFrom):
                        run.append(stmt)
                        continue
                    if run:
                        yield run
                    run = []
                if run:
                    yield run


def unexplained_deferred_imports(path: Path, module: str, known: Mapping[str, Path]) -> list[int]:
    """Lines of function-level imports of project modules with no comment saying why: on
    the line of an import of the run, or on the line just above the run."""
    source = path.read_text(encoding="utf-8")
    comments = _comment_lines(source)
    project = {i.line for i in imports_of(path, module, known) if i.in_function}
    unexplained: list[int] = []
    for run in _import_runs(ast.parse(source)):
        lines = {stmt.lineno for stmt in run}
        if not lines & project:
            continue
        spans = [range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1) for stmt in run]
        explained = run[0].lineno - 1 in comments or any(
            line in comments for span in spans for line in span
        )
        if not explained:
            unexplained.extend(sorted(lines & project))
    return unexplained


def test_every_import_deferred_into_a_function_says_why() -> None:
    # bench/ is left out: its scripts load feedbot only in the variant that measures it.
    files = module_files(ROOT, tuple(p for p in PACKAGES if p != "bench"))
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for module, path in files.items()
        for line in unexplained_deferred_imports(path, module, files)
    ]
    assert not found, "imports inside functions with no comment saying why:\n" + "\n".join(found)


def test_an_unexplained_deferred_import_is_found(tmp_path: Path) -> None:
    package = tmp_path / "bot"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "app.py").write_text("X = 1\n")
    (package / "jobs.py").write_text(
        "def quiet() -> None:\n"
        "    from bot import app\n"
        "\n"
        "\n"
        "def explained() -> None:\n"
        "    # here: a reason\n"
        "    from bot import app\n"
        "    import json\n"
    )
    files = module_files(tmp_path, ("bot",))
    assert unexplained_deferred_imports(package / "jobs.py", "bot.jobs", files) == [2]
