"""Long validations in bounded slices, so that whoever runs the store can let other work in between.

A cold start checks thousands of records; in a tab that is the only thread, and while it runs nothing else
does (no gossip, no status, no page). The store counts its work in units (one record checked, admitted or
refused, one signature verified, one change read from the CRDT) and, whenever the next piece of work would
take the current slice past `budget` units, awaits `pause`, which the runtime supplies (asyncio.sleep(0):
the event loop runs whatever waits, then the check goes on). The store itself never sleeps or reads a clock,
and without a pause (the simulator, tests, `run_sync`) it runs straight through, exactly as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

Pause = Callable[[], Awaitable[None]]


class Slices:
    def __init__(self, budget: int | None = None, pause: Pause | None = None) -> None:
        """`budget`: units of work between two pauses (None: no pauses at all)."""
        if budget is not None and budget < 1:
            raise ValueError("a slice holds at least one unit of work")
        self.budget = budget if pause is not None else None
        self.pause = pause
        self.used = 0  # units spent in the current slice
        self.pauses = 0
        self.largest = 0  # the most units any slice held

    @property
    def window(self) -> int | None:
        """How many units to take on at once (None: everything)."""
        return self.budget

    def fill(self) -> None:
        """The work just done (one call into the CRDT that cannot be cut) took a slice of its own: the next
        `take` pauses first."""
        if self.budget is not None:
            self.used = max(self.used, self.budget)

    async def take(self, units: int = 1) -> None:
        """About to do `units` of work: pause first if it would overrun the current slice. Work bigger than a
        whole slice (one change holding more records than `budget`) gets a slice of its own."""
        if self.budget is None or self.pause is None:
            return
        if self.used and self.used + units > self.budget:
            self.used = 0
            self.pauses += 1
            await self.pause()
        self.used += units
        self.largest = max(self.largest, self.used)
