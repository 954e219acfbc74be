"""The transports a platform provides: a WebSocket link to a relay and WebRTC data-channel sessions.

CPython implements them on `websockets` and aiortc (native.py, native_rtc.py), the browser on the tab's
WebSocket and the page's RTCPeerConnection (browser.py). `pynode.net` builds connections on these shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class ConnectionClosed(Exception):
    """The connection is gone; `recv` and `send` raise this from then on."""


class RelaySocket(Protocol):
    """One open connection to a relay that carries whole binary frames."""

    async def send(self, frame: bytes) -> None: ...

    async def recv(self) -> bytes:
        """The next frame; raises ConnectionClosed when the relay is gone."""
        ...

    async def close(self) -> None: ...


class RelayLink(Protocol):
    """How to reach a relay (a ws:// or wss:// URL here; the relay's own hub in process)."""

    description: str

    async def connect(self) -> RelaySocket:
        """Raises OSError or ConnectionClosed if the relay cannot be reached."""
        ...


class RtcSession(Protocol):
    """One WebRTC peer connection carrying one ordered, reliable data channel (non-trickle ICE)."""

    on_message: Callable[[bytes], None]
    on_close: Callable[[], None]

    async def create_offer(self) -> str: ...

    async def accept_offer(self, sdp: str) -> str: ...

    async def accept_answer(self, sdp: str) -> None: ...

    async def wait_open(self, timeout: float) -> None: ...

    @property
    def buffered_amount(self) -> int: ...

    def send(self, data: bytes) -> None: ...

    async def close(self) -> None: ...
