"""The relay's origin attestations (relay_server/origin.py), driven step by step with a real hub and node: a crowd
of arrivals is attested at a bounded rate, longest due first, and nobody is skipped."""

from __future__ import annotations

from pynode.identity import Identity
from pynode.node import Node, NodeConfig
from pynode.platform import native
from pynode.platform.native import NaclSigner
from relay_server.hub import Hub
from relay_server.limits import ORIGIN_ATTESTS_PER_S
from relay_server.origin import ATTEST_AFTER_S, CHECK_S, OriginAttestor

PER_STEP = round(ORIGIN_ATTESTS_PER_S * CHECK_S)


async def test_a_crowd_of_arrivals_is_attested_at_a_bounded_rate_and_nobody_is_skipped():
    node = Node(
        Identity(NaclSigner(bytes([9]) * 32)), native.relay_link("ws://127.0.0.1:9/p2p"), NodeConfig()
    )
    hub = Hub()
    crowd = 3 * PER_STEP + 7
    for i in range(crowd):
        hub.attach(
            hub.new_client(
                i.to_bytes(32, "big"), ("test",), "websocket", address=f"10.0.{i // 250}.{i % 250}"
            )
        )
    attestor = OriginAttestor(node, hub, bytes(32))
    now = 1000.0
    await attestor.step(now)  # everyone is seen: first attestation due ATTEST_AFTER_S[0] later
    assert attestor.attested == 0
    now += ATTEST_AFTER_S[0]
    counts = []
    while attestor.attested < crowd:
        before = attestor.attested
        await attestor.step(now)
        counts.append(attestor.attested - before)
        now += CHECK_S
    assert counts == [PER_STEP, PER_STEP, PER_STEP, 7]  # bounded per step, then the rest
    assert all(
        len(times) == 1 for _, times in attestor._due.values()
    )  # each attested once so far, none skipped
