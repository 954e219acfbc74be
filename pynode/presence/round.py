"""What one node holds of one round: its own pulse and task, everyone's pulses, the challenges it took, the
reveals and drafts it saw, each with the time it arrived (the co-signers' checks depend on when)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pynode.identity.vrf import VrfKey, proof_to_hash
from pynode.presence import task
from pynode.presence.certificate import Entry, VrfVerify, proof_ok
from pynode.presence.chain import pulse_alpha
from pynode.presence.limits import MAX_PARTICIPANTS
from pynode.presence.messages import Challenge, Draft, Pulse, Reveal
from pynode.presence.params import BACKUPS, CLAIM_BYTES, COMMITTEE, Timing
from pynode.wire.envelope import Envelope

MAX_VERSIONS = 2  # pulses kept per peer: a second, different one is an equivocation worth remembering
MAX_SEEDS = 3  # seeds whose pulses are kept in one round (ours, and a newer certificate's we may adopt)
MAX_EARLY_LEADERS = 8  # leaders whose reveals we hold before their challenge (only BACKUPS + 1 may lead)
RANKED = BACKUPS + 1 + COMMITTEE + 4  # claims a node checks from the top: leaders, a committee, a margin


@dataclass(frozen=True)
class Seen:
    env: Envelope
    at: int  # arrival on our clock (ms)


@dataclass(frozen=True)
class SeenPulse(Seen):
    msg: Pulse

    def entry(self) -> Entry:
        return Entry(self.env.sender, self.msg.proof, self.msg.claim, self.msg.root)


@dataclass(frozen=True)
class SeenReveal(Seen):
    msg: Reveal


@dataclass
class SeenChallenge:
    msg: Challenge
    leader: bytes
    beta: bytes  # the challenge output: it picks the rows
    at: int
    commits: dict[bytes, bytes] = field(default_factory=dict)  # peer -> root
    reveals: dict[bytes, SeenReveal] = field(default_factory=dict)
    draft: Draft | None = None
    draft_at: int = 0
    judged: bool = False  # we decided whether to co-sign its draft


@dataclass
class Mine:
    """Our own pulse, and the task's rows with their Merkle tree."""

    pulse: Pulse
    rows: list[bytes]
    levels: list[list[bytes]]

    def reveal(self, beta: bytes, peer: bytes, leader: bytes) -> Reveal:
        picks = task.picks(beta, peer)
        paths = tuple(tuple(task.path(self.levels, i)) for i in picks)
        return Reveal(self.pulse.round, leader, tuple(self.rows[i] for i in picks), paths)


def make_mine(key: VrfKey, peer: bytes, seed: bytes, round_: int) -> Mine:
    proof = key.prove(pulse_alpha(seed, round_))
    rows = task.compute(seed, peer)
    levels = task.tree(rows)
    pulse = Pulse(round_, seed, proof, proof_to_hash(proof)[:CLAIM_BYTES], levels[-1][0])
    return Mine(pulse, rows, levels)


class RoundState:
    def __init__(self, round_: int, seed: bytes, prev: bytes, timing: Timing, me: bytes) -> None:
        self.me = me
        self.round = round_
        self.seed = seed
        self.prev = prev
        self.start = timing.start_of(round_)
        self.timing = timing
        self.mine: Mine | None = None
        self.pulses: dict[bytes, dict[bytes, list[SeenPulse]]] = {seed: {}}  # seed -> peer -> versions
        self.challenges: dict[bytes, SeenChallenge] = {}  # leader -> what we took of its attempt
        self.early: dict[
            bytes, dict[bytes, SeenReveal]
        ] = {}  # leader -> reveals that beat its challenge here
        self.forged: dict[bytes, SeenPulse] = {}  # peers whose pulse failed verification
        self.checked: dict[bytes, bool] = {}  # peer -> its pulse verified
        self.position: int | None = None  # how many valid claims are below ours (set after the commit window)
        self.done = False  # a certificate for this round counts us: no attempt of ours is needed
        self.cosigned: dict[bytes, bytes] = {}  # leader -> the digest we co-signed (one per leader)

    def t(self, now_ms: int) -> int:
        return now_ms - self.start

    def current(self) -> dict[bytes, list[SeenPulse]]:
        return self.pulses[self.seed]

    def add_pulse(self, seen: SeenPulse) -> bool:
        """Keep a pulse; True when it is for our seed (so it is worth forwarding)."""
        by_peer = self.pulses.get(seen.msg.seed)
        if by_peer is None:
            if len(self.pulses) >= MAX_SEEDS:
                return False
            by_peer = self.pulses[seen.msg.seed] = {}
        versions = by_peer.setdefault(seen.env.sender, [])
        if len(versions) >= MAX_VERSIONS or any(v.msg.root == seen.msg.root for v in versions):
            return False
        versions.append(seen)
        return seen.msg.seed == self.seed

    def adopt(self, seed: bytes, prev: bytes) -> None:
        """A newer certificate arrived in time: its seed is this round's."""
        self.seed, self.prev = seed, prev
        self.pulses.setdefault(seed, {})
        self.mine = None
        self.checked = {}
        self.position = None

    def first(self, peer: bytes) -> SeenPulse | None:
        versions = self.current().get(peer)
        return versions[0] if versions else None

    def with_root(self, peer: bytes, root: bytes) -> SeenPulse | None:
        """`peer`'s pulse that committed to `root` (an equivocator has two)."""
        return next((v for v in self.current().get(peer, []) if v.msg.root == root), None)

    def keep_early(self, seen: SeenReveal) -> bool:
        """A reveal that took a faster path than its challenge: kept until the challenge comes."""
        by_leader = self.early.get(seen.msg.leader)
        if by_leader is None:
            if len(self.early) >= MAX_EARLY_LEADERS:
                return False
            by_leader = self.early[seen.msg.leader] = {}
        if len(by_leader) >= MAX_PARTICIPANTS or seen.env.sender in by_leader:
            return False
        by_leader[seen.env.sender] = seen
        return True

    def order(self) -> list[tuple[bytes, bytes]]:
        """(claim, peer) of every first pulse for our seed, lowest claim first."""
        return sorted((v[0].msg.claim, peer) for peer, v in self.current().items())

    def valid(self, peer: bytes, verify: VrfVerify) -> bool:
        """`peer`'s first pulse verifies (remembered; a forged one is kept as evidence)."""
        if peer in self.checked:
            return self.checked[peer]
        seen = self.current()[peer][0]
        ok = self.checked[peer] = proof_ok(seen.entry(), self.seed, self.round, verify)
        if not ok:
            self.forged[peer] = seen
        return ok

    def entry_for(self, peer: bytes, root: bytes) -> Entry | None:
        """`peer`'s entry for the pulse that committed to `root` (ours included), None if we never saw it."""
        if peer == self.me:
            mine = self.mine
            if mine is None or mine.pulse.root != root:
                return None
            return Entry(peer, mine.pulse.proof, mine.pulse.claim, root)
        pulse = self.with_root(peer, root)
        return pulse.entry() if pulse is not None else None

    def rank_of(self, claim: bytes, verify: VrfVerify, cap: int = RANKED) -> int:
        """How many valid pulses claim less than `claim`, counted up to `cap` (checked from the lowest)."""
        n = 0
        for c, peer in self.order():
            if c >= claim or n >= cap:
                break
            n += self.valid(peer, verify)
        return n
