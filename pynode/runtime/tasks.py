"""The task-board runtime: hosts the orchestration service, and runs this node's orchestrator (when it is one)
and worker over the replica's board every TICK_S, signing what they decide into the state.

`on_taken(task body)` is called for each task this node takes, and `refuse(task body)` may decline one for a
reason beyond caps, memory and CPU share; the composition root decides what they do (`hyperspace node`:
`pynode/runtime/task_runner.py`, which joins the DiLoCo run a task names).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from pynode.node import Node
from pynode.runtime.services import ServicesRuntime
from pynode.services.orchestration.board import EXPIRED, TaskState, board
from pynode.services.orchestration.core import Orchestrator, Worker
from pynode.services.orchestration.limits import MAX_MEMORY_MB, TICK_S
from pynode.services.orchestration.matching import Candidate, committed
from pynode.services.orchestration.service import NAME, orchestration_service
from pynode.services.profile import newest_profiles
from pynode.state.records import Record

log = logging.getLogger(__name__)


def read_board(
    records: Callable[[str], list[Record]], now_ms: int
) -> tuple[dict[str, TaskState], dict[bytes, Candidate], set[bytes]]:
    """The board, the nodes that may take tasks, and the orchestrators, from a replica's records."""
    candidates: dict[bytes, Candidate] = {}
    orchestrators: set[bytes] = set()
    for peer, profile in newest_profiles(records("identities")).items():
        entry = profile.body.get("services", {}).get(NAME)
        if not isinstance(entry, dict):
            continue
        memory, permille = entry.get("memory_mb"), entry.get("cpu_permille")
        if isinstance(memory, int) and isinstance(permille, int) and 0 <= memory <= MAX_MEMORY_MB:
            caps = frozenset(profile.body["caps"])
            candidates[peer] = Candidate(peer, caps, memory, min(1000, max(0, permille)) / 1000)
        if entry.get("orchestrator") is True:
            orchestrators.add(peer)
    b = board(records("tasks"), records("assignments"), records("task_replies"), orchestrators.__contains__)
    return b, candidates, orchestrators


class TasksRuntime:
    def __init__(
        self,
        node: Node,
        replica: Any,
        services: ServicesRuntime,
        memory_mb: int,
        cpu_share: float,
        orchestrator: bool = True,
        on_taken: Callable[[dict[str, Any]], None] | None = None,
        refuse: Callable[[dict[str, Any]], str | None] | None = None,
        tick_s: float = TICK_S,
    ) -> None:
        self.node = node
        self.replica = replica
        self.tick_s = tick_s
        self.on_taken = on_taken
        self.me = Candidate(node.peer_id, frozenset(node.relay.caps) | {NAME}, memory_mb, cpu_share)
        self.orchestrator = Orchestrator(node.peer_id) if orchestrator else None
        self.worker = Worker(self.me, refuse)
        self._task: asyncio.Task[None] | None = None
        services.host(orchestration_service(memory_mb, cpu_share, orchestrator, self.load))

    async def start(self) -> None:
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def post(self, body: dict[str, Any]) -> Record:
        """Sign a task onto the board (WireError when it does not fit the schema)."""
        return await self.replica.publish("task", body)

    def read(self) -> tuple[dict[str, TaskState], dict[bytes, Candidate], set[bytes]]:
        """The board, the nodes that may take tasks and the orchestrators, as this node's replica has them."""
        return read_board(self.replica.store.all_records, _now_ms())

    def board(self) -> dict[str, TaskState]:
        return self.read()[0]

    now_ms = staticmethod(lambda: _now_ms())

    def load(self) -> dict[str, Any]:
        now_ms = _now_ms()
        b = self.board()
        mine = [
            s.key for s in b.values() if self.node.peer_id in s.accepted() and s.status(now_ms) != EXPIRED
        ]
        return {
            "budget_s": int(self.me.budget_s),
            "committed_s": committed(b, self.node.peer_id, now_ms),
            "tasks": mine,
        }

    async def tick(self) -> None:
        now_ms = _now_ms()
        # our caps as announced now (services hosted after us add theirs)
        self.me = Candidate(
            self.me.peer, frozenset(self.node.relay.caps) | {NAME}, self.me.memory_mb, self.me.cpu_share
        )
        self.worker.me = self.me
        b, candidates, orchestrators = read_board(self.replica.store.all_records, now_ms)
        for reply in self.worker.tick(b, now_ms):
            await self.replica.publish("task_reply", reply.body)
            if reply.body["accept"] and self.on_taken is not None:
                self.on_taken(reply.task)
        if self.orchestrator is None:
            return
        live = {self.node.peer_id, *self.node.connected_peers(), *self.node.relay.peers}
        here = {o for o in orchestrators if o in live} | {self.node.peer_id}
        # a profile lists the services a node hosts; the caps it announced to the relay say the rest
        available = {
            p: dataclasses.replace(c, caps=c.caps | frozenset(self.node.relay.peers.get(p, ())))
            for p, c in candidates.items()
            if p in live
        }
        available[self.node.peer_id] = self.me
        for a in self.orchestrator.tick(b, available, here, live, time.monotonic(), now_ms):
            await self.replica.publish("assignment", a.body)

    def status(self) -> dict[str, Any]:
        now_ms = _now_ms()
        states = [s.status(now_ms) for s in self.board().values()]
        return {
            "tasks": len(states),
            "standing": sum(1 for s in states if s != EXPIRED),
            "taken": len(self.worker.taken),
            "declined": len(self.worker.declined),
            "assigned": self.orchestrator.assigned if self.orchestrator else 0,
        }

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("task board tick failed")
            await asyncio.sleep(self.tick_s)


def _now_ms() -> int:
    return int(time.time() * 1000)
