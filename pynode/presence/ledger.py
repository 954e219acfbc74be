"""Points: a pure view over round certificates, recomputable by anyone who holds the records.

`gather` (async: it verifies signatures) turns records into `Evidence` — the canonical chain of certificates,
the strikes that hold, operator and origin claims, capabilities verified by others — and `compute` (pure)
turns evidence into a `Ledger`. Per certified round r (start s = r × interval), each participant p earns

    raw = BASE × U(t) × (1 + Σ bonuses of capabilities p had verified in [s − BONUS_WINDOW, s))
    (research and validation: reproduced results and agreeing reviews; the services: receipts.py)
    U(t) = 1 + 0.2 · ln(1 + t / 12 h),  t = (consecutive certified rounds p took part in − 1) × interval

unless a strike holds against p in one of the last STRIKE_ROUNDS rounds (a strike also resets t). Then each
group (membership.Groups: shared operator key or relay-attested origin) sorts its members by raw points and
weighs them 1, 1/2, 1/3, …: ten nodes of one operator earn H(10) ≈ 2.93 times one node, not ten times.
Awards are whole milli-points, computed in `Decimal` (correctly rounded, so every platform agrees).

Canonical chain: walking rounds upward from genesis, a round's certificate counts when it passed
certificate.check, extends the chain (its prev is the last counted certificate, its seed follows from it,
it names enough participants); of several, the one naming the most nodes, then the one whose leader claimed
the lowest β, then the smaller key (chain.Head.order) — so a lowest-β leader that certified a round alone, its
clock off, loses to the certificate of everyone.
A leader with two different valid certificates for one round gets a strike.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from pynode.presence import membership, receipts
from pynode.presence.certificate import Certificate, SigVerify, VrfVerify, check, parse, strike_holds
from pynode.presence.chain import GENESIS_HEAD, Head, min_participants
from pynode.review.breakthroughs import AGAINST, analyse
from pynode.review.reexecute import NOT_REPRODUCED, REPRODUCED
from pynode.state.records import Record

BASE = Decimal(10)  # points per certified round
UPTIME_WEIGHT = Decimal("0.2")
UPTIME_SCALE_MS = 12 * 3600 * 1000
STRIKE_ROUNDS = 40  # a strike suspends points this many rounds (an hour at 90 s) and resets the uptime
BONUS_WINDOW_MS = 24 * 3600 * 1000  # a verified capability raises the points of the day after it
BONUSES = {  # capability -> bonus, paid only when served and verified: DERIVED below, the rest by receipts.py
    "inference": Decimal("0.10"),
    "research": Decimal("0.12"),
    "proxy": Decimal("0.08"),
    "storage": Decimal("0.06"),
    "embedding": Decimal("0.05"),
    "memory": Decimal("0.05"),
    "orchestration": Decimal("0.05"),
    "validation": Decimal("0.04"),
    "relay": Decimal("0.03"),
}
DERIVED = ("research", "validation")  # provable from records today: reproduced results, agreeing reviews
SERVICES = frozenset(BONUSES) - frozenset(DERIVED)  # verified by the receipts of those served
MILLI = Decimal(1000)


def uptime_factor(t_ms: int) -> Decimal:
    return 1 + UPTIME_WEIGHT * (1 + Decimal(t_ms) / UPTIME_SCALE_MS).ln()


# ---- evidence ------------------------------------------------------------------------------------------


@dataclass
class Evidence:
    chain: list[Certificate]
    struck: dict[int, set[bytes]]  # round -> peers with a strike that holds (evidence, or equivocation)
    groups: membership.Groups
    verified: dict[bytes, list[tuple[int, str]]]  # peer -> (ts, capability) each verified by others
    published: dict[int, dict[bytes, int]] = field(default_factory=dict)  # round -> leader's awards
    served: dict[bytes, list[receipts.Served]] = field(default_factory=dict)  # server -> receipts that count


def canonical(certs: Iterable[Certificate]) -> list[Certificate]:
    """The chain: per round upward, the best certificate that extends the last one counted."""
    by_round: dict[int, list[Certificate]] = defaultdict(list)
    for c in certs:
        by_round[c.round].append(c)
    chain: list[Certificate] = []
    head: Head = GENESIS_HEAD
    for r in sorted(by_round):
        fits = [
            c
            for c in by_round[r]
            if c.prev == head.key and c.seed == head.seed(r) and len(c.entries) >= min_participants(head, r)
        ]
        if fits:
            best = min(fits, key=lambda c: c.head().order())
            chain.append(best)
            head = best.head()
    return chain


def equivocators(certs: Iterable[Certificate]) -> dict[int, set[bytes]]:
    """Leaders that signed two different valid certificates for one round."""
    seen: dict[tuple[int, bytes], bytes] = {}
    out: dict[int, set[bytes]] = defaultdict(set)
    for c in certs:
        first = seen.setdefault((c.round, c.leader), c.key)
        if first != c.key:
            out[c.round].add(c.leader)
    return out


class CertCache:
    """certificate.check per record key, remembered: a ledger recomputed every few seconds checks each once."""

    def __init__(self) -> None:
        self._memo: dict[tuple[str, bool], Certificate | None] = {}

    async def get(
        self, record: Record, verify_sig: SigVerify, verify: VrfVerify, full: bool
    ) -> Certificate | None:
        k = (record.key, full)
        if k not in self._memo:
            cert = parse(record)
            self._memo[k] = cert if not await check(cert, verify_sig, verify, full) else None
        return self._memo[k]


def capabilities(
    results: list[Record], reviews: list[Record], profiles: list[Record], verify: VrfVerify
) -> dict[bytes, list[tuple[int, str]]]:
    """(ts, capability) per peer: research for results the review view established, validation for counted
    reviews that agreed with a settled consensus (pynode/review/breakthroughs.py decides both)."""
    out: dict[bytes, list[tuple[int, str]]] = defaultdict(list)
    if not results:
        return out
    for s in analyse(results, reviews, profiles, None, verify).standings.values():
        if s.established:
            out[s.result.author].append((s.result.ts, "research"))
        if s.consensus in (REPRODUCED, NOT_REPRODUCED):
            for row in s.counted:
                agrees = row.verdict == s.consensus or (
                    s.consensus == NOT_REPRODUCED and row.verdict in AGAINST
                )
                if agrees:
                    out[row.reviewer].append((row.record.ts, "validation"))
    return out


async def gather(
    certificates: Iterable[Record],
    profiles: Iterable[Record],
    verify_sig: SigVerify,
    verify: VrfVerify,
    relays: frozenset[bytes] = frozenset(),
    results: Iterable[Record] = (),
    reviews: Iterable[Record] = (),
    full: bool = False,
    cache: CertCache | None = None,
    receipt_records: Iterable[Record] = (),
) -> Evidence:
    """Everything `compute` needs, every signature and proof it relies on checked (`full`: every
    participant's proof too, as an audit does)."""
    cache = cache or CertCache()
    valid = [
        c
        for r in certificates
        if r.kind == "certificate"
        if (c := await cache.get(r, verify_sig, verify, full))
    ]
    chain = canonical(valid)
    struck = equivocators(valid)
    for cert in chain:
        for s in cert.strikes:
            if await strike_holds(s, cert, verify_sig, verify):
                struck[cert.round].add(s.peer)
    profiles = list(profiles)
    groups = membership.Groups(await membership.claims(profiles, relays, verify_sig))
    verified = capabilities(list(results), list(reviews), profiles, verify)
    served = receipts.served(receipt_records, chain, groups, SERVICES)
    return Evidence(chain, dict(struck), groups, verified, served=served)


# ---- the ledger ----------------------------------------------------------------------------------------


@dataclass
class Standing:
    peer: bytes
    milli: int = 0  # points × 1000
    rounds: int = 0  # certified rounds taken part in (and paid or not)
    streak: int = 0  # consecutive certified rounds up to the last one
    uptime: Decimal = Decimal(1)
    last_round: int = -1
    strikes: int = 0
    suspended_until: int = -1  # no points before this round
    group: bytes = b""
    rank: int = 0

    @property
    def points(self) -> Decimal:
        return Decimal(self.milli) / MILLI


@dataclass
class Ledger:
    awards: dict[int, dict[bytes, int]]  # round -> peer -> milli-points
    standings: dict[bytes, Standing]
    chain: list[Certificate]

    def top(self, n: int | None = None) -> list[Standing]:
        return sorted(self.standings.values(), key=lambda s: s.rank)[:n]


BonusRule = Callable[[Evidence, bytes, int], Decimal]


def verified_bonus(e: Evidence, peer: bytes, start_ms: int) -> Decimal:
    """The sum of the bonuses of capabilities `peer` had verified by others in the window before `start_ms`:
    research and validation by the review view, the services by receipts."""
    caps = {cap for ts, cap in e.verified.get(peer, ()) if start_ms - BONUS_WINDOW_MS <= ts < start_ms}
    caps = {c for c in caps if c in DERIVED}
    caps |= receipts.verified_caps(e.served.get(peer, ()), start_ms, BONUS_WINDOW_MS)
    return sum((BONUSES[c] for c in caps), Decimal(0))


def compute(e: Evidence, bonus: BonusRule = verified_bonus) -> Ledger:
    standings: dict[bytes, Standing] = {}
    awards: dict[int, dict[bytes, int]] = {}
    for cert in e.chain:
        awards[cert.round] = _round(e, cert, standings, bonus)
    ranked = sorted(standings.values(), key=lambda s: (-s.milli, s.peer))
    for i, s in enumerate(ranked):
        s.rank = i + 1
    return Ledger(awards, standings, e.chain)


def _round(
    e: Evidence, cert: Certificate, standings: dict[bytes, Standing], bonus: BonusRule
) -> dict[bytes, int]:
    r, start = cert.round, cert.round * cert.interval_ms
    for peer in e.struck.get(r, ()):
        s = standings.setdefault(peer, Standing(peer))
        s.strikes += 1
        s.streak = 0
        s.suspended_until = r + STRIKE_ROUNDS
    raw: dict[bytes, Decimal] = {}
    for peer in cert.entries:
        s = standings.setdefault(peer, Standing(peer))
        s.streak = s.streak + 1 if s.last_round >= 0 and s.streak > 0 else 1
        s.rounds += 1
        s.last_round = r
        s.uptime = uptime_factor((s.streak - 1) * cert.interval_ms)
        if r >= s.suspended_until:
            raw[peer] = BASE * s.uptime * (1 + bonus(e, peer, start))
    for peer, s in standings.items():
        if peer not in cert.entries:
            s.streak = 0
    groups = e.groups.at(raw, start)
    members: dict[bytes, list[bytes]] = defaultdict(list)
    for peer, g in groups.items():
        members[g].append(peer)
    out: dict[bytes, int] = {}
    for g, peers in members.items():
        for i, peer in enumerate(sorted(peers, key=lambda p: (-raw[p], p))):
            milli = int((raw[peer] * MILLI / (i + 1)).quantize(Decimal(1), ROUND_HALF_EVEN))
            out[peer] = milli
            standings[peer].milli += milli
            standings[peer].group = g
    return out


# ---- what leaders published ----------------------------------------------------------------------------


def published(points: Iterable[Record], chain: list[Certificate]) -> dict[int, dict[bytes, int]]:
    """Each canonical round's awards as its leader published them (`points` records naming the certificate)."""
    leaders = {c.round: (c.leader, c.record.key) for c in chain}
    parts: dict[tuple[int, int], Record] = {}
    for r in points:
        round_ = r.body["round"]
        if leaders.get(round_, (None, None)) != (r.author, r.body.get("cert")):
            continue
        k = (round_, r.body.get("part", 0))
        if k not in parts or r.key < parts[k].key:
            parts[k] = r
    out: dict[int, dict[bytes, int]] = defaultdict(dict)
    for (round_, _), r in sorted(parts.items()):
        out[round_].update({peer: n for peer, n in r.body["awards"]})
    return dict(out)


AWARDS_PER_RECORD = 256  # the points schema's bound


def points_bodies(ledger: Ledger, cert: Certificate) -> list[dict[str, object]]:
    """The `points` records a leader publishes for its certified round (empty when the round is not counted)."""
    awards = sorted(ledger.awards.get(cert.round, {}).items())
    return [
        {
            "round": cert.round,
            "awards": [[p, n] for p, n in awards[i : i + AWARDS_PER_RECORD]],
            "cert": cert.record.key,
            "part": i // AWARDS_PER_RECORD,
        }  # fmt: skip
        for i in range(0, len(awards), AWARDS_PER_RECORD)
    ]


@dataclass(frozen=True)
class Verification:
    rounds: int  # canonical rounds
    matching: list[int]
    mismatched: list[int]
    unpublished: list[int]
    pending: list[int] = field(default_factory=list)  # the newest round, its points maybe still on their way

    @property
    def equal(self) -> bool:
        return not self.mismatched and not self.unpublished


def verify_published(ledger: Ledger, points: Iterable[Record]) -> Verification:
    """Recomputed awards against the leaders' published ones, round by round."""
    pub = published(points, ledger.chain)
    matching, mismatched, missing, pending = [], [], [], []
    for c in ledger.chain:
        if c.round not in pub:
            # the leader writes its points right after its certificate: a replica read in between (a live
            # network) holds the newest certificate without them
            (pending if c is ledger.chain[-1] else missing).append(c.round)
        elif pub[c.round] == ledger.awards.get(c.round, {}):
            matching.append(c.round)
        else:
            mismatched.append(c.round)
    return Verification(len(ledger.chain), matching, mismatched, missing, pending)
