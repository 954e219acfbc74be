"""The outgoing pacer against the relay's own admission buckets, on a fake clock (the real-socket attacks are in
test_relay_budget.py): whatever a node is asked to send, the relay's buckets never run dry."""

from __future__ import annotations

import random

import pytest

from pynode.net.limits import (
    RELAY_SEND_BYTES_BURST,
    RELAY_SEND_BYTES_PER_S,
    RELAY_SEND_FRAMES_BURST,
    RELAY_SEND_FRAMES_PER_S,
    RELAY_SEND_MAX_DELAY_S,
)
from pynode.net.relay_client import relay_pacer
from pynode.wire.limits import MAX_RELAY_FRAME_BYTES
from relay_server.admission import TokenBucket
from relay_server.config import RelayConfig


def test_the_pacer_keeps_under_the_relays_default_buckets_with_room_to_spare():
    relay = RelayConfig()
    assert relay.bytes_per_s > RELAY_SEND_BYTES_PER_S and relay.bytes_burst / 2 >= RELAY_SEND_BYTES_BURST
    assert relay.frames_per_s > RELAY_SEND_FRAMES_PER_S and relay.frames_burst / 2 >= RELAY_SEND_FRAMES_BURST


@pytest.mark.parametrize("sizes", ["megabytes", "tiny", "mixed"])
def test_frames_sent_when_the_pacer_says_never_run_the_relays_buckets_dry(sizes):
    rng = random.Random(sizes)
    relay = RelayConfig()
    pacer = relay_pacer(0.0)
    volume = TokenBucket(relay.bytes_per_s, relay.bytes_burst, 0.0)
    frames = TokenBucket(relay.frames_per_s, relay.frames_burst, 0.0)
    now, sent, refused, last_send = 0.0, 0, 0, 0.0
    for _ in range(5000):
        size = {
            "megabytes": MAX_RELAY_FRAME_BYTES,
            "tiny": 200,
            "mixed": rng.choice([200, 4000, 300_000, MAX_RELAY_FRAME_BYTES]),
        }[sizes]
        now += rng.expovariate(1000.0)  # asked far faster than any budget allows
        delay = pacer.book(size, now)
        if delay is None:
            refused += 1
            continue
        assert delay <= RELAY_SEND_MAX_DELAY_S
        at = now + delay
        assert at >= last_send - 1e-9  # bookings keep their order
        last_send = at
        # the relay sees the frame when it is sent, a little late or bunched up with the next ones
        seen = at + rng.uniform(0.0, 0.2)
        assert volume.take(size, seen) and frames.take(1, seen), f"cut off after {sent} frames"
        sent += 1
    assert sent and refused  # the flood was paced, and what could not wait was refused
    assert pacer.refused == refused


@pytest.mark.parametrize("released", [True, False], ids=["released", "booked-only"])
def test_frames_woken_together_after_a_stall_still_fit_the_relays_buckets(released):
    """Found by bench chaos: a node books seconds of frames ahead, its event loop stalls (a cold start), and every
    sender wakes at once. `release` spreads them out again; sending when booked alone runs the relay dry."""
    relay = RelayConfig()
    pacer = relay_pacer(0.0)
    frames = TokenBucket(relay.frames_per_s, relay.frames_burst, 0.0)
    booked = [d for d in (pacer.book(200, 0.001 * i) for i in range(2000)) if d is not None]
    stall_end = RELAY_SEND_MAX_DELAY_S  # the loop wakes once every booked frame is due
    now, cut = stall_end, False
    for _ in booked:
        if released:
            while (wait := pacer.release(200, now)) > 0:
                now += wait
        cut |= not frames.take(1, now)
    assert cut != released
