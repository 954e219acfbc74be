"""An in-memory connection pair for driving protocol code without sockets."""

from __future__ import annotations

from pynode.net.connection import Connection


class PipeConnection(Connection):
    kind = "memory"

    def __init__(self, remote: bytes, initiator: bool = True) -> None:
        super().__init__(remote, initiator)
        self.partner: PipeConnection | None = None
        self.sent: list[bytes] = []

    async def _send(self, frame: bytes) -> None:
        self.sent.append(frame)
        assert self.partner is not None
        self.partner.feed(frame)


def pipe(a: bytes, b: bytes) -> tuple[PipeConnection, PipeConnection]:
    """Connections (at a, expecting b; at b, expecting a)."""
    x, y = PipeConnection(b, initiator=True), PipeConnection(a, initiator=False)
    x.partner, y.partner = y, x
    return x, y
