"""Relayed connections: peer frames carried inside the relay's `circuit` frames (PROTOCOL.md §2.6)."""

from __future__ import annotations

from typing import Protocol

from pynode.net.connection import Connection


class CircuitSender(Protocol):
    async def send_circuit(self, to: bytes, data: bytes) -> None: ...


class CircuitConnection(Connection):
    """One circuit to one peer. The relay client feeds it the `data` of every circuit frame from that peer."""

    kind = "relayed"

    def __init__(self, remote: bytes, relay: CircuitSender, initiator: bool = True) -> None:
        super().__init__(remote, initiator)
        self._relay = relay

    async def _send(self, frame: bytes) -> None:
        await self._relay.send_circuit(self.remote, frame)
