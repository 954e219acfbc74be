"""Cheating nodes for the presence scenario and its tests: each one a real core given a dishonest part.

- `copy_answers`: commits and reveals another node's task rows instead of computing its own;
- `lazy`: computes half its rows and commits garbage for the rest (caught when a garbage row is picked);
- `reveal_uncommitted`: commits garbage, then computes only the picked rows and reveals them (not committed);
- `forge_proof`: announces another node's proof as its own, or the lowest claim with a replayed proof;
- `lying_leader`: when it leads, leaves participants out of its draft (or adds one that never revealed).
"""

from __future__ import annotations

from dataclasses import replace

from pynode.identity.vrf import VrfKey, proof_to_hash
from pynode.presence import leader, task
from pynode.presence.certificate import Entry, committee, digest, make_body
from pynode.presence.chain import pulse_alpha
from pynode.presence.core import PulseCore
from pynode.presence.messages import Draft, Reveal
from pynode.presence.params import CLAIM_BYTES, TASK_ROWS
from pynode.presence.round import Mine, RoundState, SeenChallenge, make_mine


def _mine_with_rows(key: VrfKey, peer: bytes, seed: bytes, round_: int, rows: list[bytes]) -> Mine:
    honest = make_mine(key, peer, seed, round_)
    levels = task.tree(rows)
    return Mine(replace(honest.pulse, root=levels[-1][0]), rows, levels)


def copy_answers(core: PulseCore, victim: bytes) -> None:
    def make(key: VrfKey, peer: bytes, seed: bytes, round_: int) -> Mine:
        return _mine_with_rows(key, peer, seed, round_, task.compute(seed, victim))

    core.make_mine = make


def lazy(core: PulseCore) -> None:
    def make(key: VrfKey, peer: bytes, seed: bytes, round_: int) -> Mine:
        rows = task.compute(seed, peer)
        garbage = [r if i < TASK_ROWS // 2 else bytes(len(r)) for i, r in enumerate(rows)]
        return _mine_with_rows(key, peer, seed, round_, garbage)

    core.make_mine = make


class _OnDemand(Mine):
    """Committed garbage; computes the picked rows only when challenged and reveals them with its paths."""

    def reveal(self, beta: bytes, peer: bytes, leader_: bytes) -> Reveal:
        committed = super().reveal(beta, peer, leader_)
        seed = self.pulse.seed
        return replace(committed, rows=tuple(task.row(seed, peer, i) for i in task.picks(beta, peer)))


def reveal_uncommitted(core: PulseCore) -> None:
    def make(key: VrfKey, peer: bytes, seed: bytes, round_: int) -> Mine:
        m = _mine_with_rows(key, peer, seed, round_, [bytes(task.ROW_BYTES)] * TASK_ROWS)
        return _OnDemand(m.pulse, m.rows, m.levels)

    core.make_mine = make


def forge_proof(core: PulseCore, victim: VrfKey | None = None) -> None:
    """With `victim`: announce the victim's proof for this round (and its claim) as our own. Without: the lowest
    possible claim with our own real proof for the previous round (a replay)."""

    def make(key: VrfKey, peer: bytes, seed: bytes, round_: int) -> Mine:
        m = make_mine(key, peer, seed, round_)
        if victim is not None:
            proof = victim.prove(pulse_alpha(seed, round_))
            claim = proof_to_hash(proof)[:CLAIM_BYTES]
        else:
            proof, claim = key.prove(pulse_alpha(seed, round_ - 1)), bytes(CLAIM_BYTES)
        return Mine(replace(m.pulse, proof=proof, claim=claim), m.rows, m.levels)

    core.make_mine = make


def lying_leader(core: PulseCore, drop: int = 1, add: bytes | None = None) -> None:
    """When `core` leads, its draft leaves out `drop` honest participants (those with the highest claims, so
    its committee stays the same) and, with `add`, names a peer that never revealed."""
    honest = leader.draft

    def draft(
        rs: RoundState, me: bytes, attempt: leader.Attempt, seen: SeenChallenge, check: leader.RevealCheck
    ) -> Draft:
        d = honest(rs, me, attempt, seen, check)
        assert attempt.body is not None
        entries = [Entry(*p) for p in attempt.body["participants"]]
        kept = sorted(entries, key=lambda e: (e.claim, e.peer))[: max(1, len(entries) - drop)]
        if add is not None:
            extra = rs.entry_for(add, seen.commits.get(add, b""))
            kept += [extra] if extra is not None and extra not in kept else []
        body = make_body(
            rs.round, rs.seed, rs.prev, rs.timing.interval_ms, attempt.challenge.proof, kept, list(d.strikes)
        )
        attempt.body, attempt.digest, attempt.members = body, digest(body), committee(kept, me)
        return replace(d, digest=attempt.digest, participants=tuple(sorted(e.peer for e in kept)))

    core.drafter = draft
