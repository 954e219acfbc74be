"""The gateway's queue: submissions wait on disk until a commit holds them, indexed in memory.

Each entry is one file `<queue>/<id>.cbor`, written to `.tmp`, fsync'd and renamed (the folder fsync'd too): a
CBOR map `{files: [[path, data], …], owner: text, origin: text}` (a bare list of `[path, data]`, the first
format, is read too). Ids sort by arrival time.

The index is built from the files once, on first use, and kept current by every change after that, so what the
gateway asks per submission — running totals of bytes and entries (all, per owner, per origin) and whether a new
path clashes with a queued one — never reads a queued file. An entry that cannot be committed is moved to
`<queue>/quarantine/` (the newest QUARANTINE_KEEP are kept for an operator to inspect) and blocks nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pynode.wire import cbor
from pynode.wire.errors import WireError
from relay_server.archive_tree import ancestors
from relay_server.limits import QUARANTINE_KEEP

log = logging.getLogger(__name__)

UNKNOWN_ORIGIN = "unknown"


class QueueError(Exception):
    """A queued entry that cannot be read back."""


@dataclass(frozen=True)
class Entry:
    qid: str
    paths: tuple[str, ...]
    size: int  # bytes of file data
    owner: str  # whose quota it counts against (a peer id's text; "" for the relay's own)
    origin: str  # where it came from (a client address), for per-origin budgets


@dataclass
class Totals:
    entries: int = 0
    bytes: int = 0

    def add(self, entry: Entry, sign: int) -> None:
        self.entries += sign
        self.bytes += sign * entry.size


class ArchiveQueue:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.quarantine_dir = folder / "quarantine"
        self.total = Totals()
        self.quarantined = 0  # entries quarantined since this process started
        self._entries: dict[str, Entry] = {}
        self._owners: dict[str, Totals] = {}
        self._origins: dict[str, Totals] = {}
        self._files: Counter[str] = Counter()  # queued file paths
        self._folders: Counter[str] = Counter()  # folders those paths need
        self._loaded = False

    # ---- reading the index (never the files) ---------------------------------------------------------

    def entries(self) -> list[Entry]:
        self._load()
        return sorted(self._entries.values(), key=lambda e: e.qid)

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    def owner_bytes(self, owner: str) -> int:
        self._load()
        totals = self._owners.get(owner)
        return totals.bytes if totals is not None else 0

    def origin(self, origin: str) -> Totals:
        self._load()
        return self._origins.get(origin) or Totals()

    def clash(self, rel: str) -> str | None:
        """Why `rel` cannot be a file beside what is queued (a queued file is its folder, or it is a queued
        file's folder), or None. Case-folded, as `clash_within`."""
        self._load()
        key = rel.casefold()
        if self._folders[key]:
            return f"{rel!r} is the folder of a queued file"
        for folder in ancestors(key):
            if self._files[folder]:
                return f"{folder!r} is a queued file, not the folder of {rel!r}"
        return None

    # ---- changes --------------------------------------------------------------------------------------

    def put(self, files: list[tuple[str, bytes]], owner: str, origin: str) -> Entry:
        """Persist an entry (fsync'd) and index it."""
        self._load()
        self.folder.mkdir(parents=True, exist_ok=True)
        blob = cbor.encode({"files": [[rel, data] for rel, data in files], "owner": owner, "origin": origin})
        qid = f"{time.time_ns():020d}-{hashlib.sha256(blob).hexdigest()[:16]}"
        tmp = self.folder / f"{qid}.tmp"
        with open(tmp, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self._path(qid))
        _fsync_dir(self.folder)  # make the rename itself durable
        entry = Entry(qid, tuple(rel for rel, _ in files), sum(len(d) for _, d in files), owner, origin)
        self._index(entry, +1)
        return entry

    def read(self, entry: Entry) -> list[tuple[str, bytes]]:
        """An entry's files (the archiver reads them once per cycle); QueueError when it cannot."""
        try:
            return _decode(self._path(entry.qid).read_bytes())[0]
        except (OSError, WireError, ValueError, TypeError, KeyError) as e:
            raise QueueError(f"queue entry {entry.qid} unreadable: {e}") from None

    def done(self, entry: Entry) -> None:
        """A commit holds the entry: forget it."""
        self._path(entry.qid).unlink(missing_ok=True)
        self._index(entry, -1)

    def quarantine(self, entry: Entry, reason: str) -> None:
        """Move an entry that cannot be committed out of the way, so it never blocks the queue again."""
        self._index(entry, -1)
        self._move_aside(entry.qid, entry.owner, reason)

    def _move_aside(self, qid: str, owner: str, reason: str) -> None:
        self.quarantined += 1
        log.warning("archive: quarantined queue entry %s (owner %s): %s", qid, owner[:12] or "-", reason)
        with contextlib.suppress(OSError):
            self.quarantine_dir.mkdir(exist_ok=True)
            self._path(qid).replace(self.quarantine_dir / f"{qid}.cbor")
            (self.quarantine_dir / f"{qid}.why").write_text(reason + "\n")
            kept = sorted(self.quarantine_dir.glob("*.cbor"))
            for old in kept[: max(0, len(kept) - QUARANTINE_KEEP)]:
                old.unlink(missing_ok=True)
                old.with_suffix(".why").unlink(missing_ok=True)
        self._path(qid).unlink(missing_ok=True)  # if it could not be moved, it must still go

    # ---- internals ------------------------------------------------------------------------------------

    def _path(self, qid: str) -> Path:
        return self.folder / f"{qid}.cbor"

    def _index(self, entry: Entry, sign: int) -> None:
        if sign > 0:
            self._entries[entry.qid] = entry
        elif self._entries.pop(entry.qid, None) is None:
            return
        self.total.add(entry, sign)
        for key, table in ((entry.owner, self._owners), (entry.origin, self._origins)):
            totals = table.setdefault(key, Totals())
            totals.add(entry, sign)
            if totals.entries <= 0:
                del table[key]
        for rel in (p.casefold() for p in entry.paths):
            _count(self._files, rel, sign)
            for folder in ancestors(rel):
                _count(self._folders, folder, sign)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob("*.cbor")):
            qid = path.stem
            try:
                files, owner, origin = _decode(path.read_bytes())
            except (
                OSError,
                WireError,
                ValueError,
                TypeError,
                KeyError,
            ) as e:  # a torn file cannot exist (tmp + rename)
                self._move_aside(qid, "", f"unreadable: {e}")
                continue
            size = sum(len(d) for _, d in files)
            self._index(Entry(qid, tuple(rel for rel, _ in files), size, owner, origin), +1)


def _count(counter: Counter[str], key: str, sign: int) -> None:
    """Add `sign` to a count, dropping it at zero (the index stays as small as the queue)."""
    n = counter[key] + sign
    if n > 0:
        counter[key] = n
    else:
        counter.pop(key, None)


def _decode(blob: bytes) -> tuple[list[tuple[str, bytes]], str, str]:
    value = cbor.decode(blob, max_bytes=1 << 30)
    if isinstance(value, dict):
        items, owner, origin = value["files"], str(value.get("owner", "")), str(value.get("origin", ""))
    else:  # the first format: the files alone
        items, owner, origin = value, "", UNKNOWN_ORIGIN
    files = [(str(rel), bytes(data)) for rel, data in items]
    if not owner and files and files[0][0].startswith("agents/"):
        owner = files[0][0].split("/")[1]
    return files, owner, origin or UNKNOWN_ORIGIN


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
