"""Replicated state: many replicas with real GossipSub routers, real Loro documents and real signatures.

The transport is the kernel's (latencies, per-message loss, churn); everything above it is the production code:
`SyncEngine`, `Store`, `Router`. Gossip carries updates over the `Mesh`; anti-entropy requests and responses ride
the same links with `kernel.send`. Signatures are the identity layer's; the CRDT is the one the scenario is
handed (`run_state_simulation` asks the platform this process runs on).

Timeline: `nodes` replicas join during the warm-up; during the write window, random live replicas write
`records` results while `churn` × nodes replicas leave and as many fresh, empty ones join (cold starts);
then the run continues until every live replica holds the same version vectors, or `max_drain_s` passes.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from pynode.gossip.events import Validate, ValidationResult
from pynode.gossip.params import GossipParams
from pynode.identity import Identity
from pynode.platform import current
from pynode.platform.crdt import Crdt
from pynode.sim.link import LinkModel
from pynode.sim.mesh import Mesh
from pynode.state.authorship import Rejected
from pynode.state.records import Record, make_record
from pynode.state.store import Store
from pynode.state.sync import STATE_TOPIC, Ask, Publish, SyncEngine, run_sync
from pynode.state.views import leaderboards
from pynode.stats import percentile
from pynode.wire.envelope import Envelope, signing_payload

TICK_S = 0.25
EPOCH_MS = 1_700_000_000_000  # virtual time 0 on the records' wall clock


@dataclass(eq=False)
class Replica:
    index: int
    identity: Identity
    engine: SyncEngine
    joined_at: float
    seqno: int = 0
    arrivals: dict[str, float] = field(default_factory=dict)  # record key -> virtual time it arrived


class StateSimulation:
    def __init__(
        self,
        seed: int,
        link: LinkModel,
        crdt: Crdt,
        degree: int = 8,
        interval: float = 1.0,
        pull_timeout: float = 2.0,
    ) -> None:
        self.crdt = crdt
        self.mesh = Mesh(seed, link, degree, GossipParams(), self._validate)
        self.kernel = self.mesh.kernel
        self.interval = interval
        self.pull_timeout = pull_timeout
        self.replicas: list[Replica] = []
        self.created: dict[str, float] = {}  # record key -> virtual time written
        self.bytes_synced = 0  # gossip + anti-entropy payload bytes delivered
        self.cold_starts: list[float] = []  # virtual seconds from join to first completed pull

    def live(self) -> list[Replica]:
        return [self.replicas[i] for i in self.kernel.live]

    def converged(self) -> bool:
        versions = [n.engine.store.version() for n in self.live()]
        return all(v == versions[0] for v in versions)

    # ---- membership ---------------------------------------------------------------------------------

    def join(self) -> Replica:
        kernel = self.kernel
        identity = run_sync(Identity.from_seed(kernel.rng.randbytes(32)))
        store = Store(identity.peer_id, self.crdt)
        engine = SyncEngine(store, random.Random(kernel.rng.random()), self.interval)
        engine.pull_timeout = self.pull_timeout
        index = self.mesh.add(identity.peer_id)
        node = Replica(index, identity, engine, kernel.now)
        store.on_new = lambda _doc, recs: self._arrived(node, recs)
        self.replicas.append(node)
        self.mesh.apply(index, self.mesh.routers[index].subscribe(STATE_TOPIC, kernel.now))
        kernel.join(index)
        kernel.at(kernel.now + kernel.rng.random() * TICK_S, self._tick, index)
        return node

    def leave(self) -> None:
        self.kernel.leave(self.kernel.pick_live())

    def _arrived(self, node: Replica, records: list[Record]) -> None:
        for r in records:
            node.arrivals.setdefault(r.key, self.kernel.now)

    # ---- events -------------------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return EPOCH_MS + int(self.kernel.now * 1000)

    def _tick(self, index: int) -> None:
        kernel = self.kernel
        if not kernel.alive[index]:
            return
        node = self.replicas[index]
        self.mesh.tick(index)
        was_cold = node.engine.cold
        peers = sorted(self.mesh.peer_ids[i] for i in kernel.links[index])
        for ask in node.engine.tick(kernel.now, peers):
            self._ask(index, ask)
        if was_cold and not node.engine.cold:
            self.cold_starts.append(kernel.now - node.joined_at)
        kernel.at(min(self.mesh.routers[index].next_deadline(), kernel.now + TICK_S), self._tick, index)

    def write(self, value: int) -> None:
        node = self.replicas[self.kernel.pick_live()]
        body = {
            "domain": "ml",
            "task": f"task-{value % 3}",
            "metric": "val_loss",
            "unit": "nats",
            "direction": "min",
            "value": f"{self.kernel.rng.randrange(1, 10**6) / 1000:.3f}",
            "seeds": 3,
        }
        record = run_sync(make_record(node.identity.signer, "result", body, self._now_ms()))
        self.created[record.key] = self.kernel.now
        for out in run_sync(node.engine.write(node.identity.signer, [record])):
            self._publish(node, out)

    def _publish(self, node: Replica, out: Publish) -> None:
        node.seqno += 1
        peer = node.identity.peer_id
        ts = self._now_ms()
        unsigned = {"topic": STATE_TOPIC, "from": peer, "seqno": node.seqno, "ts": ts, "data": out.data}
        sig = run_sync(node.identity.signer.sign(signing_payload(unsigned)))
        env = Envelope(STATE_TOPIC, peer, node.seqno, ts, out.data, sig)
        self.mesh.apply(node.index, self.mesh.routers[node.index].publish(env, self.kernel.now))

    def _validate(self, index: int, out: Validate, src: int | None) -> ValidationResult:
        engine = self.replicas[index].engine
        verdict = run_sync(engine.on_gossip(out.envelope.sender, out.envelope.data, self._now_ms()))
        self.bytes_synced += len(out.envelope.data)
        return verdict

    def _ask(self, index: int, ask: Ask) -> None:
        self.kernel.send(index, self.mesh.by_id[ask.peer], self._on_request, ask.data)

    def _on_request(self, dst: int, src: int, data: bytes) -> None:
        engine = self.replicas[dst].engine
        answer = engine.on_request(self.mesh.peer_ids[src], data, self.kernel.now)
        self.kernel.send(dst, src, self._on_response, answer)

    def _on_response(self, dst: int, src: int, data: bytes) -> None:
        node = self.replicas[dst]
        self.bytes_synced += len(data)
        was_cold = node.engine.cold
        try:
            asks = run_sync(
                node.engine.on_response(self.mesh.peer_ids[src], data, self.kernel.now, self._now_ms())
            )
        except Rejected:
            asks = []
        if was_cold and not node.engine.cold:
            self.cold_starts.append(self.kernel.now - node.joined_at)
        for ask in asks:
            self._ask(dst, ask)

    # ---- measuring ----------------------------------------------------------------------------------

    def measure(self) -> dict[str, Any]:
        live = self.live()
        convergence = []
        for key, created in self.created.items():
            # replicas that were up when the record was written; later joiners get it by cold start
            times = [n.arrivals.get(key) for n in live if n.joined_at <= created]
            if all(t is not None for t in times):
                convergence.append(max(times) - created)  # type: ignore[type-var]
        views = {repr(leaderboards(n.engine.store.all_records("results.ml"))) for n in live}
        return {
            "records": len(self.created),
            "converged": self.converged(),
            "same_view": len(views) == 1,
            "records_everywhere": len(convergence),
            "convergence_s": {
                "p50": round(percentile(convergence, 50, 0.0), 3),
                "p99": round(percentile(convergence, 99, 0.0), 3),
                "max": round(max(convergence, default=0.0), 3),
            },
            "cold_start_s": {
                "p50": round(percentile(self.cold_starts, 50, 0.0), 3),
                "n": len(self.cold_starts),
            },
            "bytes_synced": self.bytes_synced,
        }


def run_state_simulation(
    nodes: int = 50,
    records: int = 100,
    loss: float = 0.1,
    churn: float = 0.2,
    seed: int = 1,
    warmup_s: float = 5.0,
    write_s: float = 20.0,
    max_drain_s: float = 120.0,
    median_latency_ms: float = 40.0,
    crdt: Crdt | None = None,
) -> dict[str, Any]:
    """Run the timeline in the module docstring; returns measurements and the final simulation (`sim`)."""
    started = time.perf_counter()
    link = LinkModel(median_latency_ms / 1000, loss=loss)
    sim = StateSimulation(seed, link, crdt if crdt is not None else current())
    kernel = sim.kernel
    for i in range(nodes):
        kernel.at(warmup_s / 2 * i / nodes, sim.join)
    kernel.run_until(warmup_s)
    for _ in range(round(churn * nodes)):
        kernel.at(warmup_s + kernel.rng.random() * write_s, sim.leave)
        kernel.at(warmup_s + kernel.rng.random() * write_s, sim.join)
    for i in range(records):
        kernel.at(warmup_s + kernel.rng.random() * write_s, sim.write, i)
    end = warmup_s + write_s
    kernel.run_until(end)
    while not sim.converged() and kernel.now < end + max_drain_s:
        kernel.run_until(kernel.now + 0.5)
    return {
        "nodes": nodes,
        "churn": churn,
        "loss": loss,
        **sim.measure(),
        "wall_s": round(time.perf_counter() - started, 2),
        "sim": sim,
    }
