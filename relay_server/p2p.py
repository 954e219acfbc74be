"""The `/p2p` WebSocket endpoint (PROTOCOL.md §2): challenge, hello, welcome, then frames until goodbye.

Every message is hostile until parsed: it is size-limited (by uvicorn at WS_MAX_SIZE, here at
MAX_RELAY_FRAME_BYTES), rate-limited by two token buckets, and parsed strictly. A peer that sends anything
wrong gets one `error` frame and is disconnected; each refusal is counted by reason for /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected

from pynode.identity import short_id
from pynode.net.federation_proto import FED_CAP, Entry
from pynode.net.relay_proto import (
    Challenge,
    CircuitTo,
    Error,
    Hello,
    SignalTo,
    parse_relay_frame,
    verify_hello,
)
from pynode.platform import current
from pynode.platform.transport import ConnectionClosed
from pynode.wire.errors import WireError
from pynode.wire.limits import MAX_ERROR_TEXT, NONCE_BYTES
from relay_server.admission import TokenBucket
from relay_server.client import Client
from relay_server.limits import FLUSH_TIMEOUT_S
from relay_server.relay import Relay

log = logging.getLogger(__name__)

_WS_TOO_BIG = 1009
_GONE = (WebSocketDisconnect, WebSocketDisconnected)  # the peer left first: not a failure


def routes(relay: Relay) -> list[BaseRoute]:
    async def p2p(websocket: WebSocket) -> None:
        await serve_peer(websocket, relay)

    return [WebSocketRoute("/p2p", p2p)]


async def serve_peer(ws: WebSocket, relay: Relay) -> None:
    ip = ws.client.host if ws.client else "unknown"
    # Take the slot before accepting, so a client cannot open more sockets while this one is starting.
    admitted = relay.ip_cap.acquire(ip)
    try:
        with contextlib.suppress(*_GONE):
            await ws.accept()
            if not admitted:
                n = relay.config.max_connections_per_ip
                await _refuse(
                    ws, relay, "too_many_connections", "too_many_connections", f"{n} sockets per address"
                )
                return
            answered = await _handshake(ws, relay)
            if answered is None:
                return
            hello, nonce = answered
            if FED_CAP in hello.caps:  # another relay: a federation link (relay_server/federation.py)
                await relay.federation.serve_inbound(StarletteSocket(ws, relay), hello)
            else:
                await _session(
                    ws, relay, hello, ip, Entry(hello.peer, hello.caps, hello.ts, nonce, hello.sig)
                )
    finally:
        if admitted:
            relay.ip_cap.release(ip)


async def _handshake(ws: WebSocket, relay: Relay) -> tuple[Hello, bytes] | None:
    """The peer's verified hello and the nonce it answered, or None (refused)."""
    nonce = current().random_bytes(NONCE_BYTES)
    relay_id = relay.identity.peer_id
    await ws.send_bytes(Challenge(nonce, relay_id).encode())
    try:
        async with asyncio.timeout(relay.config.hello_timeout_s):
            buf = await _receive(ws, relay)
        if buf is None:
            return None
        frame = parse_relay_frame(buf, from_relay=False)
    except TimeoutError:
        await _refuse(ws, relay, "hello_timeout", "bad_hello", "no hello in time")
        return None
    except WireError as e:
        await _refuse(ws, relay, e.reason, "bad_frame", str(e))
        return None
    if not isinstance(frame, Hello):
        await _refuse(ws, relay, "unexpected_frame", "bad_hello", "the first frame must be a hello")
        return None
    try:
        await verify_hello(frame, nonce, relay_id, time.time_ns() // 1_000_000)
    except WireError as e:
        await _refuse(ws, relay, e.reason, "bad_hello", str(e))
        return None
    return frame, nonce


async def _session(ws: WebSocket, relay: Relay, hello: Hello, ip: str, proof: Entry) -> None:
    client = relay.hub.new_client(hello.peer, hello.caps, "websocket", address=ip, proof=proof)
    refusal = relay.hub.attach(client)
    if refusal is not None:
        await _refuse(ws, relay, refusal, refusal, "the relay cannot take this peer now")
        return
    writer = asyncio.create_task(_write(ws, client))
    reader = asyncio.create_task(_read(ws, relay, client))
    try:
        # Whoever ends the session (the peer, a bad frame, the hub) closes the client.
        await client.wait_closed()
        await asyncio.wait([writer], timeout=FLUSH_TIMEOUT_S)
    finally:
        reader.cancel()
        writer.cancel()
        results = await asyncio.gather(reader, writer, return_exceptions=True)
        relay.hub.detach(client)
    for result in results:
        if isinstance(result, Exception) and not isinstance(result, _GONE):
            log.error("session with %s failed", short_id(client.peer), exc_info=result)


async def _read(ws: WebSocket, relay: Relay, client: Client) -> None:
    config = relay.config
    now = time.monotonic()
    frames = TokenBucket(config.frames_per_s, config.frames_burst, now)
    volume = TokenBucket(config.bytes_per_s, config.bytes_burst, now)
    over_since: float | None = None  # since when every frame has found the buckets short
    try:
        while not client.closed:
            try:
                buf = await _receive(ws, relay)
                if buf is None:
                    return
                client.received(len(buf))
                # Rate before parsing: a flood must not cost us the CPU of decoding it.
                over_since = await _throttle(frames, volume, len(buf), over_since, config.rate_limit_after_s)
                if over_since is not None:
                    relay.stats.throttled += 1
                frame = parse_relay_frame(buf, from_relay=False)
                if not isinstance(frame, SignalTo | CircuitTo):
                    raise WireError("unexpected_frame", "hello after welcome")
            except WireError as e:
                relay.stats.reject(e.reason)
                code = "rate_limited" if e.reason == "rate_limited" else "bad_frame"
                client.close(Error(code, str(e)[:MAX_ERROR_TEXT]))
                return
            relay.hub.route(client, frame)
    finally:
        client.close()


async def _write(ws: WebSocket, client: Client) -> None:
    try:
        await client.drain_to(ws.send_bytes)
        await ws.close(_close_code(client.error))
    except RuntimeError:
        pass  # uvicorn refuses sends once the peer's close was answered: the peer left, as StarletteSocket.send
    finally:
        client.close()


class StarletteSocket:
    """An accepted WebSocket as a federation link's socket: whole binary frames, ConnectionClosed at the end."""

    def __init__(self, ws: WebSocket, relay: Relay) -> None:
        self._ws = ws
        self._relay = relay

    async def send(self, frame: bytes) -> None:
        try:
            await self._ws.send_bytes(frame)
        except (*_GONE, RuntimeError) as e:
            raise ConnectionClosed(f"the relay went away: {e}") from None

    async def recv(self) -> bytes:
        try:
            buf = await _receive(self._ws, self._relay)
        except _GONE as e:
            raise ConnectionClosed(f"the relay went away: {e}") from None
        if buf is None:
            raise ConnectionClosed("the relay closed the link")
        return buf

    async def close(self) -> None:
        with contextlib.suppress(*_GONE, RuntimeError):
            await self._ws.close()


async def _throttle(
    frames: TokenBucket, volume: TokenBucket, size: int, over_since: float | None, limit_s: float
) -> float | None:
    """Charge one message of `size` bytes, waiting for the buckets when they are short: meanwhile the socket is
    not read, so TCP slows the sender down. Returns since when the peer has been over its rate (None: it is
    not); raises `rate_limited` once that is longer than `limit_s`."""
    now = time.monotonic()
    waited = False
    while (wait := max(frames.wait(1, now), volume.wait(size, now))) > 0.0:
        over_since = now if over_since is None else over_since
        if now + wait - over_since > limit_s:
            raise WireError("rate_limited", "over the relay's per-peer rate")
        waited = True
        await asyncio.sleep(wait)
        now = time.monotonic()
    frames.take(1, now)
    volume.take(size, now)
    return over_since if waited else None


async def _receive(ws: WebSocket, relay: Relay) -> bytes | None:
    """The next binary message, or None when the peer is gone; a text message raises WireError."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        if message.get("code") == _WS_TOO_BIG:
            relay.stats.reject("oversized")
        return None
    data = message.get("bytes")
    if data is None:
        raise WireError("text_message", "relay frames are binary WebSocket messages")
    return data


async def _refuse(ws: WebSocket, relay: Relay, reason: str, code: str, msg: str) -> None:
    """Count `reason`, send `error` `code` and close: for sockets that never became a hub client."""
    relay.stats.reject(reason)
    await ws.send_bytes(Error(code, msg[:MAX_ERROR_TEXT]).encode())
    await ws.close(_close_code(Error(code, msg)))


def _close_code(error: Error | None) -> int:
    if error is None:
        return 1000  # normal closure
    return 1001 if error.code == "shutting_down" else 1008  # going away / policy violation
