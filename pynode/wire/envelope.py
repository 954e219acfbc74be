"""Signed gossip envelopes: `{topic, from, seqno, ts, data, sig}` in deterministic CBOR.

The signature covers the canonical CBOR of every field but `sig`, behind a domain-separation prefix, so a
signature made for one purpose (a handshake, a relay hello, a state record) can never pass as another.
The message id is SHA-256 of the whole signed envelope's canonical encoding. Signing and verification are
passed in (wire/signing.py): the node hands `pynode.identity.verify` to `verify_envelope`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from pynode.wire import cbor
from pynode.wire.errors import WireError
from pynode.wire.limits import MAX_CLOCK_SKEW_MS, MAX_DATA_BYTES, MAX_MESSAGE_AGE_MS
from pynode.wire.schema import check_topic, expect_map, get_bytes, get_int
from pynode.wire.signing import Signer, Verify

DOMAIN_MESSAGE = b"hyperspace/1/gossip-message\x00"
_FIELDS = {"topic", "from", "seqno", "ts", "data", "sig"}


@dataclass(frozen=True)
class Envelope:
    """A signed message published on a topic."""

    topic: str
    sender: bytes  # 32-byte Ed25519 public key = peer id
    seqno: int
    ts: int  # milliseconds since the Unix epoch, the publisher's clock
    data: bytes
    sig: bytes
    msg_id: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "msg_id", hashlib.sha256(cbor.encode(self.to_wire())).digest())

    def unsigned(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "from": self.sender,
            "seqno": self.seqno,
            "ts": self.ts,
            "data": self.data,
        }

    def to_wire(self) -> dict[str, Any]:
        return {**self.unsigned(), "sig": self.sig}

    @classmethod
    def from_wire(cls, value: Any) -> Envelope:
        """Type-check a decoded envelope (the signature is checked separately, asynchronously)."""
        d = expect_map(value, "envelope", _FIELDS)
        return cls(
            topic=check_topic(d["topic"]),
            sender=get_bytes(d, "from", size=32),
            seqno=get_int(d, "seqno"),
            ts=get_int(d, "ts"),
            data=get_bytes(d, "data", max_len=MAX_DATA_BYTES),
            sig=get_bytes(d, "sig", size=64),
        )

    def signed_bytes(self) -> bytes:
        return signing_payload(self.unsigned())


def signing_payload(unsigned: dict[str, Any]) -> bytes:
    return DOMAIN_MESSAGE + cbor.encode(unsigned)


async def sign_envelope(signer: Signer, topic: str, seqno: int, ts: int, data: bytes) -> Envelope:
    check_topic(topic)
    if len(data) > MAX_DATA_BYTES:
        raise WireError("oversized", f"message data {len(data)} bytes > {MAX_DATA_BYTES}")
    unsigned = {"topic": topic, "from": signer.public_key, "seqno": seqno, "ts": ts, "data": data}
    sig = await signer.sign(signing_payload(unsigned))
    return Envelope(topic, signer.public_key, seqno, ts, data, sig)


def freshness(ts: int, now_ms: int) -> str | None:
    """Why an envelope stamped `ts` is refused at `now_ms` of the receiver's clock, or None when it is fresh.

    Fresh from `ts - MAX_CLOCK_SKEW_MS` to `ts + MAX_MESSAGE_AGE_MS`: FRESHNESS_WINDOW_MS in all, the least time
    a seen cache must remember a message for a replay never to be delivered twice.
    """
    if ts > now_ms + MAX_CLOCK_SKEW_MS:
        return "from_future"
    if ts < now_ms - MAX_MESSAGE_AGE_MS:
        return "stale_or_replayed"
    return None


async def verify_envelope(env: Envelope, verify: Verify) -> bool:
    return await verify(env.sender, env.signed_bytes(), env.sig)
