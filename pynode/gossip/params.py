"""Router parameters, named and defaulted as in the libp2p GossipSub specification.

Spec: https://github.com/libp2p/specs/blob/master/pubsub/gossipsub/gossipsub-v1.0.md#parameters and
gossipsub-v1.1.md ("Peer Scoring", "Parameters"). Times are in seconds of the caller's clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pynode.wire.limits import FRESHNESS_WINDOW_MS


@dataclass(frozen=True)
class GossipParams:
    """The overlay parameters (v1.0 "Parameters", v1.1 "Explicit Peering"… "Flood Publishing")."""

    D: int = 6  # desired mesh degree
    D_lo: int = 4  # graft below this at heartbeat
    D_hi: int = 12  # prune above this at heartbeat
    D_lazy: int = 6  # minimum peers to emit IHAVE gossip to
    D_score: int = 4  # v1.1: peers kept by score when pruning an oversubscribed mesh
    D_out: int = 2  # v1.1: outbound connections kept in every mesh (eclipse resistance)
    heartbeat_interval: float = 1.0
    fanout_ttl: float = 60.0
    mcache_len: int = 5  # heartbeats a message stays in the message cache (served to IWANT)
    mcache_gossip: int = 3  # of those, heartbeats whose ids are advertised in IHAVE
    # go-libp2p remembers 120 s; ours covers the whole span a message stays fresh (from 30 s ahead of a receiver's
    # clock to 120 s behind it), so a replay is never delivered twice
    seen_ttl: float = FRESHNESS_WINDOW_MS / 1000
    # Not in the spec: seconds (of a message's age by its `ts`) it is kept for peers that subscribe later (told by
    # IHAVE, served to IWANT), and an own message published with no peer to take it is held for them. Half of
    # MAX_MESSAGE_AGE_MS, so a receiver whose clock runs up to 60 s ahead of ours still finds it fresh; 0: off
    history_ttl: float = 60.0
    prune_peers: int = 16  # v1.1 peer exchange: ids sent in one PRUNE
    prune_backoff: float = 60.0
    unsubscribe_backoff: float = 10.0
    graft_flood_threshold: float = 10.0  # a GRAFT this soon after our PRUNE costs an extra P7 penalty
    opportunistic_graft_ticks: int = 60
    opportunistic_graft_peers: int = 2
    gossip_factor: float = 0.25  # share of non-mesh peers receiving IHAVE, if more than D_lazy
    gossip_retransmission: int = 3  # times one peer may IWANT the same message (go-libp2p's default)
    max_ihave_length: int = 5000  # ids we advertise, and ask for, per peer per heartbeat
    max_ihave_messages: int = 10  # IHAVE RPCs we heed per peer per heartbeat
    iwant_followup_time: float = 3.0  # a promised message later than this is a broken promise (P7)
    flood_publish: bool = True


@dataclass(frozen=True)
class TopicScoreParams:
    """Per-topic score weights (v1.1 "Topic Parameter Calculation", P1–P4).

    P3 (mesh message delivery rate) is off by default: its threshold must match a topic's real message rate,
    or a quiet topic would make every mesh peer look like a free-rider.
    """

    topic_weight: float = 1.0
    # P1: time in mesh, counted in quanta up to a cap
    time_in_mesh_weight: float = 1.0 / 360
    time_in_mesh_quantum: float = 1.0
    time_in_mesh_cap: float = 3600.0
    # P2: first deliveries of valid messages
    first_message_deliveries_weight: float = 0.5
    first_message_deliveries_decay: float = 0.9
    first_message_deliveries_cap: float = 100.0
    # P3: mesh deliveries below a threshold are penalised quadratically once the peer is in the mesh long enough
    mesh_message_deliveries_weight: float = 0.0
    mesh_message_deliveries_decay: float = 0.9
    mesh_message_deliveries_cap: float = 100.0
    mesh_message_deliveries_threshold: float = 1.0
    mesh_message_deliveries_window: float = 0.01  # a duplicate this soon after validation still counts
    mesh_message_deliveries_activation: float = 5.0
    # P3b: the deficit a peer had when it left the mesh, remembered
    mesh_failure_penalty_weight: float = 0.0
    mesh_failure_penalty_decay: float = 0.9
    # P4: invalid messages, penalised quadratically
    invalid_message_deliveries_weight: float = -1.0
    invalid_message_deliveries_decay: float = 0.9


def _no_app_score(peer: bytes) -> float:
    return 0.0


@dataclass(frozen=True)
class PeerScoreParams:
    """The peer score function (v1.1 "The Score Function"): P1–P4 per topic, then P5–P7.

    `app_score` is P5 (the application's opinion of a peer); `peer_ip` feeds P6 (IP colocation) and may be
    None where the transport hides addresses (relay circuits).
    """

    topics: dict[str, TopicScoreParams] = field(default_factory=dict)
    default_topic: TopicScoreParams | None = field(default_factory=TopicScoreParams)  # topics not listed
    topic_score_cap: float = 0.0  # 0: no cap on the positive topic contribution
    app_score: Callable[[bytes], float] = _no_app_score
    app_specific_weight: float = 1.0
    peer_ip: Callable[[bytes], str | None] | None = None
    ip_colocation_factor_weight: float = -1.0
    ip_colocation_factor_threshold: float = 10.0
    behaviour_penalty_weight: float = -1.0
    behaviour_penalty_threshold: float = 1.0
    behaviour_penalty_decay: float = 0.9
    decay_interval: float = 1.0
    decay_to_zero: float = 0.01
    retain_score: float = (
        3600.0  # a disconnected peer's score is kept this long, so reconnecting won't reset it
    )

    def for_topic(self, topic: str) -> TopicScoreParams | None:
        return self.topics.get(topic, self.default_topic)


@dataclass(frozen=True)
class PeerScoreThresholds:
    """v1.1 "Score Thresholds": below each, a peer loses a privilege."""

    gossip_threshold: float = -10.0  # no IHAVE/IWANT exchanged with it
    publish_threshold: float = -50.0  # not flood-published to
    graylist_threshold: float = -80.0  # its RPCs are ignored entirely
    accept_px_threshold: float = 10.0  # its PRUNE peer exchange is followed
    opportunistic_graft_threshold: float = (
        1.0  # a mesh whose median score is below this gets better peers grafted
    )
