"""A Node: the sans-IO machines — GossipSub router (`gossip/router.py`), peer manager (`net/peers.py`),
request multiplexer (`net/reqresp.py`), handshake (`net/handshake.py`) — composed and driven by asyncio. It feeds
them relay events, frames and the clock, and carries out what they return: connections through `net/links.py`,
requests through `net/requests.py`, message validation and delivery here."""

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
from pynode.identity import Identity, verify
from pynode.net import peers
from pynode.net.limits import MAINTAIN_INTERVAL_S, REQUEST_TIMEOUT_S, RTC_TIMEOUT_S
from pynode.net.links import Links, relay_events
from pynode.net.peers import DIRECT_CAP, PeerConfig, PeerManager
from pynode.net.relay_client import RelayClient, RelayLink
from pynode.net.reqresp import ReqResp
from pynode.net.requests import Requests, Service
from pynode.net.tasks import Tasks
from pynode.platform import current
from pynode.wire import cbor
from pynode.wire.envelope import Envelope, freshness, sign_envelope, verify_envelope
from pynode.wire.errors import WireError
from pynode.wire.limits import MAX_FRAME_BYTES

log = logging.getLogger(__name__)

Handler = Callable[[Envelope], Any]
Validator = Callable[[Envelope], ValidationResult | Awaitable[ValidationResult]]


@dataclass
class NodeConfig:
    caps: list[str] = field(default_factory=lambda: ["relay"])
    target_peers: int = 12  # connections the node keeps (≥ GossipSub D_hi so meshes can fill)
    direct_peers: int = 4  # of those, how many it upgrades to WebRTC; 0 = circuits only
    rtc_timeout_s: float = RTC_TIMEOUT_S
    ice_addresses: list[str] | None = None  # restrict ICE host candidates (e.g. ['127.0.0.1'])
    allowed_peers: frozenset[bytes] | None = None  # talk only to these (a private network, a benchmark)


