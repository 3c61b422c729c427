"""The package's shape (ARCHITECTURE.md), read from the code: subpackages in layers whose imports point one
way (function-level imports included), no import cycles, no private name imported across subpackages, at most
10 modules at the root, no function with more than 15 parameters, and every subpackage documented."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import ROOT

PKG = ROOT / "evalkit"
#: Bottom to top: a subpackage may import the root's low modules and the subpackages before it, never after.
LAYERS = ["tracking", "data", "models", "metrics", "stats", "slices", "evaluation", "diagnostics", "views", "explorer",
          "runner", "serve", "verification", "gate", "compare", "reproduce"]
#: Root modules every layer may import (the top of the package, cli/__init__/notebook, imports everything).
ROOT_LOW = {"settings", "exceptions", "_io", "_version", "signals"}


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        rel = p.relative_to(ROOT).with_suffix("")
        name = ".".join(rel.parts)
        out[name.removesuffix(".__init__")] = p
    return out


MODULES = _modules()


def _imports(name: str) -> list[tuple[str, str, int]]:
    """(target module, imported name, line) of every evalkit import in a module, wherever it stands."""
    path = MODULES[name]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "evalkit":
                continue
            for alias in node.names:
                full = f"{target}.{alias.name}"
                out.append((full if full in MODULES else target, alias.name, node.lineno))
        elif isinstance(node, ast.Import):
            out += [(a.name, "", node.lineno) for a in node.names if a.name.split(".")[0] == "evalkit"]
    return out


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_root_is_small_and_subpackages_show_the_architecture():
    root = [m for m, p in MODULES.items() if m.count(".") == 1 and p.name != "__init__.py"]
    subpackages = sorted(m.split(".")[1] for m, p in MODULES.items() if m.count(".") == 1 and p.name == "__init__.py")
    assert len(root) <= 10, root
    assert subpackages == sorted(LAYERS)


@pytest.mark.parametrize("package", LAYERS)
def test_each_subpackage_says_what_it_owns_and_may_import(package):
    init = PKG / package / "__init__.py"
    tree = ast.parse(init.read_text())
    doc = ast.get_docstring(tree) or ""
    assert "May import" in doc or "may import" in doc, f"evalkit.{package}: the docstring names what it may import"
    exported = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "__all__")
    names = [e.value for e in exported.value.elts]
    assert names == sorted(names) and all(not n.startswith("_") for n in names)


def test_imports_point_one_way():
    wrong = []
    for module in MODULES:
        here = _layer(module)
        if here not in LAYERS and here not in ROOT_LOW:
            continue  # the top: cli, __init__, __main__, notebook, _moved
        for target, _, line in _imports(module):
            there = _layer(target)
            if there == here or there in ROOT_LOW or (here in LAYERS and there in LAYERS
                                                      and LAYERS.index(there) < LAYERS.index(here)):
                continue
            wrong.append(f"{module}:{line} imports {target}")
    assert wrong == []


def test_no_import_cycles():
    graph = defaultdict(set)
    for module in MODULES:
        graph[module] |= {t for t, _, _ in _imports(module) if t in MODULES and t != module}
    seen, stack, cycles = {}, [], []

    def visit(v):  # colour DFS: a back edge is a cycle
        seen[v] = 1
        stack.append(v)
        for w in graph[v]:
            if seen.get(w) == 1:
                cycles.append(stack[stack.index(w):] + [w])
            elif w not in seen:
                visit(w)
        stack.pop()
        seen[v] = 2

    for v in list(MODULES):
        if v not in seen:
            visit(v)
    assert cycles == []


def test_no_private_name_crosses_a_subpackage():
    crossing = []
    for module in MODULES:
        for target, name, line in _imports(module):
            private_module = any(p.startswith("_") and not p.startswith("__") for p in target.split(".")[2:])
            private = name.startswith("_") and not name.startswith("__") or private_module
            if private and _layer(target) != _layer(module) and _layer(target) not in ROOT_LOW | {"_moved"}:
                crossing.append(f"{module}:{line} imports {target}.{name}")
    assert crossing == []


def test_no_function_takes_more_than_15_parameters():
    big = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                n = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs)
                n -= bool(a.args) and a.args[0].arg in ("self", "cls")
                if n > 15:
                    big.append(f"{module}.{node.name} ({n})")
    assert big == []
