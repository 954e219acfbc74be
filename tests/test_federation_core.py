"""The federation's rules, one socket-free test each (pynode/net/federation.py, PROTOCOL.md §2.11)."""

from __future__ import annotations

import pytest

from pynode.net import federation as fed
from pynode.net.federation_proto import FED_CAP, Dir, DirBody, Entry, parse_fed_frame
from pynode.net.limits import (
    DIR_REFRESH_S,
    DIR_TTL_MS,
    DIR_UPDATES_BURST,
    FED_BAN_S,
    MAX_DIR_ENTRIES_PER_FRAME,
    MAX_DIR_PEERS,
    MAX_FED_LINKS,
    UNROUTABLE_HOPS_BURST,
)
from pynode.platform.native import NaclSigner
from relay_server.federation import verify_dir

T0 = 1_700_000_000_000
ME, R1, R2 = b"\x05" * 32, b"\x01" * 32, b"\x09" * 32  # R1 < ME < R2


def peer(i: int) -> bytes:
    return i.to_bytes(4, "big") * 8  # never one of the relay ids above


def entry(p: bytes, ts: int = T0, caps: tuple[str, ...] = ("webrtc",)) -> Entry:
    return Entry(p, caps, ts, b"\x00" * 32, b"\x00" * 64)


class Sender:
    """What a linked relay would send: numbered, expiring bodies."""

    def __init__(self, relay: bytes) -> None:
        self.relay = relay
        self.seq = 0

    def body(
        self, *add: Entry, full: bool = False, remove: tuple[bytes, ...] = (), now: int = T0, **kw
    ) -> DirBody:
        self.seq += 1
        fields = dict(relay=self.relay, seq=self.seq, exp=now + DIR_TTL_MS, full=full, url="", relays=())
        fields.update(kw)
        return DirBody(add=add, remove=remove, **fields)


def linked(*relays: bytes) -> fed.Federation:
    f = fed.Federation(ME)
    for r in relays:
        assert f.admit_link(r, True, T0) == fed.ADMIT
        f.link_up(r, True, T0)
    return f


def cut_reason(outputs) -> str | None:
    cuts = [o for o in outputs if isinstance(o, fed.Cut)]
    return cuts[0].reason if cuts else None


# ---- routes ------------------------------------------------------------------------------------------------


def test_a_peer_listed_by_a_linked_relay_routes_there_and_the_relay_itself_routes_to_its_link():
    f = linked(R1)
    s = Sender(R1)
    assert f.directory(R1, s.body(entry(peer(1)), full=True), T0) == []
    assert f.route(peer(1)) == R1
    assert f.route(R1) == R1
    assert f.route(peer(2)) is None
    assert f.entry(peer(1)).caps == ("webrtc",)


def test_one_route_per_peer_the_newest_hello_wins_and_ties_go_to_the_smaller_relay():
    f = linked(R1, R2)
    s1, s2 = Sender(R1), Sender(R2)
    f.directory(R1, s1.body(entry(peer(1), ts=T0), entry(peer(2), ts=T0), full=True), T0)
    f.directory(R2, s2.body(entry(peer(1), ts=T0 + 5), entry(peer(2), ts=T0), full=True), T0)
    assert f.route(peer(1)) == R2  # it moved to R2 last
    assert f.route(peer(2)) == R1  # same stamp: the smaller id
    # R2 drops peer 1: the older claim on R1 is the route again, and nobody is told it left
    assert f.directory(R2, s2.body(remove=(peer(1),)), T0) == []
    assert f.route(peer(1)) == R1


def test_a_peer_no_relay_lists_any_more_is_gone_and_a_link_going_down_takes_its_routes():
    f = linked(R1, R2)
    s1, s2 = Sender(R1), Sender(R2)
    f.directory(R1, s1.body(entry(peer(1)), entry(peer(2)), full=True), T0)
    f.directory(R2, s2.body(entry(peer(2)), full=True), T0)
    assert f.directory(R1, s1.body(remove=(peer(1),)), T0) == [fed.Gone(peer(1))]
    assert f.link_down(R1) == []  # peer 2 is still on R2
    assert f.route(peer(2)) == R2
    assert f.link_down(R2) == [fed.Gone(peer(2))]
    assert f.routes() == 0


