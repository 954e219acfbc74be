"""Both platform modules satisfy the `Platform` protocol: every member, async where it is, same parameters.

`native` is imported and inspected. `browser` imports `js` and `pyodide`, which exist only in Pyodide, so its
source is read instead: its module-level functions are the members (the conformance suite also runs the same
comparison inside the tab, on the imported module: conformance.check_platform_protocol).
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from pynode.platform import conformance, native

PLATFORM = Path(__file__).resolve().parent.parent / "pynode" / "platform"


def members_in_source(source: str) -> dict[str, conformance.Member]:
    """Module-level functions of a source text, described as conformance.describe does."""
    found: dict[str, conformance.Member] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            names = [a.arg for a in args.posonlyargs + args.args]
            defaults = [False] * (len(names) - len(args.defaults)) + [True] * len(args.defaults)
            names += [a.arg for a in args.kwonlyargs]
            defaults += [d is not None for d in args.kw_defaults]
            found[node.name] = (
                isinstance(node, ast.AsyncFunctionDef),
                tuple(zip(names, defaults, strict=True)),
            )
    return found


def test_the_protocol_declares_the_seam():
    members = conformance.protocol_members()
    assert {"load_signer", "load_or_create_seed", "verify", "relay_link", "rtc_session", "crdt_doc",
            "model_runner", "sleep_blocking", "random_bytes"} <= set(members)  # fmt: skip
    assert members["load_or_create_seed"] == (True, (("place", False),))


def test_native_satisfies_the_protocol():
    found = {name: conformance.describe(getattr(native, name)) for name in conformance.protocol_members()}
    assert conformance.mismatches(conformance.protocol_members(), found) == []


@pytest.mark.parametrize("module", ["native", "browser"])
def test_each_platform_source_satisfies_the_protocol(module):
    found = members_in_source((PLATFORM / f"{module}.py").read_text())
    assert conformance.mismatches(conformance.protocol_members(), dict(found)) == []


def test_the_static_reading_agrees_with_inspect():
    found = members_in_source((PLATFORM / "native.py").read_text())
    for name in conformance.protocol_members():
        assert found[name] == conformance.describe(getattr(native, name)), name


def test_drift_is_reported():
    # the drift this test exists for: a seed loader that is sync on one platform, a member missing on the other
    source = inspect.getsource(native).replace("async def load_signer(", "def load_signer(")
    source = source.replace("def crdt_blob_meta(", "def crdt_blob_meta_renamed(")
    source = source.replace("def relay_link(url: str)", "def relay_link(url: str, timeout: float)")
    problems = conformance.mismatches(conformance.protocol_members(), dict(members_in_source(source)))
    assert problems == [
        "crdt_blob_meta is missing",
        "load_signer must be async",
        "relay_link has extra parameters without defaults",
    ]
