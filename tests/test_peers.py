"""The peer manager (pynode/net/peers.py) driven with values and a virtual clock: dialling, bans, circuit races,
direct-link selection. `Mesh` joins managers through a synchronous relay running the real handshake machines,
so the races the real-socket tests meet by chance are played here in a chosen order."""

from __future__ import annotations

import random
from collections import Counter, deque

import pytest

from pynode.gossip.rpc import RPC
from pynode.identity import Identity
from pynode.net.handshake import Initiator, Responder, Send, Sign
from pynode.net.limits import BAN_S, RTC_RETRY_S
from pynode.net.peers import (
    DIRECT,
    DIRECT_CAP,
    RELAYED,
    Accept,
    Answer,
    Answered,
    Ban,
    Close,
    Dial,
    Feed,
    Offer,
    Output,
    PeerConfig,
    PeerDown,
    PeerManager,
    PeerReset,
    PeerUp,
    encode_signal,
)
from pynode.platform.native import NaclSigner, verify_now
from pynode.wire import cbor
from pynode.wire.errors import WireError

# three identities, named by the order of their peer ids: SMALL < MID < LARGE
_IDS = sorted((Identity(NaclSigner(bytes([i]) * 32)) for i in (1, 2, 3)), key=lambda ident: ident.peer_id)
SMALL, MID, LARGE = _IDS
S, M, L = (ident.peer_id for ident in _IDS)
CAPS = ("relay", DIRECT_CAP)


def manager(me: bytes, known=(), **config) -> PeerManager:
    pm = PeerManager(me, PeerConfig(**config), Counter(), random.Random(7))
    pm.relay_connected({p: CAPS for p in known})
    return pm


def hs1(sender: bytes) -> bytes:
    return cbor.encode({"t": "hs1", "peer": sender, "nonce": bytes([len(sender)]) * 32})


def of(outputs: list[Output], kind: type) -> list:
    return [o for o in outputs if isinstance(o, kind)]


def link(pm: PeerManager, peer: bytes, kind: str = RELAYED, now: float = 0.0) -> int:
    """Give `pm` an authenticated link of `kind` to `peer`; returns its session."""
    if kind == RELAYED:
        (accept,) = pm.circuit_frame(peer, hs1(peer), now)
        session = accept.session
    else:
        (answer,) = of(pm.signal(peer, encode_signal("offer", "v=0"), now), Answer)
        session = answer.session
        pm.negotiated(session, True, now)
    pm.handshake_ok(session, now)
    return session


# ---- dialling (§3.5) ---------------------------------------------------------------------------------------


def test_maintenance_dials_known_peers_up_to_the_target():
    others = [bytes([9, i]) + b"\x00" * 30 for i in range(10)]
    pm = manager(L, others, target_peers=4)
    dials = of(pm.tick(0.0), Dial)
    assert len(dials) == 4 and len({d.peer for d in dials}) == 4 and {d.peer for d in dials} <= set(others)
    assert len({d.session for d in dials}) == 4
    # the attempts count against the target: nothing more while they are open
    assert of(pm.tick(1.0), Dial) == []


def test_a_peer_linked_over_a_circuit_counts_twice_towards_the_target():
    others = [bytes([9, i]) + b"\x00" * 30 for i in range(10)]
    pm = manager(L, others, target_peers=4)
    for peer in others[:2]:
        link(pm, peer)
    assert of(pm.tick(0.0), Dial) == []  # 2 links + 2 circuits = the target of 4


def test_newcomers_are_dialled_at_the_next_maintenance():
    pm = manager(L, [])
    assert pm.tick(0.0) == []
    pm.peer_joined(S, CAPS)
    assert of(pm.tick(1.0), Dial) == [Dial(1, S)]


def test_no_dialling_without_a_relay_nor_to_ourselves_nor_twice():
    pm = PeerManager(L, PeerConfig())
    assert pm.dial(S, 0.0) == [] and pm.tick(0.0) == []  # no relay yet
    pm.relay_connected({S: CAPS, L: CAPS})
    assert set(pm.known) == {S}
    assert pm.dial(L, 0.0) == []
    assert pm.dial(S, 0.0) == [Dial(1, S)]
    assert pm.dial(S, 0.0) == []  # one circuit per peer
    assert of(pm.relay_lost(), Close) == [Close(1, "relay connection lost")]
    assert pm.tick(1.0) == [] and pm.known == {}


