"""A Node: identity + relay client + connections + the GossipSub router, driven by asyncio.

The router is a sans-IO state machine; this module is its runtime. It feeds the router frames and the clock,
carries out what the router asks (send, validate, deliver, dial, disconnect), and keeps the peer
connections: a circuit through the relay to every peer it talks to, upgraded to a direct WebRTC data channel
for up to `direct_peers` of them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pynode.gossip.events import Deliver, Dial, Send, Validate, ValidationResult
from pynode.gossip.params import PeerScoreParams
from pynode.gossip.router import Router
from pynode.gossip.rpc import RPC, split
from pynode.identity import Identity, short_id
from pynode.net import handshake, reqresp
from pynode.net.circuit import CircuitConnection
from pynode.net.connection import Connection, ConnectionClosed
from pynode.net.direct import DirectConnection
from pynode.net.relay_client import RelayClient, RelayEvents, RelayLink
from pynode.net.reqresp import DEFAULT_TIMEOUT_S, MAX_INFLIGHT_PER_PEER, Request, RequestFailed, Response
from pynode.platform import current
from pynode.wire import cbor
from pynode.wire.envelope import Envelope, sign_envelope, verify_envelope
from pynode.wire.errors import WireError
from pynode.wire.limits import MAX_CLOCK_SKEW_MS, MAX_FRAME_BYTES, MAX_MESSAGE_AGE_MS, MAX_SIGNAL_BYTES

log = logging.getLogger(__name__)

Handler = Callable[[Envelope], Any]
Service = Callable[[bytes, bytes], Awaitable[bytes]]  # (peer, request data) -> response data
Validator = Callable[[Envelope], ValidationResult | Awaitable[ValidationResult]]

BAN_S = 60.0  # a peer that sent garbage is not talked to for this long
RTC_RETRY_S = 30.0  # after a failed WebRTC upgrade, wait before trying that peer again
MAINTAIN_INTERVAL_S = 1.0
DIRECT_CAP = "webrtc"  # advertised by nodes that accept direct data channels
OUTBOX_FRAMES = 1024  # per-peer send queue; beyond it frames are dropped (gossip repairs the loss)


@dataclass
class NodeConfig:
    caps: list[str] = field(default_factory=lambda: ["relay"])
    target_peers: int = 12  # connections the node keeps (≥ GossipSub D_hi so meshes can fill)
    direct_peers: int = 4  # of those, how many it upgrades to WebRTC; 0 = circuits only
    rtc_timeout_s: float = 15.0
    ice_addresses: list[str] | None = None  # restrict ICE host candidates (e.g. ['127.0.0.1'])
    allowed_peers: frozenset[bytes] | None = (
        None  # talk only to these (a private network, a benchmark topology)
    )


@dataclass
class _Peer:
    """Everything this node keeps about one remote peer it has an authenticated link to."""

    links: dict[str, Connection] = field(default_factory=dict)  # kind → connection
    outbox: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(OUTBOX_FRAMES))
    inflight: int = 0  # requests from this peer being served
    writer: asyncio.Task[None] | None = None

    def best(self) -> Connection | None:
        return self.links.get("direct") or self.links.get("relayed")


class Node:
    def __init__(self, identity: Identity, link: RelayLink, config: NodeConfig | None = None) -> None:
        self.identity = identity
        self.config = config or NodeConfig()
        self.router = Router(identity.peer_id, score_params=PeerScoreParams())
        caps = list(self.config.caps)
        if self.config.direct_peers > 0 and DIRECT_CAP not in caps:
            caps.append(DIRECT_CAP)
        self.relay = RelayClient(identity, link, caps, self._relay_events())
        self.rejections: Counter[str] = Counter()  # network input refused, by reason
        self.dropped: Counter[str] = Counter()  # our own output we had to drop, by reason
        self.started_at = time.time()
        self._peers: dict[bytes, _Peer] = {}
        self._circuits: dict[bytes, CircuitConnection] = {}  # incl. handshaking ones
        self._rtc_pending: dict[bytes, asyncio.Future[str]] = {}  # offers awaiting answers
        self._rtc_busy: set[bytes] = set()
        self._rtc_retry_at: dict[bytes, float] = {}
        self._banned: dict[bytes, float] = {}
        self._handlers: dict[str, list[Handler]] = {}
        self._validators: dict[str, Validator] = {}
        self._seqno = int(time.time() * 1000) << 8  # strictly increasing across restarts
        self._delivered: deque[float] = deque(maxlen=10_000)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._services: dict[str, Service] = {}
        self._next_request = 0
        self._requests: dict[tuple[bytes, int], asyncio.Future[bytes]] = {}
        self._running = False
        if self.config.ice_addresses is not None:
            current().restrict_ice_addresses(self.config.ice_addresses)

    # ---- public API -------------------------------------------------------------------------------

    @property
    def peer_id(self) -> bytes:
        return self.identity.peer_id

    async def start(self) -> None:
        self._running = True
        self._spawn(self.relay.run(), "relay")
        self._spawn(self._heartbeat_loop(), "heartbeat")
        self._spawn(self._maintain_loop(), "maintain")

    async def stop(self) -> None:
        if not self._running:
            return
        self._running = False
        await self.relay.close()
        for p in list(self._peers.values()):
            for conn in list(p.links.values()):
                await conn.close("node stopping")
        for conn in list(self._circuits.values()):
            await conn.close("node stopping")
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def subscribe(
        self, topic: str, handler: Handler | None = None, validator: Validator | None = None
    ) -> None:
        if handler:
            self._handlers.setdefault(topic, []).append(handler)
        if validator:
            self._validators[topic] = validator
        self._run_outputs(self.router.subscribe(topic, self._now()))

    def unsubscribe(self, topic: str) -> None:
        self._handlers.pop(topic, None)
        self._validators.pop(topic, None)
        self._run_outputs(self.router.unsubscribe(topic, self._now()))

    async def publish(self, topic: str, data: bytes) -> Envelope:
        self._seqno += 1
        env = await sign_envelope(self.identity.signer, topic, self._seqno, int(time.time() * 1000), data)
        self._run_outputs(self.router.publish(env, self._now()))
        return env

    def handle(self, proto: str, service: Service) -> None:
        """Answer requests for `proto` (PROTOCOL.md §6). Raise RequestFailed to refuse with a reason."""
        self._services[proto] = service

    async def request(
        self, peer: bytes, proto: str, data: bytes, timeout: float = DEFAULT_TIMEOUT_S
    ) -> bytes:
        """Ask a connected peer; raises RequestFailed (refused, unreachable, gone) or TimeoutError."""
        if peer not in self._peers:
            raise RequestFailed(f"not connected to {short_id(peer)}")
        self._next_request += 1
        key = (peer, self._next_request)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._requests[key] = future
        try:
            self._enqueue_frame(peer, Request(key[1], proto, data).encode())
            async with asyncio.timeout(timeout):
                return await future
        finally:
            self._requests.pop(key, None)

    def connected_peers(self) -> dict[bytes, str]:
        """Peer id → "direct" or "relayed" for every authenticated peer."""
        out = {}
        for peer, p in self._peers.items():
            best = p.best()
            if best is not None:
                out[peer] = best.kind
        return out

    def stats(self) -> dict[str, Any]:
        now = time.monotonic()
        while self._delivered and self._delivered[0] < now - 10:
            self._delivered.popleft()
        kinds = Counter(self.connected_peers().values())
        return {
            "peer": self.identity.text,
            "relay_connected": self.relay.connected,
            "known_peers": len(self.relay.peers),
            "peers": sum(kinds.values()),
            "direct": kinds.get("direct", 0),
            "relayed": kinds.get("relayed", 0),
            "mesh": {t: len(m) for t, m in self.router.mesh.items()},
            "messages_per_s": round(len(self._delivered) / 10, 2),
            "rejections": dict(self.rejections),
            "dropped": dict(self.dropped),
            "router": dict(self.router.counters),
        }

    # ---- router plumbing --------------------------------------------------------------------------

    @staticmethod
    def _now() -> float:
        return time.monotonic()

    def _run_outputs(self, outputs: list[Any]) -> None:
        for out in outputs:
            if isinstance(out, Send):
                self._enqueue(out.peer, out.rpc)
            elif isinstance(out, Validate):
                self._spawn(self._validate(out), "validate")
            elif isinstance(out, Deliver):
                self._deliver(out.envelope)
            elif isinstance(out, Dial):
                self._dial(out.peer)

    def _enqueue(self, peer: bytes, rpc: RPC) -> None:
        frame = rpc.encode()
        for f in [frame] if len(frame) <= MAX_FRAME_BYTES else [part.encode() for part in split(rpc)]:
            self._enqueue_frame(peer, f)

    def _enqueue_frame(self, peer: bytes, frame: bytes) -> None:
        p = self._peers.get(peer)
        if p is None:
            return
        try:
            p.outbox.put_nowait(frame)
        except asyncio.QueueFull:
            self.dropped["outbox_overflow"] += 1

    async def _writer(self, peer: bytes, p: _Peer) -> None:
        while True:
            frame = await p.outbox.get()
            conn = p.best()
            if conn is None:
                return
            try:
                await conn.send(frame)
            except ConnectionClosed:
                continue  # the reader notices the close and switches links; the frame is lost

    async def _validate(self, v: Validate) -> None:
        env = v.envelope
        now_ms = int(time.time() * 1000)
        if env.ts > now_ms + MAX_CLOCK_SKEW_MS:
            result, reason = ValidationResult.REJECT, "from_future"
        elif env.ts < now_ms - MAX_MESSAGE_AGE_MS:
            result, reason = ValidationResult.REJECT, "stale_or_replayed"
        elif not await verify_envelope(env):
            result, reason = ValidationResult.REJECT, "bad_signature"
        else:
            result, reason = ValidationResult.ACCEPT, ""
            validator = self._validators.get(env.topic)
            if validator is not None:
                try:
                    verdict = validator(env)
                    result = await verdict if isinstance(verdict, Awaitable) else verdict
                except Exception:
                    log.exception("validator for %s failed", env.topic)
                    result = ValidationResult.IGNORE
                if result is ValidationResult.REJECT:
                    reason = "app_rejected"
        if reason:
            self.rejections[reason] += 1
        self._run_outputs(self.router.report_validation(v.msg_id, result, self._now()))

    def _deliver(self, env: Envelope) -> None:
        self._delivered.append(time.monotonic())
        for handler in self._handlers.get(env.topic, []):
            try:
                result = handler(env)
                if asyncio.iscoroutine(result):
                    self._spawn(result, "handler")
            except Exception:
                log.exception("handler for %s failed", env.topic)

    async def _heartbeat_loop(self) -> None:
        while True:
            now = self._now()
            self._run_outputs(self.router.tick(now))
            await asyncio.sleep(max(0.01, min(1.0, self.router.next_deadline() - self._now())))

    # ---- connections ------------------------------------------------------------------------------

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed", task.get_name(), exc_info=task.exception())

    def _allowed(self, peer: bytes) -> bool:
        allowed = self.config.allowed_peers
        return allowed is None or peer in allowed

    def is_banned(self, peer: bytes) -> bool:
        until = self._banned.get(peer)
        if until is None:
            return False
        if until < self._now():
            del self._banned[peer]
            return False
        return True

    def penalise(self, peer: bytes, reason: str) -> None:
        """For services built on the node: `peer` sent hostile input (counted by reason, then banned)."""
        self._penalise(peer, reason)

    def _penalise(self, peer: bytes, reason: str) -> None:
        """Count a protocol violation and shut the peer out for BAN_S."""
        self.rejections[reason] += 1
        self._banned[peer] = self._now() + BAN_S
        log.info("peer %s misbehaved (%s): disconnected for %.0f s", short_id(peer), reason, BAN_S)
        self._spawn(self._drop_peer(peer, reason), "ban")

    async def _drop_peer(self, peer: bytes, reason: str) -> None:
        p = self._peers.get(peer)
        conns = list(p.links.values()) if p else []
        circuit = self._circuits.get(peer)
        if circuit is not None:
            conns.append(circuit)
        for conn in conns:
            await conn.close(reason)

    def _dial(self, peer: bytes) -> None:
        """Open a circuit to `peer` and run the handshake as initiator."""
        existing = self._circuits.get(peer)
        if existing is not None and not existing.closed:
            return
        if peer == self.peer_id or self.is_banned(peer) or not self._allowed(peer):
            return
        if not self.relay.connected:
            return
        conn = CircuitConnection(peer, self.relay)
        self._circuits[peer] = conn
        self._spawn(self._open(conn, initiator=True), "dial")

    async def _open(self, conn: Connection, initiator: bool, first: bytes | None = None) -> None:
        try:
            if initiator:
                await handshake.initiate(conn, self.identity)
            else:
                assert first is not None
                await handshake.respond(conn, self.identity, first)
        except WireError as e:
            await conn.close(f"handshake failed: {e}")
            self._penalise(conn.remote, e.reason)
            self._forget_circuit(conn)
            return
        except (ConnectionClosed, TimeoutError) as e:
            await conn.close(f"handshake: {e!r}")
            self._forget_circuit(conn)
            return
        await self._serve(conn)

    def _forget_circuit(self, conn: Connection) -> None:
        if self._circuits.get(conn.remote) is conn:
            del self._circuits[conn.remote]

    async def _serve(self, conn: Connection) -> None:
        """Read RPC frames from an authenticated connection until it closes."""
        peer = conn.remote
        p = self._peers.get(peer)
        first_link = p is None or not p.links
        if p is None:
            p = self._peers[peer] = _Peer()
        old = p.links.get(conn.kind)
        p.links[conn.kind] = conn
        if old is not None and old is not conn:
            # a new session of the same kind means the peer started over (restart, or it lost the old
            # circuit): it forgot our subscriptions and mesh, so the router starts over with it too
            await old.close("replaced")
            self._run_outputs(self.router.remove_peer(peer, self._now()))
            self._run_outputs(self.router.add_peer(peer, self._now(), outbound=conn.initiator))
        if first_link:
            p.writer = self._spawn(self._writer(peer, p), "writer")
            self._run_outputs(self.router.add_peer(peer, self._now(), outbound=conn.initiator))
        log.debug("%s ⇄ %s %s", short_id(self.peer_id), short_id(peer), conn.kind)
        try:
            while True:
                frame = await conn.recv()
                try:
                    self._dispatch(peer, p, cbor.decode(frame))
                except WireError as e:
                    self._penalise(peer, e.reason)
                    return
        except ConnectionClosed:
            pass
        finally:
            await conn.close("reader done")
            self._forget_circuit(conn)
            if p.links.get(conn.kind) is conn:
                del p.links[conn.kind]
            if not p.links and self._peers.get(peer) is p:
                del self._peers[peer]
                if p.writer is not None:
                    p.writer.cancel()
                self._run_outputs(self.router.remove_peer(peer, self._now()))
                for (who, _), future in list(self._requests.items()):
                    if who == peer and not future.done():
                        future.set_exception(RequestFailed(f"{short_id(peer)} disconnected"))

    def _dispatch(self, peer: bytes, p: _Peer, value: Any) -> None:
        kind = value.get("t") if isinstance(value, dict) else None
        if kind == "rpc":
            self._run_outputs(self.router.receive(peer, RPC.from_wire(value), self._now()))
        elif kind in ("req", "resp"):
            message = reqresp.parse(value)
            if isinstance(message, Request):
                self._on_request(peer, p, message)
            else:
                future = self._requests.get((peer, message.id))
                if future is None or future.done():
                    self.rejections["unexpected_response"] += 1
                elif message.ok:
                    future.set_result(message.data)
                else:
                    future.set_exception(RequestFailed(message.data.decode("utf-8", "replace")))
        else:
            raise WireError("unknown_type", f"no peer frame type {str(kind)[:32]!r}")

    def _on_request(self, peer: bytes, p: _Peer, req: Request) -> None:
        service = self._services.get(req.proto)
        if service is None:
            self._enqueue_frame(peer, Response.refusal(req.id, f"unknown protocol {req.proto}").encode())
        elif p.inflight >= MAX_INFLIGHT_PER_PEER:
            self.rejections["requests_over_limit"] += 1
            self._enqueue_frame(peer, Response.refusal(req.id, "busy").encode())
        else:
            p.inflight += 1
            self._spawn(self._serve_request(peer, p, service, req), "request")

    async def _serve_request(self, peer: bytes, p: _Peer, service: Service, req: Request) -> None:
        try:
            response = Response(req.id, True, await service(peer, req.data))
        except RequestFailed as e:
            response = Response.refusal(req.id, str(e))
        except Exception:
            log.exception("service %s failed", req.proto)
            response = Response.refusal(req.id, "internal error")
        finally:
            p.inflight -= 1
        frame = response.encode()
        if len(frame) > MAX_FRAME_BYTES:
            log.error("service %s answered %d bytes, over the frame limit", req.proto, len(frame))
            frame = Response.refusal(req.id, "response too large").encode()
        self._enqueue_frame(peer, frame)

    async def _maintain_loop(self) -> None:
        """Keep `target_peers` connections and upgrade some of them to direct WebRTC."""
        rng = current().random_bytes
        while True:
            await asyncio.sleep(MAINTAIN_INTERVAL_S)
            if not self.relay.connected:
                continue
            candidates = [
                p
                for p in self.relay.peers
                if p not in self._peers and p not in self._circuits and self._allowed(p)
            ]
            want = self.config.target_peers - len(self._peers) - len(self._circuits)
            # order candidates by a fresh random key so every node picks a different subset
            candidates.sort(key=lambda _: rng(4))
            for peer in candidates[: max(0, want)]:
                self._dial(peer)
            self._upgrade_some()

    def _is_direct(self, peer: bytes) -> bool:
        p = self._peers.get(peer)
        return p is not None and "direct" in p.links

    def _direct_slots(self) -> int:
        """How many more direct links (open or being negotiated) the cap allows."""
        direct = sum(1 for p in self._peers.values() if "direct" in p.links) + len(self._rtc_busy)
        return self.config.direct_peers - direct

    def _upgrade_some(self) -> None:
        slots = self._direct_slots()
        now = self._now()
        for peer, p in list(self._peers.items()):
            if slots <= 0:
                return
            if "direct" in p.links or peer in self._rtc_busy or self._rtc_retry_at.get(peer, 0) > now:
                continue
            if peer < self.peer_id or DIRECT_CAP not in self.relay.peers.get(peer, ()):
                continue  # the smaller peer id offers (PROTOCOL.md §4), and only to peers that take offers
            self._rtc_busy.add(peer)
            slots -= 1
            self._spawn(self._offer(peer), "rtc-offer")

    async def _offer(self, peer: bytes) -> None:
        session = current().rtc_session()
        try:
            sdp = await session.create_offer()
            answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            self._rtc_pending[peer] = answer
            await self.relay.send_signal(peer, cbor.encode({"kind": "offer", "sdp": sdp}))
            async with asyncio.timeout(self.config.rtc_timeout_s):
                await session.accept_answer(await answer)
                await session.wait_open(self.config.rtc_timeout_s)
        except (TimeoutError, ConnectionError, ValueError) as e:
            log.info("direct link to %s failed: %r", short_id(peer), e)
            self._rtc_retry_at[peer] = self._now() + RTC_RETRY_S
            await session.close()
            return
        finally:
            self._rtc_pending.pop(peer, None)
            self._rtc_busy.discard(peer)
        await self._open(DirectConnection(peer, session, initiator=True), initiator=True)

    async def _answer(self, peer: bytes, sdp: str) -> None:
        session = current().rtc_session()
        conn = DirectConnection(peer, session, initiator=False)
        try:
            answer = await session.accept_offer(sdp)
            await self.relay.send_signal(peer, cbor.encode({"kind": "answer", "sdp": answer}))
            first = await asyncio.wait_for(conn.recv(), self.config.rtc_timeout_s)
        except (TimeoutError, ConnectionError, ConnectionClosed, ValueError) as e:
            log.info("direct link from %s failed: %r", short_id(peer), e)
            await conn.close("negotiation failed")
            return
        finally:
            self._rtc_busy.discard(peer)
        await self._open(conn, initiator=False, first=first)

    # ---- relay events -----------------------------------------------------------------------------

    def _relay_events(self) -> RelayEvents:
        return RelayEvents(
            on_circuit=self._on_circuit,
            on_signal=self._on_signal,
            on_leave=self._on_leave,
            on_unreachable=self._on_leave,
            on_disconnected=self._on_relay_lost,
        )

    def _on_circuit(self, peer: bytes, data: bytes) -> None:
        if self.is_banned(peer):
            self.rejections["from_banned_peer"] += 1
            return
        if not self._allowed(peer):
            self.rejections["not_allowed"] += 1
            return
        conn = self._circuits.get(peer)
        if conn is not None and not conn.closed:
            if not (conn.authenticated or conn.initiator) or not handshake.looks_like_hs1(data):
                conn.feed(data)
                return
            if not conn.authenticated and self.peer_id < peer:
                return  # both dialled at once: the smaller id's attempt wins, ignore theirs
            # the peer restarted, or yields to our smaller id: start over as responder
            self._spawn(conn.close("superseded by a new handshake"), "close")
        elif not handshake.looks_like_hs1(data):
            self._stale_circuit(peer, data)
            return
        conn = CircuitConnection(peer, self.relay, initiator=False)
        self._circuits[peer] = conn
        self._spawn(self._open(conn, initiator=False, first=data), "accept")

    def _stale_circuit(self, peer: bytes, data: bytes) -> None:
        """A frame from a peer we hold no circuit with. Circuits have no close frame, so a peer may still
        believe in one we dropped (our queue overflowed, a timeout): a well-formed peer frame gets a fresh
        handshake, which makes it start over; anything else is garbage and costs the sender a ban."""
        try:
            value = cbor.decode(data)
        except WireError as e:
            self._penalise(peer, e.reason)
            return
        if isinstance(value, dict) and value.get("t") in ("rpc", "req", "resp", "hs2", "hs3"):
            self.rejections["stale_circuit"] += 1
            self._dial(peer)
        else:
            self._penalise(peer, "not_a_handshake")

    def _on_signal(self, peer: bytes, data: bytes) -> None:
        if self.is_banned(peer) or self.config.direct_peers <= 0 or not self._allowed(peer):
            return
        try:
            msg = cbor.decode(data, max_bytes=MAX_SIGNAL_BYTES)
            kind, sdp = msg["kind"], msg["sdp"]
            if set(msg) != {"kind", "sdp"} or kind not in ("offer", "answer") or not isinstance(sdp, str):
                raise WireError("bad_signal", "expected {kind: offer|answer, sdp: text}")
        except (WireError, KeyError, TypeError) as e:
            self._penalise(peer, getattr(e, "reason", "bad_signal"))
            return
        if kind == "answer":
            future = self._rtc_pending.get(peer)
            if future is not None and not future.done():
                future.set_result(sdp)
        elif (
            peer < self.peer_id
            and peer not in self._rtc_busy
            and (self._direct_slots() > 0 or self._is_direct(peer))
        ):
            # only the smaller id offers (PROTOCOL.md §4), and each offer costs a WebRTC stack: within our cap
            self._rtc_busy.add(peer)
            self._spawn(self._answer(peer, sdp), "rtc-answer")
        else:
            self.rejections["offer_refused"] += 1

    def _on_leave(self, peer: bytes) -> None:
        conn = self._circuits.get(peer)
        if conn is not None:
            self._spawn(conn.close("peer left the relay"), "close")

    def _on_relay_lost(self) -> None:
        for conn in list(self._circuits.values()):
            self._spawn(conn.close("relay connection lost"), "close")
