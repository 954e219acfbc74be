"""Gossip dissemination: many GossipSub routers in one topic under latency, loss and churn.

Validation is an immediate ACCEPT (the scenario measures dissemination, not signatures), so envelopes carry a
dummy signature.

Timeline: nodes join during the first half of the warm-up; then `messages` are published at random times
across the publish window while `churn` × nodes leave and as many new nodes join; a drain period lets the
last messages settle. Delivery is measured on the nodes that were up for the whole run.
"""

from __future__ import annotations

import time
from typing import Any

from pynode.gossip.events import Validate, ValidationResult
from pynode.gossip.params import GossipParams, PeerScoreParams
from pynode.gossip.rpc import RPC
from pynode.sim.link import LinkModel
from pynode.sim.mesh import Mesh
from pynode.stats import percentile
from pynode.wire.envelope import Envelope

DUMMY_SIG = bytes(64)


class GossipSimulation:
    def __init__(
        self,
        seed: int,
        topic: str,
        link: LinkModel,
        params: GossipParams,
        degree: int,
        score_params: PeerScoreParams | None = None,
    ) -> None:
        self.mesh = Mesh(seed, link, degree, params, self._validate, score_params, observe=self._observe)
        self.kernel = self.mesh.kernel
        self.topic = topic
        self.stable: list[bool] = []  # per node: up for the whole run, the nodes delivery is measured on
        self.got: list[
            dict[bytes, tuple[int, float]]
        ] = []  # per node: msg id -> (hops, time) of first receipt
        self.published_at: dict[bytes, float] = {}
        self.duplicates = 0
        self.first_receipts = 0

    def join(self, stable: bool) -> int:
        kernel = self.kernel
        index = self.mesh.add(len(self.stable).to_bytes(32, "big"))  # the index, as a peer id
        self.stable.append(stable)
        self.got.append({})
        self.mesh.apply(index, self.mesh.routers[index].subscribe(self.topic, kernel.now))
        kernel.join(index)
        # heartbeats are staggered so the network does not pulse in lockstep
        kernel.at(kernel.now + kernel.rng.random() * self.mesh.params.heartbeat_interval, self._tick, index)
        return index

    def leave(self) -> None:
        index = self.kernel.pick_live()
        self.stable[index] = False
        self.kernel.leave(index)

    def publish(self, seqno: int) -> None:
        now = self.kernel.now
        index = self.kernel.pick_live()
        peer_id = self.mesh.peer_ids[index]
        env = Envelope(self.topic, peer_id, seqno, int(now * 1000), seqno.to_bytes(8, "big"), DUMMY_SIG)
        self.published_at[env.msg_id] = now
        self.got[index][env.msg_id] = (0, now)
        self.mesh.apply(index, self.mesh.routers[index].publish(env, now))

    def _tick(self, index: int) -> None:
        if self.kernel.alive[index]:
            self.mesh.tick(index)
            self.kernel.at(self.mesh.routers[index].next_deadline(), self._tick, index)

    def _observe(self, dst: int, src: int, rpc: RPC) -> None:
        got = self.got[dst]
        for env in rpc.msgs:
            if env.msg_id in got:
                self.duplicates += 1

    def _validate(self, index: int, out: Validate, src: int | None) -> ValidationResult:
        got = self.got[index]
        if out.msg_id not in got:
            self.first_receipts += 1
            src_got = self.got[src] if src is not None else {}
            hops = src_got[out.msg_id][0] + 1 if out.msg_id in src_got else 1
            got[out.msg_id] = (hops, self.kernel.now)
        return ValidationResult.ACCEPT

    def measure(self) -> dict[str, Any]:
        received = 0
        hop_counts: list[float] = []
        latencies: list[float] = []
        stable = [i for i, s in enumerate(self.stable) if s]
        for i in stable:
            got = self.got[i]
            received += len(got)
            for mid, (h, t) in got.items():
                if h > 0:  # the publisher's own copy is no hop
                    hop_counts.append(h)
                    latencies.append((t - self.published_at[mid]) * 1000)
        expected = len(self.published_at) * len(stable)
        return {
            "messages": len(self.published_at),
            "delivery_ratio": round(received / expected, 6) if expected else 0.0,
            "hops": {"p50": percentile(hop_counts, 50, 0.0), "p99": percentile(hop_counts, 99, 0.0)},
            "latency_ms": {
                "p50": round(percentile(latencies, 50, 0.0), 1),
                "p99": round(percentile(latencies, 99, 0.0), 1),
            },
            "duplicates_per_msg_per_node": round(self.duplicates / self.first_receipts, 3)
            if self.first_receipts
            else 0.0,
        }


def run_simulation(
    nodes: int = 1000,
    messages: int = 100,
    loss: float = 0.1,
    churn: float = 0.2,
    seed: int = 1,
    topic: str = "hs/1/sim",
    warmup_s: float = 10.0,
    publish_s: float = 20.0,
    drain_s: float = 5.0,
    degree: int = 8,
    median_latency_ms: float = 40.0,
    params: GossipParams | None = None,
    score_params: PeerScoreParams | None = None,
) -> dict[str, Any]:
    """Simulate `nodes` routers in one topic and measure how `messages` spread; see the module docstring."""
    started = time.perf_counter()
    link = LinkModel(median_latency_ms / 1000, loss=loss)
    sim = GossipSimulation(seed, topic, link, params or GossipParams(), degree, score_params)
    kernel = sim.kernel
    join_s = warmup_s / 2
    for i in range(nodes):
        kernel.at(join_s * i / nodes, sim.join, True)
    kernel.run_until(warmup_s)
    # from here on, joiners are churn: not up for the whole run, so not measured
    rng = kernel.rng
    for _ in range(round(churn * nodes)):
        kernel.at(warmup_s + rng.random() * publish_s, sim.leave)
        kernel.at(warmup_s + rng.random() * publish_s, sim.join, False)
    for seqno in range(messages):
        kernel.at(warmup_s + rng.random() * publish_s, sim.publish, seqno)
    kernel.run_until(warmup_s + publish_s + drain_s)
    return {"nodes": nodes, **sim.measure(), "wall_s": round(time.perf_counter() - started, 2)}
