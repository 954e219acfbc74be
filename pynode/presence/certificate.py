"""Round certificates: built by the leader, co-signed by the committee, checked by anyone.

A certificate is a `certificate` record (pynode/state/records.py has its schema) whose author is the round's
leader. Its body:

  round, seed, prev (the previous certificate's key), interval (ms), challenge (the leader's challenge proof),
  participants  [[peer, proof, claim, root]...]  sorted by peer: every node that passed, the leader among them
  strikes       [[peer, reason, [envelope...]]...] offenders, with their own signed envelopes as evidence
  cosigs        [[peer, seqno, ts, sig]...]         the committee's `cosign` envelopes, minus what is implied

The committee is the COMMITTEE participants with the lowest claims after the leader; a certificate needs
`quorum(len(committee))` of their co-signatures over `digest(body)` (the body without cosigs).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pynode.identity import vrf
from pynode.presence import messages, task
from pynode.presence.chain import Head, challenge_alpha, pulse_alpha
from pynode.presence.messages import Cosign, Pulse, Reveal, Strike
from pynode.presence.params import CLAIM_BYTES, COMMITTEE, PULSE_TOPIC, quorum
from pynode.state.records import Record
from pynode.wire import cbor
from pynode.wire.envelope import Envelope
from pynode.wire.errors import WireError

DOMAIN_CERT = b"hyperspace/1/pulse-certificate\x00"

VrfVerify = Callable[[bytes, bytes, bytes], bytes | None]  # (public key, π, α) -> β or None
SigVerify = Callable[[bytes, bytes, bytes], Awaitable[bool]]  # (public key, message, signature) -> valid?


@dataclass(frozen=True)
class Entry:
    peer: bytes
    proof: bytes
    claim: bytes
    root: bytes

    def to_wire(self) -> list[bytes]:
        return [self.peer, self.proof, self.claim, self.root]


def make_body(
    round_: int,
    seed: bytes,
    prev: bytes,
    interval_ms: int,
    challenge: bytes,
    entries: list[Entry],
    strikes: list[Strike],
) -> dict[str, Any]:
    """The body without cosigs: what the committee signs (through `digest`)."""
    return {
        "round": round_,
        "seed": seed,
        "prev": prev,
        "interval": interval_ms,
        "challenge": challenge,
        "participants": [e.to_wire() for e in sorted(entries, key=lambda e: e.peer)],
        "strikes": [s.to_wire() for s in strikes],
    }


def digest(body: dict[str, Any]) -> bytes:
    unsigned = {k: v for k, v in body.items() if k != "cosigs"}
    return hashlib.sha256(DOMAIN_CERT + cbor.encode(unsigned)).digest()


def committee(entries: list[Entry], leader: bytes) -> list[bytes]:
    """The co-signers: the lowest claims but the leader's (ties by peer id)."""
    ranked = sorted((e.claim, e.peer) for e in entries if e.peer != leader)
    return [peer for _, peer in ranked[:COMMITTEE]]


def cosign_envelope(peer: bytes, seqno: int, ts: int, sig: bytes, cosign: Cosign) -> Envelope:
    """The envelope a co-signer published, rebuilt from the certificate's [peer, seqno, ts, sig]."""
    return Envelope(PULSE_TOPIC, peer, seqno, ts, messages.encode(cosign), sig)


@dataclass(frozen=True)
class Certificate:
    """A certificate record, parsed (the record's schema and signature were checked by the state)."""

    record: Record
    round: int
    seed: bytes
    prev: bytes
    interval_ms: int
    challenge: bytes
    entries: dict[bytes, Entry]
    strikes: tuple[Strike, ...]
    cosigs: tuple[tuple[bytes, int, int, bytes], ...]
    digest: bytes

    @property
    def leader(self) -> bytes:
        return self.record.author

    @property
    def key(self) -> bytes:
        return bytes.fromhex(self.record.key)

    @property
    def claim(self) -> bytes:
        entry = self.entries.get(self.leader)
        return entry.claim if entry is not None else b"\xff" * CLAIM_BYTES

    def head(self) -> Head:
        return Head(self.round, self.key, self.claim, len(self.entries))

    def committee(self) -> list[bytes]:
        return committee(list(self.entries.values()), self.leader)


