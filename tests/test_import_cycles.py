"""The import contract: no module of tv2tv_world, envs or agents imports, directly or through others, itself.

Every import counts, also those inside functions (a lazy import hides a cycle from Python, not
from a reader who has to understand both modules together).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1]
PACKAGES = {"tv2tv_world": ROOT / "tv2tv_world", "tv2tv_world.envs": ROOT / "envs",
            "tv2tv_world.agents": ROOT / "agents"}


def module_files() -> dict[str, Path]:
    """Dotted module name -> its file, as the package installs them."""
    found = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = [p for p in path.relative_to(folder).with_suffix("").parts if p != "__init__"]
            found[".".join([package, *parts])] = path
    return found


def import_graph(files: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project's modules it imports anywhere in its file."""
    graph = {}
    for name, path in files.items():
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
            elif isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
        graph[name] = {m for m in imported if m in files and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_the_project_has_no_import_cycle():
    files = module_files()
    assert "tv2tv_world.envs.imagination" in files and "tv2tv_world.dataset.collect" in files
    assert cycles(import_graph(files)) == []


def test_the_contract_finds_a_cycle_when_one_is_added(tmp_path):
    graph = import_graph(module_files())
    assert graph["tv2tv_world.world_model_checkpoint"] >= {"tv2tv_world.bundle"}
    graph["tv2tv_world.bundle"] = graph["tv2tv_world.bundle"] | {"tv2tv_world.world_model_evaluation"}
    (found,) = cycles(graph)
    assert {"tv2tv_world.bundle", "tv2tv_world.world_model_checkpoint",
            "tv2tv_world.world_model_evaluation"} <= set(found)
    # and from source: a module that imports a second which imports the first
    (tmp_path / "a.py").write_text("from pkg.b import x\n")
    (tmp_path / "b.py").write_text("def x():\n    from pkg.a import y\n")
    two = import_graph({"pkg.a": tmp_path / "a.py", "pkg.b": tmp_path / "b.py"})
    assert cycles(two) == [["pkg.a", "pkg.b"]]
