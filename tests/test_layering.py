"""The package's structure: the lower layers import nothing above them, modules stay small, imports form no
cycle. Every import counts, wherever it stands (module level, under TYPE_CHECKING, inside a function)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "itero"
LOWER = ("itero.space", "itero.trial", "itero.samplers", "itero.schedulers")
UPPER = ("itero.store", "itero.executors", "itero.study", "itero.cli")
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """``{module: the itero modules it imports}``; ``from pkg import name`` counts as the submodule ``pkg.name``
    when there is one, else as ``pkg``."""
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for target in targets:
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != mod:
                    graph[mod].add(target)
    return graph


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_lower_layers_never_import_the_upper_ones():
    graph = _imports(_modules())
    bad = sorted(
        f"{mod} imports {target}"
        for mod, targets in graph.items()
        if _within(mod, LOWER)
        for target in targets
        if _within(target, UPPER)
    )
    assert bad == []


def test_no_module_is_longer_than_500_lines():
    long = {m: n for m, p in _modules().items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_imports_form_no_cycle():
    assert _cycles(_imports(_modules())) == []


def test_the_cycle_check_sees_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_import_graph_counts_imports_inside_functions(tmp_path):
    pkg = tmp_path / "itero"
    (pkg / "samplers").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "samplers" / "__init__.py").write_text("from itero.samplers._x import f\n")
    (pkg / "samplers" / "_x.py").write_text("def f():\n    from itero.store import Store\n")
    (pkg / "store.py").write_text("import itero.samplers\n")
    mods = {"itero": pkg / "__init__.py", "itero.samplers": pkg / "samplers" / "__init__.py"}
    mods |= {"itero.samplers._x": pkg / "samplers" / "_x.py", "itero.store": pkg / "store.py"}
    graph = _imports(mods)
    assert graph["itero.samplers._x"] == {"itero.store"} and graph["itero.samplers"] == {"itero.samplers._x"}
    assert _cycles(graph) == [["itero.samplers", "itero.samplers._x", "itero.store"]]
