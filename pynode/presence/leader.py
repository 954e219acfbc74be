"""A leader's attempt at a round: challenge the commitments it took, judge the reveals, draft the certificate,
collect co-signatures, certify. Pure functions of a `RoundState` and the leader's keys; `core.py` times them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pynode.identity.vrf import VrfKey, proof_to_hash
from pynode.presence import messages, task
from pynode.presence.certificate import Entry, VrfVerify, committee, digest, make_body, proof_ok
from pynode.presence.chain import challenge_alpha
from pynode.presence.limits import MAX_PARTICIPANTS, MAX_STRIKES
from pynode.presence.messages import Challenge, Cosign, Draft, Strike
from pynode.presence.params import quorum
from pynode.presence.round import RoundState, SeenChallenge
from pynode.wire.envelope import Envelope

RevealCheck = Any  # (seed, peer, root, picks, rows, paths) -> '' or a strike reason (task.check_reveal)


@dataclass
class Attempt:
    challenge: Challenge
    at: int  # when we challenged
    strikes: list[Strike]  # forged pulses found while taking commitments
    body: dict[str, Any] | None = None
    digest: bytes = b""
    members: list[bytes] = field(default_factory=list)
    cosigs: dict[bytes, tuple[int, int, bytes]] = field(default_factory=dict)
    drafted_at: int = 0
    over: bool = False  # certified or given up

    def enough(self) -> bool:
        return len(self.cosigs) >= quorum(len(self.members))


def open_attempt(rs: RoundState, key: VrfKey, me: bytes, verify: VrfVerify, now: int) -> Attempt | None:
    """Take every valid pulse that came within the commit window and challenge it. None without our own."""
    if rs.mine is None:
        return None
    deadline = rs.start + rs.timing.commit_ms + rs.timing.skew_ms
    commits: dict[bytes, bytes] = {}
    strikes: list[Strike] = []
    for peer, versions in sorted(rs.current().items()):
        seen = versions[0]
        if seen.at > deadline or len(commits) >= MAX_PARTICIPANTS:
            continue
        if peer == me or proof_ok(seen.entry(), rs.seed, rs.round, verify):
            commits[peer] = seen.msg.root
        elif len(strikes) < MAX_STRIKES:
            strikes.append(Strike(peer, "forged_proof", (messages.envelope_bytes(seen.env),)))
    commits[me] = rs.mine.pulse.root
    proof = key.prove(challenge_alpha(rs.seed, rs.round))
    challenge = Challenge(rs.round, rs.seed, rs.mine.pulse.proof, proof, tuple(sorted(commits.items())))
    return Attempt(challenge, now, strikes)


def taken(me: bytes, attempt: Attempt, now: int) -> SeenChallenge:
    """Our own challenge, kept as the round state keeps the others'."""
    beta = proof_to_hash(attempt.challenge.proof)
    return SeenChallenge(attempt.challenge, me, beta, now, dict(attempt.challenge.commits))


def draft(rs: RoundState, me: bytes, attempt: Attempt, seen: SeenChallenge, check: RevealCheck) -> Draft:
    """Judge every reveal that came in time; the certificate's body and its short form for the committee."""
    deadline = attempt.at + rs.timing.reveal_ms
    entries: list[Entry] = []
    strikes = list(attempt.strikes)
    for peer, root in seen.commits.items():
        entry = rs.entry_for(peer, root)
        if entry is None:
            continue
        if peer == me:
            entries.append(entry)
            continue
        reveal = seen.reveals.get(peer)
        if reveal is None or reveal.at > deadline:
            continue  # absent: no points this round, no strike
        r = reveal.msg
        verdict = check(
            rs.seed, peer, root, task.picks(seen.beta, peer), list(r.rows), [list(p) for p in r.paths]
        )
        pulse = rs.with_root(peer, root)
        if not verdict:
            entries.append(entry)
        elif pulse is not None and len(strikes) < MAX_STRIKES:
            evidence = (messages.envelope_bytes(pulse.env), messages.envelope_bytes(reveal.env))
            strikes.append(Strike(peer, verdict, evidence))
    body = make_body(
        rs.round, rs.seed, rs.prev, rs.timing.interval_ms, attempt.challenge.proof, entries, strikes
    )
    attempt.body, attempt.digest = body, digest(body)
    attempt.members = committee(entries, me)
    participants = tuple(sorted(e.peer for e in entries))
    return Draft(rs.round, attempt.digest, participants, tuple(strikes))


def add_cosign(attempt: Attempt, env: Envelope, msg: Cosign) -> bool:
    """Count a committee member's co-signature on our draft; True when it is new."""
    if msg.digest != attempt.digest or env.sender not in attempt.members or env.sender in attempt.cosigs:
        return False
    attempt.cosigs[env.sender] = (env.seqno, env.ts, env.sig)
    return True


def final_body(attempt: Attempt) -> dict[str, Any]:
    assert attempt.body is not None
    cosigs = [[peer, *attempt.cosigs[peer]] for peer in sorted(attempt.cosigs)]
    return {**attempt.body, "cosigs": cosigs}
