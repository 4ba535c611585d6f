"""The package's imports point one way (docs/architecture.md, "Layers") and form no cycle.

Every ``import`` of a meersim module is parsed, including those inside functions,
so a lazy import cannot hide an upward dependency or a cycle.
"""

import ast
from pathlib import Path

import pytest

import meersim

PACKAGE_DIR = Path(meersim.__file__).parent

# lowest first; a module may import its own layer (without cycles) and any layer below
LAYERS = [
    {
        "meersim",
        "meersim.errors",
        "meersim.config",
        "meersim.grid",
        "meersim.types",
        "meersim.stats",
        "meersim.io",
    },  # fmt: skip
    {"meersim.catalogs"},
    {"meersim.sky"},
    {"meersim.imaging"},
    {"meersim.observe"},
    {"meersim.clean"},
    {"meersim.datasets"},
    {"meersim.ssl"},
    {"meersim.eval"},
    {"meersim.pipelines"},
    {"meersim.cli"},
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> int:
    """Index in LAYERS; ``__main__`` modules are entry points and belong to the CLI layer."""
    if module.endswith(".__main__"):
        return len(LAYERS) - 1
    for level, group in enumerate(LAYERS):
        for prefix in sorted(group, key=len, reverse=True):
            if module == prefix or (prefix != "meersim" and module.startswith(prefix + ".")):
                return level
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/architecture.md")


def imports_of(path: Path, module: str) -> set[str]:
    """Every meersim module ``path`` imports, at any depth of the syntax tree."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "meersim"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            if base.split(".")[0] != "meersim":
                continue
            for alias in node.names:  # "from meersim.eval import pages" names a module
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
    return {m for m in found if m in MODULES}


MODULES = {module_name(p): p for p in PACKAGE_DIR.rglob("*.py")}
GRAPH = {name: imports_of(path, name) - {name} for name, path in MODULES.items()}


def test_every_module_has_a_layer():
    for name in MODULES:
        layer_of(name)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_upward_import(module):
    upward = [m for m in GRAPH[module] if layer_of(m) > layer_of(module)]
    assert not upward, f"{module} imports higher layers: {upward}"


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: components with more than one module are cycles."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
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
            out.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    cycles = [c for c in strongly_connected(GRAPH) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def test_checker_sees_a_planted_upward_import(tmp_path):
    planted = tmp_path / "meersim" / "catalogs" / "planted.py"
    planted.parent.mkdir(parents=True)
    planted.write_text("def f():\n    from meersim.ssl.train import train\n    return train\n")
    deps = {d for d in [
        n.module for n in ast.walk(ast.parse(planted.read_text())) if isinstance(n, ast.ImportFrom)
    ] if d}  # fmt: skip
    assert any(layer_of(d) > layer_of("meersim.catalogs.planted") for d in deps)
    assert strongly_connected({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"], ["c"]]