def test_a_hop_reaches_only_a_peer_hosted_here_so_no_route_has_more_than_two_hops():
    f = linked(R1, R2)
    s1, s2 = Sender(R1), Sender(R2)
    f.directory(R1, s1.body(entry(peer(1)), full=True), T0)
    f.directory(R2, s2.body(entry(peer(2)), full=True), T0)
    f.host(entry(peer(3)))
    assert f.admit_hop(R1, peer(1), peer(3), T0) == fed.DELIVER
    assert f.admit_hop(R1, peer(1), ME, T0) == fed.DELIVER  # the relay's own node
    assert f.admit_hop(R1, R1, peer(3), T0) == fed.DELIVER  # from R1's own node
    # peer 2 is routable (on R2) but a hop is never forwarded again: R1 hears `unreachable`
    assert f.admit_hop(R1, peer(1), peer(2), T0) == fed.UNREACHABLE


def test_an_unreachable_answer_withdraws_that_relays_claim_only():
    f = linked(R1, R2)
    s1, s2 = Sender(R1), Sender(R2)
    f.directory(R1, s1.body(entry(peer(1), ts=T0 + 1), full=True), T0)
    f.directory(R2, s2.body(entry(peer(1), ts=T0), full=True), T0)
    assert f.route(peer(1)) == R1
    assert f.hop_unreachable(R1, peer(1))
    assert f.route(peer(1)) == R2
    assert not f.hop_unreachable(R1, peer(1))


# ---- links -------------------------------------------------------------------------------------------------


def test_one_link_per_pair_when_both_dial_the_link_the_smaller_id_dialled_is_kept():
    # ME (0x05) and R2 (0x09): ME is smaller, so ME's outbound link is the one both keep
    me = fed.Federation(ME)
    assert me.admit_link(R2, False, T0) == fed.ADMIT
    me.link_up(R2, False, T0)  # R2's dial arrived first
    assert me.admit_link(R2, True, T0) == fed.REPLACE  # ours completes: it replaces theirs
    me.link_up(R2, True, T0)
    assert me.admit_link(R2, False, T0) == "duplicate_link"
    other = fed.Federation(R2)
    assert other.admit_link(ME, True, T0) == fed.ADMIT
    other.link_up(ME, True, T0)  # R2's own dial
    assert other.admit_link(ME, False, T0) == fed.REPLACE  # ME's dial arrives: R2 keeps that one
    other.link_up(ME, False, T0)
    assert other.admit_link(ME, True, T0) == "duplicate_link"


def test_links_are_bounded_and_a_relay_never_links_to_itself():
    f = fed.Federation(ME)
    assert f.admit_link(ME, True, T0) == "self_link"
    for i in range(MAX_FED_LINKS):
        f.link_up(peer(100 + i), True, T0)
    assert f.admit_link(peer(999), True, T0) == "too_many_links"


# ---- the directory -----------------------------------------------------------------------------------------


def test_a_links_first_update_must_be_full():
    f = linked(R1)
    assert cut_reason(f.directory(R1, Sender(R1).body(entry(peer(1))), T0)) == "no_full_directory"


def test_a_replayed_or_reordered_update_is_refused_across_sessions_too():
    f = linked(R1)
    s = Sender(R1)
    old = s.body(entry(peer(1)), full=True)
    f.directory(R1, old, T0)
    f.directory(R1, s.body(), T0)
    f.link_down(R1)
    f.link_up(R1, True, T0)  # a new session with the same relay
    assert cut_reason(f.directory(R1, old, T0)) == "replayed_directory"


def test_an_update_that_expired_or_claims_too_long_a_life_is_cut():
    f = linked(R1, R2)
    assert cut_reason(f.directory(R1, Sender(R1).body(full=True, exp=T0), T0)) == "bad_expiry"
    assert (
        cut_reason(f.directory(R2, Sender(R2).body(full=True, exp=T0 + 10 * DIR_TTL_MS), T0)) == "bad_expiry"
    )


