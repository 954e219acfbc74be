"""DiLoCo (Douillard et al. 2023) as a sans-IO state machine: one `Diloco` per node and run.

A run is announced on gossip (`RunSpec`: task, graph hash, H, outer lr and momentum, codec, aggregation,
deadlines). Round r starts from an agreed outer state S_r = (θ_r, Nesterov buffer). Each participant trains
its own number of inner steps from θ_r on its data shard, and publishes a signed pseudo-gradient
Δ = θ_r − θ_local, compressed, in parts that fit a gossip message. The round's aggregator — the first
member in an order that is a hash of (run, round, peer), so it rotates — issues a certificate naming the
deltas it holds once it has all it expects or the round deadline passed; if it stays silent, the next in
order takes over after `cert_timeout` (and so on). Every participant then applies the same outer step:
aggregate the named deltas, weighted by the samples each was trained on, and take a Nesterov step. The
step is plain Python (aggregate.py), so S_{r+1} is bit-identical everywhere and its hash is in the cert.

A delta weighs by the steps it claims, so the claim is bounded (at most H steps, samples = steps × batch) and
checked (claims.py: no AdamW step moves a coordinate further than a known bound); a delta that decodes to
anything non-finite is refused, and no state whose θ is not finite is ever certified or applied.

A node that is behind — a late joiner, or one that missed a certificate — fetches the state from the
certificate's issuer and checks it against the hash the certificate names. Missing deltas named in a
certificate are fetched from the issuer the same way. A certificate that comes while a state is on its way is
kept and taken once it is in (it usually certifies the round that state starts). Catching up trusts the
certificate's issuer for the state it names: a known limitation (PROTOCOL.md §9).

Simplification: certificates are first-seen-wins. A backup aggregator issues only after the deadline plus
its rank × cert_timeout, so two certificates for one round need an aggregator slower than that timeout;
a node that applied the other one notices at the next certificate (its base differs) and re-syncs. A
certificate a node cannot apply — refused (a weight no delta can claim, a step that is not finite), or naming a
delta nobody sends after DELTA_GIVE_UP_ASKS asks — is dropped: its issuer's certificates for that round are
ignored from then on, and the round is free for a backup's (else one Byzantine aggregator would stall the run).

Inputs: `on_message(sender, msg, size, now)` with a message `parse` returned (or raw bytes to `receive`),
`tick(now)`, `trained(round, theta, steps)`, `delta_fetched(...)`, `state_fetched(...)`.
Outputs: `Publish`, `Train`, `FetchDelta`, `FetchState`, `RoundDone`.
"""

from __future__ import annotations

import hashlib
import logging
import struct
from array import array
from dataclasses import dataclass, field
from typing import Any

from pynode.train import aggregate as agg
from pynode.train.assets import graph_hash
from pynode.train.claims import max_displacement
from pynode.train.compress import CODECS, Codec
from pynode.train.limits import DELTA_ASK_AGAIN_S, DELTA_GIVE_UP_ASKS, MAX_MEMBERS, MAX_ROUND, PART_BYTES
from pynode.train.runner import vector_hash
from pynode.train.schedule import InnerSchedule
from pynode.train.zoo import MODELS, Hyper, ModelSpec, get_model, init_theta
from pynode.wire import cbor
from pynode.wire.errors import WireError
from pynode.wire.schema import expect_map, get_bytes, get_int, get_list, get_str

log = logging.getLogger(__name__)

RUNS_TOPIC = "hs/1/train/runs"
DELTA_PROTO = "hs/1/diloco/delta"
STATE_PROTO = "hs/1/diloco/state"
E6 = 1_000_000  # our CBOR has no floats: fractions travel as integer millionths
INT4_CARRY = 2 / 13  # an int4 delta's error-feedback carry, as a share of an H-step bound (`_within_claim`)


_RUN_FIELDS = {"task", "graph", "seed", "H", "outer_lr_e6", "momentum_e6", "codec", "aggregation", "deadline_ms",
               "cert_timeout_ms", "min_peers", "shards", "nonce"}  # fmt: skip
# optional, so that runs announced without them keep their wire form and run id: a dataset other than the
# model's own, an inner schedule (a research config's lr, warm-up, schedule, steps and weight decay) and a
# checkpoint to start from
_RUN_OPTIONAL = {"dataset", "inner", "init"}
# the datasets a model family trains on (pynode.train.data.load_dataset names)
DATASETS = {"mlp": ("digits",), "gpt": ("charlm", "cranfield")}


def run_topic(run_id: bytes) -> str:
    return f"hs/1/train/run/{run_id.hex()}"


def batch_seed(run: RunSpec, r: int, peer: bytes) -> int:
    """The batch stream `peer` trains round r on: each peer its own, so peers sharing a shard see different
    batches (and a replay of the run recomputes it)."""
    key = run.run_id + struct.pack("<Q", r) + peer
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "little")


