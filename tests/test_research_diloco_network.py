"""An ml experiment trained as a DiLoCo run with the peer researching the same task: two CPython nodes over a
relay. B's baseline puts it on the board as a researcher of digits-mlp; A's next experiment then trains each seed
as one DiLoCo run that B's research runtime joins; the result says so, names both peers in every round, and
`reproduce` replays it to the same values. The config is small (digits-mlp, 40 inner steps, 4 rounds)."""

from __future__ import annotations

import pytest

from pynode.platform import native
from pynode.research.ml import DOMAIN
from pynode.research.reproduce import reproduce
from pynode.research.strategy import Proposal
from pynode.runtime.diloco import DilocoPeer
from pynode.runtime.replica import StateReplica
from pynode.runtime.research import ResearchAgent, ResearchConfig
from pynode.runtime.research_diloco import MlTeam
from pynode.state.store import Store
from pynode.state.sync import STATE_TOPIC
from pynode.train.diloco import RUNS_TOPIC, RunSpec
from tests.netutil import eventually, node_on, relay_on

pytestmark = pytest.mark.slow
TASK = "digits-mlp"
CONFIG = DOMAIN.validate(TASK, {**DOMAIN.baseline(TASK), "steps": 40, "lr": 0.005, "schedule": "cosine"})


async def propose(domain, task, board):
    """A fixed next experiment (through the LLM hook): a short run whose parent is the board's baseline."""
    return Proposal(dict(CONFIG), "llm", board[0], "a shorter cosine run at lr 0.005 lowers val_loss")


async def test_an_ml_experiment_trains_as_a_diloco_run_with_the_peer_on_its_task(tmp_path):
    relay = await relay_on(tmp_path, archive_interval_s=3600)
    nodes = [await node_on(relay.url) for _ in range(2)]
    replicas = [StateReplica(n, interval=0.5, store=Store(n.peer_id, native)) for n in nodes]
    teams, agents = [], []
    for i, (node, replica) in enumerate(zip(nodes, replicas, strict=True)):
        await replica.start()
        team = MlTeam(DilocoPeer(node), replica.store, [TASK], lambda n=node: set(n.connected_peers()))
        config = ResearchConfig(
            domains=("ml",), tasks=[TASK], seed=i, cpu_share=1.0, proposer=propose, team=team,
            state_file=tmp_path / f"plan-{i}.json",
        )  # fmt: skip
        teams.append(team)
        agents.append(ResearchAgent(replica, config))
        await team.start()
    a, b = agents
    try:
        for n in nodes:
            await eventually(lambda n=n: n.connected_peers(), 20, "peers")
            await eventually(lambda n=n: n.router.mesh.get(STATE_TOPIC) and n.router.mesh.get(RUNS_TOPIC), 20)
        assert teams[0].peers(TASK) == set()  # nobody researches the task yet: the baseline trains solo
        baseline = await b.run_once()
        assert baseline.result.body["training"] == {"mode": "solo"}
        await eventually(
            lambda: baseline.result.key in replicas[0].store.records["results.ml"], 20, "B's result"
        )
        assert teams[0].peers(TASK) == {nodes[1].peer_id}

        published = await a.run_once()
        body = published.result.body
        assert body["inspired_by"] == baseline.result.key and body["seeds"] == 3
        training = body["training"]
        assert training["mode"] == "diloco" and len(training["runs"]) == 3
        assert (
            "Trained with peers: each seed is one DiLoCo run of 2 peers" in published.paper.body["markdown"]
        )
        both = sorted(n.peer_id for n in nodes)
        for seed, entry in enumerate(training["runs"]):
            run = RunSpec.from_wire(entry["run"])
            assert (run.seed, run.task, run.rounds, run.inner.steps) == (seed, TASK, 4, 40)
            assert [[p for p, _ in named] for named in entry["rounds"]] == [both] * 4
            assert all(s == 10 for named in entry["rounds"] for _, s in named)
        assert teams[0].trained["diloco"] == 1
        # B hears the last round's certificate after A has closed the round: its count follows A's, not with it
        await eventually(lambda: teams[1].trained["helped"] == 3, 20, "B's three runs")
        await eventually(
            lambda: published.result.key in replicas[1].store.records["results.ml"], 20, "spread"
        )
        rep = reproduce(published.result)  # replays the three runs from the contributors: the same values
        assert rep.agree and rep.max_error < 1e-9  # bit for bit, but for the samples' 10-digit decimal text
    finally:
        for team in teams:
            await team.stop()
        for r in replicas:
            await r.stop()
        for n in nodes:
            await n.stop()
        await relay.stop()
