"""A sans-IO GossipSub v1.1 router (libp2p specs: pubsub/gossipsub/gossipsub-v1.0.md and -v1.1.md).

The router never reads a clock or touches a socket: every input carries `now` (seconds) and every method
returns the outputs (`Send`, `Validate`, `Deliver`, `Dial`) for the runtime to carry out. The runtime verifies
signatures and timestamps when it sees `Validate`, then calls `report_validation`.

Without `score_params` every peer scores 0 and the score thresholds are moot (as in go-libp2p-pubsub).

Beyond the spec, for peers that arrive late (PROTOCOL.md §5.3, "Late joiners"): an own message published while
no peer could take it is held and pushed to the first peers that subscribe, and a peer that subscribes to a topic
is told (IHAVE, once per connection) of the topic's messages of the last `history_ttl` seconds.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Callable, Collection, KeysView
from dataclasses import dataclass

from pynode.gossip.events import Deliver, Dial, Output, Send, Validate, ValidationResult
from pynode.gossip.history import Held, History
from pynode.gossip.limits import (
    HISTORY_IHAVE_IDS,
    MAX_HELD_BYTES,
    MAX_HELD_MESSAGES,
    MAX_HISTORY_BYTES,
    MAX_HISTORY_MESSAGES,
    MAX_HISTORY_SERVE_BYTES,
    MAX_IWANT_BYTES,
    MAX_TOPICS_PER_PEER,
)
from pynode.gossip.mcache import MessageCache
from pynode.gossip.params import GossipParams, PeerScoreParams, PeerScoreThresholds
from pynode.gossip.rpc import RPC, Prune, SubOpt, split
from pynode.gossip.score import PeerScore
from pynode.wire.envelope import Envelope
from pynode.wire.limits import MAX_MESSAGE_AGE_MS

DEFAULT_PARAMS = GossipParams()
DEFAULT_THRESHOLDS = PeerScoreThresholds()  # both frozen, so one shared default is safe


@dataclass(slots=True)
class _Pending:
    """A message handed out for validation."""

    envelope: Envelope
    source: bytes
    also: set[bytes] | None = None  # peers that sent it again meanwhile: they need no copy from us


class _Outbox:
    """Everything one call produces, with each peer's items merged into one RPC."""

    __slots__ = ("events", "rpcs")

    def __init__(self) -> None:
        self.events: list[Output] = []
        self.rpcs: dict[bytes, RPC] = {}

    def to(self, peer: bytes) -> RPC:
        rpc = self.rpcs.get(peer)
        if rpc is None:
            rpc = self.rpcs[peer] = RPC()
        return rpc

    def outputs(self) -> list[Output]:
        out = self.events
        for peer, rpc in self.rpcs.items():
            if rpc:
                out.extend(Send(peer, part) for part in split(rpc))
        return out


