"""The package's import graph flows one way (docs/architecture.md): no cycles, no upward imports.

Every ``import faceveil...`` counts, including the ones inside functions and under TYPE_CHECKING: a
lazy import still ties a low layer to a high one. Plug-ins are named as strings in faceveil.plugins
and imported by importlib, so they do not appear here by design.
"""

from __future__ import annotations

import ast
from pathlib import Path

import faceveil

ROOT = Path(faceveil.__file__).resolve().parent

# Lower number = lower layer. A module may import its own package and any lower layer.
LAYERS: dict[str, int] = {
    "errors": 0, "plugins": 0, "models_registry": 0, "progress": 0,
    "io": 1,
    "testing": 2, "faces": 2, "runtime": 2,  # runtime sets the video codecs' threads (io.video)
    "crypto": 3, "analysis": 3,
    "methods": 4,
    "pipeline": 5,
    "eval": 6,
    "api": 7, "models_check": 7,
    "scale": 7,  # the --engine ray driver/workers: run the api's single-file path on a cluster
    "cli": 8, "deface_compat": 8, "__main__": 8, "": 8,  # "": faceveil/__init__.py (lazy names from api)
    "review": 8,  # `faceveil review`: the local web page, beside the CLI that starts it
    "eval.cli": 8,  # `faceveil eval` is a command: it sits with cli, above scale (its --engine ray)
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = ["faceveil", *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n for n in names if n in modules}
    return found


def _layer(module: str) -> tuple[str, int]:
    parts = module.split(".")[1:]
    if ".".join(parts[:2]) in LAYERS:  # a module placed apart from its package's layer
        return ".".join(parts[:2]), LAYERS[".".join(parts[:2])]
    top = parts[0] if parts else ""
    assert top in LAYERS, f"{module}: add its package to LAYERS in {__file__}"
    return top, LAYERS[top]


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imports(p, modules) - {m} for m, p in modules.items()}


def test_no_module_imports_a_higher_layer():
    upward = []
    for module, targets in _graph().items():
        top, level = _layer(module)
        for target in targets:
            t_top, t_level = _layer(target)
            if t_top != top and t_level > level:
                upward.append(f"{module} (layer {level}) imports {target} (layer {t_level})")
    assert not upward, "upward imports:\n" + "\n".join(sorted(upward))


def test_there_are_no_import_cycles():
    graph = _graph()
    # Packages import their own submodules (and those often import the package's __init__ for a
    # shared name); count a cycle only between modules where neither is a package of the other.
    def edges(m):
        return {t for t in graph[m] if not t.startswith(m + ".") and not m.startswith(t + ".")}

    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(edges(m)):
            if state.get(t) == 1:
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_checker_sees_an_upward_import(tmp_path):
    """The walk itself works: a planted upward import in a parsed file is found."""
    fake = tmp_path / "detect.py"
    fake.write_text("def f():\n    from faceveil.eval.samples import load_sample\n")
    assert "faceveil.eval.samples" in _imports(fake, _modules())
