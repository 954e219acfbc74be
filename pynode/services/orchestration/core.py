"""Orchestrators and workers on the task board, sans-IO: inputs are the board (`board.py`), who is around and
the clock; outputs are the bodies of records to sign (`Assign`, `Reply`).

Orchestrator: each standing task has one responsible orchestrator — the first of the live orchestrators by a
hash of (task, orchestrator), so they agree without talking — which assigns it (epoch 0) when nodes qualify,
and reassigns it (the next epoch) when an assigned node declined, stayed silent REPLY_TIMEOUT_S after the
assignment, or was absent GONE_GRACE_S: the nodes still taking it keep their places, the freed slots go to
the best qualifying nodes (`matching.py`), and empty slots fill as nodes join.

Worker: a node named by a task's current assignment answers once: it takes the task when it has the
capabilities and memory and the task's compute fits in what is left of its CPU share, and declines with the
reason otherwise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pynode.services.orchestration.board import EXPIRED, TaskState
from pynode.services.orchestration.limits import GONE_GRACE_S, MAX_TASKS_PER_TICK, REPLY_TIMEOUT_S
from pynode.services.orchestration.matching import Candidate, committed, fits, match


@dataclass(frozen=True)
class Assign:
    body: dict[str, Any]  # an `assignment` record's body


@dataclass(frozen=True)
class Reply:
    body: dict[str, Any]  # a `task_reply` record's body
    task: dict[str, Any]  # the task taken or declined (its body), for the runtime to act on


def responsible(task_key: str, orchestrators: Collection[bytes]) -> bytes | None:
    return max(orchestrators, key=lambda o: hashlib.sha256(task_key.encode() + o).digest(), default=None)


class Orchestrator:
    def __init__(self, me: bytes) -> None:
        self.me = me
        self._absent: dict[bytes, float] = {}  # peer -> since when we have not seen it
        self._sent: dict[str, int] = {}  # task -> the epoch we last published (until the board shows it)
        self.assigned = 0

    def tick(
        self,
        board: Mapping[str, TaskState],
        candidates: Mapping[bytes, Candidate],
        orchestrators: Collection[bytes],
        live: Collection[bytes],
        now: float,
        now_ms: int,
    ) -> list[Assign]:
        """`candidates`: nodes that may take tasks (their profiles); `orchestrators`: the live ones (us
        included); `live`: every peer seen on the network now; `now`: seconds (monotonic), `now_ms`: wall."""
        for p in live:
            self._absent.pop(p, None)
        for p in {n for s in board.values() for n in s.nodes} - set(live) - {self.me}:
            self._absent.setdefault(p, now)
        out: list[Assign] = []
        for s in board.values():
            if len(out) >= MAX_TASKS_PER_TICK:
                break
            named = s.body.get("orchestrators")
            eligible = [o for o in orchestrators if named is None or o in named]
            if s.status(now_ms) == EXPIRED or responsible(s.key, eligible) != self.me:
                continue
            if self._sent.get(s.key, -1) > s.epoch:
                continue  # ours is on its way through the state
            nodes = self._nodes_for(s, board, candidates, now, now_ms)
            if nodes is not None:
                self._sent[s.key] = s.epoch + 1
                self.assigned += 1
                out.append(Assign({"task": s.key, "epoch": s.epoch + 1, "nodes": nodes}))
        return out

    def _nodes_for(
        self,
        s: TaskState,
        board: Mapping[str, TaskState],
        candidates: Mapping[bytes, Candidate],
        now: float,
        now_ms: int,
    ) -> list[bytes] | None:
        """The nodes of the next epoch, or None when the current assignment should stand."""
        age_s = (now_ms - s.assignment.ts) / 1000 if s.assignment is not None else 0.0
        keep = [
            n
            for n in s.nodes
            if n not in s.declined_by
            and now - self._absent.get(n, now) < GONE_GRACE_S
            and (n in s.replies or age_s < REPLY_TIMEOUT_S)
        ]
        want = s.body["slots"] - len(keep)
        fresh = match(
            s, candidates.values(), board, now_ms, exclude=set(s.nodes) | set(self._absent), want=want
        )
        nodes = keep + fresh
        if not nodes or (nodes == s.nodes):
            return None
        if set(nodes) == set(s.nodes):
            return None
        return nodes


class Worker:
    def __init__(self, me: Candidate, refuse: Callable[[dict[str, Any]], str | None] | None = None) -> None:
        """`refuse(task body)`: why this node cannot take a task beyond caps, memory and CPU (None: it can)."""
        self.me = me
        self.refuse = refuse
        self._answered: set[str] = set()  # tasks we replied to (until the board shows it)
        self.taken: list[str] = []
        self.declined: list[str] = []

    def tick(self, board: Mapping[str, TaskState], now_ms: int) -> list[Reply]:
        out: list[Reply] = []
        for s in board.values():
            me = self.me.peer
            if me not in s.nodes or me in s.replies or s.key in self._answered:
                continue
            if s.status(now_ms) == EXPIRED:
                continue
            load = committed(board, me, now_ms) - s.body["compute_s"]  # the view counts this task already
            why = fits(self.me, s.body, load) or (self.refuse(s.body) if self.refuse else None)
            self._answered.add(s.key)
            body: dict[str, Any] = {"task": s.key, "epoch": s.epoch, "accept": why is None}
            if why is not None:
                body["reason"] = why[:200]
                self.declined.append(s.key)
            else:
                self.taken.append(s.key)
            out.append(Reply(body, dict(s.body)))
        return out