def parse(record: Record) -> Certificate:
    b = record.body
    entries = {p[0]: Entry(*p) for p in b["participants"]}
    strikes = tuple(messages.strike_from_wire(s) for s in b["strikes"])
    cosigs = tuple((c[0], c[1], c[2], c[3]) for c in b["cosigs"])
    return Certificate(
        record,
        b["round"],
        b["seed"],
        b["prev"],
        b["interval"],
        b["challenge"],
        entries,
        strikes,
        cosigs,
        digest(b),
    )


def proof_ok(entry: Entry, seed: bytes, round_: int, verify: VrfVerify) -> bool:
    """`entry`'s pulse proof verifies and its claim is its output's prefix."""
    beta = verify(entry.peer, entry.proof, pulse_alpha(seed, round_))
    return beta is not None and beta[:CLAIM_BYTES] == entry.claim


async def check(cert: Certificate, verify_sig: SigVerify, verify: VrfVerify, full: bool = False) -> str:
    """'' when `cert` stands on its own (the chain rules are the ledger's), else why not.

    Always: the leader took part and its proof and challenge verify; every counted co-signer is on the
    committee, its proof verifies (so the committee is the VRF-drawn one) and its envelope signature holds;
    enough of them co-signed. `full`: every participant's proof too (an audit; the committee sampled them).
    """
    leader = cert.entries.get(cert.leader)
    if leader is None or not proof_ok(leader, cert.seed, cert.round, verify):
        return "leader_proof"
    if verify(cert.leader, cert.challenge, challenge_alpha(cert.seed, cert.round)) is None:
        return "challenge_proof"
    members = cert.committee()
    signed: set[bytes] = set()
    cosign = Cosign(cert.round, cert.leader, cert.digest)
    for peer, seqno, ts, sig in cert.cosigs:
        if (
            peer not in members
            or peer in signed
            or not proof_ok(cert.entries[peer], cert.seed, cert.round, verify)
        ):
            return "bad_cosigner"
        env = cosign_envelope(peer, seqno, ts, sig, cosign)
        if not await verify_sig(peer, env.signed_bytes(), sig):
            return "bad_cosignature"
        signed.add(peer)
    if len(signed) < quorum(len(members)):
        return "no_quorum"
    if full and not all(proof_ok(e, cert.seed, cert.round, verify) for e in cert.entries.values()):
        return "participant_proof"
    return ""


# ---- strikes -------------------------------------------------------------------------------------------


async def _evidence(data: bytes, peer: bytes, verify_sig: SigVerify) -> Any:
    """The message inside one piece of evidence: an envelope `peer` signed on the pulse topic."""
    env = messages.envelope_from_bytes(data)
    if env.sender != peer or env.topic != PULSE_TOPIC:
        raise WireError("bad_evidence", "evidence is the offender's own pulse-topic envelope")
    if not await verify_sig(peer, env.signed_bytes(), env.sig):
        raise WireError("bad_evidence", "the evidence's signature does not verify")
    return messages.decode(env.data)


async def strike_holds(strike: Strike, cert: Certificate, verify_sig: SigVerify, verify: VrfVerify) -> bool:
    """The offence happened: the offender's own signed messages show it, judged as the leader judged them."""
    try:
        pulse = await _evidence(strike.evidence[0], strike.peer, verify_sig)
        if not isinstance(pulse, Pulse) or (pulse.round, pulse.seed) != (cert.round, cert.seed):
            return False
        entry = Entry(strike.peer, pulse.proof, pulse.claim, pulse.root)
        if strike.reason == "forged_proof":
            return not proof_ok(entry, cert.seed, cert.round, verify)
        if len(strike.evidence) != 2:
            return False
        reveal = await _evidence(strike.evidence[1], strike.peer, verify_sig)
    except WireError:
        return False
    if not isinstance(reveal, Reveal) or (reveal.round, reveal.leader) != (cert.round, cert.leader):
        return False
    beta = verify(cert.leader, cert.challenge, challenge_alpha(cert.seed, cert.round))
    if beta is None:
        return False
    picks = task.picks(beta, strike.peer)
    verdict = task.check_reveal(
        cert.seed, strike.peer, pulse.root, picks, list(reveal.rows), [list(p) for p in reveal.paths]
    )
    return verdict == strike.reason


def vrf_output(public_key: bytes, proof: bytes, alpha: bytes) -> bytes | None:
    """The default VRF verifier (the platform's group)."""
    return vrf.verify(public_key, proof, alpha)
