"""A restored tab's files (web/worker.js): its boot snapshot holds every module the tab's start imports, so none of
our wheels' files is written before the node starts; they are all written before the first import the snapshot does
not hold, before the tab loads what it runs once joined (which reads data files), or once it is online, whichever
comes first. A tab that booted without a snapshot wrote them before importing anything, and has none pending."""

from __future__ import annotations

import sys
from importlib.machinery import FileFinder, ModuleSpec
from typing import Any

import js  # type: ignore[import-not-found]


class _WriteFirst:
    """First on sys.meta_path while the files may be pending: finds nothing itself, writes them first. It stays
    there until `write_pending` is called from outside an import: the import system iterates sys.meta_path
    itself, and removing an entry under it skips the next finder."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        _write()
        return None


_finder = _WriteFirst()
_pending = False


def hold() -> None:
    """The files are pending: web/worker.js writes them when asked (`hsWritePending`)."""
    global _pending
    _pending = True
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


def write_pending() -> None:
    """Write the pending files, if any; the importers see them from then on."""
    _write()
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)


def _write() -> None:
    global _pending
    if not _pending:
        return
    _pending = False
    js.hsWritePending()
    for finder in list(sys.path_importer_cache.values()):
        if isinstance(finder, FileFinder):  # a directory listing cached before the files were there
            finder.invalidate_caches()
