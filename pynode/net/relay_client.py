"""The node's side of the relay connection (PROTOCOL.md §2): hello, peer list, signal and circuit frames.

It reconnects by itself whenever the relay goes away — to another relay of the federation when it knows one
(those it was given, and those a welcome names), with exponential backoff and jitter once all have failed
(failover.py) — so a relay dying costs the network its circuits for a moment, never its nodes or their
direct channels. Every frame it sends a relay over the network is
paced (pacer.py) under the relay's per-peer rates, so no amount of traffic gets this node cut off; a frame that
would wait too long is refused with `RelayCongested`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from pynode.identity import Identity
from pynode.net import relay_proto as rp
from pynode.net.connection import ConnectionClosed
from pynode.net.failover import RelayChoice
from pynode.net.limits import (
    HELLO_TIMEOUT_S,
    MAX_DIR_RELAY_URLS,
    RELAY_SEND_BYTES_BURST,
    RELAY_SEND_BYTES_PER_S,
    RELAY_SEND_FRAMES_BURST,
    RELAY_SEND_FRAMES_PER_S,
    RELAY_SEND_MAX_DELAY_S,
)
from pynode.net.pacer import Pacer
from pynode.platform import current
from pynode.wire.errors import WireError

log = logging.getLogger(__name__)


class RelaySocket(Protocol):
    """One open connection to a relay that carries whole frames."""

    async def send(self, frame: bytes) -> None: ...
    async def recv(self) -> bytes: ...  # raises ConnectionClosed when the relay is gone
    async def close(self) -> None: ...


class RelayLink(Protocol):
    """How to reach a relay: a WebSocket URL (platform) or the relay's own in-process hub."""

    description: str

    async def connect(self) -> RelaySocket: ...  # raises OSError / ConnectionClosed if unreachable


def _ignore(*_: object) -> None:
    pass


@dataclass
class RelayEvents:
    """The node's handlers for what the relay reports about other peers."""

    on_circuit: Callable[[bytes, bytes], None]
    on_signal: Callable[[bytes, bytes], None]
    on_leave: Callable[[bytes], None]
    on_unreachable: Callable[[bytes], None]
    on_disconnected: Callable[[], None]
    on_welcome: Callable[[dict[bytes, list[str]]], None] = _ignore  # the others on the relay, with their caps
    on_join: Callable[[bytes, list[str]], None] = _ignore


class RelayUnreachable(Exception):
    pass


class RelayCongested(ConnectionClosed):
    """The frame was not sent: the relay connection's send budget is booked further ahead than allowed."""


def relay_pacer(now: float) -> Pacer:
    return Pacer(
        RELAY_SEND_BYTES_PER_S, RELAY_SEND_BYTES_BURST, RELAY_SEND_FRAMES_PER_S, RELAY_SEND_FRAMES_BURST, now,
        RELAY_SEND_MAX_DELAY_S,
    )  # fmt: skip


