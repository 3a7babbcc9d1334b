"""The walls: which package may import which (README, "Working on it"), and no import cycle between modules.

Every import counts, including one inside a function (a late import hides a dependency, it does not remove
it) and a module named to importlib by a literal string; no other dynamic import is allowed.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package -> the packages of ours it may import. Bottom to top: the kernel, then each layer above it.
MAY_IMPORT: dict[str, set[str]] = {
    "enerlectra": set(),                                        # the kernel: nothing of ours
    "payments": {"enerlectra"},
    "sms": {"enerlectra"},
    "menus": {"enerlectra", "payments"},
    "workers": {"enerlectra", "payments", "sms"},
    "simulator": {"enerlectra", "payments", "workers",
                  "ussd_app"},                                  # the one exception: the simulator builds the app
    "ussd_app": {"enerlectra", "payments", "sms", "menus", "workers", "simulator"},
    "bench": {"enerlectra", "payments", "workers", "simulator", "ussd_app"},   # benchmarks: a tool on top
}
LAYER = ("enerlectra", "payments", "sms", "menus", "workers", "simulator", "ussd_app", "bench")
ALLOWED_UPWARD = {("simulator", "ussd_app")}


def modules() -> dict[str, Path]:
    found = {}
    for package in MAY_IMPORT:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def resolve(name: str, known: dict[str, Path]) -> str | None:
    """The module of ours `name` lives in (a.b.c -> a.b when c is a function), or None (not ours)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


DYNAMIC = ("import_module", "__import__")     # importlib.import_module("a.b"), __import__("a.b")


def _dynamic_target(node: ast.Call) -> str | None:
    """The literal module name given to a dynamic import, "" for a name not written out, None if not one."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name not in DYNAMIC:
        return None
    first = node.args[0] if node.args else None
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else ""


def imports_of(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and _dynamic_target(node) is not None:
            names = [_dynamic_target(node)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            # `from a import b`: the module a.b when b is one, else a
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        found |= {target for n in names if (target := resolve(n, known)) and target != module}
    return found


GRAPH = {module: imports_of(module, path, modules()) for module, path in modules().items()}


def package_arrows() -> set[tuple[str, str]]:
    return {(a.split(".")[0], b.split(".")[0]) for a, targets in GRAPH.items() for b in targets
            if a.split(".")[0] != b.split(".")[0]}


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_a_package_imports_only_what_its_row_allows(package):
    wrong = sorted(f"{a} -> {b}" for a, targets in GRAPH.items() if a.split(".")[0] == package
                   for b in targets if b.split(".")[0] not in MAY_IMPORT[package] | {package})
    assert wrong == [], f"{package} may import only {sorted(MAY_IMPORT[package])}"


def test_the_table_itself_has_no_arrow_running_back_up():
    upward = {(a, b) for a, allowed in MAY_IMPORT.items() for b in allowed if LAYER.index(b) > LAYER.index(a)}
    assert upward == ALLOWED_UPWARD


def test_every_package_arrow_in_the_code_is_in_the_table():
    """The table is not wider than it needs to be either: each allowed arrow is used (or it is stale)."""
    used = package_arrows()
    assert {(a, b) for a, allowed in MAY_IMPORT.items() for b in allowed} - used == set()


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the groups of modules that import each other, of two or more."""
    index, low, on_stack, stack, groups, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def test_no_module_is_imported_by_a_name_made_at_run_time():
    """A dynamic import names its module as a literal, so the walls above can see it."""
    made = sorted(f"{path.relative_to(ROOT)}:{node.lineno}" for path in modules().values()
                  for node in ast.walk(ast.parse(path.read_text()))
                  if isinstance(node, ast.Call) and _dynamic_target(node) == "")
    assert made == []


@pytest.mark.parametrize("source, found", [
    ('import importlib\nimportlib.import_module("ussd_app.app")\n', {"ussd_app.app"}),
    ('from importlib import import_module\nimport_module("menus.wallet")\n', {"menus.wallet"}),
    ('__import__("ussd_app.cli")\n', {"ussd_app.cli"}),
    ('def late():\n    from ussd_app import app\n', {"ussd_app.app"}),
    ('import json\n', set()),
])
def test_the_walls_see_every_kind_of_import(tmp_path, source, found):
    scratch = tmp_path / "scratch.py"
    scratch.write_text(source)
    assert imports_of("enerlectra.scratch", scratch, modules()) == found


def test_every_package_of_ours_has_a_row():
    ours = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "locales"}
    assert ours - set(MAY_IMPORT) == set()


def test_no_module_import_cycle():
    assert strongly_connected(GRAPH) == []


@pytest.mark.parametrize("graph, cycles", [
    ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ({"a": {"a"}}, []),
])
def test_the_cycle_finder_finds_cycles(graph, cycles):
    assert strongly_connected(graph) == cycles
