"""Pulse rounds at scale: one real `PulseCore` per node, real Ed25519 signatures and ECVRF proofs, on the kernel.

Every message is a signed envelope carrying the real codec's bytes; every core judges them as over the network.
The transport is the kernel's links (latency, loss, churn) with each accepted message flooded to a node's
links once, batched per link every FLUSH_S (as a router batches per peer per tick). Why not GossipSub's
routers (sim/mesh.py): a round moves ~2 n messages through every node, and at 1,000 nodes the router
simulation costs ~0.3 s of CPU per message (sim/gossip.py), about ten minutes a round, where this costs about a
minute. The flood takes shortest paths over ~8 links a node, so it delivers somewhat faster than a mesh of
degree 6 (sim/gossip.py at 1,000 nodes: p50 89 ms, p99 144 ms): tens of milliseconds per phase, next to
phases of seconds.

Pure functions every node would compute identically — a VRF verification, an envelope signature check, a
message decode, a reveal's verdict, a certificate's check — are computed once per distinct input and shared
(`Shared`): each node still runs its own protocol logic on every message; only the repeated arithmetic is not
redone a thousand times.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pynode.gossip.events import ValidationResult
from pynode.identity import Identity, verify
from pynode.identity.vrf import verify as vrf_verify
from pynode.presence import certificate, ledger, membership, messages, task
from pynode.presence.certificate import Certificate
from pynode.presence.core import Certify, Output, Publish, PulseCore
from pynode.presence.params import PULSE_TOPIC, Timing
from pynode.sim.kernel import Kernel
from pynode.sim.link import LinkModel
from pynode.state.records import Record, decode_record, make_record, verify_record
from pynode.state.sync import run_sync
from pynode.wire.envelope import Envelope, sign_envelope
from pynode.wire.errors import WireError

FLUSH_S = 0.02  # a node sends what it has for a link at most this often
EPOCH_MS = 1_700_000_000_000  # virtual time 0 on the nodes' wall clocks


class Shared:
    """Results of pure functions, computed once per input for all simulated nodes."""

    def __init__(self) -> None:
        self.vrf: dict[tuple[bytes, bytes, bytes], bytes | None] = {}
        self.sigs: dict[bytes, bool] = {}
        self.decoded: dict[bytes, messages.Message | None] = {}
        self.reveals: dict[tuple[Any, ...], str] = {}
        self.certs: dict[bytes, Certificate | str] = {}

    def verify_vrf(self, public_key: bytes, proof: bytes, alpha: bytes) -> bytes | None:
        k = (public_key, proof, alpha)
        if k not in self.vrf:
            self.vrf[k] = vrf_verify(public_key, proof, alpha)
        return self.vrf[k]

    def check_reveal(self, seed: bytes, peer: bytes, root: bytes, picks: list[int], rows: list[bytes],
                     paths: list[list[bytes]]) -> str:  # fmt: skip
        k = (seed, peer, root, tuple(picks), tuple(rows), tuple(tuple(p) for p in paths))
        if k not in self.reveals:
            self.reveals[k] = task.check_reveal(seed, peer, root, picks, rows, paths)
        return self.reveals[k]

    def envelope_ok(self, env: Envelope) -> bool:
        if env.msg_id not in self.sigs:
            self.sigs[env.msg_id] = run_sync(verify(env.sender, env.signed_bytes(), env.sig))
        return self.sigs[env.msg_id]

    def decode(self, env: Envelope) -> messages.Message | None:
        if env.msg_id not in self.decoded:
            try:
                self.decoded[env.msg_id] = messages.decode(env.data)
            except WireError:
                self.decoded[env.msg_id] = None
        return self.decoded[env.msg_id]

    async def verify_sig(self, public_key: bytes, message: bytes, sig: bytes) -> bool:
        k = hashlib.sha256(public_key + message + sig).digest()
        if k not in self.sigs:
            self.sigs[k] = await verify(public_key, message, sig)
        return self.sigs[k]

    def certificate(self, data: bytes) -> Certificate | str:
        """A certificate record's bytes, decoded and checked as every replica checks it; else why not."""
        k = hashlib.sha256(data).digest()
        if k not in self.certs:
            self.certs[k] = run_sync(self._certificate(data))
        return self.certs[k]

    async def _certificate(self, data: bytes) -> Certificate | str:
        try:
            record = decode_record(data)
        except WireError as e:
            return e.reason
        if record.kind != "certificate" or not await verify_record(record):
            return "not_a_certificate"
        cert = certificate.parse(record)
        reason = await certificate.check(cert, self.verify_sig, self.verify_vrf)
        return reason or cert


