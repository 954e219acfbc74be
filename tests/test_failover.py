"""Which relay a node tries next, and when (pynode/net/failover.py), on a fake clock."""

from __future__ import annotations

import random

from pynode.net.failover import RelayChoice
from pynode.net.limits import BACKOFF_MAX_S, BACKOFF_MIN_S, HEALTHY_SESSION_S, RELAY_SWITCH_DELAY_S


def test_one_relay_keeps_the_old_schedule_backoff_doubling_and_reset_by_a_healthy_session():
    c = RelayChoice(1, random.Random(1))
    delays = [c.ended(0.0) for _ in range(8)]
    for i, d in enumerate(delays):
        base = min(BACKOFF_MAX_S, BACKOFF_MIN_S * 2**i)
        assert 0.5 * base <= d <= 1.5 * base
    assert c.current == 0
    c.connected(100.0)
    assert c.ended(100.0 + HEALTHY_SESSION_S + 1) <= 1.5 * BACKOFF_MIN_S


def test_a_dead_relay_is_left_for_another_at_once_and_each_is_tried_before_any_backoff():
    c = RelayChoice(3, random.Random(2))
    c.connected(0.0)
    first = c.current
    delay = c.ended(50.0)  # the relay died
    assert c.current != first and delay <= 2 * RELAY_SWITCH_DELAY_S
    second = c.current
    assert c.ended(50.2) <= 2 * RELAY_SWITCH_DELAY_S  # that one is down too: the third, still at once
    assert c.current not in (first, second)
    assert c.ended(50.4) >= 0.5 * BACKOFF_MIN_S  # all three failed in a row: now a backoff
    c.connected(60.0)
    assert c.ended(61.0) <= 2 * RELAY_SWITCH_DELAY_S  # a session resets the round


def test_a_dead_relays_nodes_spread_over_the_others():
    landed = []
    for seed in range(200):
        c = RelayChoice(4, random.Random(seed))
        c.connected(0.0)
        c.ended(1.0)
        landed.append(c.current)
    counts = [landed.count(i) for i in range(4)]
    assert counts[0] == 0 and min(counts[1:]) > 40


def test_learned_relays_join_the_rotation():
    c = RelayChoice(1, random.Random(3))
    c.connected(0.0)
    c.add(2)
    assert c.ended(1.0) <= 2 * RELAY_SWITCH_DELAY_S and c.current in (1, 2)
