"""The pulse protocol as a sans-IO state machine: one per node.

Inputs: `tick(now_ms)` (the wall clock, in ms since the Unix epoch), `receive(envelope, message, now_ms)` for
each pulse-topic message whose envelope signature the driver has verified (it returns the gossip verdict), and
`on_certificate(certificate, now_ms)` for each certificate the driver has checked (certificate.check). Outputs:
`Publish` (gossip these bytes on the pulse topic) and `Certify` (sign this body as a `certificate` record and
publish it). `next_wakeup()` says when to tick next. No clock, sockets or sleeps inside: the runtime
(pynode/runtime/pulse.py) drives it in real time, the simulator (pynode/sim/presence.py) in virtual time.

A round, on each node's clock (t from the round's start, r × interval):
- t ∈ [0, spread): prove the round seed, compute the task, publish the pulse (proof, claim, Merkle root);
- t = commit + k·takeover: the node whose claim ranks k (0 = lowest valid β) challenges, unless a certificate
  of the round names it already or a better leader's attempt is still running; it reveals its own rows too;
- a participant reveals its picked rows to every valid challenge whose turn has come by its own clock;
- the leader drafts after reveal_ms, the committee judges after settle_ms (cosigner.judge) and co-signs,
  the leader certifies with a quorum (or when the whole committee has signed).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pynode.gossip.events import ValidationResult
from pynode.identity.vrf import VrfKey
from pynode.presence import cosigner, leader, task
from pynode.presence.certificate import Certificate, VrfVerify, committee, vrf_output
from pynode.presence.chain import GENESIS_HEAD, Head, challenge_alpha, min_participants, pulse_alpha
from pynode.presence.limits import MAX_CHALLENGES, MAX_ROUNDS_KEPT
from pynode.presence.messages import Challenge, Cosign, Draft, Message, Pulse, Reveal, encode
from pynode.presence.params import BACKUPS, CLAIM_BYTES, Timing
from pynode.presence.round import RANKED, Mine, RoundState, SeenChallenge, SeenPulse, SeenReveal, make_mine
from pynode.wire.envelope import Envelope

ACCEPT, IGNORE, REJECT = ValidationResult.ACCEPT, ValidationResult.IGNORE, ValidationResult.REJECT


@dataclass(frozen=True)
class Publish:
    data: bytes


@dataclass(frozen=True)
class Certify:
    round: int
    body: dict[str, Any]


Output = Publish | Certify
MakeMine = Callable[[VrfKey, bytes, bytes, int], Mine]  # (key, peer, seed, round): our pulse and task


class PulseCore:
    def __init__(
        self,
        peer: bytes,
        key: VrfKey,
        timing: Timing | None = None,
        verify: VrfVerify = vrf_output,
        check: leader.RevealCheck = task.check_reveal,
        head: Head = GENESIS_HEAD,
    ) -> None:
        if key.public_key != peer:
            raise ValueError("the VRF key must be the identity's own")
        self.peer, self.key = peer, key
        self.timing = timing or Timing()
        self.timing.check()
        self.verify, self.check = verify, check
        self.head = head
        self.make_mine: MakeMine = make_mine  # how we make our pulse and task (tests swap in dishonest ones)
        self.drafter = leader.draft  # how we draft when we lead (likewise)
        self.rounds: dict[int, RoundState] = {}
        self.attempts: dict[int, leader.Attempt] = {}
        self._judgements: list[tuple[int, int, bytes]] = []  # (due, round, leader)
        self.counters: Counter[str] = Counter()  # what we did and refused, by name
        self.dirty = True  # something may have moved `next_wakeup` earlier since the driver last asked

    # ---- time ---------------------------------------------------------------------------------------

    def tick(self, now: int) -> list[Output]:
        self.dirty = True
        out: list[Output] = []
        rs = self._round(self.timing.round_of(now))
        self._pulse(rs, now, out)
        self._lead(rs, now, out)
        for r, attempt in list(self.attempts.items()):
            self._progress(self.rounds[r], attempt, now, out)
        self._judge_due(now, out)
        self._forget(rs.round)
        return out

    def next_wakeup(self, now: int) -> int:
        """The next time (ms) `tick` has something to do; at most the next round's start."""
        self.dirty = False
        t = self.timing
        rs = self.rounds.get(t.round_of(now))
        times = [t.start_of(t.round_of(now) + 1)]
        if rs is not None:
            if rs.mine is None:
                times.append(rs.start + self._offset(rs.round))
            if rs.position is not None and rs.position <= BACKUPS:
                times.append(rs.start + t.turn_of(rs.position))
            times.append(rs.start + t.commit_ms)
        for a in self.attempts.values():
            if not a.over:
                times.append(a.at + t.reveal_ms if a.body is None else a.drafted_at + t.cosign_ms)
        times += [due for due, _, _ in self._judgements]
        return min(x for x in times if x > now) if any(x > now for x in times) else now + 1

    def _round(self, r: int) -> RoundState:
        rs = self.rounds.get(r)
        if rs is None:
            head = self.head if self.head.round < r else GENESIS_HEAD
            rs = self.rounds[r] = RoundState(r, head.seed(r), head.key, self.timing, self.peer)
            self.dirty = True
        return rs

    def _offset(self, r: int) -> int:
        digest = hashlib.sha256(self.peer + r.to_bytes(8, "big")).digest()
        return int.from_bytes(digest[:4], "big") % self.timing.spread_ms

    def _forget(self, current: int) -> None:
        for r in [r for r in self.rounds if r <= current - MAX_ROUNDS_KEPT]:
            del self.rounds[r]
            self.attempts.pop(r, None)

    # ---- our pulse and our turn to lead -------------------------------------------------------------

    def _pulse(self, rs: RoundState, now: int, out: list[Output]) -> None:
        t = rs.t(now)
        if rs.mine is not None or t < self._offset(rs.round) or t > self.timing.commit_ms:
            return
        rs.mine = self.make_mine(self.key, self.peer, rs.seed, rs.round)
        self.counters["pulsed"] += 1
        out.append(Publish(encode(rs.mine.pulse)))

    def _lead(self, rs: RoundState, now: int, out: list[Output]) -> None:
        t = rs.t(now)
        if rs.mine is None or t < self.timing.commit_ms or rs.round in self.attempts:
            return
        if rs.position is None:
            rs.position = rs.rank_of(rs.mine.pulse.claim, self.verify)
        if rs.position > BACKUPS or t < self.timing.turn_of(rs.position) or rs.done:
            return
        if any(self._running(rs, s, now) for s in rs.challenges.values()):
            return  # a better leader is still at it (a late start); our turn comes when it is over
        attempt = leader.open_attempt(rs, self.key, self.peer, self.verify, now)
        if attempt is None:
            return
        self.attempts[rs.round] = attempt
        seen = rs.challenges[self.peer] = leader.taken(self.peer, attempt, now)
        self.counters["led"] += 1
        out.append(Publish(encode(attempt.challenge)))
        out.append(Publish(encode(rs.mine.reveal(seen.beta, self.peer, self.peer))))

    def _running(self, rs: RoundState, seen: SeenChallenge, now: int) -> bool:
        t = self.timing
        deadline = seen.at + t.reveal_ms + t.cosign_ms + t.settle_ms + t.grace_ms
        return seen.leader != self.peer and self._claim_of(rs, seen) < rs.mine.pulse.claim and now < deadline  # type: ignore[union-attr]

    def _claim_of(self, rs: RoundState, seen: SeenChallenge) -> bytes:
        pulse = rs.first(seen.leader)
        return pulse.msg.claim if pulse is not None else b"\xff" * CLAIM_BYTES

    def _progress(self, rs: RoundState, attempt: leader.Attempt, now: int, out: list[Output]) -> None:
        t = self.timing
        if attempt.over:
            return
        if rs.done:
            attempt.over = True  # a certificate that counts us is out: ours would only compete with it
            return
        if attempt.body is None and now >= attempt.at + t.reveal_ms:
            seen = rs.challenges[self.peer]
            draft = self.drafter(rs, self.peer, attempt, seen, self.check)
            attempt.drafted_at = now
            if len(draft.participants) < min_participants(self.head, rs.round):
                attempt.over = True
                self.counters["gave_up:too_few"] += 1
                return
            out.append(Publish(encode(draft)))
            if not attempt.members:
                self._certify(rs, attempt, out)
        elif attempt.body is not None and now >= attempt.drafted_at + t.cosign_ms:
            if attempt.enough():
                self._certify(rs, attempt, out)
            else:
                attempt.over = True
                self.counters["gave_up:no_quorum"] += 1

    def _certify(self, rs: RoundState, attempt: leader.Attempt, out: list[Output]) -> None:
        attempt.over = True
        self.counters["certified"] += 1
        out.append(Certify(rs.round, leader.final_body(attempt)))

    # ---- committee ----------------------------------------------------------------------------------

    def _judge_due(self, now: int, out: list[Output]) -> None:
        due = [j for j in self._judgements if j[0] <= now]
        self._judgements = [j for j in self._judgements if j[0] > now]
        for _, r, who in due:
            rs = self.rounds.get(r)
            seen = rs.challenges.get(who) if rs is not None else None
            if rs is None or seen is None or seen.draft is None or who in rs.cosigned:
                continue
            reason = cosigner.judge(rs, self.peer, seen, self.head, self.verify, self.check)
            if reason:
                self.counters[f"refused:{reason}"] += 1
                continue
            rs.cosigned[who] = seen.draft.digest
            self.counters["cosigned"] += 1
            out.append(Publish(encode(Cosign(r, who, seen.draft.digest))))

    # ---- messages -----------------------------------------------------------------------------------

    def receive(self, env: Envelope, msg: Message, now: int) -> tuple[ValidationResult, list[Output]]:
        """Judge one message (its envelope's signature is verified); returns the gossip verdict and outputs."""
        if env.sender == self.peer:
            return IGNORE, []
        out: list[Output] = []
        if isinstance(msg, Pulse):
            verdict = self._on_pulse(env, msg, now)
        elif isinstance(msg, Challenge):
            verdict = self._on_challenge(env, msg, now, out)
        elif isinstance(msg, Reveal):
            verdict = self._on_reveal(env, msg, now)
        elif isinstance(msg, Draft):
            verdict = self._on_draft(env, msg, now)
        elif isinstance(msg, Cosign):
            verdict = self._on_cosign(env, msg, now, out)
        else:
            verdict = IGNORE  # certificates are checked by the driver and handed to on_certificate
        return verdict, out

    # The clock checks: a node whose clock is off by more than the skew tolerated takes no part, and cannot make
    # anyone act early (tests remove them to show what they stop).

    def in_commit_window(self, rs: RoundState, now: int) -> bool:
        return -self.timing.skew_ms <= rs.t(now) <= self.timing.commit_ms + self.timing.skew_ms

    def turn_has_come(self, rs: RoundState, rank: int, now: int) -> bool:
        return rank <= BACKUPS and rs.t(now) >= self.timing.turn_of(rank) - self.timing.skew_ms

    def _on_pulse(self, env: Envelope, msg: Pulse, now: int) -> ValidationResult:
        here = self.timing.round_of(now)
        rs = self._round(msg.round) if msg.round in (here, here + 1) else None
        if rs is None or not self.in_commit_window(rs, now):
            self.counters["ignored:pulse_window"] += 1
            return IGNORE
        return ACCEPT if rs.add_pulse(SeenPulse(env, now, msg)) else IGNORE

    def _on_challenge(self, env: Envelope, msg: Challenge, now: int, out: list[Output]) -> ValidationResult:
        rs = self.rounds.get(msg.round)
        who = env.sender
        if rs is None or msg.seed != rs.seed or who in rs.challenges or len(rs.challenges) >= MAX_CHALLENGES:
            return IGNORE
        lead = self.verify(who, msg.lead, pulse_alpha(rs.seed, rs.round))
        beta = self.verify(who, msg.proof, challenge_alpha(rs.seed, rs.round))
        if lead is None or beta is None:
            return REJECT  # a challenge signed by its sender with proofs that do not hold
        rank = rs.rank_of(lead[:CLAIM_BYTES], self.verify, cap=BACKUPS + 1)
        if not self.turn_has_come(rs, rank, now):
            self.counters["ignored:challenge_turn"] += 1
            return IGNORE  # not its turn on our clock: a skewed clock or a leader that jumped the queue
        seen = rs.challenges[who] = SeenChallenge(msg, who, beta, now, dict(msg.commits))
        early = rs.early.pop(who, {})
        seen.reveals.update({p: r for p, r in early.items() if p in seen.commits})
        mine = rs.mine
        if mine is not None and seen.commits.get(self.peer) == mine.pulse.root:
            out.append(Publish(encode(mine.reveal(beta, self.peer, who))))
            self.counters["revealed"] += 1
        return ACCEPT

    def _interested(self, rs: RoundState) -> bool:
        """Whether we may lead or co-sign this round: only then do we keep everyone's reveals."""
        if rs.mine is None:
            return False
        if rs.position is None:
            rs.position = rs.rank_of(rs.mine.pulse.claim, self.verify)
        return rs.position < RANKED

    def _on_reveal(self, env: Envelope, msg: Reveal, now: int) -> ValidationResult:
        rs = self.rounds.get(msg.round)
        if rs is None:
            return IGNORE
        seen = rs.challenges.get(msg.leader)
        if seen is None:  # its challenge is still on its way to us
            keep = self._interested(rs) and rs.keep_early(SeenReveal(env, now, msg))
            return ACCEPT if keep or rs.t(now) <= self.timing.interval_ms // 2 else IGNORE
        if env.sender not in seen.commits or env.sender in seen.reveals:
            return IGNORE
        if msg.leader == self.peer or self._interested(rs):
            seen.reveals[env.sender] = SeenReveal(env, now, msg)
        return ACCEPT

    def _on_draft(self, env: Envelope, msg: Draft, now: int) -> ValidationResult:
        rs = self.rounds.get(msg.round)
        seen = rs.challenges.get(env.sender) if rs is not None else None
        if rs is None or seen is None or seen.draft is not None:
            return IGNORE
        seen.draft, seen.draft_at = msg, now
        entries = cosigner.entries_of(rs, seen, msg.participants)
        if entries is not None and self.peer in committee(entries, env.sender):
            self._judgements.append((now + self.timing.settle_ms, rs.round, env.sender))
            self.dirty = True
        return ACCEPT

    def _on_cosign(self, env: Envelope, msg: Cosign, now: int, out: list[Output]) -> ValidationResult:
        rs = self.rounds.get(msg.round)
        if rs is None or msg.leader not in rs.challenges:
            return IGNORE
        attempt = self.attempts.get(msg.round) if msg.leader == self.peer else None
        live = attempt is not None and attempt.body is not None and not attempt.over
        if live and leader.add_cosign(attempt, env, msg) and len(attempt.cosigs) == len(attempt.members):  # type: ignore[arg-type]
            self._certify(rs, attempt, out)  # type: ignore[arg-type]
        return ACCEPT

    # ---- certificates -------------------------------------------------------------------------------

    def on_certificate(self, cert: Certificate, now: int) -> None:
        """A certificate that passed certificate.check: the chain moves on, this round's attempts stop."""
        head = cert.head()
        if cert.round > self.head.round and len(cert.entries) < min_participants(self.head, cert.round):
            self.counters["ignored:certificate_too_small"] += 1
            return
        rs = self.rounds.get(cert.round)
        if rs is not None and self.peer in cert.entries:
            rs.done = True
        if not head.better_than(self.head):
            return
        self.head = head
        self.counters["certificates"] += 1
        nxt = self.rounds.get(cert.round + 1)
        if nxt is not None and nxt.seed != head.seed(nxt.round) and nxt.t(now) < self.timing.commit_ms:
            nxt.adopt(head.seed(nxt.round), head.key)  # we started the round on an older seed: re-pulse
            self.dirty = True

    def status(self) -> dict[str, Any]:
        return {"head": self.head.round, "counters": dict(self.counters)}