@dataclass(eq=False)
class SimNode:
    index: int
    identity: Identity
    core: PulseCore
    skew_ms: int = 0
    seqno: int = 0
    seen: set[bytes] = field(default_factory=set)
    next_tick: float = float("inf")
    round: int = -1  # the round on the node's clock when it last ticked
    arrivals: dict[bytes, float] = field(default_factory=dict)  # certificate key -> virtual time it came


class PresenceSimulation:
    def __init__(self, seed: int, link: LinkModel, timing: Timing, degree: int = 4) -> None:
        self.kernel = Kernel(seed, link, degree, listener=self)
        self.timing = timing
        self.shared = Shared()
        self.nodes: list[SimNode] = []
        self.by_peer: dict[bytes, SimNode] = {}
        self._outbox: dict[tuple[int, int], list[Envelope]] = {}
        self.certificates: dict[bytes, Certificate] = {}  # every valid certificate published, by key
        # The replicated state, as if every replica held every record at once (sim/state.py measures how long
        # that really takes): profiles with origin attestations, certificates, and the leaders' points records.
        self.relay = make_identities(1, random.Random(seed ^ 0x5EED))[0]
        self.relays = frozenset({self.relay.peer_id})
        self.profiles: list[Record] = []
        self.points: list[Record] = []
        self.cert_cache = ledger.CertCache()
        self.rejected = 0  # messages a node refused (REJECT)
        self.on_output: Callable[[SimNode, Output], None] | None = None

    # ---- kernel listener: the flood needs no link state beyond the kernel's -------------------------

    def link_up(self, a: int, b: int) -> None:
        pass

    def link_down(self, node: int, gone: int) -> None:
        pass

    # ---- membership and time ------------------------------------------------------------------------

    def now_ms(self, node: SimNode) -> int:
        return EPOCH_MS + int(self.kernel.now * 1000) + node.skew_ms

    def profile(self, identity: Identity, origin: bytes) -> Record:
        """`identity`'s profile with the relay's attestation that it connects from `origin`."""
        now = EPOCH_MS + int(self.kernel.now * 1000)
        attested = run_sync(
            membership.attest(self.relay.signer, identity.peer_id, origin, now + membership.ORIGIN_TTL_MS)
        )
        body = {"name": "sim", "caps": ["relay"], "origin": attested}
        record = run_sync(make_record(identity.signer, "profile", body, now))
        self.profiles.append(record)
        return record

    def add(self, identity: Identity, core: PulseCore | None = None, skew_ms: int = 0) -> SimNode:
        index = self.kernel.add()
        if core is None:
            assert identity.vrf is not None
            core = PulseCore(identity.peer_id, identity.vrf, self.timing, self.shared.verify_vrf,
                             self.shared.check_reveal)  # fmt: skip
        node = SimNode(index, identity, core, skew_ms)
        self.nodes.append(node)
        self.by_peer[identity.peer_id] = node
        self.kernel.join(index)
        self._schedule(node, self.kernel.now)
        return node

    def crash(self, node: SimNode) -> None:
        if self.kernel.alive[node.index]:
            self.kernel.leave(node.index)

    def _schedule(self, node: SimNode, at: float) -> None:
        if at < node.next_tick:
            node.next_tick = at
            self.kernel.at(at, self._tick, node)

    def _tick(self, node: SimNode) -> None:
        if not self.kernel.alive[node.index] or self.kernel.now < node.next_tick:
            return  # dead, or a later tick replaced this one
        node.next_tick = float("inf")
        now = self.now_ms(node)
        r = self.timing.round_of(now)
        if r != node.round:
            node.round = r
            node.seen.clear()  # older messages are no use to the core any more: it ignores them
        self._carry_out(node, node.core.tick(now))
        self._reschedule(node)

    def _reschedule(self, node: SimNode) -> None:
        wake = node.core.next_wakeup(self.now_ms(node))
        self._schedule(node, (wake - EPOCH_MS - node.skew_ms) / 1000)

    # ---- outputs ------------------------------------------------------------------------------------

    def _carry_out(self, node: SimNode, outputs: list[Output]) -> None:
        for out in outputs:
            if self.on_output is not None:
                self.on_output(node, out)
            if isinstance(out, Publish):
                self.publish(node, out.data)
            elif isinstance(out, Certify):
                self._certify(node, out)

    def publish(self, node: SimNode, data: bytes) -> Envelope:
        node.seqno += 1
        env = run_sync(sign_envelope(node.identity.signer, PULSE_TOPIC, node.seqno, self.now_ms(node), data))
        node.seen.add(env.msg_id)
        self._forward(node.index, env, None)
        return env

    def _certify(self, node: SimNode, out: Certify) -> None:
        record = run_sync(make_record(node.identity.signer, "certificate", out.body, self.now_ms(node)))
        env = self.publish(node, messages.encode(messages.Cert(record.encoded)))
        self._validate(node, env)  # our own certificate moves our chain like anyone's
        self._publish_points(node, record)

    def cert_records(self) -> list[Record]:
        return [c.record for c in self.certificates.values()]

    def ledger(self, full: bool = False, fresh: bool = False) -> ledger.Ledger:
        """The points view over every record, as any replica computes it. `full`: every participant's proof
        checked too; `fresh`: nothing remembered from the run — every signature and proof verified anew."""
        sig, vrf = (verify, vrf_verify) if fresh else (self.shared.verify_sig, self.shared.verify_vrf)
        cache = ledger.CertCache() if full or fresh else self.cert_cache
        records = self.cert_records()
        evidence = run_sync(
            ledger.gather(records, self.profiles, sig, vrf, self.relays, full=full, cache=cache)
        )
        return ledger.compute(evidence)

    def _publish_points(self, node: SimNode, record: Record) -> None:
        """What a leader does after certifying: publish its round's awards as its ledger computes them."""
        view = self.ledger()
        cert = next((c for c in view.chain if c.record.key == record.key), None)
        if cert is None:
            return
        for body in ledger.points_bodies(view, cert):
            self.points.append(run_sync(make_record(node.identity.signer, "points", body, self.now_ms(node))))

    # ---- the flood ----------------------------------------------------------------------------------

    def _forward(self, index: int, env: Envelope, exclude: int | None) -> None:
        kernel, outbox = self.kernel, self._outbox
        for other in kernel.links[index]:
            if other != exclude:
                box = outbox.get((index, other))
                if box is None:
                    outbox[(index, other)] = [env]
                    kernel.at(kernel.now + FLUSH_S, self._flush, index, other)
                else:
                    box.append(env)

    def _flush(self, index: int, other: int) -> None:
        batch = self._outbox.pop((index, other), None)
        if batch:
            self.kernel.send(index, other, self._arrive, batch)

    def _arrive(self, dst: int, src: int, batch: list[Envelope]) -> None:
        node = self.nodes[dst]
        for env in batch:
            if env.msg_id in node.seen:
                continue
            node.seen.add(env.msg_id)
            verdict = self._validate(node, env)
            if verdict is ValidationResult.ACCEPT:
                self._forward(dst, env, src)
            elif verdict is ValidationResult.REJECT:
                self.rejected += 1
        if node.core.dirty:
            self._reschedule(node)

    def _validate(self, node: SimNode, env: Envelope) -> ValidationResult:
        if not self.shared.envelope_ok(env):
            return ValidationResult.REJECT
        msg = self.shared.decode(env)
        if msg is None:
            return ValidationResult.REJECT
        now = self.now_ms(node)
        if isinstance(msg, messages.Cert):
            return self._on_cert(node, msg, now)
        verdict, outputs = node.core.receive(env, msg, now)
        self._carry_out(node, outputs)
        return verdict

    def _on_cert(self, node: SimNode, msg: messages.Cert, now: int) -> ValidationResult:
        cert = self.shared.certificate(msg.record)
        if isinstance(cert, str):
            return ValidationResult.REJECT
        self.certificates.setdefault(cert.key, cert)
        node.arrivals.setdefault(cert.key, self.kernel.now)
        node.core.on_certificate(cert, now)
        return ValidationResult.ACCEPT


def make_identities(n: int, rng: random.Random) -> list[Identity]:
    return [run_sync(Identity.from_seed(rng.randbytes(32))) for _ in range(n)]