class RelayClient:
    def __init__(
        self, identity: Identity, link: RelayLink | Sequence[RelayLink], caps: list[str], events: RelayEvents
    ) -> None:
        self.identity = identity
        self.links = list(link) if isinstance(link, Sequence) else [link]  # fail-over order: see failover.py
        self._choice = RelayChoice(len(self.links))
        self.caps = caps
        self.events = events
        self.peers: dict[bytes, list[str]] = {}  # everyone else on the relay, with capabilities
        self.connections = 0  # successful sessions so far (reconnects = connections - 1)
        self.last_error = ""
        self._sock: RelaySocket | None = None
        self._pacer: Pacer | None = None  # None for the relay's own node, attached in process
        self.congested = 0  # frames refused by the pacer
        self._connected = asyncio.Event()
        self._closing = False

    @property
    def link(self) -> RelayLink:
        """The relay this client is connected to, or will try next."""
        return self.links[self._choice.current]

    def learn(self, urls: Sequence[str]) -> None:
        """Relays of the federation (a welcome's `relays`) to fail over to; kept up to MAX_DIR_RELAY_URLS."""
        known = {link.description for link in self.links}
        fresh = [u for u in dict.fromkeys(urls) if u not in known][
            : max(0, MAX_DIR_RELAY_URLS - len(self.links))
        ]
        self.links += [current().relay_link(u) for u in fresh]
        self._choice.add(len(fresh))

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._connected.wait()
        except TimeoutError:
            raise RelayUnreachable(f"cannot reach relay {self.link.description}: {self.last_error}") from None

    async def run(self) -> None:
        while not self._closing:
            link = self.link
            try:
                sock = await link.connect()
            except (OSError, ConnectionClosed, TimeoutError) as e:
                self.last_error = str(e) or type(e).__name__
            else:
                try:
                    await self._session(sock)
                except (ConnectionClosed, OSError, TimeoutError) as e:
                    self.last_error = str(e) or type(e).__name__
                except WireError as e:
                    self.last_error = f"relay sent a bad frame: {e}"
                finally:
                    self._lost()
                    await sock.close()
            if self._closing:
                return
            delay = self._choice.ended(time.monotonic())
            # until the first session, the caller reports failure (one clear line); after it, say so in the log
            level = logging.WARNING if self.connections else logging.INFO
            log.log(
                level, "relay %s: %s; connecting to %s in %.2f s", link.description, self.last_error,
                self.link.description, delay,
            )  # fmt: skip
            await asyncio.sleep(delay)

    async def close(self) -> None:
        self._closing = True
        if self._sock is not None:
            await self._sock.close()

    async def send_circuit(self, to: bytes, data: bytes) -> None:
        await self._send(rp.CircuitTo(to=to, data=data))

    async def send_signal(self, to: bytes, data: bytes) -> None:
        await self._send(rp.SignalTo(to=to, data=data))

    async def _send(self, frame: rp.SignalTo | rp.CircuitTo) -> None:
        sock, pacer = self._sock, self._pacer
        if sock is None or not self.connected:
            raise ConnectionClosed("not connected to the relay")
        data = frame.encode()
        if pacer is not None:
            delay = pacer.book(len(data), time.monotonic())
            if delay is None:
                self.congested += 1
                raise RelayCongested("the relay connection is booked too far ahead")
            if delay > 0:
                await asyncio.sleep(delay)
            while (wait := pacer.release(len(data), time.monotonic())) > 0:
                await asyncio.sleep(wait)
            if sock is not self._sock:
                raise ConnectionClosed("the relay session ended while the frame waited")
        await sock.send(data)

    async def _session(self, sock: RelaySocket) -> None:
        local = getattr(sock, "authenticated", False)  # the relay's own node: no hello, no rate to keep
        if local:
            welcome = rp.parse_relay_frame(await sock.recv(), from_relay=True)
        else:
            welcome = await self._hello(sock)
        if isinstance(welcome, rp.Error):
            raise ConnectionClosed(f"relay refused us: {welcome.code} {welcome.msg}")
        if not isinstance(welcome, rp.Welcome):
            raise WireError("bad_frame", "expected welcome")
        self.peers = {p.peer: list(p.caps) for p in welcome.peers if p.peer != self.identity.peer_id}
        self._pacer = None if local else relay_pacer(time.monotonic())  # the relay's buckets start full
        self._sock = sock
        self.connections += 1
        self._choice.connected(time.monotonic())
        if not local:
            self.learn(welcome.relays)
        self._connected.set()
        self.events.on_welcome(dict(self.peers))
        log.info("joined relay %s (%d peers)", self.link.description, len(self.peers))
        while True:
            frame = rp.parse_relay_frame(await sock.recv(), from_relay=True)
            if isinstance(frame, rp.CircuitFrom):
                self.events.on_circuit(frame.sender, frame.data)
            elif isinstance(frame, rp.SignalFrom):
                self.events.on_signal(frame.sender, frame.data)
            elif isinstance(frame, rp.Join):
                if frame.peer != self.identity.peer_id:
                    self.peers[frame.peer] = list(frame.caps)
                    self.events.on_join(frame.peer, list(frame.caps))
            elif isinstance(frame, rp.Leave):
                self.peers.pop(frame.peer, None)
                self.events.on_leave(frame.peer)
            elif isinstance(frame, rp.Unreachable):
                self.peers.pop(frame.peer, None)
                self.events.on_unreachable(frame.peer)
            elif isinstance(frame, rp.Error):
                raise ConnectionClosed(f"relay closed the session: {frame.code} {frame.msg}")
            else:
                raise WireError("bad_frame", f"unexpected {type(frame).__name__} from the relay")

    async def _hello(self, sock: RelaySocket) -> rp.RelayFrame:
        """Answer the relay's challenge; returns the relay's reply (welcome or error)."""
        async with asyncio.timeout(HELLO_TIMEOUT_S):
            challenge = rp.parse_relay_frame(await sock.recv(), from_relay=True)
            if not isinstance(challenge, rp.Challenge):
                raise WireError("bad_frame", "relay did not start with a challenge")
            ts = int(time.time() * 1000)
            caps = tuple(self.caps)
            hello = await rp.make_hello(self.identity.signer, challenge.nonce, challenge.relay, caps, ts)
            await sock.send(hello.encode())
            return rp.parse_relay_frame(await sock.recv(), from_relay=True)

    def _lost(self) -> None:
        was = self.connected
        self._connected.clear()
        self._sock = None
        self.peers = {}
        if was:
            self.events.on_disconnected()
