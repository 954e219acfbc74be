"""Our wheels' files a tab has not written yet (web/worker.js). A first visit writes only the start's files before
the node starts (the build's list of what importing the app reads: wasm_build/start_files.py) and fetches the wheels
once it is online; a restored tab writes none before its start (its boot snapshot holds every module the start
imports) and has them all stored with the snapshot. The pending files are written before the first import of ours
(a module of a top-level package our wheels install) that is not loaded yet, before the tab loads what it runs once
joined or runs a command from the page (both may read data files), or once it is online, whichever comes first."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from importlib.machinery import FileFinder, ModuleSpec
from typing import Any

import js  # type: ignore[import-not-found]


class _WriteFirst:
    """First on sys.meta_path while files are pending: a module of ours that the finders after it do not find
    (it is not written yet) has the pending files written first, then the import goes on. It stays there until
    `write_pending` is called from outside an import: the import system iterates sys.meta_path itself, and
    removing an entry under it skips the next finder."""

    def __init__(self) -> None:
        self.ours: frozenset[str] = frozenset()

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if name.partition(".")[0] not in self.ours:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None) if finder is not self else None
            if find is not None and (spec := find(name, path, target)) is not None:
                return spec  # written already (a first visit writes the start's files before its start)
        _write()
        return None


_finder = _WriteFirst()
_pending = False


def hold(ours: Iterable[str]) -> None:
    """Files of the packages named `ours` (top-level import names) are pending: web/worker.js fetches them when
    asked (`hsPendingFiles`) and writes them (`hsWritePending`)."""
    global _pending
    _pending = True
    _finder.ours = frozenset(str(name) for name in ours)
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


async def written() -> None:
    """Until the pending files, if any, are written: fetched first where they have not arrived yet."""
    if _pending:
        await js.hsPendingFiles()
    write_pending()


def write_pending() -> None:
    """Write the pending files, if any; the importers see them from then on."""
    _write()
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)


def _write() -> None:
    global _pending
    if _pending and not js.hsPendingArrived():
        # a first visit's wheels, asked for before the node was online: wait for them where this stack can be
        # suspended (JSPI: a coroutine's), as an import here cannot go on without them
        from pyodide.ffi import can_run_sync, run_sync  # type: ignore[import-not-found]

        if not can_run_sync():
            raise ImportError("our wheels' files have not arrived yet: import this from a coroutine")
        run_sync(js.hsPendingFiles())
    if not _pending:
        return
    _pending = False
    js.hsWritePending()
    for finder in list(sys.path_importer_cache.values()):
        if isinstance(finder, FileFinder):  # a directory listing cached before the files were there
            finder.invalidate_caches()
