"""A committee member's judgement of a leader's draft: co-sign only what it can stand behind.

The member holds the leader to what it saw itself: no pulse that reached it well before the commit deadline
left out (unless shown forged), no reveal that reached it well before the reveal deadline and passed left out,
nobody in whose pulse and reveal it never saw, no strike it can refute; a sample of the participants checked in
full (VRF proof and recomputed rows); enough participants (chain.min_participants); and the digest it rebuilds
from its own copies equal to the leader's. A lying leader is refused by every honest member, so its
certificate never reaches a quorum and the next leader takes over.
"""

from __future__ import annotations

import hashlib

from pynode.presence import task
from pynode.presence.certificate import Entry, VrfVerify, digest, make_body, proof_ok
from pynode.presence.chain import Head, min_participants
from pynode.presence.leader import RevealCheck
from pynode.presence.messages import Draft, Strike
from pynode.presence.params import SAMPLE
from pynode.presence.round import RoundState, SeenChallenge


def entries_of(rs: RoundState, seen: SeenChallenge, participants: tuple[bytes, ...]) -> list[Entry] | None:
    """The participants' entries from our own copies of their pulses; None if we miss one."""
    out = []
    for peer in participants:
        root = seen.commits.get(peer)
        entry = rs.entry_for(peer, root) if root is not None else None
        if entry is None:
            return None
        out.append(entry)
    return out


def _dropped_pulses(rs: RoundState, seen: SeenChallenge, forged: set[bytes]) -> bool:
    early = rs.start + rs.timing.commit_ms - rs.timing.grace_ms
    for peer, versions in rs.current().items():
        if versions[0].at <= early and peer not in seen.commits and peer not in forged:
            return True
    return False


def _verdict(rs: RoundState, seen: SeenChallenge, peer: bytes, check: RevealCheck) -> str | None:
    """Our verdict on `peer`'s reveal to this challenge ('' passes), None if it never reached us."""
    if peer == rs.me:
        return ""  # our own rows: we computed them
    reveal = seen.reveals.get(peer)
    if reveal is None:
        return None
    r = reveal.msg
    picks = task.picks(seen.beta, peer)
    return check(rs.seed, peer, seen.commits[peer], picks, list(r.rows), [list(p) for p in r.paths])


def _refuted(
    rs: RoundState, seen: SeenChallenge, strike: Strike, verify: VrfVerify, check: RevealCheck
) -> bool:
    """A strike we can show is false from our own copies."""
    if strike.reason == "forged_proof":
        pulse = rs.first(strike.peer)
        return pulse is not None and proof_ok(pulse.entry(), rs.seed, rs.round, verify)
    if strike.peer not in seen.commits:
        return True
    verdict = _verdict(rs, seen, strike.peer, check)
    return verdict is not None and verdict != strike.reason


def _sample(me: bytes, draft: Draft) -> list[bytes]:
    """Which participants we check in full: drawn from our id and the draft, so a leader cannot guess."""
    ranked = sorted(draft.participants, key=lambda p: hashlib.sha256(me + draft.digest + p).digest())
    return ranked[:SAMPLE]


def judge(
    rs: RoundState, me: bytes, seen: SeenChallenge, head: Head, verify: VrfVerify, check: RevealCheck
) -> str:
    """'' when we co-sign `seen.draft`, else the reason we refuse."""
    d = seen.draft
    assert d is not None
    if seen.leader not in d.participants or not set(d.participants) <= set(seen.commits):
        return "participants_not_committed"
    if len(d.participants) < min_participants(head, rs.round):
        return "too_few_participants"
    forged = {s.peer for s in d.strikes if s.reason == "forged_proof"}
    if _dropped_pulses(rs, seen, forged):
        return "dropped_pulse"
    if any(_refuted(rs, seen, s, verify, check) for s in d.strikes):
        return "false_strike"
    if any(p not in seen.reveals and p != me for p in d.participants):
        return "unseen_reveal"
    early = seen.at + rs.timing.reveal_ms - rs.timing.grace_ms
    struck = {s.peer for s in d.strikes}
    for peer in set(seen.commits) - set(d.participants) - struck:
        reveal = seen.reveals.get(peer)
        if reveal is not None and reveal.at <= early and _verdict(rs, seen, peer, check) == "":
            return "dropped_participant"
    entries = entries_of(rs, seen, d.participants)
    if entries is None:
        return "unseen_pulse"
    by_peer = {e.peer: e for e in entries}
    for peer in _sample(me, d):
        if not proof_ok(by_peer[peer], rs.seed, rs.round, verify) or _verdict(rs, seen, peer, check) != "":
            return "bad_participant"
    body = make_body(
        rs.round, rs.seed, rs.prev, rs.timing.interval_ms, seen.msg.proof, entries, list(d.strikes)
    )
    return "" if digest(body) == d.digest else "digest_mismatch"
