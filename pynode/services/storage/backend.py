"""Where a holder keeps chunks: memory (the tab, bounded by its capacity) or files (CPython, the data dir).

Both keep, per blob, its `Entry` (manifest, owner, expiry) and its chunks. The holder (`holdings.py`) decides
what to keep and for how long; a backend only stores and reads back, and never trusts what it reads back:
a chunk is checked against its hash every time it is served.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pynode.services.storage.manifest import Manifest
from pynode.wire import cbor
from pynode.wire.errors import WireError
from pynode.wire.schema import expect_map, get_bytes, get_int

log = logging.getLogger(__name__)


@dataclass
class Entry:
    manifest: Manifest
    owner: bytes  # the peer whose quota it counts against (this node for its own blobs)
    expires: float  # wall-clock seconds: the holder may delete it after this
    own: bool  # this node published it (kept until expiry even when placement moves elsewhere)
    last_used: float = 0.0  # wall-clock seconds of the last read (eviction takes the least recent first)

    def to_bytes(self) -> bytes:
        return cbor.encode(
            {**self.manifest.to_wire(), "owner": self.owner, "expires": int(self.expires), "own": self.own}
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Entry:
        d = expect_map(cbor.decode(data), "entry", {"blob", "size", "hashes", "owner", "expires", "own"})
        manifest = Manifest.from_wire({k: d[k] for k in ("blob", "size", "hashes")})
        if not isinstance(d["own"], bool):
            raise WireError("bad_field", "own must be a boolean")
        return cls(manifest, get_bytes(d, "owner", size=32), float(get_int(d, "expires")), d["own"])


class Backend(Protocol):
    def save(self, entry: Entry, chunks: list[bytes]) -> None: ...
    def update(self, entry: Entry) -> None: ...
    def chunk(self, blob: bytes, index: int) -> bytes | None: ...
    def delete(self, blob: bytes) -> None: ...
    def load(self) -> list[Entry]: ...


class MemoryBackend:
    def __init__(self) -> None:
        self.entries: dict[bytes, Entry] = {}
        self.chunks: dict[bytes, list[bytes | None]] = {}

    def save(self, entry: Entry, chunks: list[bytes]) -> None:
        self.entries[entry.manifest.blob] = entry
        self.chunks[entry.manifest.blob] = list(chunks)

    def update(self, entry: Entry) -> None:
        self.entries[entry.manifest.blob] = entry

    def chunk(self, blob: bytes, index: int) -> bytes | None:
        chunks = self.chunks.get(blob)
        return chunks[index] if chunks is not None and 0 <= index < len(chunks) else None

    def delete(self, blob: bytes) -> None:
        self.entries.pop(blob, None)
        self.chunks.pop(blob, None)

    def load(self) -> list[Entry]:
        return list(self.entries.values())


class DiskBackend:
    """One directory per blob under `root`: `entry` (CBOR) and one file per chunk, each written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _dir(self, blob: bytes) -> Path:
        return self.root / blob.hex()

    def save(self, entry: Entry, chunks: list[bytes]) -> None:
        d = self._dir(entry.manifest.blob)
        d.mkdir(exist_ok=True)
        for i, data in enumerate(chunks):
            _write(d / str(i), data)
        _write(d / "entry", entry.to_bytes())  # last: a blob without an entry is an interrupted save

    def update(self, entry: Entry) -> None:
        _write(self._dir(entry.manifest.blob) / "entry", entry.to_bytes())

    def chunk(self, blob: bytes, index: int) -> bytes | None:
        try:
            return (self._dir(blob) / str(index)).read_bytes()
        except OSError:
            return None

    def delete(self, blob: bytes) -> None:
        shutil.rmtree(self._dir(blob), ignore_errors=True)

    def load(self) -> list[Entry]:
        entries = []
        for d in sorted(self.root.iterdir()):
            try:
                entry = Entry.from_bytes((d / "entry").read_bytes())
                if entry.manifest.blob.hex() != d.name:
                    raise WireError("bad_entry", "directory name is not the blob id")
                entries.append(entry)
            except (OSError, ValueError, WireError) as e:
                log.warning("storage: dropping %s (%s)", d.name, e)
                shutil.rmtree(d, ignore_errors=True)
        return entries


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def chunk_ok(manifest: Manifest, index: int, data: bytes | None) -> bool:
    return data is not None and hashlib.sha256(data).digest() == manifest.hashes[index]
