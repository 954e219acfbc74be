"""Found by `hyperspace bench chaos`: replicas that come to an equivocation late. Once honest replicas hold an
author faulty, what they hold of it (one version, and perhaps a slice of the other) carries signatures that do
not verify for anyone who does not know. A replica starting cold, or restarting from its own saved snapshots,
must still take that state without blaming the honest peer that served it or refusing its own disk: refused,
the restarted replica came back empty, its node signed new changes over ids it had used before, and every
replica then held that honest author faulty and dropped all its records. Sans-IO: real stores, real Loro."""

from __future__ import annotations

import random

from pynode.identity import Identity
from pynode.node import Node, NodeConfig
from pynode.platform import native
from pynode.runtime.replica import StateReplica, load_store, save_store
from pynode.state.authorship import loro_peer
from pynode.state.store import Store
from pynode.state.sync import SyncEngine, run_sync
from relay_server.archive_layout import state_files
from tests.test_state_equivocation import DOC, equivocation, gossip, pull, result


def converged_pair() -> tuple[Identity, Identity, SyncEngine, SyncEngine]:
    """Two replicas that each got one version of eve's change, then found her out; an honest record on top."""
    eve, honest = run_sync(Identity.generate()), run_sync(Identity.generate())
    a, b = (
        SyncEngine(Store(run_sync(Identity.generate()).peer_id, native), random.Random(n)) for n in (1, 2)
    )
    first, x, y = equivocation(eve, 1, 2)
    for e in (a, b):
        gossip(e, eve, first)
    gossip(a, eve, x)
    gossip(b, eve, y)
    update = run_sync(_writer(honest).write(honest.signer, [result(honest, "0.3")]))
    gossip(b, honest, update[DOC])
    for _ in range(4):
        pull(a, b)
        pull(b, a)
    assert a.store.faulty == b.store.faulty == {loro_peer(eve.peer_id)}
    return eve, honest, a, b


def _writer(author: Identity) -> Store:
    return Store(author.peer_id, native)


def test_a_cold_replica_pulling_from_a_replica_that_holds_an_author_faulty_blames_no_one():
    eve, honest, a, b = converged_pair()
    for server in (a, b):
        cold = SyncEngine(Store(run_sync(Identity.generate()).peer_id, native), random.Random(3))
        pull(cold, server)  # fails the test if the honest server is blamed
        assert cold.store.faulty == {loro_peer(eve.peer_id)}
        assert sorted(cold.store.records[DOC]) == sorted(server.store.records[DOC])
        assert any(r.author == honest.peer_id for r in cold.store.records[DOC].values())


def test_a_replica_restarting_from_its_saved_snapshots_keeps_its_state_and_verdicts(tmp_path):
    eve, honest, a, b = converged_pair()
    for e in (a, b):
        save_store(e.store, tmp_path / str(id(e)))
        again = Store(e.store.author, native)
        run_sync(load_store(again, tmp_path / str(id(e))))
        assert again.version()[DOC] == e.store.version()[DOC]  # nothing of its disk refused
        assert sorted(again.records[DOC]) == sorted(e.store.records[DOC])
        assert again.faulty == {loro_peer(eve.peer_id)}


async def test_a_replica_with_save_to_has_its_own_write_on_disk_before_it_gossips_it(tmp_path):
    me = await Identity.generate()
    node = Node(me, native.relay_link("ws://127.0.0.1:9/p2p"), NodeConfig(direct_peers=0))
    replica = StateReplica(node, save_to=tmp_path)
    on_disk_at_gossip: list[set[str]] = []
    gossip_publish = node.publish

    async def publish(topic: str, data: bytes):  # the real publish, noting what the disk held just before
        saved = Store(me.peer_id, native)
        await load_store(saved, tmp_path)
        on_disk_at_gossip.append(set(saved.records[DOC]))
        return await gossip_publish(topic, data)

    node.publish = publish  # type: ignore[method-assign]
    record = await replica.publish("result", {**BODY, "value": "0.25"})
    assert on_disk_at_gossip == [{record.key}]  # a SIGKILL after the gossip cannot take it from us
    again = Store(me.peer_id, native)
    await load_store(again, tmp_path)
    assert again.version()[DOC] == replica.store.version()[DOC]


BODY = {
    "domain": "ml",
    "task": "mlp-digits",
    "metric": "val_loss",
    "unit": "nats",
    "direction": "min",
    "seeds": 3,
}


def test_a_relay_restarting_from_its_archive_snapshots_keeps_its_state_and_verdicts(tmp_path):
    eve, honest, a, _ = converged_pair()
    for path, data in state_files(a.store).items():
        if path.startswith("snapshots/"):
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).write_bytes(data)
    again = Store(a.store.author, native)
    run_sync(load_store(again, tmp_path / "snapshots"))  # what the relay's node does on start
    assert again.version()[DOC] == a.store.version()[DOC]
    assert sorted(again.records[DOC]) == sorted(a.store.records[DOC])
    assert again.faulty == {loro_peer(eve.peer_id)}
