"""Which relay a node connects to next, and when (PROTOCOL.md §2.8), sans-IO.

A node knows one or more relays (`--relay` repeated, and those its relay's welcome names). When its session
ends it tries *another* relay almost at once (`RELAY_SWITCH_DELAY_S`, jittered so a dead relay's nodes do not
arrive at one instant), picked at random among those not yet tried, so a dead relay's nodes spread over the
rest of the federation. Only after every relay failed in a row does it back off (0.25 s doubling to 10 s, each
wait × a random factor in [0.5, 1.5]); a session that lasted `HEALTHY_SESSION_S` resets the backoff. With a
single relay this is the reconnection schedule a node has always had.
"""

from __future__ import annotations

import random

from pynode.net.limits import BACKOFF_MAX_S, BACKOFF_MIN_S, HEALTHY_SESSION_S, RELAY_SWITCH_DELAY_S


class RelayChoice:
    def __init__(self, count: int, rng: random.Random | None = None) -> None:
        if count < 1:
            raise ValueError("a node needs at least one relay")
        self.count = count
        self.current = 0
        self._rng = rng or random.Random()
        self._tried: set[int] = set()  # relays that failed since the last session began
        self._backoff = BACKOFF_MIN_S
        self._session_at: float | None = None

    def add(self, count: int) -> None:
        """`count` more relays were learned (appended to the caller's list)."""
        self.count += count

    def connected(self, now: float) -> None:
        """A session with the current relay began."""
        self._session_at = now
        self._tried.clear()

    def ended(self, now: float) -> float:
        """The session (or the attempt) with the current relay ended: pick the next relay, and return how many
        seconds to wait before connecting to it."""
        session_at, self._session_at = self._session_at, None
        if session_at is not None and now - session_at > HEALTHY_SESSION_S:
            self._backoff = BACKOFF_MIN_S  # it was a healthy session: not a flapping relay
        self._tried.add(self.current)
        untried = [i for i in range(self.count) if i not in self._tried]
        if untried:
            self.current = self._rng.choice(untried)
            return RELAY_SWITCH_DELAY_S * self._rng.uniform(1.0, 2.0)
        # every relay failed in a row: start another round after a backoff
        self._tried.clear()
        if self.count > 1:
            self.current = self._rng.choice([i for i in range(self.count) if i != self.current])
        delay = self._backoff * self._rng.uniform(0.5, 1.5)
        self._backoff = min(BACKOFF_MAX_S, self._backoff * 2)
        return delay
