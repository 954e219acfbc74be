"""The replicated state over real sockets: a relay (whose node holds a replica and archives) and CPython nodes."""

from __future__ import annotations

import subprocess
import time

import httpx
import pytest

from pynode.runtime.replica import StateReplica
from pynode.state.authorship import change_payload, encode_message, loro_peer, ns
from pynode.state.records import make_record
from pynode.state.sync import STATE_TOPIC
from pynode.wire import cbor
from relay_server.gateway import ARCHIVE_PROTO, make_submission
from tests.netutil import eventually, node_on, relay_on

pytestmark = pytest.mark.slow

RESULT = {
    "domain": "ml",
    "task": "mlp-digits",
    "metric": "val_loss",
    "unit": "nats",
    "direction": "min",
    "seeds": 3,
}


async def test_results_spread_cold_starters_catch_up_the_relay_archives_and_forgers_are_penalised(tmp_path):
    relay = await relay_on(tmp_path, archive_interval_s=3600)
    nodes, replicas = [], []
    try:
        for _ in range(2):
            node = await node_on(relay.url)
            replica = StateReplica(node, interval=0.5)
            await replica.start()
            nodes.append(node)
            replicas.append(replica)
        a, b = nodes
        ra, rb = replicas
        await eventually(lambda: b.peer_id in a.connected_peers(), 20, "a ⇄ b")
        await eventually(lambda: a.router.mesh.get(STATE_TOPIC), 20, "state mesh")
        record = await ra.publish("result", {**RESULT, "value": "0.42"})
        relay_state = relay.relay.replica
        await eventually(lambda: record.key in rb.store.records["results.ml"], 20, "b has the result")
        await eventually(lambda: record.key in relay_state.store.records["results.ml"], 20, "relay has it")

        late = await node_on(relay.url)  # cold start: a snapshot from one peer, validated
        nodes.append(late)
        rl = StateReplica(late, interval=0.5)
        replicas.append(rl)
        await rl.start()
        await eventually(lambda: rl.status()["records"] == 1, 30, "cold start")
        board = next(iter(rl.leaderboards().values()))
        assert board[0].value == "0.42" and board[0].author == a.identity.text

        port = relay.port
        async with httpx.AsyncClient() as client:
            status = (await client.get(f"http://127.0.0.1:{port}/api/status")).json()
            assert status["extra"]["state"]["records"] == 1
            assert status["extra"]["state"]["sync"] in ("syncing", "synced")
            state = (await client.get(f"http://127.0.0.1:{port}/api/state")).json()
            assert (
                state["leaderboards"][0]["metric"] == "val_loss"
                and state["leaderboards"][0]["unit"] == "nats"
            )

        # a node's artefact through its relay connection lands in its own folder at the next cycle
        answer = await a.request(
            relay.relay.identity.peer_id,
            ARCHIVE_PROTO,
            await make_submission(a.identity.signer, [("runs/1.log", b"loss 0.42\n")]),
        )
        assert cbor.decode(answer)["paths"] == [f"agents/{a.identity.text}/runs/1.log"]

        # b forges a record into a's namespace and gossips it: a rejects it and scores b down
        forged = await make_record(b.identity.signer, "result", {**RESULT, "value": "0.0001"}, record.ts)
        doc = rb.store.docs["results.ml"].fork()
        doc.peer = loro_peer(b.peer_id)
        before = doc.version()
        counter, lamport, deps = doc.next_change()
        items = [(forged.key, forged.encoded)]
        sig = b.identity.signer.sign_now(
            change_payload("results.ml", doc.peer, counter, lamport, deps, 0, items)
        )
        doc.put(ns(a.peer_id), items, encode_message(b.peer_id, sig))
        await b.publish(STATE_TOPIC, cbor.encode({"doc": "results.ml", "update": doc.export_updates(before)}))
        await eventually(lambda: a.rejections["app_rejected"] >= 1, 20, "a rejects the forgery")
        assert ra.engine.rejections["outside_namespace"] >= 1
        assert a.router.score(b.peer_id, time.monotonic()) < 0
        assert forged.key not in ra.store.records["results.ml"]
    finally:
        for r in replicas:
            await r.stop()
        for n in nodes:
            await n.stop()
        await relay.stop()
    repo = tmp_path / "relay" / "archive" / "repo"
    files = subprocess.run(
        ["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.split()
    assert f"results/ml/mlp-digits/{record.key}.json" in files  # the final cycle on shutdown committed it
    assert f"agents/{a.identity.text}/runs/1.log" in files

    # restart: the relay's replica comes back from the archive's snapshots
    relay = await relay_on(tmp_path, archive_interval_s=3600)
    try:
        assert record.key in relay.relay.replica.store.records["results.ml"]
    finally:
        await relay.stop()
