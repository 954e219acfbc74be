"""Which nodes can take a task, pure: required capabilities, memory, and room in their CPU share.

A node offers `cpu_share × HORIZON_S` CPU-seconds; what it has committed is the expected compute of every
standing task whose current assignment names it (and that it did not decline). Among the nodes that qualify,
the ones with the most room left come first; ties go by a hash of (task, node), so orchestrators agree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from pynode.services.orchestration.board import EXPIRED, TaskState
from pynode.services.orchestration.limits import HORIZON_S


@dataclass(frozen=True)
class Candidate:
    peer: bytes
    caps: frozenset[str]
    memory_mb: int
    cpu_share: float  # of one machine's CPU the node gives the network, 0..1

    @property
    def budget_s(self) -> float:
        return self.cpu_share * HORIZON_S


def committed(board: Mapping[str, TaskState], peer: bytes, now_ms: int) -> int:
    return sum(
        s.body["compute_s"]
        for s in board.values()
        if peer in s.nodes and peer not in s.declined_by and s.status(now_ms) != EXPIRED
    )


def fits(c: Candidate, task: Mapping, load_s: int) -> str | None:
    """Why `c` cannot take `task` with `load_s` already committed; None when it can."""
    missing = set(task["caps"]) - c.caps
    if missing:
        return f"lacks {', '.join(sorted(missing))}"
    if c.memory_mb < task["memory_mb"]:
        return f"{c.memory_mb} MiB of memory, {task['memory_mb']} needed"
    if load_s + task["compute_s"] > c.budget_s:
        return f"CPU share full: {load_s} + {task['compute_s']} s over {int(c.budget_s)} s"
    return None


def match(
    state: TaskState,
    candidates: Iterable[Candidate],
    board: Mapping[str, TaskState],
    now_ms: int,
    exclude: Collection[bytes] = (),
    want: int | None = None,
) -> list[bytes]:
    """Up to `want` (default: the task's slots) nodes for the task, best first."""
    task = state.body
    ranked = []
    for c in candidates:
        if c.peer in exclude or c.peer in state.declined_by:
            continue
        load = committed(board, c.peer, now_ms) - (task["compute_s"] if c.peer in state.nodes else 0)
        if fits(c, task, load) is None:
            tie = hashlib.sha256(state.key.encode() + c.peer).digest()
            ranked.append((-(c.budget_s - load), tie, c.peer))
    ranked.sort()
    return [p for _, _, p in ranked[: task["slots"] if want is None else want]]
