"""The pulse topic's messages (docs/PROTOCOL.md §10): deterministic CBOR maps with a type `t`, carried in signed
gossip envelopes on `hs/1/pulse`. The envelope's signature is the sender's: a co-signature is the envelope of a
`cosign` message, and a strike's evidence is the offender's own envelopes, so nothing here is signed twice.

  pulse      {t, round, seed, proof, claim, root}       every node, at the round's start
  challenge  {t, round, seed, lead, proof, commits}     a leader: its pulse proof, its challenge proof, and the
                                                        [peer, root] commitments it took (sorted by peer)
  reveal     {t, round, leader, rows, paths}            a participant answers one leader's challenge
  draft      {t, round, digest, participants, strikes}  the leader's certificate, short: peer ids and strikes
  cosign     {t, round, leader, digest}                 a committee member vouches for a draft
  cert       {t, record}                                the signed certificate record (also in the state)
  origin     {t, node, origin, expires, sig}            a relay's attestation of where `node` connects from
                                                        (membership.py); the envelope's sender is the relay

Every decoder bounds the bytes before parsing and checks every field; `decode` raises WireError.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynode.identity.vrf import PROOF_BYTES
from pynode.presence import limits
from pynode.presence.params import CLAIM_BYTES, PICKED_ROWS
from pynode.presence.task import DEPTH, ROW_BYTES
from pynode.wire import cbor
from pynode.wire.envelope import Envelope
from pynode.wire.errors import WireError
from pynode.wire.schema import expect_map, get_bytes, get_int, get_list, get_str

PEER = 32
HASH = 32
STRIKE_REASONS = ("forged_proof", "wrong_rows", "wrong_answer")
MAX_ROUND = 2**40


@dataclass(frozen=True)
class Pulse:
    round: int
    seed: bytes
    proof: bytes
    claim: bytes  # β[:CLAIM_BYTES], checked against the proof by whoever ranks it
    root: bytes

    def to_wire(self) -> dict[str, Any]:
        return {"t": "pulse", "round": self.round, "seed": self.seed, "proof": self.proof, "claim": self.claim,
                "root": self.root}  # fmt: skip


@dataclass(frozen=True)
class Challenge:
    round: int
    seed: bytes
    lead: bytes  # the leader's pulse proof
    proof: bytes  # the leader's challenge proof: its output picks every participant's rows
    commits: tuple[tuple[bytes, bytes], ...]  # (peer, root), sorted by peer

    def to_wire(self) -> dict[str, Any]:
        return {"t": "challenge", "round": self.round, "seed": self.seed, "lead": self.lead, "proof": self.proof,
                "commits": [list(c) for c in self.commits]}  # fmt: skip


@dataclass(frozen=True)
class Reveal:
    round: int
    leader: bytes
    rows: tuple[bytes, ...]
    paths: tuple[tuple[bytes, ...], ...]

    def to_wire(self) -> dict[str, Any]:
        return {"t": "reveal", "round": self.round, "leader": self.leader, "rows": list(self.rows),
                "paths": [list(p) for p in self.paths]}  # fmt: skip


@dataclass(frozen=True)
class Strike:
    peer: bytes
    reason: str
    evidence: tuple[
        bytes, ...
    ]  # the offender's envelopes (wire CBOR): its pulse, and its reveal if it matters

    def to_wire(self) -> list[Any]:
        return [self.peer, self.reason, list(self.evidence)]


@dataclass(frozen=True)
class Draft:
    round: int
    digest: bytes  # of the certificate body the co-signers rebuild from it and their own pulses
    participants: tuple[bytes, ...]  # sorted
    strikes: tuple[Strike, ...]

    def to_wire(self) -> dict[str, Any]:
        return {"t": "draft", "round": self.round, "digest": self.digest, "participants": list(self.participants),
                "strikes": [s.to_wire() for s in self.strikes]}  # fmt: skip


@dataclass(frozen=True)
class Cosign:
    round: int
    leader: bytes
    digest: bytes

    def to_wire(self) -> dict[str, Any]:
        return {"t": "cosign", "round": self.round, "leader": self.leader, "digest": self.digest}


@dataclass(frozen=True)
class Cert:
    record: bytes

    def to_wire(self) -> dict[str, Any]:
        return {"t": "cert", "record": self.record}


@dataclass(frozen=True)
class Origin:
    node: bytes
    origin: bytes
    expires: int  # ms since the Unix epoch
    sig: bytes  # the relay's signature (membership.origin_payload)

    def to_wire(self) -> dict[str, Any]:
        return {
            "t": "origin",
            "node": self.node,
            "origin": self.origin,
            "expires": self.expires,
            "sig": self.sig,
        }

    def field(self, relay: bytes) -> list[Any]:
        """The profile's `origin` field this attestation makes."""
        return [relay, self.origin, self.expires, self.sig]


Message = Pulse | Challenge | Reveal | Draft | Cosign | Cert | Origin


def encode(msg: Message) -> bytes:
    return cbor.encode(msg.to_wire())


def envelope_bytes(env: Envelope) -> bytes:
    return cbor.encode(env.to_wire())


# ---- decoding ------------------------------------------------------------------------------------------


def _round(d: dict[str, Any]) -> int:
    return get_int(d, "round", 0, MAX_ROUND)


def _pulse(d: dict[str, Any]) -> Pulse:
    expect_map(d, "pulse", {"t", "round", "seed", "proof", "claim", "root"})
    return Pulse(
        _round(d),
        get_bytes(d, "seed", HASH),
        get_bytes(d, "proof", PROOF_BYTES),
        get_bytes(d, "claim", CLAIM_BYTES),
        get_bytes(d, "root", HASH),
    )


