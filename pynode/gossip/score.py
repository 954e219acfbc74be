"""Peer scoring (GossipSub v1.1 "Peer Scoring"): the score of a peer is

    Σ_topics topic_weight · (w1·P1 + w2·P2 + w3·P3 + w3b·P3b + w4·P4)  (capped by topic_score_cap)
    + w5·P5 + w6·P6 + w7·P7

P1 time in mesh, P2 first message deliveries, P3 mesh message delivery deficit², P3b mesh failure penalty,
P4 invalid messages², P5 application score, P6 IP colocation surplus², P7 behaviour penalty excess².
Counters decay every `decay_interval`; a disconnected peer's counters are kept for `retain_score`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum

from pynode.gossip.limits import DELIVERY_RECORD_TTL
from pynode.gossip.params import PeerScoreParams, TopicScoreParams


class _Status(Enum):
    PENDING = 0
    VALID = 1
    INVALID = 2
    IGNORED = 3


@dataclass
class _Delivery:
    """First delivery of a message: its validation status and everyone who delivered it."""

    topic: str
    status: _Status = _Status.PENDING
    validated: float = 0.0
    peers: set[bytes] = field(default_factory=set)  # everyone who delivered it, first deliverer included


@dataclass
class _TopicStats:
    """A peer's counters for one topic (GossipSub v1.1 score parameters P1 to P4)."""

    in_mesh: bool = False
    graft_time: float = 0.0
    first_message_deliveries: float = 0.0
    mesh_message_deliveries: float = 0.0
    mesh_failure_penalty: float = 0.0
    invalid_message_deliveries: float = 0.0


@dataclass
class _PeerStats:
    """A peer's scoring state: its topic counters, behaviour penalty and address."""

    topics: dict[str, _TopicStats] = field(default_factory=dict)
    behaviour_penalty: float = 0.0
    ip: str | None = None
    connected: bool = True
    expire: float = 0.0  # when a disconnected peer's stats are forgotten

    def topic(self, topic: str) -> _TopicStats:
        stats = self.topics.get(topic)
        if stats is None:
            stats = self.topics[topic] = _TopicStats()
        return stats


def _mesh_deficit(tp: TopicScoreParams, ts: _TopicStats, now: float) -> float:
    """P3's deficit, counted only once the peer has been in the mesh for the activation window."""
    if not ts.in_mesh or now - ts.graft_time < tp.mesh_message_deliveries_activation:
        return 0.0
    return max(0.0, tp.mesh_message_deliveries_threshold - ts.mesh_message_deliveries)


