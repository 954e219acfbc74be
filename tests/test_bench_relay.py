"""`hyperspace bench relay` at a tiny scale: the peers it reports held are held by the relay, every peer hears of
every later one, and the circuit frames it times are delivered whole, through a real relay process and through
the echo server. No timing is checked: the numbers are the benchmark's business."""

from __future__ import annotations

import pytest

from bench.relay import measure

pytestmark = pytest.mark.slow

PEERS = 12
TINY = {"peers": PEERS, "probes": 3, "workers": 1, "pairs": 2, "latency_s": 1.0, "throughput_s": 1.0}


def test_relay_light_clients_are_held_told_of_each_other_and_their_circuits_delivered(tmp_path):
    r = measure("relay", TINY, tmp_path, None)
    assert r["peers_failed"] == 0 and r["relay_refusals"] == {}
    assert r["peers_held"] == r["peers_held_at_end"] == PEERS
    assert r["peers_held_by_relay"] == PEERS + 1  # and the relay's own node
    # each client got a join for every client admitted after it (and its welcome named those before)
    assert r["frames_to_clients"] >= PEERS * (PEERS - 1) // 2
    assert r["circuit_delivery"] == 1.0 and r["throughput_delivery"] == 1.0
    assert r["circuit_p99_ms"] is not None and r["circuit_mib_s"] > 0
    assert r["hello_probes"] == 3 and r["hello_p99_ms"] is not None and r["ramp_hello_p99_ms"] is not None


def test_echo_ceiling_sends_every_frame_back(tmp_path):
    r = measure("echo", TINY, tmp_path, None)
    assert r["peers_held"] == r["peers_held_at_end"] == PEERS
    assert r["circuit_delivery"] == 1.0 and r["throughput_delivery"] == 1.0
    assert r["circuit_mib_s"] > 0 and r["hello_p99_ms"] is None
