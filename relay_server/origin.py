"""Origin attestations: the relay tells each node, in a signed message on the pulse topic, which address block
it connects from (pynode/presence/membership.py), so the points ledger can group nodes behind one address.

The relay never publishes an address: the attested origin is SHA-256(salt ‖ the /24 or /48)[:16], the salt a
secret kept in the relay's data directory (a node cannot learn another's address from it, and two relays'
origins for one address differ: docs/POINTS.md says what that leaves open). A node is attested a few seconds
after it connects (it has joined the topic's mesh by then), again a little later in case it had not, and
every ORIGIN_RENEW_S after that while it stays connected. Each attestation is a gossip message to the whole
network, so the relay sends at most ORIGIN_ATTESTS_PER_S of them, the longest due first: a crowd of arrivals (or
of free identities) is attested over a while instead of flooding the pulse topic and stalling the relay.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

from pynode.node import Node
from pynode.presence import membership, messages
from pynode.presence.params import PULSE_TOPIC
from relay_server.hub import Hub
from relay_server.limits import ORIGIN_ATTESTS_PER_S

log = logging.getLogger(__name__)

SALT_FILE = "origin_salt"
SALT_BYTES = 32
CHECK_S = 2.0  # how often the connected peers are looked at
ATTEST_AFTER_S = (3.0, 30.0)  # after a node connects: once it is in the mesh, and once more to be sure
ORIGIN_RENEW_S = 12 * 3600.0  # attestations last a day; renewed at half-life


def load_salt(data_dir: Path) -> bytes:
    """The relay's origin salt, made on first use (0600, like its key)."""
    path = Path(data_dir) / SALT_FILE
    if path.is_file():
        salt = path.read_bytes()
        if len(salt) == SALT_BYTES:
            return salt
    path.parent.mkdir(parents=True, exist_ok=True)
    salt = os.urandom(SALT_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(salt)
    return salt


class OriginAttestor:
    def __init__(self, node: Node, hub: Hub, salt: bytes) -> None:
        self.node = node
        self.hub = hub
        self.salt = salt
        self._due: dict[bytes, tuple[str, list[float]]] = {}  # peer -> (address, times still to attest at)
        self.attested = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            try:
                await self.step(time.monotonic())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("origin attestation failed")
            await asyncio.sleep(CHECK_S)

    async def step(self, now: float) -> None:
        connected = {c.peer: c.address for c in self.hub.clients if c.kind != "local" and c.address}
        for peer in [p for p in self._due if p not in connected]:
            del self._due[peer]
        due = []
        for peer, address in connected.items():
            seen = self._due.get(peer)
            if seen is None or seen[0] != address:
                self._due[peer] = (address, [now + s for s in ATTEST_AFTER_S])
            times = self._due[peer][1]
            if times and times[0] <= now:
                due.append((times[0], peer))
        due.sort()
        for _, peer in due[: round(ORIGIN_ATTESTS_PER_S * CHECK_S)]:  # the rest stay due for the next steps
            address, times = self._due[peer]
            times.pop(0)
            if not times:
                times.append(now + ORIGIN_RENEW_S)
            await self.attest(peer, address)

    async def attest(self, peer: bytes, address: str) -> None:
        try:
            origin = membership.origin_of(self.salt, address)
        except ValueError:
            return  # not an IP address (a test transport): nothing to attest
        expires = int(time.time() * 1000) + membership.ORIGIN_TTL_MS
        _, hash_, until, sig = await membership.attest(self.node.identity.signer, peer, origin, expires)
        msg = messages.Origin(peer, hash_, until, sig)  # type: ignore[arg-type]
        await self.node.publish(PULSE_TOPIC, messages.encode(msg))
        self.attested += 1
