"""How rounds link: the seed of round r is the hash of the previous certificate (and r), and what each VRF
input is. A node's view of the chain is its `Head`: the newest certificate it holds."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pynode.presence.params import DOMAIN_CHALLENGE, DOMAIN_PULSE, DOMAIN_SEED, GENESIS


def seed_for(prev_key: bytes, round_: int) -> bytes:
    """The seed of `round_` after the certificate whose record key is `prev_key` (GENESIS before the first).
    The round number is in it, so rounds that go uncertified still get fresh seeds."""
    return hashlib.sha256(DOMAIN_SEED + prev_key + round_.to_bytes(8, "big")).digest()


def pulse_alpha(seed: bytes, round_: int) -> bytes:
    """What each node's pulse proves: the lottery for leaders and committee."""
    return DOMAIN_PULSE + seed + round_.to_bytes(8, "big")


def challenge_alpha(seed: bytes, round_: int) -> bytes:
    """What a leader's challenge proves. Its output picks the rows every participant reveals; it stays secret
    until the leader publishes the proof, after every commitment is in."""
    return DOMAIN_CHALLENGE + seed + round_.to_bytes(8, "big")


@dataclass(frozen=True)
class Head:
    """The newest certificate a node knows: what the next round's seed comes from."""

    round: int
    key: bytes  # the certificate record's key (32 bytes)
    claim: bytes  # its leader's β prefix: between two certificates of one round, the lower one wins
    participants: int

    def seed(self, round_: int) -> bytes:
        return seed_for(self.key, round_)

    def order(self) -> tuple[int, int, bytes, bytes]:
        """Between certificates of one round the one naming more nodes counts, then the lower leader claim."""
        return (-self.round, -self.participants, self.claim, self.key)

    def better_than(self, other: Head | None) -> bool:
        return other is None or self.order() < other.order()


GENESIS_HEAD = Head(-1, GENESIS, b"", 0)


def min_participants(head: Head, round_: int) -> int:
    """A certificate for `round_` must name at least this many: half the last certificate's, halved again for
    each round since (churn), so a leader cannot drop nearly everyone and leave itself an empty committee."""
    gap = round_ - head.round
    if head.participants == 0 or gap <= 0:
        return 1
    return max(1, -(-head.participants // (1 << min(gap, 30))))