def _pairs(d: dict[str, Any], key: str) -> tuple[tuple[bytes, bytes], ...]:
    out = []
    for item in get_list(d, key, limits.MAX_PARTICIPANTS):
        if not (isinstance(item, list) and len(item) == 2 and all(isinstance(x, bytes) for x in item)):
            raise WireError("bad_field", f"{key} holds [peer, root] pairs")
        if len(item[0]) != PEER or len(item[1]) != HASH:
            raise WireError("bad_field", f"{key}: a peer id and a root are 32 bytes each")
        out.append((item[0], item[1]))
    if [p for p, _ in out] != sorted({p for p, _ in out}):
        raise WireError("bad_field", f"{key} must be sorted by peer, each peer once")
    return tuple(out)


def _challenge(d: dict[str, Any]) -> Challenge:
    expect_map(d, "challenge", {"t", "round", "seed", "lead", "proof", "commits"})
    return Challenge(
        _round(d),
        get_bytes(d, "seed", HASH),
        get_bytes(d, "lead", PROOF_BYTES),
        get_bytes(d, "proof", PROOF_BYTES),
        _pairs(d, "commits"),
    )


def _reveal(d: dict[str, Any]) -> Reveal:
    expect_map(d, "reveal", {"t", "round", "leader", "rows", "paths"})
    rows = get_list(d, "rows", PICKED_ROWS)
    paths = get_list(d, "paths", PICKED_ROWS)
    if not all(isinstance(r, bytes) and len(r) == ROW_BYTES for r in rows):
        raise WireError("bad_field", f"rows are {ROW_BYTES} bytes each")
    for p in paths:
        if not (
            isinstance(p, list)
            and len(p) == DEPTH
            and all(isinstance(h, bytes) and len(h) == HASH for h in p)
        ):
            raise WireError("bad_field", f"a Merkle path is {DEPTH} hashes")
    return Reveal(_round(d), get_bytes(d, "leader", PEER), tuple(rows), tuple(tuple(p) for p in paths))


def strike_from_wire(item: Any) -> Strike:
    if not (isinstance(item, list) and len(item) == 3):
        raise WireError("bad_field", "a strike is [peer, reason, evidence]")
    peer, reason, evidence = item
    if not isinstance(peer, bytes) or len(peer) != PEER or reason not in STRIKE_REASONS:
        raise WireError("bad_field", f"a strike names a peer and one of {STRIKE_REASONS}")
    if not (
        isinstance(evidence, list) and 1 <= len(evidence) <= 2 and all(isinstance(e, bytes) for e in evidence)
    ):
        raise WireError("bad_field", "a strike's evidence is one or two envelopes")
    if sum(len(e) for e in evidence) > limits.MAX_EVIDENCE_BYTES:
        raise WireError("oversized", "a strike's evidence is too large")
    return Strike(peer, reason, tuple(evidence))


def _draft(d: dict[str, Any]) -> Draft:
    expect_map(d, "draft", {"t", "round", "digest", "participants", "strikes"})
    participants = get_list(d, "participants", limits.MAX_PARTICIPANTS)
    if not all(isinstance(p, bytes) and len(p) == PEER for p in participants):
        raise WireError("bad_field", "participants are peer ids")
    if participants != sorted(set(participants)):
        raise WireError("bad_field", "participants must be sorted, each once")
    strikes = tuple(strike_from_wire(s) for s in get_list(d, "strikes", limits.MAX_STRIKES))
    return Draft(_round(d), get_bytes(d, "digest", HASH), tuple(participants), strikes)


def _cosign(d: dict[str, Any]) -> Cosign:
    expect_map(d, "cosign", {"t", "round", "leader", "digest"})
    return Cosign(_round(d), get_bytes(d, "leader", PEER), get_bytes(d, "digest", HASH))


def _cert(d: dict[str, Any]) -> Cert:
    expect_map(d, "cert", {"t", "record"})
    return Cert(get_bytes(d, "record", max_len=limits.MAX_CERT_MESSAGE))


def _origin(d: dict[str, Any]) -> Origin:
    expect_map(d, "origin", {"t", "node", "origin", "expires", "sig"})
    return Origin(get_bytes(d, "node", PEER), get_bytes(d, "origin", 16), get_int(d, "expires", 0, 2**63 - 1),
                  get_bytes(d, "sig", 64))  # fmt: skip


_DECODERS = {
    "pulse": (_pulse, limits.MAX_PULSE_MESSAGE),
    "challenge": (_challenge, limits.MAX_CHALLENGE_MESSAGE),
    "reveal": (_reveal, limits.MAX_REVEAL_MESSAGE),
    "draft": (_draft, limits.MAX_DRAFT_MESSAGE),
    "cosign": (_cosign, limits.MAX_COSIGN_MESSAGE),
    "cert": (_cert, limits.MAX_CERT_MESSAGE + 64),
    "origin": (_origin, limits.MAX_ORIGIN_MESSAGE),
}
MAX_MESSAGE = max(limit for _, limit in _DECODERS.values())


def decode(data: bytes) -> Message:
    value = cbor.decode(data, max_bytes=MAX_MESSAGE)
    if not isinstance(value, dict):
        raise WireError("bad_type", "a pulse message is a map")
    kind = get_str(value, "t", 16)
    if kind not in _DECODERS:
        raise WireError("unknown_type", f"no pulse message {kind[:16]!r}")
    decoder, limit = _DECODERS[kind]
    if len(data) > limit:
        raise WireError("oversized", f"a {kind} message of {len(data)} bytes > {limit}")
    return decoder(value)


def envelope_from_bytes(data: bytes) -> Envelope:
    """An envelope kept as evidence (its signature is checked by whoever relies on it)."""
    return Envelope.from_wire(cbor.decode(data, max_bytes=limits.MAX_EVIDENCE_BYTES))
