"""Who reviews a result: VRF sortition per (result, epoch), checkable by anyone from the review record alone.

For a result with key K (64 hex digits) and an epoch e, a validator evaluates the ECVRF of its identity key on

    α = b"hyperspace/1/review\\x00" ‖ bytes.fromhex(K) (32 bytes) ‖ e as 8 bytes big-endian

(20 + 32 + 8 = 60 bytes) and is on that epoch's committee when the first 8 bytes of β, read as a big-endian
integer x, satisfy x · n < k · 2⁶⁴: probability k/n each, so the expected committee is k. The proof π travels in
the review; a verifier recomputes α from the review's target and epoch and checks π against the reviewer's
peer id, which is the VRF public key, so nobody can pick a key after seeing a result.

Epochs are wall-clock slots: epoch(t) = t // EPOCH_MS (t in ms since the Unix epoch). A result's window is its
own epoch e₀ = epoch(result.ts) and the next WINDOW_EPOCHS − 1; its deadline is the start of e₀ + WINDOW_EPOCHS.

n is the number of validators known *before the window opened*: authors whose newest profile older than
start(e₀) lists the `validation` capability, clamped to [k, MAX_VALIDATORS]. It is a function of records
only, so every replica that holds them computes the same n; a profile published after start(e₀) neither
counts in n nor makes its author eligible for that result. Fewer than k validators: everyone is drawn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pynode.identity import vrf
from pynode.review.limits import MAX_VALIDATORS
from pynode.review.params import COMMITTEE_K, EPOCH_MS, WINDOW_EPOCHS
from pynode.state.records import Record

DOMAIN_REVIEW = b"hyperspace/1/review\x00"
CAPABILITY = "validation"
_SCALE = 1 << 64

VrfVerify = Callable[[bytes, bytes, bytes], bytes | None]  # (public key, π, α) -> β or None


def alpha(result_key: str, epoch: int) -> bytes:
    return DOMAIN_REVIEW + bytes.fromhex(result_key) + epoch.to_bytes(8, "big")


def epoch_of(ts_ms: int) -> int:
    return ts_ms // EPOCH_MS


def epoch_start(epoch: int) -> int:
    return epoch * EPOCH_MS


def first_epoch(result: Record) -> int:
    return epoch_of(result.ts)


def window(result: Record) -> range:
    """The epochs in which `result` may be reviewed."""
    e0 = first_epoch(result)
    return range(e0, e0 + WINDOW_EPOCHS)


def in_window(result: Record, epoch: int) -> bool:
    return epoch in window(result)


def deadline_ms(result: Record) -> int:
    """No review of `result` counts once this time has come (the start of the first epoch after its window)."""
    return epoch_start(first_epoch(result) + WINDOW_EPOCHS)


def selected(beta: bytes, n: int, k: int = COMMITTEE_K) -> bool:
    """β falls below the threshold that makes the expected committee k out of n (integer arithmetic only)."""
    return int.from_bytes(beta[:8], "big") * max(n, k) < k * _SCALE


def validators(profiles: Iterable[Record], before_ms: int) -> frozenset[bytes]:
    """Authors whose newest profile stamped before `before_ms` lists the validation capability."""
    newest: dict[bytes, Record] = {}
    for r in profiles:
        if r.kind != "profile" or r.ts >= before_ms:
            continue
        cur = newest.get(r.author)
        if cur is None or (r.ts, r.key) > (cur.ts, cur.key):
            newest[r.author] = r
    return frozenset(a for a, r in newest.items() if CAPABILITY in r.body["caps"])


def committee_n(validator_set: frozenset[bytes], k: int = COMMITTEE_K) -> int:
    return min(max(len(validator_set), k), MAX_VALIDATORS)


@dataclass(frozen=True)
class Ticket:
    """A validator's draw for (result, epoch): the proof to publish and its output."""

    result: str
    epoch: int
    proof: bytes
    beta: bytes


def draw(key: vrf.VrfKey, result_key: str, epoch: int, n: int, k: int = COMMITTEE_K) -> Ticket | None:
    """Our ticket when we are on the committee of `result_key` in `epoch`, else None."""
    proof = key.prove(alpha(result_key, epoch))
    beta = vrf.proof_to_hash(proof)
    return Ticket(result_key, epoch, proof, beta) if selected(beta, n, k) else None


def eligible_beta(
    reviewer: bytes,
    proof: bytes,
    result_key: str,
    epoch: int,
    n: int,
    k: int = COMMITTEE_K,
    verify: VrfVerify = vrf.verify,
) -> bytes | None:
    """β when `proof` is `reviewer`'s valid proof for (result, epoch) and it falls below the threshold."""
    beta = verify(reviewer, proof, alpha(result_key, epoch))
    return beta if beta is not None and selected(beta, n, k) else None
