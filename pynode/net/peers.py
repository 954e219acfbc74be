"""Which peers a node talks to, over what, and whom it shuts out (PROTOCOL.md §3.3, §3.5, §3.6, §4.1), sans-IO.

`PeerManager` decides; the runtime (`pynode/net/links.py`) carries out. Inputs are what the relay reports
(its peer list, `join`, `leave`, `unreachable`, the session ending), circuit frames and `signal` data from
peers, and how the runtime's work ended (a handshake, a link, a WebRTC negotiation); every input carries `now`.
Outputs are values: open a circuit (`Dial`, `Accept`), hand it a frame (`Feed`), `Close` one, negotiate a data
channel (`Offer`, `Answer`, `Answered`), and tell the router a peer came or went (`PeerUp`, `PeerReset`,
`PeerDown`). It holds no sockets and reads no clock.

Every connection attempt is a numbered *session*. The runtime reports the end of each session it was asked to
start exactly once: `negotiated(ok=False)`, `handshake_failed`, or `link_closed` after `handshake_ok`.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pynode.identity import short_id
from pynode.net.handshake import looks_like_hs1
from pynode.net.limits import BAN_S, RTC_RETRY_S
from pynode.wire import cbor
from pynode.wire.errors import WireError
from pynode.wire.limits import MAX_SIGNAL_BYTES

log = logging.getLogger(__name__)

DIRECT_CAP = "webrtc"  # advertised by nodes that accept direct data channels
RELAYED, DIRECT = "relayed", "direct"
# A frame of a session, arriving on a circuit we no longer hold: the peer still believes in it (§3.3).
_PEER_FRAMES = frozenset({"rpc", "req", "resp", "hs2", "hs3"})


@dataclass(frozen=True)
class PeerConfig:
    """How many connections the peer manager keeps, how many direct, and with whom."""

    target_peers: int = 12  # connections the node keeps (≥ GossipSub D_hi so meshes can fill)
    direct_peers: int = 4  # of those, how many it upgrades to WebRTC; 0 = circuits only
    allowed_peers: frozenset[bytes] | None = None  # talk only to these (a private network, a benchmark)


# ---- outputs ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dial:
    """Open circuit `session` to `peer` and run the handshake as initiator."""

    session: int
    peer: bytes


@dataclass(frozen=True)
class Accept:
    """Open circuit `session` to `peer` and answer its `hs1` as responder."""

    session: int
    peer: bytes
    hs1: bytes


@dataclass(frozen=True)
class Feed:
    """The next frame of circuit `session`."""

    session: int
    data: bytes


@dataclass(frozen=True)
class Close:
    """Close a session."""

    session: int
    reason: str


@dataclass(frozen=True)
class Offer:
    """Offer `peer` a data channel (session `session`); its answer comes back as `Answered`."""

    session: int
    peer: bytes


@dataclass(frozen=True)
class Answered:
    """The answer to our offer of session `session`."""

    session: int
    sdp: str


@dataclass(frozen=True)
class Answer:
    """Answer `peer`'s offer `sdp` with data channel `session`, then run the handshake as responder."""

    session: int
    peer: bytes
    sdp: str


@dataclass(frozen=True)
class PeerUp:
    """`peer`'s first authenticated link: a new router peer."""

    peer: bytes
    outbound: bool  # we dialled it (GossipSub counts outbound peers)


@dataclass(frozen=True)
class PeerReset:
    """`peer` started a new session of a kind it already had: it forgot its state, so the router does too."""

    peer: bytes
    outbound: bool


@dataclass(frozen=True)
class PeerDown:
    """`peer`'s last link closed."""

    peer: bytes


@dataclass(frozen=True)
class Ban:
    """Ban a peer for a while."""

    peer: bytes
    reason: str
    seconds: float


Output = Dial | Accept | Feed | Close | Offer | Answered | Answer | PeerUp | PeerReset | PeerDown | Ban


@dataclass
class _Session:
    """A session with a peer, over the relay or a direct channel."""

    peer: bytes
    kind: str  # RELAYED | DIRECT
    initiator: bool
    authenticated: bool = False


