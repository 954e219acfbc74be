"""The registry of connected peers, and the routing between them.

The hub is transport-agnostic and never awaits: WebSocket sessions and in-process peers (the relay's own
embedded node) are both `Client`s with a bounded send queue. It announces arrivals (`welcome` to the newcomer,
`join` to others) and departures (`leave`), forwards `signal` and `circuit` frames with the sender's id as
`from`, and answers `unreachable` for a target that is not connected.

Announcements are bounded (PROTOCOL.md §2.4): a welcome names at most WELCOME_PEERS peers and a `join` goes to at
most JOIN_FANOUT of the others, chosen at random; a `leave` goes only to the clients that were told of the peer.
Announcing every arrival to everyone cost N² frames — at 2,000 peers, most of the relay's CPU went to writing
them (bench relay's profile) — while a node needs only enough of the others to fill its target of links.

With a federation (relay_server/federation.py) a target hosted by another relay is forwarded there, and a peer
that talks to a remote one is introduced to it (`join`, with the capabilities its relay listed) and told when
it goes (`leave`), so its node treats it like a peer of its own relay.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from itertools import islice
from typing import Protocol

from pynode.identity import short_id
from pynode.net.federation_proto import Entry
from pynode.net.limits import FED_INTRODUCED_PER_PEER, MAX_DIR_RELAY_URLS
from pynode.net.relay_proto import (
    CircuitFrom,
    CircuitTo,
    Error,
    Join,
    Leave,
    PeerInfo,
    SignalFrom,
    SignalTo,
    Unreachable,
    Welcome,
    parse_relay_frame,
)
from pynode.wire.errors import WireError
from relay_server.client import Client, Kind
from relay_server.config import MiB
from relay_server.limits import JOIN_FANOUT, WELCOME_NEWEST, WELCOME_PEERS
from relay_server.stats import RelayStats

log = logging.getLogger(__name__)


class Federated(Protocol):
    """What the hub needs of a federation: to learn its peers, and to forward what it cannot deliver."""

    def hosted(self, entry: Entry) -> None: ...
    def unhosted(self, peer: bytes) -> None: ...
    def forward(self, sender: Client, frame: SignalTo | CircuitTo) -> tuple[str, ...] | None: ...
    def relay_urls(self) -> list[str]: ...


class Hub:
    def __init__(
        self,
        stats: RelayStats | None = None,
        *,
        max_peers: int = 10_000,
        send_queue_frames: int = 1024,
        send_queue_bytes: int = 16 * MiB,
        rng: random.Random | None = None,
    ) -> None:
        self.stats = stats if stats is not None else RelayStats()
        self.max_peers = max_peers
        self._send_queue = (send_queue_frames, send_queue_bytes)
        self._clients: dict[bytes, Client] = {}  # insertion order = arrival order
        self._closing = False
        self.federation: Federated | None = None
        self._introduced: dict[bytes, set[Client]] = {}  # remote peer -> local clients told of it
        self._told: dict[bytes, set[Client]] = {}  # local peer -> clients told of it (they get its `leave`)
        self._rng = rng if rng is not None else random.Random()

    @property
    def clients(self) -> list[Client]:
        """Connected peers, oldest first."""
        return list(self._clients.values())

    def new_client(
        self,
        peer: bytes,
        caps: tuple[str, ...],
        kind: Kind,
        address: str | None = None,
        proof: Entry | None = None,
    ) -> Client:
        return Client(peer, caps, kind, self.stats, *self._send_queue, address=address, proof=proof)

    def local(self, peer: bytes) -> Client | None:
        return self._clients.get(peer)

    def address_of(self, peer: bytes) -> str | None:
        """The network address a connected peer came from, as the relay saw it (what it attests)."""
        client = self._clients.get(peer)
        return client.address if client is not None else None

    def attach(self, client: Client) -> str | None:
        """Register `client`; returns an error code when it is refused."""
        if self._closing:
            return "shutting_down"
        old = self._clients.pop(client.peer, None)
        if old is None and len(self._clients) >= self.max_peers:
            return "too_many_connections"
        if old is not None:
            # The newer socket wins: the old one is likely a dead connection the peer has given up on.
            old.close(Error("replaced", "the same peer connected again"))
            self._announce_leave(old.peer)
        named = self._welcome_sample()
        self._clients[client.peer] = client
        for c in named:
            self._tell(client, c.peer)
        relays = (
            tuple(self.federation.relay_urls()[:MAX_DIR_RELAY_URLS]) if self.federation is not None else ()
        )
        self._deliver([(client, Welcome(tuple(PeerInfo(c.peer, c.caps) for c in named), relays).encode())])
        told = self._join_sample(client)
        for c in told:
            self._tell(c, client.peer)
        join = Join(client.peer, client.caps).encode()
        self._deliver([(c, join) for c in told])
        if self.federation is not None and client.proof is not None:
            self.federation.hosted(client.proof)
        return None

    def detach(self, client: Client) -> None:
        """Forget `client` (a no-op for one already replaced or detached) and close it."""
        client.close()
        for peer in client.introduced:
            told = self._introduced.get(peer)
            if told is not None:
                told.discard(client)
        client.introduced.clear()
        for peer in client.known:
            told = self._told.get(peer)
            if told is not None:
                told.discard(client)
        client.known.clear()
        if self._clients.get(client.peer) is client:
            del self._clients[client.peer]
            self._announce_leave(client.peer)
            if self.federation is not None:
                self.federation.unhosted(client.peer)

    def route(self, sender: Client, frame: SignalTo | CircuitTo) -> None:
        if sender.closed:
            return
        target = self._clients.get(frame.to)
        if target is None or target.closed:
            caps = self.federation.forward(sender, frame) if self.federation is not None else None
            if caps is None:
                self._deliver([(sender, Unreachable(frame.to).encode())])
            else:
                self.introduce(sender, frame.to, caps)
            return
        if isinstance(frame, SignalTo):
            out: SignalFrom | CircuitFrom = SignalFrom(sender.peer, frame.data)
        else:
            out = CircuitFrom(sender.peer, frame.data)
        self._deliver([(target, out.encode())])

    def deliver_remote(self, kind: str, sender: bytes, to: bytes, data: bytes, caps: tuple[str, ...]) -> bool:
        """A frame another relay forwarded from its peer `sender`; False when `to` is not connected here."""
        target = self._clients.get(to)
        if target is None or target.closed:
            return False
        self.introduce(target, sender, caps)
        out = SignalFrom(sender, data) if kind == "signal" else CircuitFrom(sender, data)
        self._deliver([(target, out.encode())])
        return True

    def unreachable(self, to: bytes, peer: bytes) -> None:
        """Tell local `to` that remote `peer` cannot be reached (its relay said so)."""
        target = self._clients.get(to)
        if target is not None:
            self._deliver([(target, Unreachable(peer).encode())])

    def introduce(self, client: Client, peer: bytes, caps: tuple[str, ...]) -> None:
        """Tell `client` of remote `peer` once (`join`), so its node knows its capabilities and hears `leave`."""
        if peer in client.introduced or peer in self._clients or client.closed:
            return
        if len(client.introduced) >= FED_INTRODUCED_PER_PEER:
            return  # it still reaches the peer; only the courtesy is bounded
        client.introduced.add(peer)
        self._introduced.setdefault(peer, set()).add(client)
        self._deliver([(client, Join(peer, caps).encode())])

    def gone(self, peer: bytes) -> None:
        """Remote `peer` is no longer reachable through any relay: `leave` to those it was introduced to."""
        told = self._introduced.pop(peer, set())
        for c in told:
            c.introduced.discard(peer)
        if peer not in self._clients:
            self._deliver([(c, Leave(peer).encode()) for c in told])

    def close_all(self, error: Error) -> list[Client]:
        """Close every client with `error` and refuse newcomers; returns the clients closed."""
        self._closing = True
        clients = list(self._clients.values())
        self._clients.clear()  # everyone is leaving: no `leave` broadcasts
        for c in clients:
            c.close(error)
        return clients

    def attach_local(
        self, peer: bytes, caps: tuple[str, ...] | list[str], deliver: Callable[[bytes], Awaitable[None]]
    ) -> LocalHandle:
        """Connect an in-process peer. `deliver` gets every encoded frame a node would get from the relay
        (welcome first); frames go back in through `LocalHandle.send`. Call it inside the running loop."""
        client = self.new_client(peer, tuple(caps), "local")
        refusal = self.attach(client)
        if refusal is not None:
            raise RuntimeError(f"the hub refused local peer {short_id(peer)}: {refusal}")
        return LocalHandle(self, client, deliver)

    def _welcome_sample(self) -> list[Client]:
        """Whom a newcomer's welcome names: the newest peers (they need links most), then others at random."""
        if len(self._clients) <= WELCOME_PEERS:
            return list(reversed(self._clients.values()))
        newest = list(islice(reversed(self._clients.values()), WELCOME_NEWEST))
        rest = list(self._clients.values())[: len(self._clients) - WELCOME_NEWEST]
        return newest + self._rng.sample(rest, WELCOME_PEERS - WELCOME_NEWEST)

    def _join_sample(self, newcomer: Client) -> list[Client]:
        """Who hears of `newcomer`: everyone in a small network, JOIN_FANOUT peers at random in a large one."""
        others = [c for c in self._clients.values() if c is not newcomer]
        return others if len(others) <= JOIN_FANOUT else self._rng.sample(others, JOIN_FANOUT)

    def _tell(self, client: Client, peer: bytes) -> None:
        client.known.add(peer)
        self._told.setdefault(peer, set()).add(client)

    def _announce_leave(self, peer: bytes) -> None:
        told = self._told.pop(peer, set())
        for c in told:
            c.known.discard(peer)
        leave = Leave(peer).encode()
        self._deliver([(c, leave) for c in told])

    def _deliver(self, items: Iterable[tuple[Client, bytes]]) -> None:
        slow = [client for client, data in items if not client.push(data)]
        for client in slow:
            self.stats.reject("slow_consumer")
            self.detach(client)


