"""The tab's dataclasses with their generated methods compiled at build time.

Making a dataclass compiles the source of the methods it generates (__init__, __repr__, __eq__, __setattr__, ...):
~10 ms a class in Pyodide, and the node's modules make ~70 before the tab says hello — most of importing the node.
The build (wasm_build/bytecode.py, add_dataclass_code) records, with the Pyodide the app ships, the code each class
of the tab's start compiles, keyed by its generated source; `install` has `dataclasses` take the code from there.
The same source compiles to the same code, so a class reads exactly as if compiled here; a source not recorded
(a class made later, another Python) is compiled as usual. web/worker.js installs it before importing the app.
"""

from __future__ import annotations

import builtins
import dataclasses
import marshal
import sys
from pathlib import Path
from typing import Any

CODE_FILE = Path(__file__).with_name("dataclass_code.bin")  # written into the wheel by the build
# classes made since `install`: with recorded code, and compiled here (a source the build did not record)
made = {"recorded": 0, "compiled": 0}


def install() -> int:
    """Serve recorded code to `dataclasses`; returns how many classes' code is at hand (0: none, or recorded
    by another Python — then nothing changes). Once is enough: a boot snapshot restores it installed."""
    if isinstance(served := getattr(dataclasses, "exec", None), _Served):
        return served.count
    try:
        version, codes = marshal.loads(CODE_FILE.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return 0
    if version != sys.version or not isinstance(codes, dict):
        return 0

    dataclasses.exec = _Served(codes)  # type: ignore[attr-defined]
    return len(codes)


class _Served:
    """`exec` for `dataclasses` (which calls `exec(source, globals, locals)`: its module global shadows the
    builtin), with the recorded code in place of the source where there is some."""

    __slots__ = ("codes", "count")

    def __init__(self, codes: dict[str, bytes]) -> None:
        self.codes = codes
        self.count = len(codes)

    def __call__(self, source: Any, globals: Any = None, locals: Any = None, /) -> None:
        if isinstance(source, str):
            code = self.codes.get(source)  # marshalled: unmarshal only what is made
            made["recorded" if code is not None else "compiled"] += 1
            source = source if code is None else marshal.loads(code)
        builtins.exec(source, globals, locals)