def shard_of(run: RunSpec, peer: bytes) -> int:
    """The data shard `peer` trains on in `run`."""
    return int.from_bytes(hashlib.sha256(run.run_id + peer).digest()[:8], "little") % run.shards


@dataclass(frozen=True)
class RunSpec:
    task: str  # a model of the zoo
    seed: int  # θ₀ = init_theta(task, seed); batches are drawn from it too
    H: int = 50  # inner steps per round: a participant may do fewer, a delta may claim no more
    outer_lr: float = 0.7
    momentum: float = 0.9
    codec: str = "fp32"
    aggregation: str = "mean"
    deadline_s: float = 60.0  # a round's aggregator certifies at the latest this long after the round began
    cert_timeout_s: float = 15.0  # then each backup aggregator in turn, this much later
    min_peers: int = 1  # the aggregator certifies before the deadline only with this many deltas
    shards: int = 4  # the training data is cut in this many shards; a peer trains on one, by its id
    nonce: int = 0  # tells apart runs with equal parameters
    dataset: str | None = None  # None: the model's own (`spec.dataset`)
    # None: the model's fixed AdamW inputs and no end. Set: step i of round r runs at the schedule's step
    # r × H + i, and the run ends once the schedule's steps are trained (`rounds`)
    inner: InnerSchedule | None = None
    # None: θ₀ = init_theta(task, seed). Set: the sha256 of θ₀'s bytes, a checkpoint the run starts from (the
    # DiLoCo paper's warm start); members that do not hold it join after round 0, fetching the certified state
    init: bytes | None = None

    @property
    def spec(self) -> ModelSpec:
        return get_model(self.task)

    @property
    def data(self) -> str:
        return self.dataset or self.spec.dataset

    @property
    def rounds(self) -> int | None:
        """How many rounds the run has (None: it goes on while anyone trains)."""
        return None if self.inner is None else -(-self.inner.steps // self.H)

    def steps_in(self, r: int) -> int:
        """Inner steps round r trains at most: H, or what is left of the schedule (0 past the end)."""
        if self.inner is None:
            return self.H
        return max(0, min(self.H, self.inner.steps - r * self.H))

    def hyper(self, step: int) -> Hyper:
        """AdamW's inputs at the run's inner step `step` (round × H + i)."""
        return self.spec.hyper if self.inner is None else self.inner.hyper(self.spec.hyper, step)

    @property
    def peak_hyper(self) -> Hyper:
        """The largest inner step of the run: what bounds a delta's claimed displacement."""
        return self.spec.hyper if self.inner is None else self.inner.peak(self.spec.hyper)

    def to_wire(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "graph": bytes.fromhex(graph_hash(self.task, "train")),
            "seed": self.seed,
            "H": self.H,
            "outer_lr_e6": round(self.outer_lr * E6),
            "momentum_e6": round(self.momentum * E6),
            "codec": self.codec,
            "aggregation": self.aggregation,
            "deadline_ms": round(self.deadline_s * 1000),
            "cert_timeout_ms": round(self.cert_timeout_s * 1000),
            "min_peers": self.min_peers,
            "shards": self.shards,
            "nonce": self.nonce,
            **({"dataset": self.dataset} if self.dataset is not None else {}),
            **({"inner": self.inner.to_wire()} if self.inner is not None else {}),
            **({"init": self.init} if self.init is not None else {}),
        }

    @property
    def run_id(self) -> bytes:
        return hashlib.sha256(b"hyperspace/1/diloco-run\x00" + cbor.encode(self.to_wire())).digest()[:16]

    @classmethod
    def from_wire(cls, value: Any) -> RunSpec:
        d = expect_map(value, "run", _RUN_FIELDS, _RUN_OPTIONAL)
        task = get_str(d, "task", 64)
        if task not in MODELS:
            raise WireError("unknown_task", f"no model {task[:64]!r} here")
        dataset = get_str(d, "dataset", 32) if "dataset" in d else None
        if dataset is not None and dataset not in DATASETS[get_model(task).family]:
            raise WireError("unknown_task", f"no dataset {dataset[:32]!r} for {task} here")
        if get_bytes(d, "graph", size=32).hex() != graph_hash(task, "train"):
            raise WireError("graph_mismatch", "the run's graph is not the one this node ships")
        codec, aggregation = get_str(d, "codec", 16), get_str(d, "aggregation", 16)
        if codec not in CODECS or aggregation not in agg.AGGREGATORS:
            raise WireError("bad_field", "unknown codec or aggregation")
        return cls(
            task=task,
            seed=get_int(d, "seed", hi=2**63 - 1),
            H=get_int(d, "H", 1, 100_000),
            outer_lr=get_int(d, "outer_lr_e6", 1, 10 * E6) / E6,
            momentum=get_int(d, "momentum_e6", 0, E6 - 1) / E6,
            codec=codec,
            aggregation=aggregation,
            deadline_s=get_int(d, "deadline_ms", 100, 86_400_000) / 1000,
            cert_timeout_s=get_int(d, "cert_timeout_ms", 100, 86_400_000) / 1000,
            min_peers=get_int(d, "min_peers", 1, MAX_MEMBERS),
            shards=get_int(d, "shards", 1, 4096),
            nonce=get_int(d, "nonce"),
            dataset=dataset,
            inner=InnerSchedule.from_wire(d["inner"]) if "inner" in d else None,
            init=get_bytes(d, "init", size=32) if "init" in d else None,
        )


def checkpoint_hash(theta: array) -> bytes:
    """What `RunSpec.init` holds for a run starting from θ = `theta`: θ's hash, as `hyperspace train` commits it."""
    return bytes.fromhex(vector_hash(theta))


@dataclass
class OuterState:
    """S_r: what every participant holds at the start of round r."""

    round: int
    theta: array
    momentum: array

    def to_bytes(self) -> bytes:
        return struct.pack("<Q", self.round) + self.theta.tobytes() + self.momentum.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, n: int) -> OuterState:
        if len(data) != 8 + 8 * n:
            raise WireError("bad_state", f"state of {len(data)} bytes, expected {8 + 8 * n}")
        (r,) = struct.unpack_from("<Q", data)
        theta, momentum = array("f", data[8 : 8 + 4 * n]), array("f", data[8 + 4 * n :])
        if not (agg.all_finite(theta) and agg.all_finite(momentum)):
            raise WireError("bad_state", "non-finite value")
        return cls(r, theta, momentum)

    def digest(self) -> bytes:
        return hashlib.sha256(self.to_bytes()).digest()

    @classmethod
    def initial(cls, run: RunSpec, theta0: array | None = None) -> OuterState:
        """S_0: θ₀ of the run's seed, or `theta0`, the checkpoint the run names (given exactly then)."""
        if run.init is None:
            if theta0 is not None:
                raise ValueError("the run names no checkpoint to start from")
            theta = init_theta(run.spec, run.seed)
        else:
            if theta0 is None:
                raise ValueError(f"the run starts from checkpoint {run.init.hex()[:12]}, which is not given")
            theta = array("f", theta0)
            if len(theta) != run.spec.n_params:
                raise ValueError(f"θ₀ has {len(theta)} parameters; {run.task} has {run.spec.n_params}")
            if checkpoint_hash(theta) != run.init:
                raise ValueError(f"θ₀ is not checkpoint {run.init.hex()[:12]}, the one the run names")
        return cls(0, theta, array("f", bytes(4 * len(theta))))


