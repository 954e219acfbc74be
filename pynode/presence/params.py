"""The pulse protocol's parameters. Every node of a network must use the same values: they decide when a round
runs, who leads it, who co-signs it and what a certificate needs (docs/PROTOCOL.md §10 lists them).

Times are milliseconds, counted from the round's start (round r starts at r × interval on the wall clock).
"""

from __future__ import annotations

from dataclasses import dataclass

PULSE_TOPIC = "hs/1/pulse"

# Domain prefixes (PROTOCOL.md §1): a VRF proof or hash made for one purpose never counts for another.
DOMAIN_PULSE = b"hyperspace/1/pulse\x00"  # the round lottery: α = prefix ‖ seed ‖ round
DOMAIN_CHALLENGE = b"hyperspace/1/pulse-challenge\x00"  # the leader's row picks: α = prefix ‖ seed ‖ round
DOMAIN_SEED = b"hyperspace/1/pulse-seed\x00"  # seed = H(prefix ‖ previous certificate's key ‖ round)
DOMAIN_TASK = b"hyperspace/1/pulse-task\x00"  # the compute task's matrices, from (seed, peer id)
DOMAIN_PICKS = b"hyperspace/1/pulse-picks\x00"  # which rows a participant reveals
DOMAIN_LEAF = b"\x00"  # Merkle leaves and nodes are told apart (second-preimage safety)
DOMAIN_NODE = b"\x01"

GENESIS = bytes(32)  # the "previous certificate" of a network's first round

# The compute task: C = A·B over the integers mod 2³², A (ROWS × INNER) and B (INNER × COLS) drawn from SHA-256
# of (seed, peer id). 16·16·16 multiply-adds: ~1 ms in CPython, a few in a tab.
TASK_ROWS = 16
TASK_INNER = 16
TASK_COLS = 16
TASK_MASK = 0xFFFFFFFF
PICKED_ROWS = 4  # rows each participant reveals; a node that skipped half its rows passes with p = 1/16
CLAIM_BYTES = 16  # the first bytes of β a pulse announces, so ranking needs no VRF verification

COMMITTEE = 7  # co-signers: the participants with the lowest β after the leader
BACKUPS = 2  # leaders after the first that take over, one takeover apart
SAMPLE = 32  # participants each co-signer re-checks in full (VRF proof and recomputed rows)


def quorum(committee: int) -> int:
    """Co-signatures a certificate needs from a committee of this size: all but a third (7 → 5)."""
    return committee - committee // 3


@dataclass(frozen=True)
class Timing:
    """When things happen in a round. Phases are short next to the interval; takeovers fit inside it."""

    interval_ms: int = 90_000  # a round every 90 s
    spread_ms: int = 500  # pulses are spread over this much of the round's start (no lockstep)
    commit_ms: int = 2_500  # pulses are taken until then; the first leader challenges then
    reveal_ms: int = 2_000  # reveals are taken until this long after a challenge
    cosign_ms: int = 1_500  # the leader waits this long after its draft for co-signatures
    settle_ms: int = 300  # a co-signer waits this long after a draft for reveals still on their way
    grace_ms: int = 1_000  # a co-signer holds a leader to messages it saw this long before a deadline
    skew_ms: int = 1_000  # clock difference tolerated between nodes (NTP keeps them far closer)

    @property
    def takeover_ms(self) -> int:
        """How long after a leader's turn the next one starts: its whole attempt plus a margin."""
        return self.reveal_ms + self.cosign_ms + self.settle_ms + self.grace_ms

    def round_of(self, now_ms: int) -> int:
        return now_ms // self.interval_ms

    def start_of(self, round_: int) -> int:
        return round_ * self.interval_ms

    def turn_of(self, rank: int) -> int:
        """When leader `rank` (0 = lowest β) may challenge, from the round's start."""
        return self.commit_ms + rank * self.takeover_ms

    def check(self) -> None:
        last = self.turn_of(BACKUPS) + self.takeover_ms + self.skew_ms
        if last >= self.interval_ms:
            raise ValueError(f"a round of {self.interval_ms} ms cannot fit its takeovers ({last} ms)")
