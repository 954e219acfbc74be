"""The task board between real nodes on a loopback relay: `hyperspace tasks post` signs a task onto the board,
the orchestrator assigns it to nodes that qualify, they take it, `hyperspace tasks list` shows it running; a
taken node leaves and the task is reassigned."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from pynode.identity import Identity
from pynode.node import Node, NodeConfig
from pynode.platform import current, native
from pynode.runtime.replica import StateReplica
from pynode.runtime.services import ServicesRuntime
from pynode.runtime.tasks import TasksRuntime
from pynode.services.orchestration.board import RUNNING
from pynode.services.orchestration.limits import GONE_GRACE_S
from pynode.state.store import Store
from tests.netutil import eventually, relay_on

pytestmark = pytest.mark.slow


async def _cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pynode.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_post_assign_take_and_reassign_when_a_node_leaves(tmp_path, monkeypatch):
    monkeypatch.setattr("pynode.services.orchestration.core.GONE_GRACE_S", 1.0)
    relay = await relay_on(tmp_path, embedded_node=False)
    made: list[tuple[Node, StateReplica, ServicesRuntime, TasksRuntime]] = []
    try:
        for i in range(4):
            caps = ["research"] if i else ["relay"]  # node 0 orchestrates but lacks the capability
            node = Node(
                await Identity.generate(), native.relay_link(relay.url), NodeConfig(caps=caps, direct_peers=0)
            )
            replica = StateReplica(node, interval=0.5, store=Store(node.peer_id, current()))
            services = ServicesRuntime(node, replica)
            tasks = TasksRuntime(node, replica, services, 2048, 0.5, orchestrator=(i == 0), tick_s=0.3)
            await node.start()
            await replica.start()
            await services.start()
            await services.ensure_profile()
            await tasks.start()
            made.append((node, replica, services, tasks))
        orchestrator = made[0][3]
        await eventually(lambda: len(orchestrator.read()[1]) == 4, 30, "every profile on the board's replica")
        spec = json.dumps({"task": "charlm", "rounds": 10})
        code, out, err = await _cli(
            "tasks", "post", "--relay", relay.url, "--data-dir", str(tmp_path / "poster"), "--kind", "diloco",
            "--title", "char-LM run", "--spec", spec, "--slots", "2", "--compute", "600",
        )  # fmt: skip
        assert code == 0, err
        key = out.split()[-1]

        def status() -> str:
            s = orchestrator.board().get(key)
            return s.status(orchestrator.now_ms()) if s else "missing"

        await eventually(lambda: status() == RUNNING, 40, "task taken by two nodes")
        first = orchestrator.board()[key]
        assert made[0][0].peer_id not in first.nodes  # it lacks `research`
        code, out, err = await _cli(
            "tasks", "list", "--relay", relay.url, "--data-dir", str(tmp_path / "poster"), "--json"
        )
        assert code == 0, err
        row = next(r for r in json.loads(out) if r["task"] == key)
        assert row["status"] == RUNNING and len(row["accepted"]) == 2
        leaving = next(m for m in made if m[0].peer_id in first.nodes)
        for part in (leaving[3], leaving[2], leaving[1], leaving[0]):
            await part.stop()
        made.remove(leaving)
        await eventually(
            lambda: orchestrator.board()[key].epoch >= 1 and status() == RUNNING, 40, "reassigned"
        )
        now = orchestrator.board()[key]
        assert leaving[0].peer_id not in now.nodes and len(now.accepted()) == 2
        assert GONE_GRACE_S > 1.0  # the module default is untouched outside this test
    finally:
        for node, replica, services, tasks in made:
            await tasks.stop()
            await services.stop()
            await replica.stop()
            await node.stop()
        await relay.stop()


async def test_a_diloco_run_posted_as_a_task_is_joined_by_the_nodes_that_take_it(tmp_path):
    from pynode.runtime.diloco import DilocoPeer
    from pynode.runtime.storage import StorageRuntime
    from pynode.runtime.task_runner import TaskRunner
    from pynode.services.storage.backend import MemoryBackend
    from pynode.train.diloco import RunSpec

    relay = await relay_on(tmp_path, embedded_node=False)
    stops: list = []
    try:
        members = []
        for i in range(3):
            node = Node(
                await Identity.generate(),
                native.relay_link(relay.url),
                NodeConfig(caps=["research"], direct_peers=0),
            )
            replica = StateReplica(node, interval=0.5, store=Store(node.peer_id, current()))
            services = ServicesRuntime(node, replica)
            storage = StorageRuntime(node, services, MemoryBackend(), 64 * 2**20)
            runner = TaskRunner(node, storage, cpu_share=1.0)
            tasks = TasksRuntime(
                node, replica, services, 2048, 1.0, i == 0, runner.taken, runner.refuse, tick_s=0.3
            )
            await node.start()
            for part in (replica, services, storage, tasks):
                await part.start()
            await services.ensure_profile()
            stops += [tasks, runner, storage, services, replica, node]
            members.append((node, runner, tasks))
        founder_node, founder_runner, board_host = members[0]
        await eventually(lambda: len(board_host.read()[1]) == 3, 30, "profiles")
        founder = DilocoPeer(founder_node)
        founder_runner.diloco = founder  # the founder's runner knows it is in a run: it declines the task
        run = RunSpec(
            task="digits-mlp", seed=2, H=4, codec="int8", deadline_s=30, cert_timeout_s=10, min_peers=3
        )
        await founder.found(run)
        spec = json.dumps({"run": run.run_id.hex(), "task": run.task})
        body = {"kind": "diloco", "title": "digits", "spec": spec, "caps": ["research"], "memory_mb": 256,
                "compute_s": 300, "slots": 2, "expires": board_host.now_ms() + 600_000}  # fmt: skip
        key = (await board_host.post(body)).key
        await eventually(lambda: board_host.board()[key].status(board_host.now_ms()) == RUNNING, 60, "taken")
        s = board_host.board()[key]
        assert founder_node.peer_id not in s.accepted()
        takers = [m[1] for m in members[1:] if m[0].peer_id in s.accepted()]
        await eventually(lambda: all(r.joined == [run.run_id] for r in takers), 60, "takers joined the run")
        await founder.wait_round(2, 90)
        await eventually(lambda: any(e.contributors == 3 for e in founder.log), 90, "a round of all three")
        if founder_node.peer_id in s.declined_by:
            assert "already in a DiLoCo run" in s.replies[founder_node.peer_id].body["reason"]
        await founder.stop()
    finally:
        for part in stops:
            await part.stop()
        await relay.stop()
