"""The layering rules of docs/ARCHITECTURE.md, checked on the source: who may import whom, no cycles, small functions.

Every import counts, including ones inside functions: a lazy import still couples the modules.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYNODE = ROOT / "pynode"

# Protocol cores: they import downward only.
CORES = ("wire", "gossip", "net", "state", "train", "research", "review", "presence", "services", "identity")
UPPER = ("pynode.node", "pynode.runtime", "pynode.browser", "pynode.cli")
PLATFORM_LIBS = ("aiortc", "aioice", "websockets", "nacl", "loro", "onnxruntime", "numpy", "js", "pyodide")
COMPOSITION_ONLY = (
    "relay_server",
    "bench",
    "wasm_build",
)  # only the CLI (the composition root) reaches these
MAX_FUNCTION_LINES = 60
MAX_NODE_LINES = 250


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(PYNODE.rglob("*.py"))}


def imports(name: str) -> set[str]:
    """Absolute names of everything module `name` imports (relative imports resolved)."""
    out: set[str] = set()
    package = name if (ROOT / name.replace(".", "/")).is_dir() else name.rpartition(".")[0]
    for node in ast.walk(modules()[name]):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return out


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_cores_never_import_node_runtime_browser_or_cli():
    bad = [
        (m, i)
        for m in modules()
        if _under(m, tuple(f"pynode.{c}" for c in CORES))
        for i in imports(m)
        if _under(i, UPPER)
    ]
    assert not bad, f"cores import upward: {bad}"


def test_only_the_platform_imports_platform_libraries():
    bad = [
        (m, i)
        for m in modules()
        if not _under(m, ("pynode.platform",))
        for i in imports(m)
        if _under(i, PLATFORM_LIBS)
    ]
    assert not bad, f"outside pynode/platform: {bad}"


def test_only_the_cli_reaches_relay_bench_and_build_code():
    bad = [
        (m, i)
        for m in modules()
        if not _under(m, ("pynode.cli",))
        for i in imports(m)
        if _under(i, COMPOSITION_ONLY)
    ]
    assert not bad, f"only pynode/cli may import these: {bad}"


def test_the_platform_is_only_the_seam_and_the_node_only_composes():
    above_platform = ("pynode.node", "pynode.runtime", "pynode.browser", "pynode.cli")
    above_node = ("pynode.runtime", "pynode.browser", "pynode.cli")
    bad = [
        (m, i)
        for m in modules()
        for i in imports(m)
        if (_under(m, ("pynode.platform",)) and _under(i, above_platform))
        or (_under(m, ("pynode.node",)) and _under(i, above_node))
    ]
    assert not bad, bad


def _package(name: str) -> str:
    parts = name.split(".")
    return ".".join(parts[:2])


def test_packages_form_no_import_cycle():
    graph: dict[str, set[str]] = {}
    for m in modules():
        edges = graph.setdefault(_package(m), set())
        for i in imports(m):
            if (
                i.startswith("pynode.")
                and _package(i) != _package(m)
                and _package(i) in {_package(x) for x in modules()}
            ):
                edges.add(_package(i))
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(p: str) -> None:
        state[p] = 1
        path.append(p)
        for q in sorted(graph.get(p, ())):
            if state.get(q) == 1:
                pytest.fail(f"import cycle: {' -> '.join(path[path.index(q) :] + [q])}")
            if q not in state:
                visit(q)
        path.pop()
        state[p] = 2

    for p in sorted(graph):
        if p not in state:
            visit(p)


def test_no_function_is_longer_than_sixty_lines_outside_the_cli():
    long = []
    for m, tree in modules().items():
        if _under(m, ("pynode.cli",)):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{m}.{node.name} ({length} lines)")
    assert not long, long


def test_node_keeps_to_composition():
    lines = len((PYNODE / "node.py").read_text().splitlines())
    assert lines <= MAX_NODE_LINES, f"pynode/node.py has {lines} lines"


@pytest.mark.parametrize("module", ["pynode.wire.envelope", "pynode.gossip.router"])
def test_the_checker_sees_imports(module):
    # guards the rules above against a checker that silently finds nothing
    assert any(i.startswith("pynode.") for i in imports(module))
