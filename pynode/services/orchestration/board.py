"""The task board: a pure view over `task`, `assignment` and `task_reply` records (PROTOCOL.md §11).

A task stands until it expires. Its assignment is the valid one of the highest epoch reached in sequence from 0
(each epoch's valid assignment with the smallest record key counts; an epoch with none ends the sequence, so
nobody jumps ahead to an epoch that no later one could follow). Valid means written by an orchestrator — an
author whose newest profile offers `orchestration` with `orchestrator: true`, and one of the task's named
`orchestrators` when the poster named any — naming at most the task's slots. A node's answer is its newest reply for the task;
a node that declined any epoch is never assigned it again. Every replica computes the same board.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pynode.state.records import Record

OPEN, ASSIGNED, RUNNING, EXPIRED = "open", "assigned", "running", "expired"


@dataclass
class TaskState:
    task: Record
    assignment: Record | None = None
    replies: dict[bytes, Record] = field(default_factory=dict)  # node -> its newest reply
    declined_by: set[bytes] = field(default_factory=set)  # nodes that declined any epoch: a decline stands

    @property
    def key(self) -> str:
        return self.task.key

    @property
    def body(self) -> dict:
        return self.task.body

    @property
    def epoch(self) -> int:
        return self.assignment.body["epoch"] if self.assignment is not None else -1

    @property
    def nodes(self) -> list[bytes]:
        return list(self.assignment.body["nodes"]) if self.assignment is not None else []

    def accepted(self) -> list[bytes]:
        return [
            n
            for n in self.nodes
            if n in self.replies and self.replies[n].body["accept"] and n not in self.declined_by
        ]

    def status(self, now_ms: int) -> str:
        if self.body["expires"] <= now_ms:
            return EXPIRED
        if not self.nodes:
            return OPEN
        return RUNNING if len(self.accepted()) >= self.body["slots"] else ASSIGNED


def board(
    tasks: Iterable[Record],
    assignments: Iterable[Record],
    replies: Iterable[Record],
    is_orchestrator: Callable[[bytes], bool],
) -> dict[str, TaskState]:
    """Task key -> its state (expired tasks included: `status` says so)."""
    out = {t.key: TaskState(t) for t in tasks if t.kind == "task"}
    by_epoch: dict[str, dict[int, Record]] = {}  # task -> epoch -> the counting assignment of that epoch
    for a in assignments:
        s = out.get(a.body["task"])
        if (
            s is None
            or not _may_assign(s, a.author, is_orchestrator)
            or len(a.body["nodes"]) > s.body["slots"]
        ):
            continue
        epochs = by_epoch.setdefault(s.key, {})
        held = epochs.get(a.body["epoch"])
        if held is None or a.key < held.key:
            epochs[a.body["epoch"]] = a
    for key, epochs in by_epoch.items():
        e = 0  # epochs count in sequence from 0: nobody jumps ahead to an epoch no later one can follow
        while e in epochs:
            out[key].assignment = epochs[e]
            e += 1
    for r in replies:
        s = out.get(r.body["task"])
        if s is None:
            continue
        if not r.body["accept"]:
            s.declined_by.add(r.author)
        held = s.replies.get(r.author)
        if held is None or (r.ts, r.key) > (held.ts, held.key):
            s.replies[r.author] = r
    return out


def _may_assign(s: TaskState, author: bytes, is_orchestrator: Callable[[bytes], bool]) -> bool:
    """An orchestrator, and one of those the poster named when it named any."""
    named = s.body.get("orchestrators")
    return is_orchestrator(author) and (named is None or author in named)
