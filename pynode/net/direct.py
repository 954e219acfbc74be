"""Direct connections: a WebRTC data channel, negotiated over the relay's `signal` frames."""

from __future__ import annotations

import asyncio

from pynode.net.chunks import Reassembler, split
from pynode.net.connection import Connection, ConnectionClosed
from pynode.net.limits import HIGH_WATER_BYTES
from pynode.wire.errors import WireError


class DirectConnection(Connection):
    kind = "direct"

    def __init__(self, remote: bytes, session, initiator: bool) -> None:  # session: a platform RtcSession
        super().__init__(remote, initiator)
        self.session = session
        self._reassembler = Reassembler()
        self._send_lock = asyncio.Lock()
        session.on_message = self._on_message
        session.on_close = lambda: self._shut("data channel closed")

    def _on_message(self, message: bytes) -> None:
        try:
            frame = self._reassembler.push(message)
        except WireError as e:
            self._shut(f"bad chunk: {e}")
            return
        if frame is not None:
            self.feed(frame)

    async def _send(self, frame: bytes) -> None:
        async with self._send_lock:  # chunks of one frame must not interleave with another's
            for chunk in split(frame):
                while self.session.buffered_amount > HIGH_WATER_BYTES and not self.closed:
                    await asyncio.sleep(0.005)
                try:
                    self.session.send(chunk)
                except ConnectionError as e:
                    self._shut(str(e))
                    raise ConnectionClosed(str(e)) from None

    async def _teardown(self) -> None:
        await self.session.close()