def outer_step(run: RunSpec, state: OuterState, deltas: list[array], samples: list[int]) -> OuterState | None:
    """S_{r+1} from S_r and the decoded deltas a certificate names (in its order, with their sample counts);
    None when the aggregate or the new state is not finite. Plain Python: bit-identical everywhere."""
    g = agg.aggregate(run.aggregation, deltas, [float(x) for x in samples])
    if not agg.all_finite(g):
        return None
    theta, momentum = agg.nesterov_step(state.theta, state.momentum, g, run.outer_lr, run.momentum)
    if not (agg.all_finite(theta) and agg.all_finite(momentum)):
        return None
    return OuterState(state.round + 1, theta, momentum)


# ---- outputs ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Publish:
    data: bytes  # for run_topic(run_id)


@dataclass(frozen=True)
class Train:
    round: int
    theta: array
    steps: int
    seed: int  # batch stream of this round
    shard: int
    shards: int
    offset: int = 0  # the run's inner step of this job's first step (round × H): its place in the schedule


@dataclass(frozen=True)
class FetchDelta:
    peer: bytes  # ask this peer (the certificate's issuer)
    round: int
    author: bytes
    digest: bytes


@dataclass(frozen=True)
class FetchState:
    peer: bytes
    expect: bytes  # the state hash a certificate names
    round: int


@dataclass(frozen=True)
class RoundDone:
    round: int  # the round that ended: the node now holds S_{round+1}
    state_hash: bytes
    contributors: list[tuple[bytes, int]]  # (peer, samples) named by the certificate
    issuer: bytes


# ---- messages -----------------------------------------------------------------------------------------


@dataclass
class _Delta:
    author: bytes
    samples: int
    steps: int
    digest: bytes
    parts: list[bytes | None]
    value: array | None = None  # decoded, once complete


@dataclass
class _Round:
    started: float
    deltas: dict[bytes, _Delta] = field(default_factory=dict)
    certified: CertMessage | None = None
    issuer: bytes = b""  # who sent `certified`: the deltas it names are fetched from it
    asked: float = 0.0  # when the deltas `certified` names and we lack were last asked for
    asks: int = 0
    refused: set[bytes] = field(default_factory=set)  # issuers whose certificate of this round we dropped
    displaced: dict[bytes, _Delta] = field(default_factory=dict)  # ours, where `certified` named another


@dataclass(frozen=True)
class JoinMessage:
    """A peer says it trains in `round` (the aggregator then waits for its delta)."""

    round: int

    def encode(self, run_id: bytes) -> bytes:
        return cbor.encode({"t": "join", "run": run_id, "round": self.round})


