"""Many state replicas in virtual time: real GossipSub routers, real Loro documents, real signatures.

The transport is simulated (pynode.sim.link latencies, per-message loss, churn); everything above it is the
production code: `SyncEngine`, `Store`, `Router`. One seeded `random.Random` fixes the whole run.

Timeline: `nodes` replicas join during the warm-up; during the write window, random live replicas write
`records` results while `churn` × nodes replicas leave and as many fresh, empty ones join (cold starts);
then the run continues until every live replica holds the same version vectors, or `max_drain_s` passes.
"""

from __future__ import annotations

import heapq
import random
import time
from dataclasses import dataclass, field
from typing import Any

from pynode.gossip.events import Deliver, Dial, Send, Validate
from pynode.gossip.params import GossipParams
from pynode.gossip.router import Router
from pynode.gossip.rpc import RPC
from pynode.identity import Identity
from pynode.platform import native
from pynode.sim.link import LinkModel
from pynode.state.authorship import Rejected
from pynode.state.records import Record, make_record
from pynode.state.store import Store
from pynode.state.sync import STATE_TOPIC, Ask, Publish, SyncEngine, run_sync
from pynode.state.views import leaderboards
from pynode.stats import percentile
from pynode.wire.envelope import Envelope, signing_payload

TICK_S = 0.25
EPOCH_MS = 1_700_000_000_000  # virtual time 0 on the records' wall clock

_RPC, _REQ, _RESP, _TICK, _JOIN, _LEAVE, _WRITE = range(7)


@dataclass(eq=False)
class Replica:
    index: int
    identity: Identity
    router: Router
    engine: SyncEngine
    joined_at: float
    links: dict[int, float] = field(default_factory=dict)
    alive: bool = True
    seqno: int = 0
    arrivals: dict[str, float] = field(default_factory=dict)  # record key -> virtual time it arrived


