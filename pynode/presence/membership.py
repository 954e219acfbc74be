"""Who runs a node: a declared operator key and a relay-attested network origin, carried in its profile.

- operator: an operator key signs `DOMAIN_OPERATOR ‖ node peer id`; the node puts [key, signature] in its
  profile. Voluntary: an honest operator declares its nodes; nothing makes a Sybil declare.
- origin: the relay a node connects to signs `DOMAIN_ORIGIN ‖ node peer id ‖ origin ‖ expiry (8 bytes)` where
  origin = SHA-256(relay salt ‖ the connecting address's /24 (IPv4) or /48 (IPv6))[:16]: nodes behind one
  address block share an origin without the address being published. Short-lived (ORIGIN_TTL_MS); only
  relays the ledger trusts count.

The ledger groups nodes that share an operator key or an origin (transitively) and weighs a group's members
1, 1/2, 1/3, … (docs/POINTS.md). A node with no valid attestation falls in the one group of the unattested.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from pynode.state.records import Record
from pynode.wire.signing import Signer

DOMAIN_OPERATOR = b"hyperspace/1/operator\x00"
DOMAIN_ORIGIN = b"hyperspace/1/origin\x00"
ORIGIN_BYTES = 16
ORIGIN_TTL_MS = 24 * 3600 * 1000  # an attestation is good for a day; nodes renew it while connected
UNATTESTED = (b"unattested",)  # the one group of every node without a valid origin

SigVerify = Callable[[bytes, bytes, bytes], Awaitable[bool]]


def operator_payload(node: bytes) -> bytes:
    return DOMAIN_OPERATOR + node


def origin_payload(node: bytes, origin: bytes, expires_ms: int) -> bytes:
    return DOMAIN_ORIGIN + node + origin + expires_ms.to_bytes(8, "big")


def address_block(address: str) -> bytes:
    """The /24 (IPv4) or /48 (IPv6) an address belongs to; raises ValueError on anything else."""
    ip = ipaddress.ip_address(address.strip("[]"))
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address.packed


def origin_of(salt: bytes, address: str) -> bytes:
    return hashlib.sha256(salt + address_block(address)).digest()[:ORIGIN_BYTES]


async def declare(operator: Signer, node: bytes) -> list[bytes]:
    """The profile's `operator` field for `node`."""
    return [operator.public_key, await operator.sign(operator_payload(node))]


async def attest(relay: Signer, node: bytes, origin: bytes, expires_ms: int) -> list[object]:
    """The profile's `origin` field: what a relay hands a node it saw connect from `origin`."""
    sig = await relay.sign(origin_payload(node, origin, expires_ms))
    return [relay.public_key, origin, expires_ms, sig]


@dataclass(frozen=True)
class Claim:
    """One profile's checked membership: valid from its timestamp (an origin until its expiry)."""

    node: bytes
    ts: int
    operator: bytes | None
    origin: tuple[bytes, bytes] | None  # (relay, origin hash)
    expires: int


async def claims(profiles: Iterable[Record], relays: frozenset[bytes], verify: SigVerify) -> list[Claim]:
    """Every profile's operator and origin fields whose signatures hold (origins only from trusted relays)."""
    out = []
    for r in profiles:
        b = r.body
        operator = origin = None
        expires = 0
        if "operator" in b:
            key, sig = b["operator"]
            if await verify(key, operator_payload(r.author), sig):
                operator = key
        if "origin" in b:
            relay, hash_, until, sig = b["origin"]
            if relay in relays and await verify(relay, origin_payload(r.author, hash_, until), sig):
                origin, expires = (relay, hash_), until
        if operator is not None or origin is not None:
            out.append(Claim(r.author, r.ts, operator, origin, expires))
    return sorted(out, key=lambda c: (c.node, c.ts))


class Groups:
    """Each node's group at a time: the components of 'shares an operator key or an origin'."""

    def __init__(self, claims_: list[Claim]) -> None:
        self._by_node: dict[bytes, list[Claim]] = {}
        for c in claims_:
            self._by_node.setdefault(c.node, []).append(c)

    def _labels(self, node: bytes, at_ms: int) -> list[tuple[bytes, ...]]:
        operator, origin = None, None
        for c in self._by_node.get(node, ()):
            if c.ts > at_ms:
                break
            if c.operator is not None:
                operator = c.operator
            if c.origin is not None and at_ms < c.expires:
                origin = c.origin
        labels: list[tuple[bytes, ...]] = [(b"operator", operator)] if operator is not None else []
        labels.append((b"origin", *origin) if origin is not None else UNATTESTED)
        return labels

    def at(self, nodes: Iterable[bytes], at_ms: int) -> dict[bytes, bytes]:
        """node -> its group's id (the smallest member), for the nodes given, as of `at_ms`."""
        parent: dict[object, object] = {}

        def find(x: object) -> object:
            while parent.setdefault(x, x) != x:
                parent[x] = parent[parent[x]]  # type: ignore[index]
                x = parent[x]
            return x

        nodes = list(nodes)
        for n in nodes:
            for label in self._labels(n, at_ms):
                a, b = find(n), find(label)
                if a != b:
                    parent[a] = b
        groups: dict[object, list[bytes]] = {}
        for n in nodes:
            groups.setdefault(find(n), []).append(n)
        return {n: min(members) for members in groups.values() for n in members}
