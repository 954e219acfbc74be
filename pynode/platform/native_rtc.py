"""WebRTC data channels for CPython, on aiortc. The browser twin drives RTCPeerConnection through JS.

Facts this relies on (PLATFORM_NOTES.md): an empty ICE server list (a bare configuration adds a public STUN
server), non-trickle ICE (aiortc gathers every candidate in setLocalDescription), 256 KiB message cap.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aioice.ice
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription

CHANNEL_LABEL = "hyperspace/1"
log = logging.getLogger(__name__)


def restrict_ice_addresses(addresses: list[str]) -> None:
    """Gather host candidates only on these local addresses (e.g. ['127.0.0.1'] for a one-machine network).

    aioice never offers 127.0.0.1 on its own, so without this two nodes on one host without another
    interface could not connect directly.
    """
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: list(addresses)


class RtcSession:
    """One RTCPeerConnection carrying one ordered, reliable data channel."""

    def __init__(self) -> None:
        self._pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._channel: RTCDataChannel | None = None
        self._open = asyncio.Event()
        self._closed = asyncio.Event()
        self.on_message: Callable[[bytes], None] = lambda data: None
        self.on_close: Callable[[], None] = lambda: None

        @self._pc.on("datachannel")
        def _on_datachannel(channel: RTCDataChannel) -> None:
            if channel.label == CHANNEL_LABEL and self._channel is None:
                self._bind(channel)
            else:
                channel.close()

        @self._pc.on("connectionstatechange")
        def _on_state() -> None:
            if self._pc.connectionState in ("failed", "closed"):
                self._finish()

    def _bind(self, channel: RTCDataChannel) -> None:
        self._channel = channel

        @channel.on("message")
        def _on_message(data: bytes | str) -> None:
            if isinstance(data, bytes):
                self.on_message(data)
            else:  # text messages are not part of the protocol
                self._finish()

        @channel.on("open")
        def _on_open() -> None:
            self._open.set()

        @channel.on("close")
        def _on_close() -> None:
            self._finish()

        if channel.readyState == "open":
            self._open.set()

    def _finish(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self.on_close()

    async def create_offer(self) -> str:
        self._bind(self._pc.createDataChannel(CHANNEL_LABEL, ordered=True))
        await self._pc.setLocalDescription(await self._pc.createOffer())
        return self._pc.localDescription.sdp

    async def accept_offer(self, sdp: str) -> str:
        await self._pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await self._pc.setLocalDescription(await self._pc.createAnswer())
        return self._pc.localDescription.sdp

    async def accept_answer(self, sdp: str) -> None:
        await self._pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def wait_open(self, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            await self._open.wait()

    @property
    def buffered_amount(self) -> int:
        return self._channel.bufferedAmount if self._channel else 0

    def send(self, data: bytes) -> None:
        if self._channel is None or self._channel.readyState != "open":
            raise ConnectionError("data channel is not open")
        self._channel.send(data)

    async def close(self) -> None:
        self._finish()
        try:
            await self._pc.close()
        except Exception as e:  # closing a half-negotiated connection can raise inside aiortc
            log.debug("closing peer connection: %r", e)