class StateSimulation:
    def __init__(
        self, seed: int, link: LinkModel, degree: int = 8, interval: float = 1.0, pull_timeout: float = 2.0
    ) -> None:
        self.rng = random.Random(seed)
        self.link = link
        self.degree = degree
        self.interval = interval
        self.pull_timeout = pull_timeout
        self.params = GossipParams()
        self.nodes: list[Replica] = []
        self.by_peer: dict[bytes, int] = {}
        self.heap: list[tuple[float, int, int, Any]] = []
        self._seq = 0
        self.now = 0.0
        self.created: dict[str, float] = {}  # record key -> virtual time written
        self.bytes_synced = 0  # gossip + anti-entropy payload bytes delivered
        self.cold_starts: list[float] = []  # virtual seconds from join to first completed pull

    def schedule(self, t: float, kind: int, payload: Any = None) -> None:
        self._seq += 1
        heapq.heappush(self.heap, (t, self._seq, kind, payload))

    def live(self) -> list[Replica]:
        return [n for n in self.nodes if n.alive]

    # ---- membership -------------------------------------------------------------------------------

    def join(self) -> Replica:
        identity = Identity.from_seed(self.rng.randbytes(32))
        store = Store(identity.peer_id, native)
        engine = SyncEngine(store, random.Random(self.rng.random()), self.interval)
        engine.pull_timeout = self.pull_timeout
        node = Replica(
            len(self.nodes),
            identity,
            Router(identity.peer_id, self.params, rng=random.Random(self.rng.random())),
            engine,
            self.now,
        )
        store.on_new = lambda _doc, recs, n=node: self._arrived(n, recs)
        self.nodes.append(node)
        self.by_peer[identity.peer_id] = node.index
        self._apply(node, node.router.subscribe(STATE_TOPIC, self.now))
        others = [n for n in self.live() if n is not node]
        for other in self.rng.sample(others, min(self.degree, len(others))):
            self._connect(node, other)
        self.schedule(self.now + self.rng.random() * TICK_S, _TICK, node.index)
        return node

    def leave(self) -> None:
        live = self.live()
        node = live[self.rng.randrange(len(live))]
        node.alive = False
        for other in list(node.links):
            peer = self.nodes[other]
            del peer.links[node.index]
            self._apply(peer, peer.router.remove_peer(node.identity.peer_id, self.now))
        node.links.clear()

    def _connect(self, a: Replica, b: Replica) -> None:
        if b.index in a.links or a is b or not b.alive:
            return
        a.links[b.index] = b.links[a.index] = self.link.latency(self.rng)
        self._apply(a, a.router.add_peer(b.identity.peer_id, self.now, outbound=True))
        self._apply(b, b.router.add_peer(a.identity.peer_id, self.now))

    def _arrived(self, node: Replica, records: list[Record]) -> None:
        for r in records:
            node.arrivals.setdefault(r.key, self.now)

    # ---- running ----------------------------------------------------------------------------------

    def run_until(self, end: float) -> None:
        while self.heap and self.heap[0][0] <= end:
            t, _, kind, payload = heapq.heappop(self.heap)
            self.now = t
            if kind == _RPC:
                self._on_rpc(*payload)
            elif kind == _REQ:
                self._on_request(*payload)
            elif kind == _RESP:
                self._on_response(*payload)
            elif kind == _TICK:
                self._on_tick(self.nodes[payload])
            elif kind == _JOIN:
                self.join()
            elif kind == _LEAVE:
                self.leave()
            elif kind == _WRITE:
                self._write(payload)
        self.now = end

    def converged(self) -> bool:
        versions = [n.engine.store.version() for n in self.live()]
        return all(v == versions[0] for v in versions)

    def _now_ms(self) -> int:
        return EPOCH_MS + int(self.now * 1000)

    def _on_tick(self, node: Replica) -> None:
        if not node.alive:
            return
        self._apply(node, node.router.tick(self.now))
        if len(node.links) < self.degree // 2:  # the peer manager replaces links lost to churn
            others = [n for n in self.live() if n is not node and n.index not in node.links]
            for other in self.rng.sample(others, min(self.degree - len(node.links), len(others))):
                self._connect(node, other)
        was_cold = node.engine.cold
        peers = sorted(self.nodes[i].identity.peer_id for i in node.links)
        for ask in node.engine.tick(self.now, peers):
            self._send(node, _REQ, ask)
        if was_cold and not node.engine.cold:
            self.cold_starts.append(self.now - node.joined_at)
        self.schedule(min(node.router.next_deadline(), self.now + TICK_S), _TICK, node.index)

    def _write(self, value: int) -> None:
        live = self.live()
        node = live[self.rng.randrange(len(live))]
        body = {
            "domain": "ml",
            "task": f"task-{value % 3}",
            "metric": "val_loss",
            "unit": "nats",
            "direction": "min",
            "value": f"{self.rng.randrange(1, 10**6) / 1000:.3f}",
            "seeds": 3,
        }
        record = run_sync(make_record(node.identity.signer, "result", body, self._now_ms()))
        self.created[record.key] = self.now
        for out in run_sync(node.engine.write(node.identity.signer, [record])):
            self._publish(node, out)

    def _publish(self, node: Replica, out: Publish) -> None:
        node.seqno += 1
        unsigned = {
            "topic": STATE_TOPIC,
            "from": node.identity.peer_id,
            "seqno": node.seqno,
            "ts": self._now_ms(),
            "data": out.data,
        }
        sig = node.identity.signer.sign_now(signing_payload(unsigned))
        env = Envelope(STATE_TOPIC, node.identity.peer_id, node.seqno, unsigned["ts"], out.data, sig)
        self._apply(node, node.router.publish(env, self.now))

    def _apply(self, node: Replica, outputs: list[Any]) -> None:
        sends = []
        for out in outputs:
            if isinstance(out, Send):
                sends.append(out)
            elif isinstance(out, Validate):
                verdict = run_sync(
                    node.engine.on_gossip(out.envelope.sender, out.envelope.data, self._now_ms())
                )
                self.bytes_synced += len(out.envelope.data)
                self._apply(node, node.router.report_validation(out.msg_id, verdict, self.now))
            elif isinstance(out, Dial):
                other = self.by_peer.get(out.peer)
                if other is not None:
                    self._connect(node, self.nodes[other])
            elif isinstance(out, Deliver):
                pass  # the validator already imported the update
        for send in sorted(sends, key=lambda s: s.peer):  # routers emit in set order; loss draws must not
            self._send(node, _RPC, send)

    def _send(self, node: Replica, kind: int, out: Send | Ask | tuple[bytes, bytes]) -> None:
        peer = out.peer if isinstance(out, Send | Ask) else out[0]
        dst = self.by_peer[peer]
        latency = node.links.get(dst)
        if latency is None or self.rng.random() < self.link.loss:
            return
        data = out.rpc if isinstance(out, Send) else (out.data if isinstance(out, Ask) else out[1])
        self.schedule(self.now + latency, kind, (dst, node.index, data))

    def _linked(self, dst: int, src: int) -> Replica | None:
        node = self.nodes[dst]
        return node if node.alive and src in node.links else None

    def _on_rpc(self, dst: int, src: int, rpc: RPC) -> None:
        node = self._linked(dst, src)
        if node is not None:
            self._apply(node, node.router.receive(self.nodes[src].identity.peer_id, rpc, self.now))

    def _on_request(self, dst: int, src: int, data: bytes) -> None:
        node = self._linked(dst, src)
        if node is not None:
            answer = node.engine.on_request(self.nodes[src].identity.peer_id, data, self.now)
            self._send(node, _RESP, (self.nodes[src].identity.peer_id, answer))

    def _on_response(self, dst: int, src: int, data: bytes) -> None:
        node = self._linked(dst, src)
        if node is None:
            return
        self.bytes_synced += len(data)
        was_cold = node.engine.cold
        try:
            asks = run_sync(
                node.engine.on_response(self.nodes[src].identity.peer_id, data, self.now, self._now_ms())
            )
        except Rejected:
            asks = []
        if was_cold and not node.engine.cold:
            self.cold_starts.append(self.now - node.joined_at)
        for ask in asks:
            self._send(node, _REQ, ask)


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
) -> dict[str, Any]:
    """Run the timeline in the module docstring; returns measurements and the final simulation."""
    started = time.perf_counter()
    sim = StateSimulation(seed, LinkModel(median_latency_ms / 1000, loss=loss))
    for i in range(nodes):
        sim.schedule(warmup_s / 2 * i / nodes, _JOIN)
    sim.run_until(warmup_s)
    churned = round(churn * nodes)
    for _ in range(churned):
        sim.schedule(warmup_s + sim.rng.random() * write_s, _LEAVE)
        sim.schedule(warmup_s + sim.rng.random() * write_s, _JOIN)
    for i in range(records):
        sim.schedule(warmup_s + sim.rng.random() * write_s, _WRITE, i)
    end = warmup_s + write_s
    sim.run_until(end)
    while not sim.converged() and sim.now < end + max_drain_s:
        sim.run_until(sim.now + 0.5)
    live = sim.live()
    convergence = []
    for key, created in sim.created.items():
        # replicas that were up when the record was written; later joiners get it by cold start
        times = [n.arrivals.get(key) for n in live if n.joined_at <= created]
        if all(t is not None for t in times):
            convergence.append(max(times) - created)  # type: ignore[type-var]
    views = {repr(leaderboards(n.engine.store.all_records("results.ml"))) for n in live}
    return {
        "nodes": nodes,
        "churn": churn,
        "loss": loss,
        "records": len(sim.created),
        "converged": sim.converged(),
        "same_view": len(views) == 1,
        "records_everywhere": len(convergence),
        "convergence_s": {
            "p50": round(percentile(convergence, 50, 0.0), 3),
            "p99": round(percentile(convergence, 99, 0.0), 3),
            "max": round(max(convergence, default=0.0), 3),
        },
        "cold_start_s": {"p50": round(percentile(sim.cold_starts, 50, 0.0), 3), "n": len(sim.cold_starts)},
        "bytes_synced": sim.bytes_synced,
        "wall_s": round(time.perf_counter() - started, 2),
        "sim": sim,
    }