@dataclass(frozen=True)
class DeltaMessage:
    """One part of a peer's compressed pseudo-gradient for `round`, trained from the state hashed `base`."""

    round: int
    base: bytes
    samples: int
    steps: int
    digest: bytes  # sha256 of the whole payload (all parts joined)
    part: int
    parts: int
    data: bytes

    def encode(self, run_id: bytes) -> bytes:
        return cbor.encode({"t": "delta", "run": run_id, "round": self.round, "base": self.base,
                            "samples": self.samples, "steps": self.steps, "digest": self.digest,
                            "part": self.part, "parts": self.parts, "data": self.data})  # fmt: skip


@dataclass(frozen=True)
class CertMessage:
    """An aggregator's certificate: the deltas it used and the hash of the state they give."""

    round: int
    attempt: int  # the issuer's rank in the round's aggregator order
    base: bytes
    next: bytes
    entries: tuple[tuple[bytes, bytes, int], ...]  # (peer, delta digest, samples), sorted by peer

    def encode(self, run_id: bytes) -> bytes:
        return cbor.encode({"t": "cert", "run": run_id, "round": self.round, "attempt": self.attempt,
                            "base": self.base, "next": self.next,
                            "entries": [list(e) for e in self.entries]})  # fmt: skip


RunMessage = JoinMessage | DeltaMessage | CertMessage


def _cert_entries(entries: list[Any]) -> tuple[tuple[bytes, bytes, int], ...]:
    out = []
    for e in entries:
        if not (isinstance(e, list) and len(e) == 3):
            raise WireError("bad_field", "certificate entry must be [peer, digest, samples]")
        peer, digest, samples = e
        if not (
            isinstance(peer, bytes) and len(peer) == 32 and isinstance(digest, bytes) and len(digest) == 32
        ):
            raise WireError("bad_field", "certificate entry ids are 32 bytes")
        if not isinstance(samples, int) or isinstance(samples, bool) or not 0 < samples < 2**40:
            raise WireError("bad_field", "certificate samples out of range")
        out.append((peer, digest, samples))
    if [p for p, _, _ in out] != sorted({p for p, _, _ in out}):
        raise WireError("bad_field", "certificate entries must be sorted by peer, once each")
    if not out:
        raise WireError("bad_field", "a certificate names at least one delta")
    return tuple(out)


