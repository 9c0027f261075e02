"""The import graph of ``rrg_eval``: no circles, the CLI imports only the API and rendering, no metric imports the
CLI (issue 10). Every import counts, those inside functions too; only ``if TYPE_CHECKING:`` blocks are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import rrg_eval

ROOT = Path(rrg_eval.__file__).parent

# What the command line may import: the API, rendering, and the output writers (issue 10, item 5).
CLI_MAY_IMPORT = {
    "rrg_eval.api", "rrg_eval.leaderboard", "rrg_eval.option_sources", "rrg_eval.catalog", "rrg_eval.model_admin",
    "rrg_eval.errors", "rrg_eval.version", "rrg_eval.result",
    "rrg_eval.render", "rrg_eval.leaderboard.render", "rrg_eval.leaderboard.plot", "rrg_eval.judge.dryrun",
    "rrg_eval.atomic", "rrg_eval.leaderboard.files", "rrg_eval.outputs", "rrg_eval.suites",
    # issue 15: the API of saved runs, the regression gate and the clusters of the references
    "rrg_eval.leaderboard.from_runs", "rrg_eval.regression_gate", "rrg_eval.clusters",
    "rrg_eval.cache_admin",  # issue 11: rrg-eval cache info|clear
    "rrg_eval.progress",  # issue 13: the progress events the CLI renders
    "rrg_eval.distributed",  # issue 17: --engine ray (imports ray only when a session opens)
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in ROOT.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            submodules = {f"{target}.{alias.name}" for alias in node.names} & known
            found.update(submodules)
            if len(submodules) < len(node.names):  # names from the module itself, not only its submodules
                found.add(target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {m for m in found if m in known and m != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
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
            strong(v)
    return out


def test_the_walk_sees_the_known_edges():
    graph = _graph()
    assert "rrg_eval.result" in graph["rrg_eval.api"]
    assert "rrg_eval.leaderboard.leaderboard" in graph["rrg_eval.leaderboard.render"]
    assert "rrg_eval.api" in graph["rrg_eval.cli.score"]


def test_no_import_circles():
    assert _cycles(_graph()) == []


def test_data_types_import_no_renderer():
    graph = _graph()
    renderers = {"rrg_eval.render", "rrg_eval.leaderboard.render", "rrg_eval.leaderboard.html",
                 "rrg_eval.leaderboard.plot", "rrg_eval.leaderboard.cells"}
    for data in ("rrg_eval.result", "rrg_eval.leaderboard.leaderboard"):
        assert not graph[data] & renderers, data


def test_the_cli_imports_only_the_api_and_rendering():
    graph = _graph()
    for name, imported in graph.items():
        if name == "rrg_eval.cli" or name.startswith("rrg_eval.cli."):
            outside = {m for m in imported if not m.startswith("rrg_eval.cli")} - CLI_MAY_IMPORT
            assert not outside, f"{name} imports {sorted(outside)}"


# the one edge into the CLI from outside: the API's progress=True shows the CLI's renderer (only the CLI prints);
# rrg_eval.cli.progress imports rrg_eval.progress only for type checking, so this makes no circle
CLI_IMPORTED_BY = {"rrg_eval.progress": {"rrg_eval.cli.progress"}}


def test_nothing_but_the_entry_points_imports_the_cli():
    graph = _graph()
    for name, imported in graph.items():
        if name.startswith("rrg_eval.cli") or name == "rrg_eval.__main__":
            continue
        into_cli = {m for m in imported if m == "rrg_eval.cli" or m.startswith("rrg_eval.cli.")}
        assert not into_cli - CLI_IMPORTED_BY.get(name, set()), name
