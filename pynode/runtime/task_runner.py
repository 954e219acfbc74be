"""What a node does with a task it took from the board (`TasksRuntime(on_taken=..., refuse=...)`).

- `diloco`: the spec names an announced run, `{"run": "<run id: 32 hex digits>", ...}`; the node waits up to
  JOIN_WAIT_S for its announcement and joins it with a `DilocoPeer` that shares its states through storage and
  keeps to the node's CPU share. A node takes part in one training run at a time: while it is in one, it
  declines other diloco tasks (`refuse`). The same `DilocoPeer` (`peer()`) trains the node's research experiments
  with peers (pynode/runtime/research_diloco.py): their runs, short and with an inner schedule, do not count.
- `research`: every node already runs the research loop on its domains (`pynode/runtime/research.py`); taking a
  campaign is logged and counted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from pynode.node import Node
from pynode.pace import CpuBudget
from pynode.runtime.diloco import DilocoPeer

log = logging.getLogger(__name__)

JOIN_WAIT_S = 60.0  # the founder announces every 5 s: a run not heard of within this is gone or elsewhere


def run_of(spec: str) -> bytes:
    """The run id a diloco task's spec names; ValueError otherwise (the spec is the poster's text: hostile)."""
    value = json.loads(spec)
    run = value.get("run") if isinstance(value, dict) else None
    if not isinstance(run, str) or len(run) != 32:
        raise ValueError('a diloco task spec is {"run": "<32 hex digits>", ...}')
    return bytes.fromhex(run)


class TaskRunner:
    def __init__(self, node: Node, storage: Any = None, cpu_share: float = 0.5) -> None:
        self.node = node
        self.storage = storage
        self.budget = CpuBudget(cpu_share)
        self.diloco: DilocoPeer | None = None
        self.joined: list[bytes] = []  # runs joined through the board
        self.campaigns = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def refuse(self, task: dict[str, Any]) -> str | None:
        """Why this node cannot take `task` beyond its resources; None when it can."""
        if task["kind"] != "diloco":
            return None
        try:
            run_id = run_of(task["spec"])
        except ValueError as e:
            return f"bad spec: {e}"[:200]
        runs = self.diloco.runs if self.diloco is not None else {}
        # research experiments' runs (an inner schedule, a few minutes) do not hold the node from a training run
        if run_id in runs or any(d.core.run.inner is None for d in runs.values()):
            return "already in a DiLoCo run"
        return None

    def taken(self, task: dict[str, Any]) -> None:
        if task["kind"] == "research":
            self.campaigns += 1
            log.info("took research campaign %r", task["title"])
            return
        t = asyncio.ensure_future(self._join(run_of(task["spec"])))
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    def peer(self) -> DilocoPeer:
        """The node's one DiLoCo peer (it answers the run protocols for every run the node is in)."""
        if self.diloco is None:
            self.diloco = DilocoPeer(self.node, storage=self.storage, pace=self.budget.pace_blocking)
        return self.diloco

    async def _join(self, run_id: bytes) -> None:
        peer = self.peer()
        deadline = time.monotonic() + JOIN_WAIT_S
        while run_id not in peer.announced:
            if time.monotonic() > deadline:
                log.warning("DiLoCo run %s was not announced within %.0f s", run_id.hex(), JOIN_WAIT_S)
                return
            await asyncio.sleep(0.5)
        await peer.join(run_id)
        self.joined.append(run_id)
        log.info("joined DiLoCo run %s from the task board", run_id.hex())

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.diloco is not None:
            await self.diloco.stop()