class LocalHandle:
    """An in-process peer's end of the hub: send frames as a node would (`signal` / `circuit` with `to`)."""

    def __init__(self, hub: Hub, client: Client, deliver: Callable[[bytes], Awaitable[None]]) -> None:
        self._hub = hub
        self._client = client
        self._task = asyncio.create_task(self._deliver_all(deliver))

    @property
    def peer(self) -> bytes:
        return self._client.peer

    @property
    def closed(self) -> bool:
        return self._client.closed

    async def send(self, frame: bytes) -> None:
        """Route one encoded node→relay frame; raises WireError for anything but signal/circuit."""
        if self._client.closed:
            raise ConnectionError("this local peer is no longer attached to the hub")
        parsed = parse_relay_frame(frame, from_relay=False)
        if not isinstance(parsed, SignalTo | CircuitTo):
            raise WireError("unexpected_frame", "a local peer sends only signal and circuit frames")
        self._client.received(len(frame))
        self._hub.route(self._client, parsed)

    def close(self) -> None:
        self._hub.detach(self._client)

    async def wait_closed(self) -> None:
        await self._client.wait_closed()

    async def _deliver_all(self, deliver: Callable[[bytes], Awaitable[None]]) -> None:
        try:
            await self._client.drain_to(deliver)
        except Exception:
            log.exception("local peer %s failed to take a frame; detaching it", short_id(self.peer))
        finally:
            self._hub.detach(self._client)
