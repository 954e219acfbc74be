"""A replayed gossip message is delivered once, however its sender times the replays.

The router is sans-IO, so it runs here on a fake clock, with the node's freshness rule (`freshness`) standing in
for the runtime's validation: one envelope stamped 25 s ahead of the receiver's clock is sent again every 5 s for
200 s — through the window where the original seen cache (120 s) had forgotten it while its timestamp was still
fresh (the attack found: a second delivery at +125 s).
"""

from __future__ import annotations

from pynode.gossip import RPC, Deliver, GossipParams, Router, SubOpt, Validate, ValidationResult
from pynode.gossip.router import DEFAULT_PARAMS
from pynode.platform.native import NaclSigner
from pynode.wire.envelope import Envelope, freshness, signing_payload
from pynode.wire.limits import FRESHNESS_WINDOW_MS, MAX_CLOCK_SKEW_MS

TOPIC = "hs/1/test"
WALL0 = 1_700_000_000_000  # the receiver's wall clock (ms) when the router's clock reads 0
SENDER = bytes([1]) * 32


def stamped(ts: int) -> Envelope:
    signer = NaclSigner(bytes(range(32)))
    unsigned = {"topic": TOPIC, "from": signer.public_key, "seqno": 1, "ts": ts, "data": b"once"}
    return Envelope(TOPIC, signer.public_key, 1, ts, b"once", signer.sign_now(signing_payload(unsigned)))


def receiver(params: GossipParams) -> Router:
    r = Router(bytes([255]) * 32, params)
    r.subscribe(TOPIC, 0.0)
    r.add_peer(SENDER, 0.0)
    r.receive(SENDER, RPC(subs=[SubOpt(True, TOPIC)]), 0.0)
    return r


def replay(r: Router, env: Envelope, now: float) -> int:
    """Send `env` at router time `now` (seconds); the node validates it as the runtime does. Deliveries made."""
    delivered = 0
    for out in r.receive(SENDER, RPC(msgs=[env]), now):
        if isinstance(out, Validate):
            fresh = freshness(env.ts, WALL0 + int(now * 1000)) is None
            verdict = ValidationResult.ACCEPT if fresh else ValidationResult.REJECT
            delivered += sum(isinstance(o, Deliver) for o in r.report_validation(out.msg_id, verdict, now))
    return delivered


def deliveries(params: GossipParams, ahead_ms: int) -> list[float]:
    """Times at which an envelope stamped `ahead_ms` ahead, replayed every 5 s for 200 s, was delivered."""
    r = receiver(params)
    env = stamped(WALL0 + ahead_ms)
    times = []
    for step in range(0, 201):  # heartbeats every second (they expire the seen cache), a replay every 5 s
        now = float(step)
        r.tick(now)
        if step % 5 == 0 and replay(r, env, now):
            times.append(now)
    return times


def test_a_message_stamped_ahead_is_delivered_once_however_it_is_replayed():
    assert deliveries(DEFAULT_PARAMS, 25_000) == [0.0]
    assert deliveries(DEFAULT_PARAMS, MAX_CLOCK_SKEW_MS) == [0.0]  # the farthest ahead a message may be
    assert deliveries(DEFAULT_PARAMS, -100_000) == [0.0]  # and one already old when first seen


def test_the_seen_cache_covers_the_freshness_window():
    assert DEFAULT_PARAMS.seen_ttl * 1000 >= FRESHNESS_WINDOW_MS


def test_the_attack_works_against_a_seen_cache_shorter_than_the_window():
    """The same replays against go-libp2p's 120 s: a second delivery at +125 s. What the test above guards."""
    short = GossipParams(seen_ttl=120.0)
    assert deliveries(short, 25_000) == [0.0, 125.0]
