"""The asyncio side of `PeerManager`: circuits and data channels, their handshakes, and a send queue per peer.

`Links` carries out the manager's connection outputs (`Dial`, `Accept`, `Feed`, `Close`, `Offer`, `Answer`,
`Answered`) and reports back how each session ended; frames of authenticated links go to `on_frame`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from pynode.identity import Identity, short_id
from pynode.net import peers
from pynode.net.circuit import CircuitConnection
from pynode.net.connection import Connection, ConnectionClosed
from pynode.net.direct import DirectConnection
from pynode.net.handshake import Fingerprints, Initiator, Responder, Send, Sign, sdp_fingerprints
from pynode.net.limits import HANDSHAKE_TIMEOUT_S, OUTBOX_BYTES, OUTBOX_FRAMES
from pynode.net.peers import PeerManager, encode_signal
from pynode.net.relay_client import RelayCongested, RelayEvents
from pynode.net.tasks import Tasks
from pynode.platform import Signer
from pynode.wire.errors import WireError
from pynode.wire.limits import NONCE_BYTES

log = logging.getLogger(__name__)

Verifier = Callable[[bytes, bytes, bytes], Awaitable[bool]]  # (public key, message, signature)


class RelaySender(Protocol):
    async def send_circuit(self, to: bytes, data: bytes) -> None: ...
    async def send_signal(self, to: bytes, data: bytes) -> None: ...


class LinkPlatform(Protocol):
    """What links need of the platform: randomness, signature checks, WebRTC sessions."""

    def random_bytes(self, n: int) -> bytes: ...
    async def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool: ...
    def rtc_session(self) -> Any: ...


async def authenticate(
    conn: Connection,
    side: Initiator | Responder,
    signer: Signer,
    verify: Verifier,
    first: bytes | None = None,
    timeout: float = HANDSHAKE_TIMEOUT_S,
) -> None:
    """Run one side of the handshake over `conn` (`first`: a frame already read); sets `conn.authenticated`.
    Raises WireError (the peer broke the protocol), ConnectionClosed or TimeoutError."""
    async with asyncio.timeout(timeout):
        todo = deque(side.start())
        if first is not None:
            todo.extend(side.receive(first))
        while todo or not side.established:
            if not todo:
                todo.extend(side.receive(await conn.recv()))
                continue
            action = todo.popleft()
            if isinstance(action, Send):
                await conn.send(action.frame)
            elif isinstance(action, Sign):
                todo.extend(side.signed(await signer.sign(action.message)))
            else:
                todo.extend(side.verified(await verify(action.peer, action.message, action.sig)))
    conn.authenticated = True


def relay_events(
    manager: PeerManager, apply: Callable[[list[peers.Output]], None], now: Callable[[], float]
) -> RelayEvents:
    """What the relay client reports, fed to `manager`; its outputs go to `apply`."""
    return RelayEvents(
        on_circuit=lambda peer, data: apply(manager.circuit_frame(peer, data, now())),
        on_signal=lambda peer, data: apply(manager.signal(peer, data, now())),
        on_leave=lambda peer: apply(manager.peer_left(peer)),
        on_unreachable=lambda peer: apply(manager.peer_left(peer)),
        on_disconnected=lambda: apply(manager.relay_lost()),
        # a node that just (re)joined dials at once rather than at its next maintenance: a fail-over costs less
        on_welcome=lambda known: apply(manager.relay_connected(known) + manager.tick(now())),
        on_join=lambda peer, caps: apply(manager.peer_joined(peer, caps)),
    )


class Links:
    def __init__(
        self,
        identity: Identity,
        relay: RelaySender,
        manager: PeerManager,
        platform: LinkPlatform,
        apply: Callable[[list[peers.Output]], None],
        on_frame: Callable[[bytes, bytes], None],
        tasks: Tasks,
        rtc_timeout: float,
    ) -> None:
        self.identity = identity
        self.dropped: Counter[str] = Counter()  # our own frames we had to drop, by reason
        self._relay = relay
        self._manager = manager
        self._platform = platform
        self._apply = apply  # feeds the manager's outputs back through the node
        self._on_frame = on_frame  # may raise WireError: the peer is then penalised
        self._tasks = tasks
        self._rtc_timeout = rtc_timeout
        self._conns: dict[int, Connection] = {}  # by session
        self._answers: dict[int, asyncio.Future[str]] = {}  # our offers awaiting their answer
        self._outboxes: dict[bytes, tuple[asyncio.Queue[bytes], asyncio.Task[None]]] = {}
        self._queued: Counter[bytes] = Counter()  # bytes waiting in each peer's outbox
        self._closing = False

    @staticmethod
    def _now() -> float:
        return time.monotonic()

    def carry_out(self, out: peers.Output) -> None:
        if isinstance(out, peers.Dial):
            self._start(
                out.session, CircuitConnection(out.peer, self._relay), self._side(Initiator, out.peer)
            )
        elif isinstance(out, peers.Accept):
            conn = CircuitConnection(out.peer, self._relay, initiator=False)
            self._start(out.session, conn, self._side(Responder, out.peer), out.hs1)
        elif isinstance(out, peers.Feed):
            conn = self._conns.get(out.session)
            if conn is not None:
                conn.feed(out.data)
        elif isinstance(out, peers.Close):
            conn = self._conns.get(out.session)
            if conn is not None:
                self._tasks.spawn(conn.close(out.reason), "close")
        elif isinstance(out, peers.Offer):
            self._tasks.spawn(self._offer(out.session, out.peer), "rtc-offer")
        elif isinstance(out, peers.Answer):
            self._tasks.spawn(self._answer(out.session, out.peer, out.sdp), "rtc-answer")
        elif isinstance(out, peers.Answered):
            future = self._answers.get(out.session)
            if future is not None and not future.done():
                future.set_result(out.sdp)

    # ---- sending ------------------------------------------------------------------------------------------

    def send(self, peer: bytes, frame: bytes) -> None:
        """Queue `frame` for `peer`'s best link; dropped when the peer is not linked or its queue is full."""
        outbox = self._outboxes.get(peer)
        if outbox is None:
            return
        if self._queued[peer] + len(frame) > OUTBOX_BYTES:
            self.dropped["outbox_overflow"] += 1
            return
        try:
            outbox[0].put_nowait(frame)
        except asyncio.QueueFull:
            self.dropped["outbox_overflow"] += 1
            return
        self._queued[peer] += len(frame)

    def open_outbox(self, peer: bytes) -> None:
        queue: asyncio.Queue[bytes] = asyncio.Queue(OUTBOX_FRAMES)
        self._outboxes[peer] = (queue, self._tasks.spawn(self._writer(peer, queue), "writer"))

    def close_outbox(self, peer: bytes) -> None:
        outbox = self._outboxes.pop(peer, None)
        self._queued.pop(peer, None)
        if outbox is not None:
            outbox[1].cancel()

    async def _writer(self, peer: bytes, queue: asyncio.Queue[bytes]) -> None:
        while True:
            frame = await queue.get()
            if self._outboxes.get(peer, (None,))[0] is queue:
                self._queued[peer] -= len(frame)
            session = self._manager.best_session(peer)  # a direct link when there is one: bulk off the relay
            conn = self._conns.get(session) if session is not None else None
            if conn is None:
                return
            try:
                await conn.send(frame)
            except RelayCongested:
                self.dropped["relay_congested"] += 1
            except ConnectionClosed:
                continue  # the reader notices the close and the manager switches links; the frame is lost

    async def close_all(self, reason: str) -> None:
        self._closing = True  # sessions ending from here on report nothing
        for conn in list(self._conns.values()):
            await conn.close(reason)

    # ---- sessions -----------------------------------------------------------------------------------------

    def _side(
        self, kind: type[Initiator] | type[Responder], peer: bytes, dtls: Fingerprints | None = None
    ) -> Initiator | Responder:
        return kind(self.identity.peer_id, peer, self._platform.random_bytes(NONCE_BYTES), dtls)

    def _start(
        self, session: int, conn: Connection, side: Initiator | Responder, first: bytes | None = None
    ) -> None:
        self._conns[session] = conn  # before any await: the manager may feed it at once
        self._tasks.spawn(self._run(session, conn, side, first), "link")

    async def _run(
        self, session: int, conn: Connection, side: Initiator | Responder, first: bytes | None = None
    ) -> None:
        """Handshake, then read until the link closes; reports how the session ended."""
        authenticated, reason = False, None
        try:
            await authenticate(conn, side, self.identity.signer, self._platform.verify, first)
            authenticated = True
            self._apply(self._manager.handshake_ok(session, self._now()))
            await self._read(conn)
        except WireError as e:
            reason = e.reason
        except (ConnectionClosed, TimeoutError):
            pass
        finally:
            self._conns.pop(session, None)
            await conn.close("link ended")
            if not self._closing:
                if authenticated:
                    self._apply(self._manager.link_closed(session, self._now()))
                else:
                    self._apply(self._manager.handshake_failed(session, reason, self._now()))

    async def _read(self, conn: Connection) -> None:
        while True:
            frame = await conn.recv()
            try:
                self._on_frame(conn.remote, frame)
            except WireError as e:
                self._apply(self._manager.penalise(conn.remote, e.reason, self._now()))
                return

    # ---- data channels (§4) -------------------------------------------------------------------------------

    async def _offer(self, session: int, peer: bytes) -> None:
        rtc = self._platform.rtc_session()
        conn = self._conns[session] = DirectConnection(peer, rtc, initiator=True)
        answer = self._answers[session] = asyncio.get_running_loop().create_future()
        try:
            offer = await rtc.create_offer()
            await self._relay.send_signal(peer, encode_signal("offer", offer))
            async with asyncio.timeout(self._rtc_timeout):
                sdp = await answer
                dtls = Fingerprints.of(offer, sdp)
                await rtc.accept_answer(sdp)
                await rtc.wait_open(self._rtc_timeout)
        except (TimeoutError, ConnectionError, ConnectionClosed, ValueError) as e:
            await self._negotiation_failed(session, conn, f"direct link to {short_id(peer)} failed: {e!r}")
            return
        finally:
            self._answers.pop(session, None)
        self._apply(self._manager.negotiated(session, True, self._now()))
        await self._run(session, conn, self._side(Initiator, peer, dtls))

    async def _answer(self, session: int, peer: bytes, offer: str) -> None:
        rtc = self._platform.rtc_session()
        conn = self._conns[session] = DirectConnection(peer, rtc, initiator=False)
        try:
            theirs = sdp_fingerprints(offer)  # before spending a WebRTC stack on an offer we could not bind
            sdp = await rtc.accept_offer(offer)
            dtls = Fingerprints(theirs, sdp_fingerprints(sdp))
            await self._relay.send_signal(peer, encode_signal("answer", sdp))
            first = await asyncio.wait_for(conn.recv(), self._rtc_timeout)
        except (TimeoutError, ConnectionError, ConnectionClosed, ValueError) as e:
            await self._negotiation_failed(session, conn, f"direct link from {short_id(peer)} failed: {e!r}")
            return
        self._apply(self._manager.negotiated(session, True, self._now()))
        await self._run(session, conn, self._side(Responder, peer, dtls), first)

    async def _negotiation_failed(self, session: int, conn: Connection, why: str) -> None:
        log.info("%s", why)
        self._conns.pop(session, None)
        await conn.close("negotiation failed")
        if not self._closing:
            self._apply(self._manager.negotiated(session, False, self._now()))
