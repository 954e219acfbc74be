"""A peer with a valid identity on the relay that speaks the protocol only as far as it wants to: the attack
tests' and bench chaos's Byzantine node."""

from __future__ import annotations

import asyncio

from pynode.identity import Identity
from pynode.net.circuit import CircuitConnection
from pynode.net.handshake import Initiator, Responder, looks_like_hs1
from pynode.net.limits import HANDSHAKE_TIMEOUT_S
from pynode.net.links import authenticate
from pynode.net.relay_client import RelayClient, RelayEvents
from pynode.platform import native
from pynode.wire.limits import NONCE_BYTES


class Attacker:
    """A peer with a valid identity on the relay that speaks the protocol only as far as it wants to."""

    def __init__(self, url: str, identity: Identity | None = None) -> None:
        self.identity = identity or Identity(native.NaclSigner(native.random_bytes(32)))
        self.conns: dict[bytes, CircuitConnection] = {}
        self.dials: dict[bytes, bytes] = {}  # the latest handshake (hs1) each peer opened with us
        self._hs1_arrived = asyncio.Event()
        events = RelayEvents(
            on_circuit=self._on_circuit,
            on_signal=lambda peer, data: None,
            on_leave=lambda peer: None,
            on_unreachable=lambda peer: None,
            on_disconnected=lambda: None,
        )
        self.client = RelayClient(self.identity, native.relay_link(url), ["attacker"], events)
        self._task: asyncio.Task[None] | None = None

    @property
    def peer_id(self) -> bytes:
        return self.identity.peer_id

    def _on_circuit(self, peer: bytes, data: bytes) -> None:
        if looks_like_hs1(data):  # the target dials us too (it does when we join): see open()
            self.dials[peer] = data
            self._hs1_arrived.set()
            return
        conn = self.conns.get(peer)
        if conn is not None:
            conn.feed(data)

    async def start(self) -> Attacker:
        self._task = asyncio.ensure_future(self.client.run())
        await self.client.wait_connected(10)
        return self

    async def open(self, target: bytes, timeout: float = HANDSHAKE_TIMEOUT_S) -> CircuitConnection:
        """A circuit to `target` with a completed handshake: from here on the target reads our RPCs.

        We dial; but when both sides dial at once the smaller id's attempt wins and the other is ignored
        (PROTOCOL.md §3.3), so a target with the smaller id that dials us too is answered instead."""
        async with asyncio.timeout(timeout):
            conn = self.conns[target] = CircuitConnection(target, self.client)
            side = Initiator(self.peer_id, target, native.random_bytes(NONCE_BYTES))
            ours = asyncio.ensure_future(authenticate(conn, side, self.identity.signer, native.verify))
            try:
                while target >= self.peer_id or target not in self.dials:
                    self._hs1_arrived.clear()
                    theirs = asyncio.ensure_future(self._hs1_arrived.wait())
                    await asyncio.wait({ours, theirs}, return_when=asyncio.FIRST_COMPLETED)
                    theirs.cancel()
                    if ours.done():
                        ours.result()
                        return conn
            finally:
                ours.cancel()
            conn = self.conns[target] = CircuitConnection(target, self.client, initiator=False)
            side = Responder(self.peer_id, target, native.random_bytes(NONCE_BYTES))
            first = self.dials.pop(target)
            await authenticate(conn, side, self.identity.signer, native.verify, first=first)
            return conn

    async def stop(self) -> None:
        await self.client.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