def test_only_allowed_peers_are_dialled_or_heard():
    pm = manager(L, [S, M], allowed_peers=frozenset({M}))
    assert [d.peer for d in of(pm.tick(0.0), Dial)] == [M]
    assert pm.dial(S, 0.0) == []
    assert pm.circuit_frame(S, hs1(S), 0.0) == [] and pm.rejections["not_allowed"] == 1
    assert pm.signal(S, encode_signal("offer", "v=0"), 0.0) == []


# ---- circuits (§3.3) ---------------------------------------------------------------------------------------


def test_an_hs1_opens_a_circuit_as_responder_and_later_frames_feed_it():
    pm = manager(M)
    (accept,) = pm.circuit_frame(S, hs1(S), 0.0)
    assert accept == Accept(accept.session, S, hs1(S))
    frame = cbor.encode({"t": "hs3", "sig": b"s" * 64})
    assert pm.circuit_frame(S, frame, 0.0) == [Feed(accept.session, frame)]


def test_simultaneous_dial_the_smaller_id_wins():
    small, large = manager(S, [L]), manager(L, [S])
    (ours,) = small.dial(L, 0.0)
    (theirs,) = large.dial(S, 0.0)
    assert small.circuit_frame(L, hs1(L), 0.0) == []  # the smaller ignores the larger's attempt
    out = large.circuit_frame(S, hs1(S), 0.0)  # the larger drops its own and answers
    assert out[0] == Close(theirs.session, "superseded by a new handshake")
    assert isinstance(out[1], Accept) and out[1].peer == S
    assert not small.rejections and not large.rejections


def test_an_hs1_while_answering_restarts_the_handshake_instead_of_banning():
    pm = manager(M)
    (first,) = pm.circuit_frame(S, hs1(S), 0.0)  # answering: waiting for hs3
    out = pm.circuit_frame(S, hs1(S), 1.0)  # the initiator started over
    assert out[0] == Close(first.session, "superseded by a new handshake")
    assert isinstance(out[1], Accept) and out[1].session != first.session
    assert not pm.is_banned(S, 1.0) and not pm.rejections


def test_an_hs1_on_an_authenticated_circuit_starts_a_new_session():
    pm = manager(S)
    old = link(pm, L)
    out = pm.circuit_frame(L, hs1(L), 0.0)  # L restarted
    assert out[0] == Close(old, "superseded by a new handshake") and isinstance(out[1], Accept)
    new = out[1].session
    # the old link reports its end before or after the new one authenticates: both orders converge
    assert pm.link_closed(old, 0.0) == [PeerDown(L)]
    assert pm.handshake_ok(new, 0.0) == [PeerUp(L, False)]
    assert pm.connected() == {L: RELAYED}


def test_a_second_session_of_one_kind_replaces_the_first():
    pm = manager(S)
    old = link(pm, L)
    (accept,) = of(pm.circuit_frame(L, hs1(L), 0.0), Accept)
    assert pm.handshake_ok(accept.session, 0.0) == [Close(old, "replaced"), PeerReset(L, False)]
    assert pm.link_closed(old, 0.0) == []  # a replaced link's end changes nothing
    assert pm.best_session(L) == accept.session


@pytest.mark.parametrize("kind", ["rpc", "req", "resp", "hs2", "hs3"])
def test_a_frame_of_a_circuit_we_dropped_gets_a_redial_not_a_ban(kind):
    pm = manager(M, [S])
    out = pm.circuit_frame(S, cbor.encode({"t": kind}), 0.0)
    assert out == [Dial(1, S)] and pm.rejections == Counter({"stale_circuit": 1})
    assert not pm.is_banned(S, 0.0)


@pytest.mark.parametrize(
    ("frame", "reason"),
    [(b"\xff\x00garbage", "bad_type"), (cbor.encode({"t": "x"}), "not_a_handshake")],
)
def test_garbage_on_no_circuit_bans_the_sender(frame, reason):
    pm = manager(M, [S])
    out = pm.circuit_frame(S, frame, 0.0)
    assert out == [Ban(S, reason, BAN_S)] and pm.rejections[reason] == 1
    assert pm.is_banned(S, 0.0)