class Node:
    def __init__(
        self, identity: Identity, link: RelayLink | list[RelayLink], config: NodeConfig | None = None
    ) -> None:
        self.identity = identity
        self.config = cfg = config or NodeConfig()
        platform = current()
        if cfg.ice_addresses is not None:
            platform.restrict_ice_addresses(cfg.ice_addresses)
        self.router = Router(identity.peer_id, score_params=PeerScoreParams())
        self.rejections: Counter[str] = Counter()  # network input refused, by reason
        caps = list(cfg.caps) + ([DIRECT_CAP] if cfg.direct_peers > 0 and DIRECT_CAP not in cfg.caps else [])
        limits = PeerConfig(cfg.target_peers, cfg.direct_peers, cfg.allowed_peers)
        pm = self.peer_manager = PeerManager(identity.peer_id, limits, self.rejections)
        self.relay = RelayClient(identity, link, caps, relay_events(pm, self._apply, self._now))
        tasks = self._tasks = Tasks()
        self._links = Links(
            identity, self.relay, pm, platform, self._apply, self._on_frame, tasks, cfg.rtc_timeout_s
        )
        self.dropped = self._links.dropped  # our own output we had to drop, by reason
        self._requests = Requests(ReqResp(self.rejections), self._links.send, pm.is_linked, tasks)
        self._handlers: dict[str, list[Handler]] = {}
        self._validators: dict[str, Validator] = {}
        self._seqno = int(time.time() * 1000) << 8  # strictly increasing across restarts
        self._delivered: deque[float] = deque(maxlen=10_000)
        self._running = False
        self.on_publish: Callable[[Envelope], None] = lambda env: None  # ours, before routing (sent.py)

    # ---- public API -------------------------------------------------------------------------------

    @property
    def peer_id(self) -> bytes:
        return self.identity.peer_id

    async def start(self) -> None:
        self._running = True
        self._tasks.spawn(self.relay.run(), "relay")
        self._tasks.spawn(self._heartbeat_loop(), "heartbeat")
        self._tasks.spawn(self._maintain_loop(), "maintain")

    async def stop(self) -> None:
        if not self._running:
            return
        self._running = False
        await self.relay.close()
        await self._links.close_all("node stopping")
        await self._tasks.cancel_all()

    def subscribe(
        self, topic: str, handler: Handler | None = None, validator: Validator | None = None
    ) -> None:
        if handler:
            self._handlers.setdefault(topic, []).append(handler)
        if validator:
            self._validators[topic] = validator
        self._route(self.router.subscribe(topic, self._now()))

    def unsubscribe(self, topic: str) -> None:
        self._handlers.pop(topic, None)
        self._validators.pop(topic, None)
        self._route(self.router.unsubscribe(topic, self._now()))

    async def publish(self, topic: str, data: bytes) -> Envelope:
        self._seqno += 1
        env = await sign_envelope(self.identity.signer, topic, self._seqno, int(time.time() * 1000), data)
        self.on_publish(env)
        self._route(self.router.publish(env, self._now()))
        return env

    def handle(self, proto: str, service: Service) -> None:
        """Answer requests for `proto` (PROTOCOL.md §3.4). Raise RequestFailed to refuse with a reason."""
        self._requests.handle(proto, service)

    async def request(
        self, peer: bytes, proto: str, data: bytes, timeout: float = REQUEST_TIMEOUT_S
    ) -> bytes:
        """Ask a connected peer; raises RequestFailed (refused, unreachable, gone) or TimeoutError."""
        return await self._requests.request(peer, proto, data, timeout)

    def connected_peers(self) -> dict[bytes, str]:
        """Peer id → "direct" or "relayed" for every authenticated peer."""
        return self.peer_manager.connected()

    def is_banned(self, peer: bytes) -> bool:
        return self.peer_manager.is_banned(peer, self._now())

    def penalise(self, peer: bytes, reason: str) -> None:
        """`peer` sent hostile input (counted by reason, then banned and disconnected)."""
        self._apply(self.peer_manager.penalise(peer, reason, self._now()))

    def disconnect(self, peer: bytes) -> None:
        """Close our end of every connection to `peer`, without banning it (it may come back at once)."""
        self._apply(self.peer_manager.disconnect(peer))

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

    # ---- the machines' outputs --------------------------------------------------------------------

    _now = staticmethod(time.monotonic)

    def _apply(self, outputs: list[peers.Output]) -> None:
        """Carry out the peer manager's decisions."""
        for out in outputs:
            if isinstance(out, peers.PeerUp):
                self._links.open_outbox(out.peer)
                self._route(self.router.add_peer(out.peer, self._now(), outbound=out.outbound))
            elif isinstance(out, peers.PeerReset):
                self._route(self.router.remove_peer(out.peer, self._now()))
                self._route(self.router.add_peer(out.peer, self._now(), outbound=out.outbound))
            elif isinstance(out, peers.PeerDown):
                self._links.close_outbox(out.peer)
                self._route(self.router.remove_peer(out.peer, self._now()))
                self._requests.peer_gone(out.peer)
            else:
                self._links.carry_out(out)

    def _route(self, outputs: list[Any]) -> None:
        """Carry out the router's outputs."""
        for out in outputs:
            if isinstance(out, Send):
                frame = out.rpc.encode()
                parts = [frame] if len(frame) <= MAX_FRAME_BYTES else [p.encode() for p in split(out.rpc)]
                for part in parts:
                    self._links.send(out.peer, part)
            elif isinstance(out, Validate):
                self._tasks.spawn(self._validate(out), "validate")
            elif isinstance(out, Deliver):
                self._deliver(out.envelope)
            elif isinstance(out, Dial):
                self._apply(self.peer_manager.dial(out.peer, self._now()))

    def _on_frame(self, peer: bytes, frame: bytes) -> None:
        """A frame on an authenticated link; WireError gets the peer penalised."""
        value = cbor.decode(frame)
        kind = value.get("t") if isinstance(value, dict) else None
        if kind == "rpc":
            self._route(self.router.receive(peer, RPC.from_wire(value), self._now()))
        elif kind in ("req", "resp"):
            self._requests.receive(peer, value)
        else:
            raise WireError("unknown_type", f"no peer frame type {str(kind)[:32]!r}")

    async def _validate(self, v: Validate) -> None:
        env = v.envelope
        result, reason = ValidationResult.REJECT, freshness(env.ts, int(time.time() * 1000)) or ""
        if reason:
            pass  # refused unread: too far ahead, or old enough to be a replay the seen cache forgot
        elif not await verify_envelope(env, verify):
            reason = "bad_signature"
        elif (validator := self._validators.get(env.topic)) is None:
            result = ValidationResult.ACCEPT
        else:
            try:
                verdict = validator(env)
                result = await verdict if isinstance(verdict, Awaitable) else verdict
            except Exception:
                log.exception("validator for %s failed", env.topic)
                result = ValidationResult.IGNORE
            reason = "app_rejected" if result is ValidationResult.REJECT else ""
        if reason:
            self.rejections[reason] += 1
        self._route(self.router.report_validation(v.msg_id, result, self._now(), time.time() - env.ts / 1000))

    def _deliver(self, env: Envelope) -> None:
        self._delivered.append(time.monotonic())
        for handler in self._handlers.get(env.topic, []):
            try:
                result = handler(env)
                if asyncio.iscoroutine(result):
                    self._tasks.spawn(result, "handler")
            except Exception:
                log.exception("handler for %s failed", env.topic)

    async def _heartbeat_loop(self) -> None:
        while True:
            self._route(self.router.tick(self._now()))
            await asyncio.sleep(max(0.01, min(1.0, self.router.next_deadline() - self._now())))

    async def _maintain_loop(self) -> None:
        """Keep `target_peers` connections and upgrade some of them to direct WebRTC."""
        while True:
            await asyncio.sleep(MAINTAIN_INTERVAL_S)
            self._apply(self.peer_manager.tick(self._now()))