def test_routes_expire_with_their_directory_unless_it_is_refreshed():
    f = linked(R1)
    s = Sender(R1)
    f.directory(R1, s.body(entry(peer(1)), full=True), T0)
    half = T0 + DIR_TTL_MS // 2
    f.directory(R1, s.body(now=half), half)  # an empty refresh
    assert f.tick(T0 + DIR_TTL_MS) == []
    out = f.tick(half + DIR_TTL_MS)
    assert fed.Cut(R1, "directory_expired", ban=False) in out and fed.Gone(peer(1)) in out
    assert not f.is_banned(R1, half + DIR_TTL_MS)


def test_a_directory_flood_is_cut_and_banned():
    f = linked(R1)
    s = Sender(R1)
    outputs = [f.directory(R1, s.body(full=True), T0) for _ in range(DIR_UPDATES_BURST + 1)]
    assert cut_reason(outputs[-1]) == "directory_flood"
    assert all(cut_reason(o) is None for o in outputs[:-1])
    assert f.admit_link(R1, True, T0 + 1000) == "banned"
    assert f.admit_link(R1, True, T0 + int(FED_BAN_S * 1000) + 1) == fed.ADMIT


def test_a_relay_listing_more_peers_than_allowed_is_cut():
    f = linked(R1)
    s = Sender(R1)
    n = MAX_DIR_ENTRIES_PER_FRAME
    out: list = []
    for chunk in range(MAX_DIR_PEERS // n + 1):
        out = f.directory(
            R1, s.body(*(entry(peer(chunk * n + i)) for i in range(n)), full=chunk == 0), T0 + chunk * 100
        )
        if out:
            break
    assert cut_reason(out) == "directory_too_large"
    assert f.routes() == 0


@pytest.mark.parametrize(
    "bad",
    [
        entry(peer(1), caps=(FED_CAP,)),  # a relay's own federation hello is not a hosted peer's
        entry(R1),  # the relay listing itself
        entry(peer(1), ts=T0 + 3_600_000),  # a hello from an hour in the future
    ],
)
def test_forged_entries_cut_the_relay_off(bad):
    f = linked(R1)
    assert cut_reason(f.directory(R1, Sender(R1).body(bad, full=True), T0)) == "forged_entry"
    assert f.routes() == 0


def test_a_hop_from_a_peer_the_relay_does_not_list_cuts_it_off():
    f = linked(R1)
    f.directory(R1, Sender(R1).body(entry(peer(1)), full=True), T0)
    f.host(entry(peer(3)))
    out = f.admit_hop(R1, peer(2), peer(3), T0)
    assert cut_reason(out) == "forged_source"
    assert f.is_banned(R1, T0)


def test_circuits_to_nowhere_beyond_a_racing_few_cut_the_relay_off():
    f = linked(R1)
    f.directory(R1, Sender(R1).body(entry(peer(1)), full=True), T0)
    verdicts = [f.admit_hop(R1, peer(1), peer(50), T0) for _ in range(UNROUTABLE_HOPS_BURST + 1)]
    assert verdicts[:-1] == [fed.UNREACHABLE] * UNROUTABLE_HOPS_BURST
    assert cut_reason(verdicts[-1]) == "circuits_to_nowhere"


def test_relays_named_in_directories_are_dialled_by_the_smaller_id_once_and_bounded():
    f = fed.Federation(ME, url="ws://me/p2p")
    f.link_up(R1, True, T0)
    named = ((ME, "ws://me/p2p"), (R1, "ws://r1/p2p"), (R2, "ws://r2/p2p"), (b"\x02" * 32, "ws://two/p2p"))
    many = tuple((b"\xf0" + peer(i)[1:], f"ws://m{i}/p2p") for i in range(2 * MAX_FED_LINKS + 10))  # > ME
    s = Sender(R1)
    out = f.directory(R1, s.body(full=True, url="ws://r1/p2p", relays=named + many[:20]), T0)
    found = {o.relay: o.url for o in out if isinstance(o, fed.Discovered)}
    # not ourselves, not the relay already linked, not 0x02..: smaller than us, so it dials us
    assert ME not in found and R1 not in found and b"\x02" * 32 not in found
    assert found[R2] == "ws://r2/p2p"
    out = f.directory(R1, s.body(url="ws://r1/p2p", relays=named + many), T0 + 100)
    again = [o.url for o in out if isinstance(o, fed.Discovered)]
    assert "ws://r2/p2p" not in again  # once
    assert len(found) + len(again) == 2 * MAX_FED_LINKS  # bounded
    # a relay without a public URL cannot be dialled: it dials even the larger ids itself
    hidden = fed.Federation(b"\xff" * 32)
    hidden.link_up(R1, True, T0)
    out = hidden.directory(R1, Sender(R1).body(full=True, relays=((R2, "ws://r2/p2p"),)), T0)
    assert out == [fed.Discovered(R2, "ws://r2/p2p")]


def test_a_link_replacing_another_to_the_same_relay_keeps_its_routes():
    f = fed.Federation(ME)
    f.link_up(R1, True, T0)
    f.directory(R1, Sender(R1).body(entry(peer(1)), full=True), T0)
    assert f.admit_link(R1, False, T0) == fed.REPLACE  # R1 is the smaller: the link it dialled is kept
    assert f.link_up(R1, False, T0) == [] and f.route(peer(1)) == R1
    assert cut_reason(f.directory(R1, Sender(R1).body(seq=50), T0)) == "no_full_directory"


# ---- our own directory -------------------------------------------------------------------------------------


def test_own_directory_a_snapshot_then_batched_updates_then_refreshes():
    f = linked(R1, R2)  # R1 just came up; R2 waits for the arrivals as an update
    for i in range(MAX_DIR_ENTRIES_PER_FRAME + 5):
        f.host(entry(peer(i)))
    snap = f.snapshot(R1, T0)
    assert [b.full for b in snap] == [True, False]
    assert sum(len(b.add) for b in snap) == MAX_DIR_ENTRIES_PER_FRAME + 5
    assert f.unannounced(peer(0))
    first = f.take_updates(T0)
    assert not f.unannounced(peer(0))
    assert sum(len(b.add) for b in first) == MAX_DIR_ENTRIES_PER_FRAME + 5
    f.unhost(peer(1))
    f.host(entry(peer(9000)))
    f.unhost(peer(9000))  # came and went within one batch: never announced
    (update,) = f.take_updates(T0 + 100)
    assert update.remove == (peer(1),) and update.add == ()
    assert f.take_updates(T0 + 200) == []
    (refresh,) = f.take_updates(T0 + 100 + int(DIR_REFRESH_S * 1000))
    assert refresh.add == refresh.remove == () and refresh.exp > T0 + DIR_TTL_MS
    seqs = [b.seq for b in (*snap, *first, update, refresh)]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_arrivals_before_the_first_link_go_out_in_its_snapshot_only():
    f = fed.Federation(ME)
    f.host(entry(peer(1)))
    f.link_up(R1, True, T0)
    (snap,) = f.snapshot(R1, T0)
    assert snap.full and [e.peer for e in snap.add] == [peer(1)]
    assert not f.unannounced(peer(1))
    (refresh,) = f.take_updates(T0)  # the first update is only the refresh
    assert refresh.add == ()


def test_signed_directories_round_trip_and_forged_hellos_are_caught():
    """The runtime's check (relay_server/federation.py) of the signature and of every listed hello."""
    from pynode.net import relay_proto as rp

    relay, node = NaclSigner(b"\x03" * 32), NaclSigner(b"\x01" * 32)
    nonce, caps = b"\xaa" * 32, ("webrtc",)
    sig = node.sign_now(rp.hello_payload(nonce, relay.public_key, node.public_key, caps, T0))
    good = Entry(node.public_key, caps, T0, nonce, sig)
    body = DirBody(relay.public_key, 1, T0 + DIR_TTL_MS, True, "wss://r/p2p", (), (good,), ())
    frame = parse_fed_frame(Dir(body, relay.sign_now(body.payload())).encode())
    assert frame == Dir(body, relay.sign_now(body.payload()))
    assert verify_dir(relay.public_key, frame) == ""
    assert verify_dir(node.public_key, frame) == "bad_directory_signature"
    moved = Entry(node.public_key, caps, T0, nonce, b"\x00" * 64)
    forged = DirBody(relay.public_key, 2, T0 + DIR_TTL_MS, False, "", (), (moved,), ())
    assert verify_dir(relay.public_key, Dir(forged, relay.sign_now(forged.payload()))) == "forged_entry"
