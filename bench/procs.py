"""The processes a benchmark started (Chromium, through Playwright's driver) and the CPU time they used, from
Linux /proc: on a small, busy machine a change to a start-up shows in the CPU it costs before it shows in the
wall time, which swings by tenths of a second from one launch to the next."""

from __future__ import annotations

import os
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def descendants(root: int) -> list[int]:
    """Process ids below `root` (empty where there is no /proc)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        children.setdefault(ppid, []).append(int(d.name))
    found, todo = [], [root]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def browser_cpu_s() -> dict[int, float] | None:
    """User + system CPU seconds of every browser process below this one, by process id: the threads that
    ended count too (a process's own total holds them); Playwright's driver (node) is left out. None where
    there is no /proc."""
    if not Path("/proc/self/stat").exists():
        return None
    out: dict[int, float] = {}
    for pid in descendants(os.getpid()):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "node":
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / TICKS_PER_S
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    return out


def cpu_between(before: dict[int, float] | None, after: dict[int, float] | None) -> float | None:
    """CPU seconds the browser's processes used from `before` to `after` (a process that started meanwhile
    counts from zero; one that ended meanwhile is not counted)."""
    if before is None or after is None:
        return None
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())
