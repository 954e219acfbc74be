"""The relay's federation links (PROTOCOL.md §2.11): the asyncio side of `pynode.net.federation.Federation`.

It dials the relays named with `--peer-relay` (and those their directories name), accepts the links other
relays open on `/p2p`, authenticates both ends with the relay hello, sends this relay's signed directory and
checks theirs, forwards to a linked relay what the hub cannot deliver locally, and delivers what linked relays
forward. Whatever the core rules hostile (and every frame that does not parse, verify or keep to the link's
rates) cuts the link off and bans that relay.

The relay runs in CPython only, so it signs and verifies synchronously (PyNaCl through the native platform):
a directory update is signed in the same step that forwards the hop that needed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Protocol

from pynode.identity import Identity, short_id
from pynode.net import federation as fed
from pynode.net import relay_proto as rp
from pynode.net.federation_proto import (
    FED_CAP,
    Dir,
    DirBody,
    Entry,
    Hop,
    HopUnreachable,
    parse_fed_frame,
)
from pynode.net.limits import DIR_FLUSH_S, MAX_FED_LINKS
from pynode.node import Node
from pynode.platform import native
from pynode.platform.transport import ConnectionClosed
from pynode.wire.errors import WireError
from pynode.wire.limits import MAX_ERROR_TEXT, NONCE_BYTES
from relay_server.admission import TokenBucket
from relay_server.client import Client
from relay_server.hub import Hub
from relay_server.limits import (
    FED_BYTES_BURST,
    FED_BYTES_PER_S,
    FED_DIAL_MAX_S,
    FED_DIAL_MIN_S,
    FED_DISCOVERED_TRIES,
    FED_FRAMES_BURST,
    FED_FRAMES_PER_S,
    FED_HANDSHAKE_S,
    FED_SEND_QUEUE_BYTES,
    FED_SEND_QUEUE_FRAMES,
    FLUSH_TIMEOUT_S,
    MAX_INBOUND_FED_LINKS,
)
from relay_server.stats import RelayStats

log = logging.getLogger(__name__)

RELAY_CAPS = ("relay",)
VERIFY_INLINE_ENTRIES = 64  # a directory listing more hellos than this is verified in a worker thread  # what a linked relay's own node is introduced with (its embedded node's caps)


class LinkSocket(Protocol):
    async def send(self, frame: bytes) -> None: ...
    async def recv(self) -> bytes: ...  # raises ConnectionClosed
    async def close(self) -> None: ...


class Peering:
    """The relay's own node keeps a gossip link to every linked relay's node: gossip spans the federation."""

    def __init__(self, node: Node, hub: Hub, me: bytes) -> None:
        self._node = node
        self._hub = hub
        self._me = me

    def pin(self, peer: bytes) -> None:
        own = self._hub.local(self._me)
        if own is not None:
            self._hub.introduce(own, peer, RELAY_CAPS)
        self._node.peer_manager.pin(peer)  # dialled at its next maintenance, and whenever the link drops

    def unpin(self, peer: bytes) -> None:
        self._node.peer_manager.unpin(peer)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def dir_frame(identity: Identity, body: DirBody) -> bytes:
    return Dir(body, identity.signer.sign_now(body.payload())).encode()  # type: ignore[attr-defined]


def verify_dir(relay: bytes, d: Dir) -> str:
    """'' when the directory and every hello it lists verify; else the reason to cut the link."""
    if not native.verify_now(relay, d.body.payload(), d.sig):
        return "bad_directory_signature"
    for e in d.body.add:
        if not native.verify_now(e.peer, e.hello_payload(relay), e.sig):
            return "forged_entry"
    return ""


@dataclass
class _Link:
    relay: bytes
    client: Client  # the bounded send queue towards it
    sock: LinkSocket
    dialled: bool
    task: asyncio.Task[None] | None = None


class RelayFederation:
    def __init__(
        self,
        identity: Identity,
        hub: Hub,
        stats: RelayStats,
        public_url: str = "",
        peer_relays: tuple[str, ...] = (),
    ) -> None:
        self.identity = identity
        self.hub = hub
        self.stats = stats
        self.core = fed.Federation(identity.peer_id, public_url, seq_start=now_ms() << 8)
        self.peer_relays = tuple(peer_relays)
        self.cut_offs: Counter[str] = Counter()  # links cut, by reason
        self.peering: Peering | None = None
        self._links: dict[bytes, _Link] = {}
        self._url_relay: dict[str, bytes] = {}  # who answered at a URL we dial
        self._dialers: dict[str, asyncio.Task[None]] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._running = False
        hub.federation = self

    # ---- life ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._running = True
        self._ticker = asyncio.create_task(self._tick_loop())
        for url in self.peer_relays:
            self._dial(url, listed=True)

    async def stop(self) -> None:
        """Tell every linked relay we are going, give the links a moment to say so, then end the dialling."""
        self._running = False
        links = list(self._links.values())
        for link in links:
            link.client.close(rp.Error("shutting_down", "the relay is stopping"))
        running = [link.task for link in links if link.task is not None and not link.task.done()]
        if running:
            await asyncio.wait(running, timeout=FLUSH_TIMEOUT_S)  # inbound links end their own (ASGI) tasks
        tasks = [t for t in (self._ticker, *self._dialers.values()) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def relay_urls(self) -> list[str]:
        """The federation's relays as far as this one knows: itself, the linked, the listed."""
        urls = [self.core.url] if self.core.url else []
        urls += [self.core.link_url(r) for r in self._links]
        urls += list(self.peer_relays)
        return list(dict.fromkeys(u for u in urls if u))

    def status(self) -> dict[str, object]:
        return {
            "links": [
                {"relay": short_id(r), "url": self.core.link_url(r), "dialled": link.dialled}
                for r, link in self._links.items()
            ],
            "routes": self.core.routes(),
            "cut_offs": dict(self.cut_offs),
        }

    # ---- the hub's hooks -------------------------------------------------------------------------------

    def hosted(self, entry: Entry) -> None:
        self.core.host(entry)

    def unhosted(self, peer: bytes) -> None:
        self.core.unhost(peer)

    def forward(self, sender: Client, frame: rp.SignalTo | rp.CircuitTo) -> tuple[str, ...] | None:
        """Send what `sender` addressed to a remote peer to its relay; the caps it is introduced with, or None
        when no relay routes to it."""
        relay = self.core.route(frame.to)
        link = self._links.get(relay) if relay is not None else None
        if link is None:
            return None
        if self.core.unannounced(sender.peer):
            self._flush(force=True)  # the link must know the sender before its first hop
        kind = "signal" if isinstance(frame, rp.SignalTo) else "circuit"
        self._push(link, Hop(kind, sender.peer, frame.to, frame.data).encode())
        if frame.to == relay:
            return RELAY_CAPS
        entry = self.core.entry(frame.to)
        return entry.caps if entry is not None else ()

    # ---- links: dialling out ---------------------------------------------------------------------------

    def _dial(self, url: str, listed: bool) -> None:
        if url in self._dialers or url == self.core.url:
            return
        self._dialers[url] = asyncio.create_task(self._dial_loop(url, listed))

    async def _dial_loop(self, url: str, listed: bool) -> None:
        backoff, failures = FED_DIAL_MIN_S, 0
        try:
            while self._running:
                known = self._url_relay.get(url)
                if known is not None and known in self._links:
                    await asyncio.sleep(FED_DIAL_MIN_S)  # linked (maybe by its dialling us): nothing to do
                    continue
                started = time.monotonic()
                try:
                    sock = await native.relay_link(url).connect()
                except (OSError, ConnectionClosed, TimeoutError) as e:
                    log.info("peer relay %s: %s", url, e)
                else:
                    try:
                        relay = await self._handshake_out(sock)
                        self._url_relay[url] = relay
                        await self._run(relay, sock, dialled=True)
                    except (ConnectionClosed, OSError, TimeoutError, WireError) as e:
                        log.info("peer relay %s: %s", url, e)
                    finally:
                        with contextlib.suppress(Exception):
                            await sock.close()
                if time.monotonic() - started > FED_DIAL_MAX_S:
                    backoff, failures = FED_DIAL_MIN_S, 0  # it was a real session: come back quickly
                else:
                    failures += 1
                if not listed and failures >= FED_DISCOVERED_TRIES:
                    self.core.forget_url(url)
                    return
                await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
                backoff = min(FED_DIAL_MAX_S, backoff * 2)
        finally:
            if self._dialers.get(url) is asyncio.current_task():
                del self._dialers[url]

    async def _handshake_out(self, sock: LinkSocket) -> bytes:
        """Answer the peer relay's challenge, challenge it back; its id once both hellos verified."""
        me = self.identity.peer_id
        async with asyncio.timeout(FED_HANDSHAKE_S):
            challenge = parse_fed_frame(await sock.recv())
            if isinstance(challenge, rp.Error):
                raise ConnectionClosed(f"refused: {challenge.code} {challenge.msg}")
            if not isinstance(challenge, rp.Challenge):
                raise WireError("unexpected_frame", "a relay starts with a challenge")
            if self.core.is_banned(challenge.relay, now_ms()):
                raise ConnectionClosed(f"{short_id(challenge.relay)} is banned")
            hello = await rp.make_hello(
                self.identity.signer, challenge.nonce, challenge.relay, (FED_CAP,), now_ms()
            )
            nonce = native.random_bytes(NONCE_BYTES)
            await sock.send(hello.encode())
            await sock.send(rp.Challenge(nonce, me).encode())
            theirs = parse_fed_frame(await sock.recv())
            if isinstance(theirs, rp.Error):
                raise ConnectionClosed(f"refused: {theirs.code} {theirs.msg}")
            if (
                not isinstance(theirs, rp.Hello)
                or theirs.peer != challenge.relay
                or FED_CAP not in theirs.caps
            ):
                raise WireError("unexpected_frame", "the peer relay must answer with its federation hello")
            await rp.verify_hello(theirs, nonce, me, now_ms())
        return challenge.relay

    # ---- links: accepting ------------------------------------------------------------------------------

    async def serve_inbound(self, sock: LinkSocket, hello: rp.Hello) -> None:
        """A relay dialled us and its hello verified (p2p.py): take its challenge, answer, run the link."""
        try:
            async with asyncio.timeout(FED_HANDSHAKE_S):
                challenge = parse_fed_frame(await sock.recv())
            if not isinstance(challenge, rp.Challenge) or challenge.relay != hello.peer:
                raise WireError(
                    "unexpected_frame", "a federation hello is followed by the dialler's challenge"
                )
            inbound = sum(1 for link in self._links.values() if not link.dialled)
            if inbound >= MAX_INBOUND_FED_LINKS and hello.peer not in self._links:
                await self._refuse(sock, "link_refused", "too_many_links")
                return
            ours = await rp.make_hello(
                self.identity.signer, challenge.nonce, hello.peer, (FED_CAP,), now_ms()
            )
            verdict = self.core.admit_link(hello.peer, False, now_ms())
            if verdict not in (fed.ADMIT, fed.REPLACE):
                await self._refuse(sock, "link_refused", verdict)
                return
            await sock.send(ours.encode())
            await self._run(hello.peer, sock, dialled=False)
        except (ConnectionClosed, OSError, TimeoutError) as e:
            log.info("federation link from %s ended: %s", short_id(hello.peer), e)
        except WireError as e:
            self.stats.reject(e.reason)
            await self._refuse(sock, "bad_frame", f"{e.reason}: {e}")

    async def _refuse(self, sock: LinkSocket, code: str, msg: str) -> None:
        self.stats.reject(msg.split(":")[0])
        with contextlib.suppress(ConnectionClosed, OSError):
            await sock.send(rp.Error(code, msg[:MAX_ERROR_TEXT]).encode())
        await sock.close()

    # ---- a link's life ---------------------------------------------------------------------------------

    async def _run(self, relay: bytes, sock: LinkSocket, dialled: bool) -> None:
        t = now_ms()
        verdict = self.core.admit_link(relay, dialled, t)
        if verdict == fed.REPLACE:
            old = self._links.pop(relay)  # what it still has queued goes out first
            old.client.close(
                rp.Error("link_refused", "duplicate_link: the smaller id's link is kept"), discard=False
            )
        elif verdict != fed.ADMIT:
            await self._refuse(sock, "link_refused", verdict)
            return
        client = Client(
            relay, (FED_CAP,), "federation", self.stats, FED_SEND_QUEUE_FRAMES, FED_SEND_QUEUE_BYTES
        )
        self._flush()  # pending arrivals to the other links first, so this link's snapshot and theirs agree
        link = self._links[relay] = _Link(relay, client, sock, dialled, asyncio.current_task())
        self._apply(self.core.link_up(relay, dialled, t))
        for body in self.core.snapshot(relay, t):
            self._push(link, dir_frame(self.identity, body))
        log.info("federation: linked %s relay %s", "to" if dialled else "from", short_id(relay))
        if self.peering is not None:
            self.peering.pin(relay)
        writer = asyncio.create_task(client.drain_to(sock.send))
        try:
            await self._read(link)
        finally:
            client.close()
            await asyncio.wait([writer], timeout=FLUSH_TIMEOUT_S)  # the error frame, if any, goes out
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            with contextlib.suppress(Exception):
                await sock.close()
            if self._links.get(relay) is link:
                del self._links[relay]
                self._apply(self.core.link_down(relay))
                self.hub.gone(relay)
                if self.peering is not None:
                    self.peering.unpin(relay)
            log.info("federation: link with %s closed", short_id(relay))

    async def _read(self, link: _Link) -> None:
        t = time.monotonic()
        frames = TokenBucket(FED_FRAMES_PER_S, FED_FRAMES_BURST, t)
        volume = TokenBucket(FED_BYTES_PER_S, FED_BYTES_BURST, t)
        closed = asyncio.ensure_future(link.client.wait_closed())
        recv: asyncio.Future[bytes] | None = None
        try:
            while not link.client.closed:
                recv = asyncio.ensure_future(link.sock.recv())
                await asyncio.wait({recv, closed}, return_when=asyncio.FIRST_COMPLETED)
                if not recv.done():
                    return
                buf = recv.result()
                link.client.received(len(buf))
                t = time.monotonic()
                try:
                    if not (frames.take(1, t) and volume.take(len(buf), t)):
                        raise WireError("link_flood", "over the federation link's rate")
                    frame = parse_fed_frame(buf)
                except WireError as e:
                    self._cut(link.relay, e.reason)
                    return
                if isinstance(frame, Dir) and len(frame.body.add) > VERIFY_INLINE_ENTRIES:
                    # a long list costs ~60 µs a hello: checked off the event loop (the reader waits, so the
                    # link's frames keep their order)
                    reason = await asyncio.to_thread(verify_dir, link.relay, frame)
                    self._on_dir(link, frame, reason)
                else:
                    self._on_frame(link, frame)
        finally:
            closed.cancel()
            if recv is not None and not recv.done():
                recv.cancel()
                await asyncio.gather(recv, return_exceptions=True)

    def _on_frame(self, link: _Link, frame: object) -> None:
        relay, t = link.relay, now_ms()
        if isinstance(frame, Hop):
            verdict = self.core.admit_hop(relay, frame.sender, frame.to, t)
            if verdict == fed.DELIVER:
                caps = RELAY_CAPS if frame.sender == relay else self._caps_of(relay, frame.sender)
                if self.hub.deliver_remote(frame.kind, frame.sender, frame.to, frame.data, caps):
                    return
                verdict = fed.UNREACHABLE  # it left between the directory and the hub
            if verdict == fed.UNREACHABLE:
                self._push(link, HopUnreachable(frame.to, frame.sender).encode())
            else:
                self._apply(verdict)
        elif isinstance(frame, HopUnreachable):
            self.core.hop_unreachable(relay, frame.peer)
            self.hub.unreachable(frame.to, frame.peer)
        elif isinstance(frame, Dir):
            self._on_dir(link, frame, verify_dir(relay, frame))
        elif isinstance(frame, rp.Error):
            log.info("federation: %s closed the link: %s %s", short_id(relay), frame.code, frame.msg)
            link.client.close()
        else:
            self._cut(relay, "unexpected_frame")

    def _on_dir(self, link: _Link, frame: Dir, reason: str) -> None:
        if link.client.closed:
            return
        t = now_ms()
        self._apply(
            self.core.cut(link.relay, reason, t) if reason else self.core.directory(link.relay, frame.body, t)
        )

    def _caps_of(self, relay: bytes, peer: bytes) -> tuple[str, ...]:
        entry = self.core.entry(peer)
        return entry.caps if entry is not None else ()

    def _cut(self, relay: bytes, reason: str) -> None:
        self._apply(self.core.cut(relay, reason, now_ms()))

    # ---- outputs, updates ------------------------------------------------------------------------------

    def _apply(self, outputs: list[fed.Output]) -> None:
        for out in outputs:
            if isinstance(out, fed.Gone):
                self.hub.gone(out.peer)
            elif isinstance(out, fed.Cut):
                self.cut_offs[out.reason] += 1
                self.stats.reject(out.reason)
                link = self._links.get(out.relay)
                if link is not None:
                    level = logging.WARNING if out.ban else logging.INFO
                    log.log(level, "federation: cut off %s (%s)", short_id(out.relay), out.reason)
                    link.client.close(rp.Error("cut_off", f"{out.reason}: a federation rule was broken"))
            elif isinstance(out, fed.Discovered) and len(self._dialers) < MAX_FED_LINKS:
                self._dial(out.url, listed=False)

    def _flush(self, force: bool = False) -> None:
        if not self._links:
            return  # nobody to tell: the arrivals wait in the core (a new link gets the full directory anyway)
        bodies = self.core.take_updates(now_ms(), force)
        if not bodies:
            return
        frames = [dir_frame(self.identity, b) for b in bodies]
        for link in self._links.values():
            for frame in frames:
                self._push(link, frame)

    def _push(self, link: _Link, frame: bytes) -> None:
        if not link.client.push(frame):
            self.stats.reject("federation_queue_full")
            link.client.close()

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(DIR_FLUSH_S)
            self._flush()
            self._apply(self.core.tick(now_ms()))