def test_leave_closes_the_circuit_but_a_direct_link_keeps_the_peer():
    pm = manager(L, [S])
    circuit = link(pm, S)
    direct = link(pm, S, DIRECT)
    assert pm.connected() == {S: DIRECT} and pm.best_session(S) == direct
    assert pm.peer_left(S) == [Close(circuit, "peer left the relay")]
    assert pm.link_closed(circuit, 0.0) == []
    assert pm.connected() == {S: DIRECT} and S not in pm.known
    assert pm.link_closed(direct, 0.0) == [PeerDown(S)]
    assert pm.connected() == {}


# ---- bans (§3.6) -------------------------------------------------------------------------------------------


def test_a_ban_closes_everything_refuses_everything_and_expires():
    pm = manager(L, [S])
    circuit = link(pm, S)
    direct = link(pm, S, DIRECT)
    out = pm.penalise(S, "bad_field", 100.0)
    assert out[0] == Ban(S, "bad_field", BAN_S)
    assert set(out[1:]) == {Close(circuit, "bad_field"), Close(direct, "bad_field")}
    assert pm.rejections["bad_field"] == 1
    assert pm.circuit_frame(S, hs1(S), 101.0) == [] and pm.rejections["from_banned_peer"] == 1
    assert pm.signal(S, encode_signal("offer", "v=0"), 101.0) == []
    assert pm.dial(S, 101.0) == []
    assert pm.is_banned(S, 100.0 + BAN_S)
    assert not pm.is_banned(S, 100.0 + BAN_S + 0.1)
    assert of(pm.circuit_frame(S, hs1(S), 100.0 + BAN_S + 0.1), Accept)


def test_a_failed_handshake_bans_only_when_the_peer_broke_the_protocol():
    pm = manager(M, [S, L])
    (dial_s,) = pm.dial(S, 0.0)
    (dial_l,) = pm.dial(L, 0.0)
    assert pm.handshake_failed(dial_s.session, None, 0.0) == []  # a timeout or a closed transport
    assert not pm.is_banned(S, 0.0) and pm.dial(S, 0.0)  # the circuit is free again
    assert pm.handshake_failed(dial_l.session, "bad_signature", 0.0)[0] == Ban(L, "bad_signature", BAN_S)
    assert pm.is_banned(L, 0.0)


def test_disconnect_closes_without_a_ban():
    pm = manager(L, [S])
    circuit = link(pm, S)
    assert pm.disconnect(S) == [Close(circuit, "disconnected")]
    assert not pm.is_banned(S, 0.0)


# ---- direct links (§4.1) -----------------------------------------------------------------------------------


def test_only_the_smaller_id_offers_and_only_to_peers_that_take_offers():
    small = manager(S, [M, L])
    small.known[M] = ("relay",)  # M takes no offers
    link(small, M)
    link(small, L)
    assert [o.peer for o in of(small.tick(0.0), Offer)] == [L]
    large = manager(L, [S])
    link(large, S)
    assert of(large.tick(0.0), Offer) == []


def test_offers_respect_the_direct_cap_and_back_off_after_a_failure():
    others = [bytes([0xF0, i]) + b"\x00" * 30 for i in range(3)]  # all larger than S
    pm = manager(S, others, direct_peers=1)
    for peer in others:
        link(pm, peer)
    (first,) = of(pm.tick(0.0), Offer)
    assert first.peer == others[0]
    assert of(pm.tick(1.0), Offer) == []  # the cap counts negotiations in progress
    for t, peer in ((2.0, others[1]), (3.0, others[2])):
        pm.negotiated(first.session, False, t)  # failed: the next peer gets the slot
        (first,) = of(pm.tick(t), Offer)
        assert first.peer == peer
    pm.negotiated(first.session, False, 4.0)
    assert of(pm.tick(2.0 + RTC_RETRY_S - 0.1), Offer) == []  # everyone waits out its backoff
    assert [o.peer for o in of(pm.tick(2.0 + RTC_RETRY_S + 0.1), Offer)] == [others[0]]


