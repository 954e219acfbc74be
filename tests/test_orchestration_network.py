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
