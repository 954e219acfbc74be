"""Pacing long work to a CPU share: an embedded node on someone else's page must stay polite.

Work loops call `await budget.pace()` between units of work (a batch of validations), or `pace_blocking()` from
synchronous loops (a train step in a worker thread, or on a JSPI-suspendable stack in the browser). Busy time
since the previous call is followed by enough idle time that busy / (busy + idle) stays at most `share`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

MIN_SHARE = 0.05


class CpuBudget:
    def __init__(
        self,
        share: float = 1.0,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        sleep_blocking: Callable[[float], None] = time.sleep,
    ) -> None:
        if not MIN_SHARE <= share <= 1.0:
            raise ValueError(f"a CPU share is between {MIN_SHARE} and 1, got {share}")
        self.share = share
        self._clock = clock
        self._sleep = sleep
        self._sleep_blocking = sleep_blocking
        self._mark = clock()
        self.busy_s = 0.0
        self.idle_s = 0.0

    async def pace(self) -> None:
        await self._sleep(self._account())  # sleep(0) at a full share still lets the event loop breathe
        self._mark = self._clock()

    def pace_blocking(self) -> None:
        idle = self._account()
        if idle > 0:
            self._sleep_blocking(idle)
        self._mark = self._clock()

    def _account(self) -> float:
        busy = self._clock() - self._mark
        self.busy_s += busy
        idle = busy * (1.0 / self.share - 1.0)
        self.idle_s += idle
        return idle
