"""ml experiments trained with peers: the research runtime's DiLoCo side (pynode/research/ml/collab.py).

`MlTeam.evaluate` is what the research runtime asks before training an ml experiment solo: when live peers
research the same task, each seed becomes a DiLoCo run this node founds and announces; peers whose research agent
works on the task join it at round 0 (`MlTeam`'s helper loop) and train every round with it. The seed's value
is the run's final θ scored. When nobody joins within JOIN_WAIT_S, or a run ends irregular (a peer dropped out
of a round), the whole experiment goes solo instead: a result is trained one way, every seed alike.

One `DilocoPeer` per node, shared with the task board's runner: it holds the runs this node founds, those it
helps, and board runs at once.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

from pynode.research.domain import Config, Evaluation
from pynode.research.ml import TASKS, collab
from pynode.runtime.diloco import ANNOUNCE_EVERY_S, DilocoPeer
from pynode.train.diloco import RunSpec

log = logging.getLogger(__name__)

JOIN_WAIT_S = 15.0  # a peer researching the task hears the announcement within one announce period (5 s)
LINGER_S = 10.0  # a finished run is kept this long so that late peers can still fetch its last certificate
HELPING = 2  # runs of others this node trains in at once (each a worker thread, paced to the CPU share)
LOOK_S = 0.5  # how often the helper looks for announced runs of our tasks


class MlTeam:
    def __init__(
        self,
        peer: DilocoPeer,
        store: Any,
        tasks: Sequence[str],
        live: Callable[[], set[bytes]],
    ) -> None:
        """`store`: the replica's records (who researches a task); `tasks`: the ml tasks this node researches;
        `live()`: the peers this node can reach now."""
        self.peer = peer
        self.store = store
        self.tasks = [t for t in tasks if t in TASKS]
        self.live = live
        self.me = peer.node.peer_id
        self.trained: dict[str, int] = {"diloco": 0, "solo_fallback": 0, "helped": 0}
        self._helping: set[bytes] = set()
        self._seen: set[bytes] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._spawn(self._helper())

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.peer.stop()  # idempotent: the task board's runner may stop it too

    def peers(self, task: str) -> set[bytes]:
        records = self.store.all_records("results.ml")
        return collab.peers_on_task(records, task, self.me, self.live(), int(time.time() * 1000))

    # ---- founding: this node's experiment, with peers -------------------------------------------------

    async def evaluate(
        self, task: str, config: Config, seeds: int, on_seed: Callable[[int], None] | None = None
    ) -> list[Evaluation] | None:
        """The experiment's seeds, each one DiLoCo run with the peers on `task`; None: train it solo (no peer
        on the task, nobody joined, or a run that did not end clean)."""
        if task not in self.tasks or not self.peers(task):
            return None
        out: list[Evaluation] = []
        for seed in range(seeds):
            e = await self._seed(TASKS[task], config, seed)
            if e is None:
                self.trained["solo_fallback"] += 1
                return None
            out.append(e)
            if on_seed is not None:
                on_seed(seed + 1)
        self.trained["diloco"] += 1
        return out

    async def _seed(self, task: Any, config: Config, seed: int) -> Evaluation | None:
        run = collab.run_spec(task, config, seed, secrets.randbits(62))
        run_id = await self.peer.found(run)
        try:
            driver = self.peer.runs[run_id]
            if not await _until(lambda: len(driver.core.members) > 1, JOIN_WAIT_S):
                log.info("nobody joined DiLoCo run %s of %s: training solo", run_id.hex()[:8], task.task.id)
                return None
            assert run.rounds is not None
            try:
                await self.peer.wait_round(run.rounds, run.rounds * run.deadline_s * 2, run_id)
            except TimeoutError:
                log.warning("DiLoCo run %s did not finish: training solo", run_id.hex()[:8])
                return None
            rounds = collab.rounds_of(driver.core.history, run)
            if not collab.regular(rounds):
                log.warning("DiLoCo run %s lost a peer in a round: training solo", run_id.hex()[:8])
                return None
            final = driver.core.state
            assert final is not None
            return await asyncio.to_thread(collab.evaluation, task, config, run, rounds, final, None)
        finally:
            self._spawn(self._leave_later(run_id))

    # ---- helping: peers' experiments on our tasks -----------------------------------------------------

    async def _helper(self) -> None:
        while True:
            await asyncio.sleep(LOOK_S)
            for run_id, run in self._open_runs():
                self._seen.add(run_id)
                self._helping.add(run_id)
                self._spawn(self._help(run_id, run))

    def _open_runs(self) -> list[tuple[bytes, RunSpec]]:
        """Announced experiments of our tasks, still at round 0 and heard lately, that we have not joined."""
        now, out = time.monotonic(), []
        for run_id, (run, r, founder) in list(self.peer.announced.items()):
            if len(self._helping) + len(out) >= HELPING:
                break
            fresh = now - self.peer.heard.get(run_id, 0.0) < 2 * ANNOUNCE_EVERY_S
            ours = founder != self.me and run_id not in self._seen and run_id not in self.peer.runs
            if r == 0 and fresh and ours and collab.task_of(run, self.tasks) is not None:
                out.append((run_id, run))
        return out

    async def _help(self, run_id: bytes, run: RunSpec) -> None:
        try:
            await self.peer.join(run_id)
            assert run.rounds is not None
            await self.peer.wait_round(run.rounds, run.rounds * run.deadline_s * 2, run_id)
            self.trained["helped"] += 1
        except (TimeoutError, RuntimeError) as e:
            log.info("left DiLoCo run %s unfinished: %s", run_id.hex()[:8], e or "timed out")
        finally:
            self._helping.discard(run_id)
            await self._leave_later(run_id)

    async def _leave_later(self, run_id: bytes) -> None:
        await asyncio.sleep(LINGER_S)
        await self.peer.leave(run_id)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def status(self) -> dict[str, Any]:
        return {**self.trained, "runs": len(self.peer.runs)}


async def _until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True