class Router:
    """One node's GossipSub state: peers and their topics, mesh and fanout, seen and message caches, scores.

    Inputs: add_peer / remove_peer, subscribe / unsubscribe, publish, receive, report_validation, tick.
    `mesh`, `fanout` and `counters` are public for dashboards and tests; treat them as read-only.
    """

    def __init__(
        self,
        local: bytes,
        params: GossipParams = DEFAULT_PARAMS,
        score_params: PeerScoreParams | None = None,
        thresholds: PeerScoreThresholds = DEFAULT_THRESHOLDS,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 <= params.history_ttl <= MAX_MESSAGE_AGE_MS / 1000:
            raise ValueError("history_ttl must be within the message age receivers accept")
        self.local = local
        self.params = params
        self.thresholds = thresholds
        self._rng = rng or random.Random()
        self._score = PeerScore(score_params) if score_params is not None else None
        self.counters: Counter[str] = Counter()
        self.mesh: dict[str, set[bytes]] = {}  # our subscriptions, each with its mesh peers
        self.fanout: dict[str, set[bytes]] = {}  # topics we publish to without subscribing
        self._fanout_last_pub: dict[str, float] = {}
        self._peers: dict[bytes, set[str]] = {}  # connected peer -> its subscriptions
        self._outbound: set[bytes] = set()
        self._topic_peers: dict[str, set[bytes]] = {}
        self._backoff: dict[str, dict[bytes, float]] = {}  # topic -> peer -> no GRAFT before this time
        self._seen: set[bytes] = set()
        self._seen_expiry: deque[tuple[float, bytes]] = deque()
        self._pending: dict[bytes, _Pending] = {}
        self.mcache = MessageCache(params.mcache_len, params.mcache_gossip)
        self.history = History(params.history_ttl, MAX_HISTORY_MESSAGES, MAX_HISTORY_BYTES)
        self.held = Held(params.history_ttl, MAX_HELD_MESSAGES, MAX_HELD_BYTES, params.D)
        self._told: dict[bytes, set[str]] = {}  # topics whose history each peer was told of, this connection
        self._transmissions: dict[bytes, dict[bytes, int]] = {}  # msg id -> peer -> times served to IWANT
        self._history_served = 0  # bytes sent from the history to all peers this heartbeat
        self._peerhave: dict[bytes, int] = {}  # IHAVEs heeded from each peer this heartbeat
        self._iasked: dict[bytes, int] = {}  # ids asked of each peer this heartbeat
        self._iserved: dict[bytes, int] = {}  # bytes sent to each peer in answer to IWANT this heartbeat
        self._promises: dict[bytes, dict[bytes, float]] = {}  # msg id -> peer -> deadline (P7)
        self._heartbeats = 0
        self._next_heartbeat = 0.0

    # -- read-only views --

    @property
    def peers(self) -> KeysView[bytes]:
        return self._peers.keys()

    def topics_of(self, peer: bytes) -> frozenset[str]:
        return frozenset(self._peers.get(peer, ()))

    def score(self, peer: bytes, now: float) -> float:
        return self._score.score(peer, now) if self._score is not None else 0.0

    def next_deadline(self) -> float:
        return self._next_heartbeat

    # -- peers and subscriptions --

    def add_peer(self, peer: bytes, now: float, outbound: bool = False) -> list[Output]:
        if peer == self.local or peer in self._peers:
            return []
        self._peers[peer] = set()
        if outbound:
            self._outbound.add(peer)
        if self._score is not None:
            self._score.add_peer(peer)
        if not self.mesh:
            return []
        return [Send(peer, part) for part in split(RPC(subs=[SubOpt(True, t) for t in sorted(self.mesh)]))]

    def remove_peer(self, peer: bytes, now: float) -> list[Output]:
        topics = self._peers.pop(peer, None)
        if topics is None:
            return []
        for topic in topics:
            self._topic_peers[topic].discard(peer)
            if not self._topic_peers[topic]:
                del self._topic_peers[topic]
        for peers in self.mesh.values():
            peers.discard(peer)
        for peers in self.fanout.values():
            peers.discard(peer)
        self._outbound.discard(peer)
        self._told.pop(peer, None)
        self._peerhave.pop(peer, None)
        self._iasked.pop(peer, None)
        # _iserved is kept until the heartbeat clears it: reconnecting must not renew the IWANT byte budget
        if self._score is not None:
            self._score.remove_peer(peer, now)
        return []

    def subscribe(self, topic: str, now: float) -> list[Output]:
        """Join (v1.0 "Mesh Maintenance", JOIN): fanout peers first, then others not in backoff."""
        if topic in self.mesh:
            return []
        out = _Outbox()
        peers = {p for p in self.fanout.pop(topic, ()) if self.score(p, now) >= 0}
        self._fanout_last_pub.pop(topic, None)
        if len(peers) < self.params.D:
            candidates = [
                p
                for p in self._topic_peers.get(topic, ())
                if p not in peers and self._may_graft(topic, p, now) and self.score(p, now) >= 0
            ]
            peers.update(self._sample(candidates, self.params.D - len(peers)))
        self.mesh[topic] = set()
        for p in peers:
            self._graft(topic, p, now, out)
        for p in self._peers:
            out.to(p).subs.append(SubOpt(True, topic))
        return out.outputs()

    def unsubscribe(self, topic: str, now: float) -> list[Output]:
        """Leave (LEAVE): PRUNE the mesh with the shorter unsubscribe backoff, then announce."""
        peers = self.mesh.pop(topic, None)
        if peers is None:
            return []
        out = _Outbox()
        for p in peers:
            if self._score is not None:
                self._score.prune(p, topic, now)
            out.to(p).prune.append(
                self._make_prune(p, topic, now, px=True, backoff=self.params.unsubscribe_backoff)
            )
        for p in self._peers:
            out.to(p).subs.append(SubOpt(False, topic))
        return out.outputs()

    # -- messages --

    def publish(self, env: Envelope, now: float) -> list[Output]:
        """Send our own signed message (v1.1 "Flood Publishing": to every topic peer above publish_threshold)."""
        mid = env.msg_id
        if mid in self._seen:
            self.counters["publish_duplicate"] += 1
            return []
        self._mark_seen(mid, now)
        self.mcache.put(env)
        self.history.put(env, now, 0.0)
        topic = env.topic
        publish_ok = self.thresholds.publish_threshold
        if self.params.flood_publish:
            targets: Collection[bytes] = [
                p for p in self._topic_peers.get(topic, ()) if self.score(p, now) >= publish_ok
            ]
        elif topic in self.mesh:
            targets = self.mesh[topic]
        else:
            targets = self.fanout.get(topic) or set()
            if not targets:
                candidates = [p for p in self._topic_peers.get(topic, ()) if self.score(p, now) >= publish_ok]
                targets = set(self._sample(candidates, self.params.D))
                if targets:
                    self.fanout[topic] = targets
            self._fanout_last_pub[topic] = now
        self.counters["published"] += 1
        if not targets:
            self.counters["published_held"] += 1
            self.counters["held_dropped"] += self.held.hold(env, now)
            return []
        rpc = RPC(msgs=[env])
        return [Send(p, rpc) for p in targets]

    def restore_own(self, env: Envelope, now: float, age: float) -> None:
        """One of our messages, `age` seconds old, from before a restart (runtime/sent.py): kept for new peers
        to be told of, and held for the first ones that subscribe — its first sending may have died with us."""
        if env.msg_id in self._seen or age >= self.params.history_ttl:
            return
        self._mark_seen(env.msg_id, now)
        self.history.put(env, now, age)
        self.counters["restored"] += 1
        self.counters["held_dropped"] += self.held.hold(env, now, age)

    def receive(self, peer: bytes, rpc: RPC, now: float) -> list[Output]:
        if peer not in self._peers:
            self.counters["rpc_unknown_peer"] += 1
            return []
        if self._score is not None and self._score.score(peer, now) < self.thresholds.graylist_threshold:
            self.counters["rpc_ignored_graylisted"] += 1
            return []
        out = _Outbox()
        for sub in rpc.subs:
            self._handle_subscription(peer, sub, now, out)
        for env in rpc.msgs:
            self._handle_message(peer, env, now, out)
        if rpc.ihave:
            self._handle_ihave(peer, rpc.ihave, now, out)
        if rpc.iwant:
            self._handle_iwant(peer, rpc.iwant, now, out)
        for topic in rpc.graft:
            self._handle_graft(peer, topic, now, out)
        for prune in rpc.prune:
            self._handle_prune(peer, prune, now, out)
        return out.outputs()

    def report_validation(
        self, msg_id: bytes, result: ValidationResult, now: float, age: float | None = None
    ) -> list[Output]:
        """The runtime's verdict on a `Validate`; `age` is the envelope's age by its `ts` (the runtime's clock),
        without which an accepted message is not kept for late joiners (it might be close to going stale)."""
        pending = self._pending.pop(msg_id, None)
        if pending is None:
            return []  # unknown, or expired with the seen cache
        if result is ValidationResult.REJECT:
            self.counters["msg_rejected"] += 1
            if self._score is not None:
                self._score.reject_message(msg_id)
            return []
        if result is ValidationResult.IGNORE:
            self.counters["msg_ignored"] += 1
            if self._score is not None:
                self._score.ignore_message(msg_id)
            return []
        env, source = pending.envelope, pending.source
        if self._score is not None:
            self._score.deliver_message(source, msg_id, now)
        self.mcache.put(env)
        if age is not None:
            self.history.put(env, now, age)
        self.counters["msg_delivered"] += 1
        out: list[Output] = []
        topic = env.topic
        if topic in self.mesh:
            out.append(Deliver(env, source))
        targets = self.mesh.get(topic) or self.fanout.get(topic) or ()
        rpc = RPC(msgs=[env])
        skip = pending.also
        for p in targets:
            if p != source and p != env.sender and (skip is None or p not in skip):
                out.append(Send(p, rpc))
        return out

    # -- RPC parts --

    def _handle_subscription(self, peer: bytes, sub: SubOpt, now: float, out: _Outbox) -> None:
        topics = self._peers[peer]
        topic = sub.topic
        if sub.subscribe:
            if topic in topics:
                return
            if len(topics) >= MAX_TOPICS_PER_PEER:
                self.counters["subscription_over_limit"] += 1
                return
            topics.add(topic)
            self._topic_peers.setdefault(topic, set()).add(peer)
            self._catch_up(peer, topic, now, out)
        elif topic in topics:
            topics.discard(topic)
            self._topic_peers[topic].discard(peer)
            if not self._topic_peers[topic]:
                del self._topic_peers[topic]
            if peer in self.mesh.get(topic, ()):
                self.mesh[topic].discard(peer)
                if self._score is not None:
                    self._score.prune(peer, topic, now)
            self.fanout.get(topic, set()).discard(peer)

    def _catch_up(self, peer: bytes, topic: str, now: float, out: _Outbox) -> None:
        """A peer just subscribed: push it our held messages, and tell it (once per connection) what we have."""
        score = self.score(peer, now)
        pushed: list[Envelope] = []
        if score >= self.thresholds.publish_threshold:
            pushed = self.held.take(topic, peer)
            if pushed:
                self.counters["held_pushed"] += len(pushed)
                out.to(peer).msgs.extend(pushed)
        told = self._told.setdefault(peer, set())
        if topic in told or score < self.thresholds.gossip_threshold:
            return
        told.add(topic)
        skip = {e.msg_id for e in pushed}
        ids = [mid for mid in self.history.ids(topic, HISTORY_IHAVE_IDS) if mid not in skip]
        if ids:
            self.counters["history_told"] += len(ids)
            out.to(peer).ihave.append((topic, ids))

    def _handle_message(self, peer: bytes, env: Envelope, now: float, out: _Outbox) -> None:
        topic = env.topic
        if topic not in self.mesh:
            self.counters["msg_unsubscribed"] += 1  # we relay only topics we are in, as go-libp2p does
            return
        mid = env.msg_id
        if mid in self._seen:
            self.counters["msg_duplicate"] += 1
            if self._score is not None:
                self._score.duplicate_message(peer, mid, now)
            pending = self._pending.get(mid)
            if pending is not None:
                if pending.also is None:
                    pending.also = set()
                pending.also.add(peer)
            return
        self._mark_seen(mid, now)
        if self._promises:
            self._promises.pop(mid, None)
        if self._score is not None:
            self._score.validate_message(peer, mid, topic, now)
        self._pending[mid] = _Pending(env, peer)
        out.events.append(Validate(mid, env, peer))

    def _handle_ihave(
        self, peer: bytes, ihave: list[tuple[str, list[bytes]]], now: float, out: _Outbox
    ) -> None:
        """v1.1 "Spam Protection": heed few IHAVEs per heartbeat, ask for few ids, remember one promise."""
        p = self.params
        if self.score(peer, now) < self.thresholds.gossip_threshold:
            self.counters["ihave_ignored_score"] += 1
            return
        heeded = self._peerhave[peer] = self._peerhave.get(peer, 0) + 1
        asked = self._iasked.get(peer, 0)
        if heeded > p.max_ihave_messages or asked >= p.max_ihave_length:
            self.counters["ihave_over_limit"] += 1
            return
        want: dict[bytes, None] = {}
        for topic, ids in ihave:
            if topic in self.mesh:
                for mid in ids:
                    if mid not in self._seen:
                        want[mid] = None
        if not want:
            return
        wanted = list(want)
        room = p.max_ihave_length - asked
        if len(wanted) > room:
            self._rng.shuffle(wanted)
            del wanted[room:]
        self._iasked[peer] = asked + len(wanted)
        if self._score is not None:
            # one random id per request, as go-libp2p does: a peer that breaks it is penalised once
            promise = self._rng.choice(wanted)
            self._promises.setdefault(promise, {}).setdefault(peer, now + p.iwant_followup_time)
        out.to(peer).iwant.extend(wanted)

    def _handle_iwant(self, peer: bytes, ids: list[bytes], now: float, out: _Outbox) -> None:
        if self.score(peer, now) < self.thresholds.gossip_threshold:
            self.counters["iwant_ignored_score"] += 1
            return
        served = self._iserved.get(peer, 0)
        for mid in ids:
            env = self.mcache.get(mid)
            old = env is None  # from the history: every peer's answers together have a budget too
            if old:
                env = self.history.get(mid)
                if env is None:
                    self.counters["iwant_missing"] += 1
                    continue
            size = len(env.data)
            if served + size > MAX_IWANT_BYTES or (
                old and self._history_served + size > MAX_HISTORY_SERVE_BYTES
            ):
                # not counted as a transmission: asked again at a later heartbeat, it is served then
                self.counters["iwant_over_budget"] += 1
                continue
            counts = self._transmissions.setdefault(mid, {})
            count = counts[peer] = counts.get(peer, 0) + 1
            if count > self.params.gossip_retransmission:
                self.counters["iwant_over_retransmission"] += 1
                continue
            served += size
            if old:
                self._history_served += size
                self.counters["iwant_served_history"] += 1
            self.counters["iwant_served"] += 1
            out.to(peer).msgs.append(env)
        self._iserved[peer] = served

    def _handle_graft(self, peer: bytes, topic: str, now: float, out: _Outbox) -> None:
        """v1.1 "GRAFT/PRUNE" with backoff: refuse during backoff (and penalise), when full, or when scored low."""
        peers = self.mesh.get(topic)
        if peers is None:
            self.counters["graft_unsubscribed"] += 1  # spam hardening: no answer for topics we are not in
            return
        if peer in peers:
            return
        until = self._backoff.get(topic, {}).get(peer)
        if until is not None and now < until:
            self.counters["graft_backoff_violation"] += 1
            if self._score is not None:
                self._score.add_penalty(peer, 1)
                # "GRAFT flood": this soon after our PRUNE it is no clock skew, so it costs double
                if now < until - self.params.prune_backoff + self.params.graft_flood_threshold:
                    self._score.add_penalty(peer, 1)
            out.to(peer).prune.append(self._make_prune(peer, topic, now, px=False))
            return
        if self.score(peer, now) < 0:
            self.counters["graft_refused_score"] += 1
            out.to(peer).prune.append(self._make_prune(peer, topic, now, px=False))
            return
        # v1.1: outbound peers are accepted even into a full mesh, so an attacker cannot crowd them out
        if len(peers) >= self.params.D_hi and peer not in self._outbound:
            self.counters["graft_refused_full"] += 1
            out.to(peer).prune.append(self._make_prune(peer, topic, now, px=True))
            return
        peers.add(peer)
        if self._score is not None:
            self._score.graft(peer, topic, now)
        self._tell_recent(topic, peer, out)

    def _handle_prune(self, peer: bytes, prune: Prune, now: float, out: _Outbox) -> None:
        topic = prune.topic
        peers = self.mesh.get(topic)
        if peers is None:
            return  # as with GRAFT: no state, not even a backoff, for topics we are not in
        if peer in peers:
            peers.discard(peer)
            if self._score is not None:
                self._score.prune(peer, topic, now)
        self._add_backoff(topic, peer, now + (prune.backoff or self.params.prune_backoff))
        if not prune.px:
            return
        # v1.1 "Peer Exchange": follow PX only from peers we have reason to trust
        if self._score is not None and self._score.score(peer, now) < self.thresholds.accept_px_threshold:
            self.counters["px_ignored_score"] += 1
            return
        for p in prune.px[: self.params.prune_peers]:
            if p != self.local and p not in self._peers:
                out.events.append(Dial(p))

    # -- heartbeat --

    def tick(self, now: float) -> list[Output]:
        if now < self._next_heartbeat:
            return []
        self._next_heartbeat = now + self.params.heartbeat_interval
        return self._heartbeat(now)

    def _heartbeat(self, now: float) -> list[Output]:
        self._heartbeats += 1
        out = _Outbox()
        self._peerhave.clear()
        self._iasked.clear()
        self._iserved.clear()
        self._history_served = 0
        if self._score is not None:
            self._apply_broken_promises(now)
            cache: dict[bytes, float] = {}
            score = self._score

            def score_of(p: bytes) -> float:
                s = cache.get(p)
                if s is None:
                    s = cache[p] = score.score(p, now)
                return s

        else:

            def score_of(p: bytes) -> float:
                return 0.0

        self._expire_backoffs(now)
        for topic, peers in self.mesh.items():
            self._maintain_mesh(topic, peers, now, out, score_of)
        self._maintain_fanout(now, score_of)
        self._emit_gossip(out, score_of)
        self._push_held(now, out, score_of)
        self.mcache.shift()
        self.history.expire(now)
        while self._seen_expiry and self._seen_expiry[0][0] < now:
            mid = self._seen_expiry.popleft()[1]
            self._seen.discard(mid)
            self._pending.pop(mid, None)
            # counts outlive the history: one cannot reset while its message is still served
            self._transmissions.pop(mid, None)
        if self._score is not None:
            self._score.decay(now)
        return out.outputs()

    def _maintain_mesh(
        self, topic: str, peers: set[bytes], now: float, out: _Outbox, score_of: Callable[[bytes], float]
    ) -> None:
        p = self.params
        if self._score is not None:
            for q in [q for q in peers if score_of(q) < 0]:
                self.counters["mesh_pruned_score"] += 1
                self._prune(topic, q, now, out, px=False)
        if len(peers) < p.D_lo:
            candidates = [
                q
                for q in self._topic_peers.get(topic, ())
                if q not in peers and self._may_graft(topic, q, now) and score_of(q) >= 0
            ]
            for q in self._sample(candidates, p.D - len(peers)):
                self._graft(topic, q, now, out)
        if len(peers) > p.D_hi:
            # keep the D_score best, fill to D at random, then make sure D_out of those kept are outbound
            ranked = self._sample(list(peers), len(peers))
            ranked.sort(key=score_of, reverse=True)
            rest = ranked[p.D_score :]
            self._rng.shuffle(rest)
            keep, drop = ranked[: p.D_score] + rest[: p.D - p.D_score], rest[p.D - p.D_score :]
            missing = p.D_out - sum(q in self._outbound for q in keep)
            if missing > 0:
                swap_in = [q for q in drop if q in self._outbound][:missing]
                swap_out = [q for q in reversed(keep[p.D_score :]) if q not in self._outbound][: len(swap_in)]
                drop = [q for q in drop if q not in swap_in] + swap_out
            for q in drop:
                self._prune(topic, q, now, out, px=True)
        if len(peers) >= p.D_lo:
            outbound = sum(q in self._outbound for q in peers)
            if outbound < p.D_out:
                candidates = [
                    q
                    for q in self._topic_peers.get(topic, ())
                    if q in self._outbound
                    and q not in peers
                    and self._may_graft(topic, q, now)
                    and score_of(q) >= 0
                ]
                for q in self._sample(candidates, p.D_out - outbound):
                    self._graft(topic, q, now, out)
        if self._score is not None and self._heartbeats % p.opportunistic_graft_ticks == 0 and len(peers) > 1:
            # v1.1 "Opportunistic Grafting": a mesh of poor peers gets a few better-scoring ones
            scores = sorted(score_of(q) for q in peers)
            median = scores[len(scores) // 2]
            if median < self.thresholds.opportunistic_graft_threshold:
                candidates = [
                    q
                    for q in self._topic_peers.get(topic, ())
                    if q not in peers and self._may_graft(topic, q, now) and score_of(q) > median
                ]
                for q in self._sample(candidates, p.opportunistic_graft_peers):
                    self.counters["opportunistic_graft"] += 1
                    self._graft(topic, q, now, out)

    def _maintain_fanout(self, now: float, score_of: Callable[[bytes], float]) -> None:
        for topic in [t for t, last in self._fanout_last_pub.items() if last + self.params.fanout_ttl < now]:
            del self._fanout_last_pub[topic]
            self.fanout.pop(topic, None)
        publish_ok = self.thresholds.publish_threshold
        for topic, peers in self.fanout.items():
            topic_peers = self._topic_peers.get(topic, set())
            for q in [q for q in peers if q not in topic_peers or score_of(q) < publish_ok]:
                peers.discard(q)
            if len(peers) < self.params.D:
                candidates = [q for q in topic_peers if q not in peers and score_of(q) >= publish_ok]
                peers.update(self._sample(candidates, self.params.D - len(peers)))

    def _emit_gossip(self, out: _Outbox, score_of: Callable[[bytes], float]) -> None:
        """v1.1 "Adaptive Gossip Dissemination": IHAVE to max(D_lazy, gossip_factor × candidates) peers."""
        p = self.params
        gossip_ok = self.thresholds.gossip_threshold
        for topic in self.mcache.gossip_topics():
            exclude = self.mesh.get(topic)
            if exclude is None:
                exclude = self.fanout.get(topic)
                if exclude is None:
                    continue
            candidates = [
                q for q in self._topic_peers.get(topic, ()) if q not in exclude and score_of(q) >= gossip_ok
            ]
            if not candidates:
                continue
            ids = self.mcache.gossip_ids(topic)
            for q in self._sample(candidates, max(p.D_lazy, int(p.gossip_factor * len(candidates)))):
                sent = ids if len(ids) <= p.max_ihave_length else self._rng.sample(ids, p.max_ihave_length)
                out.to(q).ihave.append((topic, sent))

    def _push_held(self, now: float, out: _Outbox, score_of: Callable[[bytes], float]) -> None:
        """Held messages go to topic peers that can take them now (subscribed while scored low, or before)."""
        held = self.held
        self.counters["held_dropped"] += held.expire(now)
        publish_ok = self.thresholds.publish_threshold
        for topic in held.topics():
            for q in sorted(self._topic_peers.get(topic, ())):
                if score_of(q) >= publish_ok:
                    pushed = held.take(topic, q)
                    if pushed:
                        self.counters["held_pushed"] += len(pushed)
                        out.to(q).msgs.extend(pushed)

    def _apply_broken_promises(self, now: float) -> None:
        assert self._score is not None
        for mid in list(self._promises):
            peers = self._promises[mid]
            for peer in [q for q, deadline in peers.items() if deadline < now]:
                del peers[peer]
                self.counters["iwant_promise_broken"] += 1
                self._score.add_penalty(peer, 1)
            if not peers:
                del self._promises[mid]

    # -- mesh changes --

    def _graft(self, topic: str, peer: bytes, now: float, out: _Outbox) -> None:
        self.mesh[topic].add(peer)
        if self._score is not None:
            self._score.graft(peer, topic, now)
        out.to(peer).graft.append(topic)
        self._tell_recent(topic, peer, out)

    def _tell_recent(self, topic: str, peer: bytes, out: _Outbox) -> None:
        """IHAVE the message cache's recent ids to a peer new to our mesh. What we forwarded before it joined
        went to the old mesh, and the heartbeat's IHAVE goes only to peers outside the mesh: without this, a
        message that passed while the link was being grafted never crosses it (it asks for the ids it lacks)."""
        ids = self.mcache.gossip_ids(topic)
        if ids:
            self.counters["graft_told"] += len(ids)
            out.to(peer).ihave.append((topic, ids[: self.params.max_ihave_length]))

    def _prune(self, topic: str, peer: bytes, now: float, out: _Outbox, px: bool) -> None:
        self.mesh[topic].discard(peer)
        if self._score is not None:
            self._score.prune(peer, topic, now)
        out.to(peer).prune.append(self._make_prune(peer, topic, now, px))

    def _make_prune(
        self, peer: bytes, topic: str, now: float, px: bool, backoff: float | None = None
    ) -> Prune:
        """A PRUNE that starts our backoff for `peer` and, with px, names other peers of the topic."""
        backoff = self.params.prune_backoff if backoff is None else backoff
        self._add_backoff(topic, peer, now + backoff)
        exchange: list[bytes] = []
        if px:
            candidates = [
                q for q in self._topic_peers.get(topic, ()) if q != peer and self.score(q, now) >= 0
            ]
            exchange = self._sample(candidates, self.params.prune_peers)
        return Prune(topic, exchange, int(backoff + 0.999))

    def _add_backoff(self, topic: str, peer: bytes, until: float) -> None:
        backoffs = self._backoff.setdefault(topic, {})
        if until > backoffs.get(peer, 0.0):
            backoffs[peer] = until

    def _may_graft(self, topic: str, peer: bytes, now: float) -> bool:
        until = self._backoff.get(topic, {}).get(peer)
        return until is None or now >= until

    def _expire_backoffs(self, now: float) -> None:
        for topic in list(self._backoff):
            backoffs = self._backoff[topic]
            for peer in [q for q, until in backoffs.items() if until <= now]:
                del backoffs[peer]
            if not backoffs:
                del self._backoff[topic]

    def _mark_seen(self, mid: bytes, now: float) -> None:
        self._seen.add(mid)
        self._seen_expiry.append((now + self.params.seen_ttl, mid))

    def _sample(self, candidates: list[bytes], n: int) -> list[bytes]:
        """n of the candidates at random; sorted first so a seeded rng picks the same peers in every process."""
        if n <= 0:
            return []
        candidates = sorted(candidates)
        if n >= len(candidates):
            self._rng.shuffle(candidates)
            return candidates
        return self._rng.sample(candidates, n)
