"""The connection abstraction every transport implements: frames in, frames out, close."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod

from pynode.net.limits import RECV_QUEUE_FRAMES
from pynode.platform.transport import ConnectionClosed  # one class for every transport, relay socket included
from pynode.wire.limits import MAX_FRAME_BYTES

__all__ = ["Connection", "ConnectionClosed"]


class Connection(ABC):
    """A bidirectional, ordered, reliable channel of whole frames to one remote peer.

    `remote` is the peer id we expect at the other end; it is only trusted once the handshake has
    verified it (`authenticated`).
    """

    kind: str  # "relayed" | "direct"

    def __init__(self, remote: bytes, initiator: bool = True) -> None:
        self.remote = remote
        self.initiator = initiator  # we opened it (GossipSub counts these as outbound)
        self.authenticated = False
        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue(RECV_QUEUE_FRAMES)
        self._closed = asyncio.Event()
        self.close_reason = ""

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def feed(self, frame: bytes) -> None:
        """Called by the transport for each received frame; overflow closes the connection."""
        if self.closed:
            return
        if len(frame) > MAX_FRAME_BYTES:
            self._shut("oversized frame")
            return
        try:
            self._inbox.put_nowait(frame)
        except asyncio.QueueFull:
            self._shut("receive queue overflow")

    async def recv(self) -> bytes:
        if self.closed and self._inbox.empty():
            raise ConnectionClosed(self.close_reason)
        frame = await self._inbox.get()
        if frame is None:
            raise ConnectionClosed(self.close_reason)
        return frame

    async def send(self, frame: bytes) -> None:
        if self.closed:
            raise ConnectionClosed(self.close_reason)
        await self._send(frame)

    @abstractmethod
    async def _send(self, frame: bytes) -> None: ...

    async def close(self, reason: str = "closed") -> None:
        if not self.closed:
            self._shut(reason)
            await self._teardown()

    async def _teardown(self) -> None:  # noqa: B027 - transports without resources need nothing
        """Release transport resources."""

    def _shut(self, reason: str) -> None:
        if self.closed:
            return
        self.close_reason = reason
        self._closed.set()
        # wake a pending recv(); drop queued frames if the queue is full (we are closing anyway)
        while True:
            try:
                self._inbox.put_nowait(None)
                return
            except asyncio.QueueFull:
                self._inbox.get_nowait()