def test_an_answer_reaches_the_offer_it_answers():
    pm = manager(S, [L])
    link(pm, L)
    (offer,) = of(pm.tick(0.0), Offer)
    assert pm.signal(L, encode_signal("answer", "v=0 answer"), 0.0) == [Answered(offer.session, "v=0 answer")]
    assert pm.signal(M, encode_signal("answer", "stray"), 0.0) == []


def test_offer_glare_and_refusals():
    pm = manager(M, [S, L], direct_peers=1)
    offer = encode_signal("offer", "v=0")
    assert pm.signal(L, offer, 0.0) == []  # a larger id must not offer (§4.1)
    (answer,) = pm.signal(S, offer, 0.0)
    assert answer.peer == S
    assert pm.signal(S, offer, 0.0) == []  # already answering S
    assert pm.rejections["offer_refused"] == 2
    pm.negotiated(answer.session, True, 0.0)
    pm.handshake_ok(answer.session, 0.0)
    # at the cap, but S may replace its own direct link
    assert of(pm.signal(S, offer, 1.0), Answer)


@pytest.mark.parametrize(
    "data",
    [
        b"\xff",
        cbor.encode(["offer", "v=0"]),
        cbor.encode({"kind": "offer"}),
        cbor.encode({"kind": "pranswer", "sdp": "x"}),
        cbor.encode({"kind": "offer", "sdp": b"v=0"}),
        cbor.encode({"kind": "offer", "sdp": "v=0", "x": 1}),
    ],
)
def test_malformed_signals_ban_the_sender(data):
    pm = manager(M, [S])
    out = pm.signal(S, data, 0.0)
    assert isinstance(out[0], Ban) and pm.is_banned(S, 0.0)


def test_circuit_only_nodes_ignore_signals():
    pm = manager(M, [S], direct_peers=0)
    assert pm.signal(S, b"\xff", 0.0) == [] and not pm.rejections
    link(pm, L)
    assert of(pm.tick(0.0), Offer) == []


# ---- races, played through real handshakes -----------------------------------------------------------------


class Mesh:
    """Peer managers joined by an in-order, synchronous relay; each session runs the real handshake machines,
    and the end of a session is reported the moment it happens."""

    def __init__(self, *idents: Identity) -> None:
        self.idents = {i.peer_id: i for i in idents}
        self.pm = {p: manager(p, [q for q in self.idents if q != p]) for p in self.idents}
        self.sides: dict[tuple[bytes, int], Initiator | Responder] = {}
        self.peer_of: dict[tuple[bytes, int], bytes] = {}
        self.wire: deque[tuple[bytes, bytes, bytes]] = deque()  # (to, from, data)
        self.up: dict[bytes, list[Output]] = {p: [] for p in self.idents}

    def apply(self, me: bytes, outputs: list[Output]) -> None:
        for out in outputs:
            if isinstance(out, Dial):
                self._open(me, out.session, out.peer, Initiator, None)
            elif isinstance(out, Accept):
                self._open(me, out.session, out.peer, Responder, out.hs1)
            elif isinstance(out, Feed):
                side = self.sides.get((me, out.session))
                if side is not None and not side.established:
                    self._step(me, out.session, lambda side=side, data=out.data: side.receive(data))
            elif isinstance(out, Close):
                side = self.sides.pop((me, out.session), None)
                if side is not None:
                    end = self.pm[me].link_closed if side.established else self._failed(me)
                    self.apply(me, end(out.session, 0.0))
            elif isinstance(out, PeerUp | PeerDown | PeerReset | Ban):
                self.up[me].append(out)

    def _failed(self, me: bytes):
        return lambda session, now: self.pm[me].handshake_failed(session, None, now)

    def _open(self, me: bytes, session: int, peer: bytes, kind, first: bytes | None) -> None:
        side = self.sides[(me, session)] = kind(me, peer, random.randbytes(32))
        self.peer_of[(me, session)] = peer
        self._step(me, session, lambda: side.start() + (side.receive(first) if first else []))

    def _step(self, me: bytes, session: int, step) -> None:
        side, peer = self.sides[(me, session)], self.peer_of[(me, session)]
        try:
            todo = deque(step())
            while todo:
                action = todo.popleft()
                if isinstance(action, Send):
                    self.wire.append((peer, me, action.frame))
                elif isinstance(action, Sign):
                    todo.extend(side.signed(self.idents[me].signer.sign_now(action.message)))
                else:
                    todo.extend(side.verified(verify_now(action.peer, action.message, action.sig)))
        except WireError as e:
            del self.sides[(me, session)]
            self.apply(me, self.pm[me].handshake_failed(session, e.reason, 0.0))
            return
        if side.established:
            self.apply(me, self.pm[me].handshake_ok(session, 0.0))

    def deliver(self, n: int | None = None) -> None:
        while self.wire and (n is None or n > 0):
            to, sender, data = self.wire.popleft()
            self.apply(to, self.pm[to].circuit_frame(sender, data, 0.0))
            n = None if n is None else n - 1

    def linked(self, a: bytes, b: bytes) -> bool:
        return self.pm[a].connected().get(b) == RELAYED and self.pm[b].connected().get(a) == RELAYED


