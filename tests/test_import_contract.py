"""The import contract of tv2tv_world, envs and agents: layers that follow the pipeline, and no cycle.

A module imports only modules of its own layer or of layers below it (`LAYERS`, lowest first),
and no module imports, directly or through others, itself. Every import counts, also those
inside functions (a lazy import hides a cycle from Python, not from a reader who has to
understand both modules together). The package's own `__init__` (it registers the games with
Gymnasium) stands above the layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1]
PACKAGES = {"tv2tv_world": ROOT / "tv2tv_world", "tv2tv_world.envs": ROOT / "envs",
            "tv2tv_world.agents": ROOT / "agents"}
# lowest first; a module belongs to the layer of the longest prefix that names it
GAME_AGENTS = [f"tv2tv_world.agents.{m}" for m in ("policy", "random_policy", "forage_scripted", "ale_scripted",
                                                   "paddle_scripted", "boxing_scripted",
                                                   "registry", "real_game_agent")]
LAYERS = [
    ["tv2tv_world.storage"],
    ["tv2tv_world.envs", *GAME_AGENTS],  # the real games and the players that need no model
    ["tv2tv_world.dataset"],
    ["tv2tv_world.training"],
    ["tv2tv_world.tokenizer"],
    ["tv2tv_world.world_model"],
    ["tv2tv_world.envs.imagination", "tv2tv_world.envs.imagination_vector"],
    ["tv2tv_world.evaluation"],
    ["tv2tv_world.end_head"],
    ["tv2tv_world.agents"],
    ["tv2tv_world.play"],
    ["tv2tv_world.cli"],
]


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


def layer_of(module: str) -> int | None:
    """The index in `LAYERS` of the longest prefix naming `module`; None for the package's own `__init__`."""
    best, depth = None, -1
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and prefix.count(".") > depth:
                best, depth = i, prefix.count(".")
    return best


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """'a -> b' for every import of a module from a higher layer than its own."""
    return [f"{module} -> {other}" for module, imported in sorted(graph.items()) for other in sorted(imported)
            if layer_of(module) is not None and layer_of(other) is not None and layer_of(other) > layer_of(module)]


def test_every_module_has_a_layer_and_imports_none_above_it():
    files = module_files()
    assert [m for m in files if layer_of(m) is None] == ["tv2tv_world"]
    assert upward_imports(import_graph(files)) == []


def test_the_layers_catch_an_import_from_above():
    graph = import_graph(module_files())
    graph["tv2tv_world.tokenizer.video_vae"] = graph["tv2tv_world.tokenizer.video_vae"] | {"tv2tv_world.world_model.sampler"}
    assert upward_imports(graph) == ["tv2tv_world.tokenizer.video_vae -> tv2tv_world.world_model.sampler"]
    assert layer_of("tv2tv_world.envs.imagination") > layer_of("tv2tv_world.world_model.sampler") > layer_of(
        "tv2tv_world.envs.forage")


def test_the_project_has_no_import_cycle():
    files = module_files()
    assert "tv2tv_world.envs.imagination" in files and "tv2tv_world.dataset.collect" in files
    assert cycles(import_graph(files)) == []


def test_the_contract_finds_a_cycle_when_one_is_added(tmp_path):
    graph = import_graph(module_files())
    assert graph["tv2tv_world.world_model.loading"] >= {"tv2tv_world.storage.bundle"}
    graph["tv2tv_world.storage.bundle"] = graph["tv2tv_world.storage.bundle"] | {"tv2tv_world.evaluation.imagination"}
    (found,) = cycles(graph)
    assert {"tv2tv_world.storage.bundle", "tv2tv_world.world_model.loading",
            "tv2tv_world.evaluation.imagination"} <= set(found)
    # and from source: a module that imports a second which imports the first
    (tmp_path / "a.py").write_text("from pkg.b import x\n")
    (tmp_path / "b.py").write_text("def x():\n    from pkg.a import y\n")
    two = import_graph({"pkg.a": tmp_path / "a.py", "pkg.b": tmp_path / "b.py"})
    assert cycles(two) == [["pkg.a", "pkg.b"]]


def test_every_subpackage_is_installed():
    """A package missing from pyproject's list installs without its modules outside an editable install."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {".".join(["tv2tv_world", *p.parent.relative_to(ROOT / "tv2tv_world").parts])
               for p in (ROOT / "tv2tv_world").rglob("__init__.py")}
    assert folders | {"tv2tv_world.envs", "tv2tv_world.agents"} == listed
    assert all(m in module_files() for m in GAME_AGENTS)