class PeerScore:
    def __init__(self, params: PeerScoreParams) -> None:
        self.params = params
        self._peers: dict[bytes, _PeerStats] = {}
        self._ips: dict[str, set[bytes]] = {}
        self._deliveries: dict[bytes, _Delivery] = {}
        self._delivery_expiry: deque[tuple[float, bytes]] = deque()
        self._last_decay = 0.0

    # -- peers and mesh membership --

    def add_peer(self, peer: bytes) -> None:
        stats = self._peers.get(peer)
        if stats is None:
            stats = self._peers[peer] = _PeerStats()
        stats.connected = True
        if self.params.peer_ip is not None:
            stats.ip = self.params.peer_ip(peer)
            if stats.ip is not None:
                self._ips.setdefault(stats.ip, set()).add(peer)

    def remove_peer(self, peer: bytes, now: float) -> None:
        stats = self._peers.get(peer)
        if stats is None:
            return
        for topic, ts in stats.topics.items():
            if ts.in_mesh:
                self.prune(peer, topic, now)
        if stats.ip is not None:
            self._ips.get(stats.ip, set()).discard(peer)
        stats.connected = False
        stats.expire = now + self.params.retain_score

    def graft(self, peer: bytes, topic: str, now: float) -> None:
        stats = self._peers.get(peer)
        if stats is not None:
            ts = stats.topic(topic)
            ts.in_mesh, ts.graft_time, ts.mesh_message_deliveries = True, now, 0.0

    def prune(self, peer: bytes, topic: str, now: float) -> None:
        stats = self._peers.get(peer)
        tp = self.params.for_topic(topic)
        if stats is None or topic not in stats.topics:
            return
        ts = stats.topics[topic]
        if tp is not None:
            # P3b: a peer that leaves the mesh with a delivery deficit keeps it as a sticky penalty
            ts.mesh_failure_penalty += _mesh_deficit(tp, ts, now) ** 2
        ts.in_mesh = False

    def add_penalty(self, peer: bytes, count: float = 1.0) -> None:
        stats = self._peers.get(peer)
        if stats is not None:
            stats.behaviour_penalty += count

    # -- message deliveries (P2, P3, P4) --

    def validate_message(self, peer: bytes, msg_id: bytes, topic: str, now: float) -> None:
        """A new message arrived from `peer` and awaits validation."""
        self._deliveries[msg_id] = _Delivery(topic, peers={peer})
        self._delivery_expiry.append((now + DELIVERY_RECORD_TTL, msg_id))

    def deliver_message(self, first: bytes, msg_id: bytes, now: float) -> None:
        d = self._deliveries.get(msg_id)
        if d is None or d.status is not _Status.PENDING:
            return
        d.status, d.validated = _Status.VALID, now
        tp = self.params.for_topic(d.topic)
        if tp is None:
            return
        self._count_first(first, d.topic, tp)
        # duplicates that arrived while we validated were forwarded promptly too: they count for P3
        for peer in d.peers:
            self._count_mesh(peer, d.topic, tp)

    def reject_message(self, msg_id: bytes) -> None:
        d = self._deliveries.get(msg_id)
        if d is None or d.status is not _Status.PENDING:
            return
        d.status = _Status.INVALID
        for peer in d.peers:
            self._count_invalid(peer, d.topic)

    def ignore_message(self, msg_id: bytes) -> None:
        d = self._deliveries.get(msg_id)
        if d is not None and d.status is _Status.PENDING:
            d.status = _Status.IGNORED

    def duplicate_message(self, peer: bytes, msg_id: bytes, now: float) -> None:
        d = self._deliveries.get(msg_id)
        if d is None or peer in d.peers:
            return
        d.peers.add(peer)
        tp = self.params.for_topic(d.topic)
        if (
            d.status is _Status.VALID
            and tp is not None
            and now - d.validated <= tp.mesh_message_deliveries_window
        ):
            self._count_mesh(peer, d.topic, tp)
        elif d.status is _Status.INVALID:
            self._count_invalid(peer, d.topic)

    def _count_first(self, peer: bytes, topic: str, tp: TopicScoreParams) -> None:
        stats = self._peers.get(peer)
        if stats is not None:
            ts = stats.topic(topic)
            ts.first_message_deliveries = min(
                ts.first_message_deliveries + 1, tp.first_message_deliveries_cap
            )

    def _count_mesh(self, peer: bytes, topic: str, tp: TopicScoreParams) -> None:
        stats = self._peers.get(peer)
        if stats is not None and topic in stats.topics and stats.topics[topic].in_mesh:
            ts = stats.topics[topic]
            ts.mesh_message_deliveries = min(ts.mesh_message_deliveries + 1, tp.mesh_message_deliveries_cap)

    def _count_invalid(self, peer: bytes, topic: str) -> None:
        stats = self._peers.get(peer)
        if stats is not None:
            stats.topic(topic).invalid_message_deliveries += 1

    # -- the score and its decay --

    def score(self, peer: bytes, now: float) -> float:
        stats = self._peers.get(peer)
        if stats is None:
            return 0.0
        p = self.params
        total = 0.0
        for topic, ts in stats.topics.items():
            tp = p.for_topic(topic)
            if tp is None:
                continue
            s = 0.0
            if ts.in_mesh:
                p1 = min((now - ts.graft_time) / tp.time_in_mesh_quantum, tp.time_in_mesh_cap)
                s += p1 * tp.time_in_mesh_weight
            s += ts.first_message_deliveries * tp.first_message_deliveries_weight
            s += _mesh_deficit(tp, ts, now) ** 2 * tp.mesh_message_deliveries_weight
            s += ts.mesh_failure_penalty * tp.mesh_failure_penalty_weight
            s += ts.invalid_message_deliveries**2 * tp.invalid_message_deliveries_weight
            total += s * tp.topic_weight
        if p.topic_score_cap > 0:
            total = min(total, p.topic_score_cap)
        total += p.app_score(peer) * p.app_specific_weight
        if stats.ip is not None:
            surplus = len(self._ips.get(stats.ip, ())) - p.ip_colocation_factor_threshold
            if surplus > 0:
                total += surplus**2 * p.ip_colocation_factor_weight
        excess = stats.behaviour_penalty - p.behaviour_penalty_threshold
        if excess > 0:
            total += excess**2 * p.behaviour_penalty_weight
        return total

    def decay(self, now: float) -> None:
        """Run at heartbeat; decays counters once per `decay_interval` and forgets what has expired."""
        if now - self._last_decay < self.params.decay_interval:
            return
        self._last_decay = now
        p = self.params
        zero = p.decay_to_zero

        def decayed(value: float, factor: float) -> float:
            value *= factor
            return 0.0 if value < zero else value

        for peer, stats in list(self._peers.items()):
            if not stats.connected and stats.expire < now:
                del self._peers[peer]
                continue
            for topic, ts in stats.topics.items():
                tp = p.for_topic(topic)
                if tp is None:
                    continue
                ts.first_message_deliveries = decayed(
                    ts.first_message_deliveries, tp.first_message_deliveries_decay
                )
                ts.mesh_message_deliveries = decayed(
                    ts.mesh_message_deliveries, tp.mesh_message_deliveries_decay
                )
                ts.mesh_failure_penalty = decayed(ts.mesh_failure_penalty, tp.mesh_failure_penalty_decay)
                ts.invalid_message_deliveries = decayed(
                    ts.invalid_message_deliveries, tp.invalid_message_deliveries_decay
                )
            stats.behaviour_penalty = decayed(stats.behaviour_penalty, p.behaviour_penalty_decay)
        while self._delivery_expiry and self._delivery_expiry[0][0] < now:
            self._deliveries.pop(self._delivery_expiry.popleft()[1], None)