def test_simultaneous_dials_end_in_one_authenticated_circuit():
    mesh = Mesh(SMALL, LARGE)
    mesh.apply(S, mesh.pm[S].dial(L, 0.0))
    mesh.apply(L, mesh.pm[L].dial(S, 0.0))
    mesh.deliver()
    assert mesh.linked(S, L)
    assert mesh.up[S] == [PeerUp(L, outbound=True)] and mesh.up[L] == [PeerUp(S, outbound=False)]
    assert not mesh.pm[S].rejections and not mesh.pm[L].rejections


def test_a_dialler_that_gave_up_mid_handshake_restarts_it_without_a_ban():
    """S dials L; S's attempt ends (a timeout) before L's hs2 arrives; the hs2 finds no circuit, so S dials
    again; L, still waiting for the first hs3, takes the new hs1 as a restart (§3.3). Before the restart rule
    this cost S a 60 s ban at L."""
    mesh = Mesh(SMALL, LARGE)
    (dial,) = mesh.pm[S].dial(L, 0.0)
    mesh.apply(S, [dial])
    mesh.deliver(1)  # hs1 reaches L, which answers; hs2 is on its way
    del mesh.sides[(S, dial.session)]
    mesh.apply(S, mesh.pm[S].handshake_failed(dial.session, None, 0.0))
    mesh.deliver()
    assert mesh.linked(S, L)
    assert mesh.pm[S].rejections == Counter({"stale_circuit": 1}) and not mesh.pm[L].rejections
    assert not any(isinstance(o, Ban) for o in mesh.up[S] + mesh.up[L])


def test_a_circuit_dropped_on_one_side_is_re_established_by_the_next_frame():
    mesh = Mesh(SMALL, LARGE)
    mesh.apply(S, mesh.pm[S].dial(L, 0.0))
    mesh.deliver()
    mesh.apply(S, mesh.pm[S].disconnect(L))  # S drops its end (a receive-queue overflow); L still believes
    assert L not in mesh.pm[S].connected() and S in mesh.pm[L].connected()
    (session,) = [s for (who, s), side in mesh.sides.items() if who == L]
    mesh.wire.append((S, L, RPC(graft=["hs/1/t"]).encode()))  # L's next frame on the old circuit
    mesh.deliver()
    assert mesh.linked(S, L) and mesh.pm[S].rejections == Counter({"stale_circuit": 1})
    assert mesh.up[S] == [PeerUp(L, True), PeerDown(L), PeerUp(L, True)]
    assert mesh.up[L] == [PeerUp(S, False), PeerDown(S), PeerUp(S, False)]  # L's router starts over with S
    assert (L, session) not in mesh.sides  # L's old session was superseded by S's new hs1


def test_three_peers_dialling_each_other_at_once_all_link():
    mesh = Mesh(SMALL, MID, LARGE)
    for p in (S, M, L):
        mesh.apply(p, mesh.pm[p].tick(0.0))
    mesh.deliver()
    assert mesh.linked(S, M) and mesh.linked(S, L) and mesh.linked(M, L)
    assert all(not pm.rejections for pm in mesh.pm.values())
