"""A peer connected to the hub, whatever carries it (a WebSocket or an in-process node).

The hub never awaits a client: it pushes encoded frames into the client's bounded queue and moves on; a
per-client task (`drain_to`) drains the queue into the transport. A client whose queue overflows is dropped, so
one slow consumer can never hold up routing for everyone else.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Literal

from pynode.net.federation_proto import Entry
from pynode.net.relay_proto import Error
from relay_server.stats import RelayStats

Kind = Literal["websocket", "local", "federation"]


class Client:
    def __init__(
        self,
        peer: bytes,
        caps: tuple[str, ...],
        kind: Kind,
        stats: RelayStats,
        max_frames: int,
        max_bytes: int,
        address: str | None = None,
        proof: Entry | None = None,
    ) -> None:
        self.peer = peer
        self.caps = caps
        self.kind = kind
        self.address = address  # the network address it connected from (None for an in-process peer)
        self.proof = proof  # its hello, which the relay's directory lists it with (federation)
        self.introduced: set[bytes] = set()  # remote peers the hub told it of (hub.introduce)
        self.known: set[bytes] = (
            set()
        )  # local peers the hub told it of (welcome, join): it hears their `leave`
        self.connected_at = time.monotonic()
        self.frames_in = self.frames_out = self.bytes_in = self.bytes_out = 0
        self.error: Error | None = None  # why the relay closed it, if it did
        self._stats = stats
        self._max_frames = max_frames
        self._max_bytes = max_bytes
        self._queue: deque[bytes] = deque()
        self._queued_bytes = 0
        self._ready = asyncio.Event()
        self._closed = asyncio.Event()
        self._flushed = asyncio.Event()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def push(self, frame: bytes) -> bool:
        """Queue a frame for delivery; False when the queue is full (the hub then drops this client)."""
        if self.closed:
            return True  # going away anyway: nothing to deliver, nothing to punish
        if len(self._queue) >= self._max_frames or self._queued_bytes + len(frame) > self._max_bytes:
            return False
        self._queue.append(frame)
        self._queued_bytes += len(frame)
        self._ready.set()
        return True

    def close(self, error: Error | None = None, discard: bool = True) -> None:
        """End this client: pending frames are discarded (unless not `discard`: a federation link being replaced
        delivers what it holds) and `error`, if any, is the last frame it gets."""
        if self.closed:
            return
        self.error = error
        if discard:
            self._queue.clear()
            self._queued_bytes = 0
        if error is not None:
            self._queue.append(error.encode())
        self._closed.set()
        self._ready.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def wait_flushed(self) -> None:
        """Until `drain_to` has delivered the last frame (or failed)."""
        await self._flushed.wait()

    async def next_frame(self) -> bytes | None:
        """The next frame to deliver, or None once the client is closed and its last frame went out."""
        while not self._queue:
            if self.closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        frame = self._queue.popleft()
        self._queued_bytes -= len(frame)
        return frame

    def received(self, size: int) -> None:
        self.frames_in += 1
        self.bytes_in += size
        self._stats.frames_in += 1
        self._stats.bytes_in += size

    def sent(self, size: int) -> None:
        self.frames_out += 1
        self.bytes_out += size
        self._stats.frames_out += 1
        self._stats.bytes_out += size

    async def drain_to(self, send: Callable[[bytes], Awaitable[None]]) -> None:
        """Deliver queued frames through `send`, in order, until the client is closed."""
        try:
            while (frame := await self.next_frame()) is not None:
                await send(frame)
                self.sent(len(frame))
        finally:
            self._flushed.set()
