"""Writing into the archive's working tree without ever being led astray or wedged.

Two rules keep one hostile submission from hurting the rest: nothing is written through a symlink (a planted
link must not lead outside the tree), and a path never needs a file where a folder is, or a folder where a file
is (`a` beside `a/b`): such a set can never be written, and a cycle that tried would fail forever. Both are
checked before anything is written (`problem`, `clash_within`), and `write_entry` puts back what it wrote when
a write fails half-way, so an entry is applied whole or not at all.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path


class Unwritable(Exception):
    """An entry that cannot be written into the tree; `symlink` tells a planted link from a file/folder clash."""

    def __init__(self, detail: str, symlink: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.symlink = symlink


def ancestors(rel: str) -> list[str]:
    """The folders `rel` lives in, outermost first: `a/b/c` → [`a`, `a/b`]."""
    parts = rel.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def clash_within(paths: Iterable[str]) -> str | None:
    """Why these paths cannot all be files at once (one is another's folder), or None.

    Compared case-folded: on a case-insensitive disk `A` and `a/b` clash too.
    """
    files = {rel.casefold() for rel in paths}
    for rel in sorted(files):
        for folder in ancestors(rel):
            if folder in files:
                return f"{folder!r} would be both a file and the folder of {rel!r}"
    return None


def problem(root: Path, rel: str) -> Unwritable | None:
    """Why `rel` cannot be written as a file under `root` as the tree is now, or None.

    A symlink anywhere on the way, a file where a folder is needed, or a folder where the file would go.
    """
    parts = rel.split("/")
    here = root
    for i, part in enumerate(parts):
        here = here / part
        try:
            mode = here.lstat().st_mode
        except FileNotFoundError:
            return None  # nothing below exists either: the path is free
        if stat.S_ISLNK(mode):
            return Unwritable(f"{rel}: passes through a symlink", symlink=True)
        last = i == len(parts) - 1
        if last and stat.S_ISDIR(mode):
            return Unwritable(f"{rel!r} is a folder in the archive")
        if not last and not stat.S_ISDIR(mode):
            return Unwritable(
                f"{'/'.join(parts[: i + 1])!r} is a file in the archive, not the folder of {rel!r}"
            )
    return None


def safe_write(root: Path, rel: str, data: bytes) -> bool:
    """Write `root/rel`, refusing any symlink on the way. True when the file changed.

    `rel` must already be a checked relative path.
    """
    parts = rel.split("/")
    here = root
    for part in parts[:-1]:
        here = here / part
        if here.is_symlink():
            raise PermissionError(f"{rel}: a symlink on the path")
        here.mkdir(exist_ok=True)
    target = here / parts[-1]
    if target.is_symlink():
        raise PermissionError(f"{rel}: the target is a symlink")
    with contextlib.suppress(FileNotFoundError):
        if target.read_bytes() == data:
            return False
    _write(target, data)
    return True


def write_entry(root: Path, files: list[tuple[str, bytes]]) -> list[str]:
    """Write one queued entry whole, or raise Unwritable with the tree as it was. Returns the paths changed."""
    reason = clash_within(rel for rel, _ in files)
    if reason is not None:
        raise Unwritable(reason)
    for rel, _ in files:
        if (found := problem(root, rel)) is not None:
            raise found
    undo: list[tuple[Path, bytes | None]] = []  # each file written, with what it held before
    made: list[Path] = []  # folders created, outermost first
    changed: list[str] = []
    try:
        for rel, data in files:
            target = root / rel
            old = _read(target)
            if old == data:
                continue
            for folder in ancestors(rel):
                path = root / folder
                if not path.is_dir():
                    path.mkdir()
                    made.append(path)
            undo.append((target, old))
            _write(target, data)
            changed.append(rel)
    except OSError as e:  # full disk, a name the file system refuses…: this entry's fault or not, undo it
        for target, old in reversed(undo):
            with contextlib.suppress(OSError):
                if old is None:
                    target.unlink(missing_ok=True)
                else:
                    _write(target, old)
        for path in reversed(made):
            with contextlib.suppress(OSError):
                path.rmdir()
        raise Unwritable(f"writing failed: {e}") from None
    return changed


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _write(target: Path, data: bytes) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
