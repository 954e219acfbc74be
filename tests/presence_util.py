"""Round certificates and attested profiles made directly (real ECVRF proofs, signatures and co-signatures),
for tests of what replicas and the points view do with them, without running the rounds."""

from __future__ import annotations

import os
from typing import Any

from pynode.identity import Identity, vrf
from pynode.presence import membership, messages
from pynode.presence.certificate import Entry, committee, digest, make_body
from pynode.presence.chain import challenge_alpha, pulse_alpha, seed_for
from pynode.presence.params import CLAIM_BYTES, PULSE_TOPIC
from pynode.state.records import Record, make_record
from pynode.wire.envelope import sign_envelope


async def certificate(
    ids: list[Identity], leader: Identity, prev: bytes, round_: int, interval_ms: int, forge: str = ""
) -> Record:
    """A certificate of `ids` led by `leader`, co-signed by its committee, written 4 s into the round.
    `forge`: 'cosigs' (signatures over another digest), 'seed' (a seed that does not follow from prev)."""
    seed = os.urandom(32) if forge == "seed" else seed_for(prev, round_)
    entries = []
    for i in ids:
        assert i.vrf is not None
        proof = i.vrf.prove(pulse_alpha(seed, round_))
        entries.append(Entry(i.peer_id, proof, vrf.proof_to_hash(proof)[:CLAIM_BYTES], os.urandom(32)))
    assert leader.vrf is not None
    challenge = leader.vrf.prove(challenge_alpha(seed, round_))
    body: dict[str, Any] = make_body(round_, seed, prev, interval_ms, challenge, entries, [])
    signed = os.urandom(32) if forge == "cosigs" else digest(body)
    ts = round_ * interval_ms + 4_000
    by_peer = {i.peer_id: i for i in ids}
    cosigs = []
    for peer in sorted(committee(entries, leader.peer_id)):
        data = messages.encode(messages.Cosign(round_, leader.peer_id, signed))
        env = await sign_envelope(by_peer[peer].signer, PULSE_TOPIC, round_, ts - 500, data)
        cosigs.append([peer, env.seqno, env.ts, env.sig])
    body["cosigs"] = cosigs
    return await make_record(leader.signer, "certificate", body, ts)


async def attested_profile(who: Identity, relay: Identity, origin: bytes, ts: int) -> Record:
    """`who`'s profile carrying `relay`'s attestation that it connects from `origin` (a day from `ts`)."""
    attested = await membership.attest(relay.signer, who.peer_id, origin, ts + membership.ORIGIN_TTL_MS)
    return await make_record(who.signer, "profile", {"name": "n", "caps": ["relay"], "origin": attested}, ts)