def _parse_delta(m: dict[str, Any], run: RunSpec, codec_bytes: int) -> DeltaMessage:
    fields = {"t", "run", "round", "base", "samples", "steps", "digest", "part", "parts", "data"}
    expect_map(m, "delta", fields)
    parts = get_int(m, "parts", 1, -(-codec_bytes // PART_BYTES))
    # a delta weighs by its steps: no more than the round's H, and its samples are those steps' batches
    steps = get_int(m, "steps", 1, run.H)
    samples = get_int(m, "samples", 1, 2**40)
    if samples != steps * run.spec.tokens_per_batch():
        raise WireError("bad_field", "a delta's samples are its steps times the model's batch")
    return DeltaMessage(
        round=get_int(m, "round", 0, MAX_ROUND),
        base=get_bytes(m, "base", size=32),
        samples=samples,
        steps=steps,
        digest=get_bytes(m, "digest", size=32),
        part=get_int(m, "part", 0, parts - 1),
        parts=parts,
        data=get_bytes(m, "data", max_len=PART_BYTES),
    )


def _parse_cert(m: dict[str, Any]) -> CertMessage:
    expect_map(m, "cert", {"t", "run", "round", "attempt", "base", "next", "entries"})
    return CertMessage(
        round=get_int(m, "round", 0, MAX_ROUND),
        attempt=get_int(m, "attempt", 0, MAX_MEMBERS),
        base=get_bytes(m, "base", size=32),
        next=get_bytes(m, "next", size=32),
        entries=_cert_entries(get_list(m, "entries", MAX_MEMBERS)),
    )


def parse_message(data: bytes, run: RunSpec, codec_bytes: int) -> RunMessage:
    """Parse and size-check a run-topic message (a gossip validator does, once; the core takes the value)."""
    m = cbor.decode(data)
    kind = m.get("t") if isinstance(m, dict) else None
    msg: RunMessage
    if kind == "join":
        expect_map(m, "join", {"t", "run", "round"})
        msg = JoinMessage(get_int(m, "round", 0, MAX_ROUND))
    elif kind == "delta":
        msg = _parse_delta(m, run, codec_bytes)
    elif kind == "cert":
        msg = _parse_cert(m)
    else:
        raise WireError("bad_type", "unknown run message")
    if get_bytes(m, "run", size=16) != run.run_id:
        raise WireError("bad_field", "message for another run")
    return msg


# ---- the state machine --------------------------------------------------------------------------------


class Diloco:
    def __init__(
        self,
        me: bytes,
        run: RunSpec,
        founder: bytes,
        inner_steps: int | None = None,
        have_initial: bool = True,
        theta0: array | None = None,
    ) -> None:
        """`founder`: who announced the run (round 0's aggregator). `have_initial`: start at round 0 from θ₀
        (the founder, an early joiner); else wait for a certificate and fetch the state it names. `theta0`:
        with `have_initial`, the checkpoint the run's spec names (`RunSpec.init`)."""
        self.me = me
        self.run = run
        self.run_id = run.run_id
        self.spec = run.spec
        self.n = self.spec.n_params
        self.inner_steps = min(inner_steps or run.H, run.H)
        self.codec = Codec(run.codec, self.n)  # ours: keeps top-k's error-feedback residual
        self._decoder = Codec(run.codec, self.n)
        self.founder = founder
        self.members: set[bytes] = {me, founder}
        # the previous certificate's contributors: an agreed list, from which the next aggregator is drawn
        self.prev_contributors: list[bytes] = [founder]
        self.last_seen: dict[bytes, int] = {me: 0}  # member → last round it was heard in
        self.state: OuterState | None = OuterState.initial(run, theta0) if have_initial else None
        self.rounds: dict[int, _Round] = {}
        self.bytes_sent = 0
        self.bytes_received = 0
        self.rejected: dict[str, int] = {}
        self.history: list[RoundDone] = []
        self._fetching_state = False
        self._started = False
        self._early: list[tuple[bytes, DeltaMessage]] = []  # next round's deltas, kept until we get there
        self._served: dict[bytes, bytes] = {}  # recent states by hash, for peers catching up
        self._fetch_contributors: list[bytes] = []
        self._held_cert: tuple[bytes, CertMessage] | None = None  # the newest that came during a state fetch

    # -- helpers

    @property
    def round(self) -> int:
        return -1 if self.state is None else self.state.round

    def _round(self, r: int, now: float) -> _Round:
        if r not in self.rounds:
            self.rounds[r] = _Round(started=now)
        return self.rounds[r]

    def aggregator_order(self, r: int) -> list[bytes]:
        """Round r's aggregator, then its backups. The head is drawn from the last certificate's
        contributors, a list every participant holding S_r agrees on (views of membership differ);
        backups, only needed when it fails, come from the other members this node knows."""
        key = self.run_id + struct.pack("<Q", r)
        rank = lambda p: hashlib.sha256(key + p).digest()  # noqa: E731
        agreed = sorted(self.prev_contributors, key=rank)
        return agreed + sorted(self.members - set(agreed), key=rank)

    def _shard(self) -> int:
        return shard_of(self.run, self.me)

    def _reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def _train(self) -> list[Any]:
        assert self.state is not None
        self.last_seen[self.me] = self.state.round
        r = self.state.round
        steps = min(self.inner_steps, self.run.steps_in(r))
        if steps == 0:
            return []  # the schedule is trained: the run is over
        seed = batch_seed(self.run, r, self.me)
        return [Train(r, self.state.theta, steps, seed, self._shard(), self.run.shards, r * self.run.H)]

    @property
    def finished(self) -> bool:
        """A run with an end (`RunSpec.rounds`) whose every round is applied here."""
        rounds = self.run.rounds
        return rounds is not None and self.state is not None and self.state.round >= rounds

    # -- inputs

    def start(self, now: float) -> list[Any]:
        """Join: say so on the run topic and, holding a state, begin training its round."""
        self._started = True
        if self.state is None:
            return []  # joins once it holds a state (the next certificate tells which)
        self._round(self.state.round, now)
        return [self._join(), *self._train()]

    def _join(self) -> Publish:
        # the round we will train in: the aggregator then waits for our delta
        assert self.state is not None
        return Publish(JoinMessage(self.state.round).encode(self.run_id))

    def parse(self, data: bytes) -> RunMessage:
        """Parse a run-topic message for this run (raises WireError): what a gossip validator calls."""
        return parse_message(data, self.run, self._decoder.max_payload())

    def receive(self, sender: bytes, data: bytes, now: float) -> list[Any]:
        """Raw run-topic bytes, for drivers without a gossip validator (the in-memory run): parse, then
        `on_message`. A runtime whose validator parsed the message already calls `on_message` directly."""
        try:
            msg = self.parse(data)
        except WireError as e:
            self._reject(e.reason)
            return []
        return self.on_message(sender, msg, len(data), now)

    def on_message(self, sender: bytes, msg: RunMessage, size: int, now: float) -> list[Any]:
        """A parsed run-topic message of `size` bytes whose envelope signature the gossip layer verified
        (sender = author)."""
        if len(self.members) < MAX_MEMBERS:
            self.members.add(sender)
        if sender not in self.members:
            return []
        self.bytes_received += size
        self.last_seen[sender] = max(self.last_seen.get(sender, -1), msg.round)
        if isinstance(msg, DeltaMessage):
            return self._on_delta(sender, msg, now)
        if isinstance(msg, CertMessage):
            return self._on_cert(sender, msg, now)
        return []

    def _on_delta(self, sender: bytes, m: DeltaMessage, now: float) -> list[Any]:
        r = m.round
        if self.state is not None and r == self.state.round + 1 and len(self._early) < MAX_MEMBERS * 4:
            self._early.append((sender, m))  # we are still applying the last round; replay it then
            return []
        if self.state is None or r != self.state.round:
            return []  # late, or we are not in sync yet: not ours to use, and no one's fault
        if m.base != self.state.digest():
            self._reject("delta_wrong_base")  # trained from a state this round did not start from
            return []
        rnd = self._round(r, now)
        d = rnd.deltas.get(sender)
        # a delta the certificate named before it reached us holds no part yet, nor their count
        placeholder = d is not None and d.value is None and not any(d.parts)
        if d is None or (placeholder and (d.digest, d.samples) == (m.digest, m.samples)):
            d = rnd.deltas[sender] = _Delta(sender, m.samples, m.steps, m.digest, [None] * m.parts)
        elif (d.digest, d.samples, len(d.parts)) != (m.digest, m.samples, m.parts):
            self._reject("equivocation")  # two different deltas for one round: keep the first
            return []
        d.parts[m.part] = m.data
        self._complete(d)
        if rnd.certified is None:
            return self._maybe_certify(now)
        # certified before this delta reached us: it may be the last one missing
        return self._apply_if_complete(r, now) if d.value is not None else []

    def _complete(self, d: _Delta) -> None:
        if d.value is not None or any(p is None for p in d.parts):
            return
        payload = b"".join(p for p in d.parts if p is not None)
        if hashlib.sha256(payload).digest() != d.digest:
            self._reject("delta_digest")
            d.parts = [None] * len(d.parts)
            return
        try:
            value = self._decoder.decode(payload)
        except WireError as e:
            self._reject(e.reason)
            d.parts = [None] * len(d.parts)
            return
        if not self._within_claim(value, d.steps):
            self._reject("delta_exceeds_steps")
            d.parts = [None] * len(d.parts)
            return
        d.value = value

    def _within_claim(self, value: array, steps: int) -> bool:
        """Could `steps` inner steps from θ_r have produced this delta? (claims.py: AdamW's displacement
        bound). Top-k deltas carry error feedback — what earlier rounds left unsent — so no one-round bound
        holds for them; their weight is still capped by H. An int4 delta carries what rounding left over,
        less than half a step of 1/7 of a chunk's largest value: at most 1/13 of an H-step bound over a run
        (1/14 + 1/14² + …), allowed twice for θ moving between rounds."""
        assert self.state is not None
        if self.run.codec == "topk":
            return True
        theta_max = max(map(abs, self.state.theta), default=0.0)
        hyper = self.run.peak_hyper
        bound = max_displacement(hyper, steps, theta_max)
        if self.run.codec == "int4":
            bound += max_displacement(hyper, self.run.H, theta_max) * INT4_CARRY
        return max(map(abs, value), default=0.0) <= bound

    def trained(self, r: int, theta_end: array, steps: int, now: float) -> list[Any]:
        """The runtime finished this node's inner steps for round `r`."""
        if self.state is None or r != self.state.round:
            return []  # the round was certified meanwhile: this work is too late
        delta = agg.pseudo_gradient(self.state.theta, theta_end)
        payload = self.codec.encode(delta)
        digest = hashlib.sha256(payload).digest()
        samples = steps * self.spec.tokens_per_batch()
        parts = [payload[i : i + PART_BYTES] for i in range(0, len(payload), PART_BYTES)] or [b""]
        rnd = self._round(r, now)
        rnd.deltas[self.me] = _Delta(self.me, samples, steps, digest, list(parts))
        self._complete(rnd.deltas[self.me])  # decoded as everyone else decodes it
        out: list[Any] = []
        base = self.state.digest()
        for i, part in enumerate(parts):
            msg = DeltaMessage(r, base, samples, steps, digest, i, len(parts), part)
            out.append(Publish(msg.encode(self.run_id)))
            self.bytes_sent += len(part)
        return out + self._maybe_certify(now)

    def tick(self, now: float) -> list[Any]:
        return self._ask_again(now) + self._maybe_certify(now)

    def _ask_again(self, now: float) -> list[Any]:
        """The round is certified but a delta it names is still missing (its fetch failed: the issuer left or
        timed out, and gossip did not bring it): ask again, the delta's author and the issuer in turn. Else the
        round would wait for the next certificate, which waits for our delta until its deadline."""
        if self.state is None:
            return []
        r = self.state.round
        rnd = self.rounds.get(r)
        if rnd is None or rnd.certified is None or now - rnd.asked < DELTA_ASK_AGAIN_S:
            return []
        if rnd.asks >= DELTA_GIVE_UP_ASKS:  # nobody has what it names: a certificate we can never apply
            return self._drop_cert(rnd, "cert_unfetchable", now)
        rnd.asked, rnd.asks = now, rnd.asks + 1
        return [
            FetchDelta(author if rnd.asks % 2 else rnd.issuer, r, author, digest)
            for author, digest, _ in rnd.certified.entries
            if (d := rnd.deltas.get(author)) is not None and d.value is None
        ]

    # -- certificates

    def _expected(self, r: int) -> set[bytes]:
        """Members heard from in this round or the one before: the aggregator waits for their deltas."""
        return {p for p in self.members if self.last_seen.get(p, -10) >= r - 1}

    def _attempt_allowed(self, rank: int, rnd: _Round, now: float) -> bool:
        if rank == 0:
            return True
        return now >= rnd.started + self.run.deadline_s + rank * self.run.cert_timeout_s

    def _maybe_certify(self, now: float) -> list[Any]:
        if self.state is None or not self._started:
            return []
        r = self.state.round
        rnd = self._round(r, now)
        if rnd.certified is not None:
            return []
        complete = {p: d for p, d in rnd.deltas.items() if d.value is not None}
        if not complete:
            return []
        rank = self.aggregator_order(r).index(self.me)
        deadline = rnd.started + self.run.deadline_s + rank * self.run.cert_timeout_s
        everyone = self._expected(r) <= set(complete) and len(complete) >= self.run.min_peers
        if not ((rank == 0 and everyone) or now >= deadline):
            return []
        chosen = [complete[p] for p in sorted(complete)]
        new_state = self._outer_step(chosen)
        while new_state is None and len(chosen) > 1:
            # finite deltas whose step overflows float32: leave out the longest until the step is finite
            chosen.remove(max(chosen, key=lambda d: (agg.norm(d.value or array("f")), d.author)))
            new_state = self._outer_step(chosen)
        if new_state is None:
            self._reject("step_non_finite")
            return []
        entries = [(d.author, d.digest, d.samples) for d in chosen]
        cert = CertMessage(r, rank, self.state.digest(), new_state.digest(), tuple(entries))
        rnd.certified = cert
        return [Publish(cert.encode(self.run_id)), *self._advance(new_state, entries, self.me, now)]

    def _on_cert(self, issuer: bytes, m: CertMessage, now: float, held: bool = False) -> list[Any]:
        """`held`: it came while we fetched a state, and is taken now that the fetch ended; its round began
        before ours did, so it is not held to our clock's idea of its issuer's turn."""
        r = m.round
        if self.state is not None and r < self.state.round:
            return []  # old news
        if self._fetching_state:
            # the state on its way may be this certificate's base: keep it for then (else the round waits for
            # the next certificate, which waits for our delta until its deadline)
            if self._held_cert is None or r >= self._held_cert[1].round:
                self._held_cert = (issuer, m)
            return []
        if self.state is None or r > self.state.round or m.base != self.state.digest():
            # we are behind or diverged: the issuer holds the state the certificate's `next` names
            self._fetching_state = True
            self._fetch_contributors = [p for p, _, _ in m.entries]
            return [FetchState(issuer, m.next, r + 1)]
        rnd = self._round(r, now)
        if rnd.certified is not None or issuer in rnd.refused:
            return []  # first seen wins
        rank = self.aggregator_order(r).index(issuer)
        # a little slack for clocks: our round may have started later than the issuer's
        if not held and not self._attempt_allowed(rank, rnd, now + self.run.cert_timeout_s / 2):
            self._reject("cert_out_of_turn")
            return []
        rnd.certified, rnd.issuer = m, issuer
        return self._apply_when_ready(r, now)

    def _apply_if_complete(self, r: int, now: float) -> list[Any]:
        """A delta the certificate of round r named has just arrived (by gossip or fetched): apply the round
        once it was the last one missing. Fetches still out for it then find the round over."""
        rnd = self.rounds[r]
        assert rnd.certified is not None
        # (a certificate refused midway, for a weight no delta can claim, holds no delta for the rest)
        if any((d := rnd.deltas.get(p)) is None or d.value is None for p, _, _ in rnd.certified.entries):
            return []
        return self._apply_when_ready(r, now)

    def _apply_when_ready(self, r: int, now: float) -> list[Any]:
        rnd = self.rounds[r]
        assert rnd.certified is not None
        issuer = rnd.issuer
        out: list[Any] = []
        chosen = []
        for peer, digest, samples in rnd.certified.entries:
            d = rnd.deltas.get(peer)
            steps = self._steps_of(samples)
            if steps is None:  # a weight no delta of this run can claim
                return self._drop_cert(rnd, "cert_bad_samples", now)
            if d is not None and d.digest != digest:
                if d.value is not None:
                    rnd.displaced[peer] = d
                d = rnd.deltas[peer] = _Delta(peer, samples, steps, digest, [None])  # the cert's choice wins
            if d is None or d.value is None:
                if d is None:
                    rnd.deltas[peer] = _Delta(peer, samples, steps, digest, [None])
                out.append(FetchDelta(issuer, r, peer, digest))
            else:
                d.samples = samples
                chosen.append(d)
        if out:
            rnd.asked = now
            return out
        new_state = self._outer_step(chosen)
        if new_state is None:
            return self._drop_cert(rnd, "cert_non_finite", now)  # never apply a θ that is not finite
        if new_state.digest() != rnd.certified.next:
            self._reject("cert_next_mismatch")  # keep our own result: we computed it from the named deltas
        return self._advance(new_state, [(d.author, d.digest, d.samples) for d in chosen], issuer, now)

    def _drop_cert(self, rnd: _Round, reason: str, now: float) -> list[Any]:
        """Refuse the round's certificate and free the round for another: its issuer's are ignored from now on,
        the deltas it named that we lack are forgotten and ours it named otherwise restored. A backup then
        certifies (we may be one), where first-seen-wins would have waited for a certificate that never comes."""
        self._reject(reason)
        rnd.refused.add(rnd.issuer)
        rnd.deltas = {p: d for p, d in rnd.deltas.items() if d.value is not None or any(d.parts)}
        rnd.deltas.update(rnd.displaced)
        rnd.displaced.clear()
        rnd.certified, rnd.issuer, rnd.asked, rnd.asks = None, b"", 0.0, 0
        return self._maybe_certify(now)

    def _steps_of(self, samples: int) -> int | None:
        """The inner steps a certificate's sample count stands for; None if no honest delta has it."""
        steps, rest = divmod(samples, self.spec.tokens_per_batch())
        return steps if rest == 0 and 1 <= steps <= self.run.H else None

    def delta_fetched(self, r: int, author: bytes, payload: bytes, now: float) -> list[Any]:
        rnd = self.rounds.get(r)
        if rnd is None or rnd.certified is None or self.state is None or self.state.round != r:
            return []
        d = rnd.deltas.get(author)
        if d is None or d.value is not None:
            return []
        if hashlib.sha256(payload).digest() != d.digest:
            self._reject("fetched_delta_digest")
            return []
        d.parts = [payload]
        self._complete(d)
        if d.value is None:
            return []
        self.bytes_received += len(payload)
        return self._apply_if_complete(r, now)

    def state_fetched(self, blob: bytes | None, expect: bytes, now: float) -> list[Any]:
        self._fetching_state = False
        out = self._adopt(blob, expect, now)
        held, self._held_cert = self._held_cert, None
        return out if held is None else out + self._on_cert(*held, now, held=True)

    def _adopt(self, blob: bytes | None, expect: bytes, now: float) -> list[Any]:
        if blob is None:
            return []
        if hashlib.sha256(blob).digest() != expect:
            self._reject("fetched_state_hash")
            return []
        state = OuterState.from_bytes(blob, self.n)
        if (
            self.state is not None
            and state.round <= self.state.round
            and state.digest() == self.state.digest()
        ):
            return []
        self.state = state
        self.prev_contributors = self._fetch_contributors
        self.members.update(self.prev_contributors)
        self.rounds = {r: v for r, v in self.rounds.items() if r >= state.round}
        self._round(state.round, now)
        self._remember(state)
        out = [self._join(), *self._train()] if self._started else []
        return out + self._maybe_certify(now)

    # -- the outer step

    def _outer_step(self, deltas: list[_Delta]) -> OuterState | None:
        """S_{r+1} from the named deltas; None when the aggregate or the new state is not finite."""
        assert self.state is not None
        values = [d.value for d in deltas if d.value is not None]
        return outer_step(self.run, self.state, values, [d.samples for d in deltas])

    def _advance(
        self, new_state: OuterState, entries: list[tuple[bytes, bytes, int]], issuer: bytes, now: float
    ) -> list[Any]:
        assert self.state is not None
        done = RoundDone(self.state.round, new_state.digest(), [(p, s) for p, _, s in entries], issuer)
        self.history.append(done)
        self.prev_contributors = [p for p, _, _ in entries]
        self.state = new_state
        self._remember(new_state)
        self.rounds = {r: v for r, v in self.rounds.items() if r >= new_state.round - 1}
        self._round(new_state.round, now)
        out: list[Any] = [done, *self._train()]
        early, self._early = self._early, []
        for sender, m in early:
            out += self._on_delta(sender, m, now)
        return out

    def _remember(self, state: OuterState) -> None:
        self._served[state.digest()] = state.to_bytes()
        while len(self._served) > 3:
            del self._served[next(iter(self._served))]

    def state_blob(self, digest: bytes) -> bytes | None:
        """A recent state by hash (what a certificate names), for a peer that is catching up."""
        return self._served.get(digest)

    def delta_payload(self, r: int, author: bytes, digest: bytes) -> bytes | None:
        rnd = self.rounds.get(r)
        d = rnd.deltas.get(author) if rnd else None
        if d is None or d.digest != digest or any(p is None for p in d.parts):
            return None
        return b"".join(p for p in d.parts if p is not None)


def theta_hash(state: OuterState) -> str:
    return vector_hash(state.theta)
