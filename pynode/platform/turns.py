"""Turns: calls into something that must not be re-entered, one at a time and in arrival order, for asyncio tasks
whose calls may be suspended midway (a tab's `run_sync` suspends a task's whole stack and lets others run).

The taker asks for the turn: `ask()` gives None when it is free (taken at once, with no trip through the event
loop), else a future that completes when the turn has been handed to the caller. The holder calls `done()` when
its call ended, which hands the turn to the next caller still waiting.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Turns:
    def __init__(self) -> None:
        self._busy = False
        self._waiting: deque[asyncio.Future[None]] = deque()

    @property
    def busy(self) -> bool:
        return self._busy

    def ask(self) -> asyncio.Future[None] | None:
        """None: the turn is the caller's now. Else a future done when the caller holds it."""
        if not self._busy:
            self._busy = True
            return None
        waiting: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiting)
        return waiting

    def done(self) -> None:
        """The holder's call ended: the next caller still waiting holds the turn, or nobody does."""
        while self._waiting:
            waiting = self._waiting.popleft()
            if not waiting.done():  # a cancelled waiter gave up its place
                waiting.set_result(None)
                return
        self._busy = False

    async def take(self) -> None:
        """Wait for the turn (from a coroutine); call `done()` after the call."""
        waiting = self.ask()
        if waiting is None:
            return
        try:
            await waiting
        except asyncio.CancelledError:
            if waiting.done() and not waiting.cancelled():
                self.done()  # handed over just as this task was cancelled: pass it on
            raise