def encode_signal(kind: str, sdp: str) -> bytes:
    """A `signal`'s data (§4.2): an offer or an answer."""
    return cbor.encode({"kind": kind, "sdp": sdp})


def parse_signal(data: bytes) -> tuple[str, str]:
    """A `signal`'s data (§4.2): returns (kind, sdp); raises WireError on anything else."""
    msg = cbor.decode(data, max_bytes=MAX_SIGNAL_BYTES)
    if (
        not isinstance(msg, dict)
        or set(msg) != {"kind", "sdp"}
        or msg["kind"] not in ("offer", "answer")
        or not isinstance(msg["sdp"], str)
    ):
        raise WireError("bad_signal", "expected {kind: offer|answer, sdp: text}")
    return msg["kind"], msg["sdp"]


class PeerManager:
    def __init__(
        self,
        me: bytes,
        config: PeerConfig,
        rejections: Counter[str] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.me = me
        self.config = config
        self.rejections = rejections if rejections is not None else Counter()  # refused input, by reason
        self.rng = rng or random.Random()
        self.known: dict[bytes, tuple[str, ...]] = {}  # the relay's other peers and their capabilities
        self.relay_up = False
        self._sessions: dict[int, _Session] = {}
        self._last_session = 0
        self._circuit: dict[bytes, int] = {}  # the live circuit session per peer, handshaking or not
        self._links: dict[
            bytes, dict[str, int]
        ] = {}  # authenticated peers: kind -> session, oldest peer first
        self._offering: dict[bytes, int] = {}  # our offers awaiting an answer or an open channel
        self._answering: dict[bytes, int] = {}  # offers we are answering
        self._retry_at: dict[bytes, float] = {}
        self._banned: dict[bytes, float] = {}
        self._pinned: set[bytes] = set()  # always dialled when not linked (a relay's node: the other relays')

    # ---- what the rest of the node asks ---------------------------------------------------------------

    def connected(self) -> dict[bytes, str]:
        """Authenticated peers and their best link: DIRECT or RELAYED."""
        return {peer: DIRECT if DIRECT in links else RELAYED for peer, links in self._links.items()}

    def best_session(self, peer: bytes) -> int | None:
        links = self._links.get(peer, {})
        return links.get(DIRECT, links.get(RELAYED))

    def is_linked(self, peer: bytes) -> bool:
        return peer in self._links

    def is_banned(self, peer: bytes, now: float) -> bool:
        until = self._banned.get(peer)
        if until is None:
            return False
        if until < now:
            del self._banned[peer]
            return False
        return True

    def allowed(self, peer: bytes) -> bool:
        allowed = self.config.allowed_peers
        return allowed is None or peer in allowed

    # ---- the relay ------------------------------------------------------------------------------------

    def relay_connected(self, peers: Mapping[bytes, Iterable[str]]) -> list[Output]:
        """A relay welcomed us with this list of the others."""
        self.relay_up = True
        self.known = {p: tuple(caps) for p, caps in peers.items() if p != self.me}
        return []

    def peer_joined(self, peer: bytes, caps: Iterable[str]) -> list[Output]:
        """`join`: the next maintenance (`tick`) may dial it."""
        if peer != self.me:
            self.known[peer] = tuple(caps)
        return []

    def peer_left(self, peer: bytes) -> list[Output]:
        """`leave` or `unreachable`: the circuit is gone (direct links stay up)."""
        self.known.pop(peer, None)
        return self._close_circuit(peer, "peer left the relay")

    def relay_lost(self) -> list[Output]:
        self.relay_up = False
        self.known = {}
        out: list[Output] = []
        for peer in list(self._circuit):
            out += self._close_circuit(peer, "relay connection lost")
        return out

    # ---- dialling -------------------------------------------------------------------------------------

    def pin(self, peer: bytes) -> None:
        """Keep a link to `peer` whatever target_peers says (a federated relay's node, for gossip)."""
        if peer != self.me:
            self._pinned.add(peer)

    def unpin(self, peer: bytes) -> None:
        self._pinned.discard(peer)

    def dial(self, peer: bytes, now: float) -> list[Output]:
        """Open a circuit to `peer` unless one is open or opening, or we may not."""
        if peer in self._circuit or peer == self.me or not self.relay_up:
            return []
        if self.is_banned(peer, now) or not self.allowed(peer):
            return []
        session = self._new(peer, RELAYED, initiator=True)
        self._circuit[peer] = session
        return [Dial(session, peer)]

    def tick(self, now: float) -> list[Output]:
        """Maintenance (every MAINTAIN_INTERVAL_S): dial towards target_peers, then pick direct upgrades."""
        self._forget_expired(now)
        if not self.relay_up:
            return []
        out: list[Output] = []
        for peer in self._pinned:
            if peer not in self._links:
                out += self.dial(peer, now)
        candidates = [
            p for p in self.known if p not in self._links and p not in self._circuit and self.allowed(p)
        ]
        # A peer linked over a circuit counts twice here (its link and its circuit), as it has since the first
        # release: a node fills half its target with circuits before it stops dialling newcomers.
        want = self.config.target_peers - len(self._links) - len(self._circuit)
        self.rng.shuffle(candidates)  # every node picks a different subset
        for peer in candidates[: max(0, want)]:
            out += self.dial(peer, now)
        return out + self._upgrade(now)

    # ---- circuits (§3.3) ------------------------------------------------------------------------------

    def circuit_frame(self, peer: bytes, data: bytes, now: float) -> list[Output]:
        """The `data` of a `circuit` frame from `peer`."""
        if self.is_banned(peer, now):
            self.rejections["from_banned_peer"] += 1
            return []
        if not self.allowed(peer):
            self.rejections["not_allowed"] += 1
            return []
        current = self._circuit.get(peer)
        hs1 = looks_like_hs1(data)
        if current is None:
            return self._accept(peer, data) if hs1 else self._stale(peer, data, now)
        if not hs1:
            return [Feed(current, data)]
        session = self._sessions[current]
        if session.initiator and not session.authenticated and self.me < peer:
            return []  # both dialled at once: the smaller id's attempt wins, ignore theirs
        # the peer started over (a restart, a redial, or it yields to our smaller id): so do we, as responder
        return self._close_circuit(peer, "superseded by a new handshake") + self._accept(peer, data)

    def _accept(self, peer: bytes, hs1: bytes) -> list[Output]:
        session = self._new(peer, RELAYED, initiator=False)
        self._circuit[peer] = session
        return [Accept(session, peer, hs1)]

    def _stale(self, peer: bytes, data: bytes, now: float) -> list[Output]:
        """A frame from a peer we hold no circuit with. Circuits have no close frame, so a peer may still
        believe in one we dropped (our queue overflowed, a timeout): a well-formed peer frame gets a fresh
        handshake, which makes it start over; anything else is garbage and costs the sender a ban."""
        try:
            value = cbor.decode(data)
        except WireError as e:
            return self.penalise(peer, e.reason, now)
        if isinstance(value, dict) and value.get("t") in _PEER_FRAMES:
            self.rejections["stale_circuit"] += 1
            return self.dial(peer, now)
        return self.penalise(peer, "not_a_handshake", now)

    def _close_circuit(self, peer: bytes, reason: str) -> list[Output]:
        session = self._circuit.pop(peer, None)
        return [] if session is None else [Close(session, reason)]

    # ---- how the runtime's work ended -----------------------------------------------------------------

    def handshake_ok(self, session: int, now: float) -> list[Output]:
        s = self._sessions.get(session)
        if s is None:
            return []
        s.authenticated = True
        links = self._links.get(s.peer)
        if links is None:
            self._links[s.peer] = {s.kind: session}
            return [PeerUp(s.peer, s.initiator)]
        old = links.get(s.kind)
        links[s.kind] = session
        if old is None or old == session:
            return []
        # a new session of the same kind means the peer started over: it forgot our subscriptions and mesh
        return [Close(old, "replaced"), PeerReset(s.peer, s.initiator)]

    def handshake_failed(self, session: int, reason: str | None, now: float) -> list[Output]:
        """`reason`: the peer broke the protocol (ban it); None: it timed out or the transport closed."""
        s = self._end(session)
        if s is None or reason is None:
            return []
        return self.penalise(s.peer, reason, now)

    def link_closed(self, session: int, now: float) -> list[Output]:
        s = self._end(session)
        if s is None:
            return []
        links = self._links.get(s.peer)
        if links is None or links.get(s.kind) != session:
            return []
        del links[s.kind]
        if links:
            return []
        del self._links[s.peer]
        return [PeerDown(s.peer)]

    def _end(self, session: int) -> _Session | None:
        s = self._sessions.pop(session, None)
        if s is not None and self._circuit.get(s.peer) == session:
            del self._circuit[s.peer]
        return s

    # ---- bans (§3.6) ----------------------------------------------------------------------------------

    def penalise(self, peer: bytes, reason: str, now: float) -> list[Output]:
        """`peer` broke the protocol: count it, shut it out for BAN_S and close every connection to it."""
        self.rejections[reason] += 1
        self._banned[peer] = now + BAN_S
        log.info("peer %s misbehaved (%s): banned for %.0f s", short_id(peer), reason, BAN_S)
        return [Ban(peer, reason, BAN_S), *self.disconnect(peer, reason)]

    def disconnect(self, peer: bytes, reason: str = "disconnected") -> list[Output]:
        """Close every connection to `peer` (it may dial us again, or we it)."""
        self._circuit.pop(peer, None)
        return [Close(i, reason) for i, s in self._sessions.items() if s.peer == peer]

    # ---- direct links (§4.1) --------------------------------------------------------------------------

    def _direct_slots(self) -> int:
        """How many more direct links (open or being negotiated) the cap allows."""
        direct = sum(1 for links in self._links.values() if DIRECT in links)
        return self.config.direct_peers - direct - len(self._offering) - len(self._answering)

    def _busy(self, peer: bytes) -> bool:
        return peer in self._offering or peer in self._answering

    def _upgrade(self, now: float) -> list[Output]:
        slots = self._direct_slots()
        out: list[Output] = []
        for peer, links in self._links.items():
            if slots <= 0:
                break
            if DIRECT in links or self._busy(peer) or self._retry_at.get(peer, 0.0) > now:
                continue
            if peer < self.me or DIRECT_CAP not in self.known.get(peer, ()):
                continue  # the smaller peer id offers (§4.1), and only to peers that take offers
            session = self._offering[peer] = self._new(peer, DIRECT, initiator=True)
            slots -= 1
            out.append(Offer(session, peer))
        return out

    def signal(self, peer: bytes, data: bytes, now: float) -> list[Output]:
        """The `data` of a `signal` frame from `peer`."""
        if self.is_banned(peer, now) or self.config.direct_peers <= 0 or not self.allowed(peer):
            return []
        try:
            kind, sdp = parse_signal(data)
        except WireError as e:
            return self.penalise(peer, e.reason, now)
        if kind == "answer":
            session = self._offering.get(peer)
            return [] if session is None else [Answered(session, sdp)]
        direct = DIRECT in self._links.get(peer, {})
        if peer < self.me and not self._busy(peer) and (self._direct_slots() > 0 or direct):
            # only the smaller id offers, and each offer costs a WebRTC stack: within our cap
            session = self._answering[peer] = self._new(peer, DIRECT, initiator=False)
            return [Answer(session, peer, sdp)]
        self.rejections["offer_refused"] += 1
        return []

    def negotiated(self, session: int, ok: bool, now: float) -> list[Output]:
        """A data channel's negotiation ended: open (the handshake follows) or failed (the session ends)."""
        s = self._sessions.get(session)
        if s is None:
            return []
        if self._offering.get(s.peer) == session:
            del self._offering[s.peer]
            if not ok:
                self._retry_at[s.peer] = now + RTC_RETRY_S
        elif self._answering.get(s.peer) == session:
            del self._answering[s.peer]
        if not ok:
            self._end(session)
        return []

    def _forget_expired(self, now: float) -> None:
        """Bans and retry backoffs that are over (a stream of throwaway identities must not grow them)."""
        self._banned = {p: until for p, until in self._banned.items() if until >= now}
        self._retry_at = {p: at for p, at in self._retry_at.items() if at > now}

    def _new(self, peer: bytes, kind: str, initiator: bool) -> int:
        self._last_session += 1
        self._sessions[self._last_session] = _Session(peer, kind, initiator)
        return self._last_session
