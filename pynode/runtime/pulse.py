"""The pulse runtime: drives `pynode.presence.core.PulseCore` on a running node, and keeps its points ledger.

It composes with the Node through its public API only: a validator on the pulse topic (each message is judged
by the core; certificates are checked here, asynchronously, then handed to it), and one loop that ticks the
core at its next wakeup and carries out what it returns — publishing on the topic, or signing a certificate
record into the replicated state (the relay's replica archives it) and then the round's `points` records.
Certificates that reach us through the state (a cold start, a missed message) move the core's chain too.

A relay's attestation of our origin (messages.Origin, addressed to us) goes into our profile, with the
operator declaration when we have one (presence/membership.py). The ledger (presence/ledger.py) is recomputed
at most every VIEW_S, each certificate checked once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from pynode.gossip.events import ValidationResult
from pynode.identity import peer_id_text, verify
from pynode.identity.vrf import verify as vrf_verify
from pynode.node import Node
from pynode.presence import ledger, membership, messages
from pynode.presence.admission import ChainAccount
from pynode.presence.certificate import Certificate, parse
from pynode.presence.core import Certify, Output, Publish, PulseCore
from pynode.presence.params import GENESIS, PULSE_TOPIC, Timing
from pynode.state.records import DOMAINS, Record
from pynode.state.store import Store
from pynode.wire.envelope import Envelope
from pynode.wire.errors import WireError

log = logging.getLogger(__name__)

TICK_S = 0.25  # the longest the loop sleeps: certificates from the state are picked up this often
VIEW_S = 5.0  # the ledger is recomputed at most this often
PREV_WAIT_S = 5.0  # how long a certificate waits for the one it extends to reach our replica (gossip: < 1 s)
ACCEPT, IGNORE, REJECT = ValidationResult.ACCEPT, ValidationResult.IGNORE, ValidationResult.REJECT


class Replica(Protocol):
    store: Store

    async def publish(self, kind: str, body: dict[str, Any]) -> Record: ...


@dataclass
class PulseConfig:
    timing: Timing = field(default_factory=Timing)
    relays: frozenset[bytes] = (
        frozenset()
    )  # relays whose origin attestations the ledger trusts (and any that attests us)
    operator: list[bytes] | None = None  # [operator key, its signature naming us] (membership.declare)
    name: str = "node"  # for our profile, when we have none
    caps: tuple[str, ...] = ("relay",)


class PulseRuntime:
    def __init__(self, node: Node, replica: Replica, config: PulseConfig | None = None) -> None:
        if node.identity.vrf is None:
            raise ValueError("pulse rounds need the identity's VRF key (an identity made from its seed)")
        self.node = node
        self.replica = replica
        self.config = config or PulseConfig()
        self.core = PulseCore(node.peer_id, node.identity.vrf, self.config.timing, vrf_verify)
        self.relays = set(self.config.relays)
        self.origin: list[Any] | None = None  # our newest attestation, as our profile carries it
        account = replica.store.exemptions.get("certificate")  # the replica checked each certificate it took
        self._certs = account.cache if isinstance(account, ChainAccount) else ledger.CertCache()
        self._fed: set[str] = set()  # certificate records handed to the core
        self._view: tuple[float, ledger.Ledger] | None = None
        self._task: asyncio.Task[None] | None = None
        self._jobs: set[asyncio.Task[Any]] = set()
        node.subscribe(PULSE_TOPIC, validator=self._validate)

    async def start(self) -> None:
        await self._feed_store()  # the chain as far as our replica holds it: our first seed follows from it
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._jobs) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None

    # ---- the loop -----------------------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            try:
                await self._feed_store()
                await self._carry_out(self.core.tick(_now_ms()))
                await self.ledger()  # recomputed when older than VIEW_S: the status card reads it
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("pulse step failed")
            wait = (self.core.next_wakeup(_now_ms()) - _now_ms()) / 1000
            await asyncio.sleep(min(max(wait, 0.01), TICK_S))

    async def _carry_out(self, outputs: list[Output]) -> None:
        for out in outputs:
            if isinstance(out, Publish):
                await self.node.publish(PULSE_TOPIC, out.data)
            elif isinstance(out, Certify):
                self._spawn_job(self._certify(out))  # it may wait for the certificate it extends

    def _spawn(self, outputs: list[Output]) -> None:
        if outputs:
            self._spawn_job(self._carry_out(outputs))

    def _spawn_job(self, job: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(job)
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    async def _certify(self, out: Certify) -> None:
        """We led a round to a quorum: the certificate goes into the state (and the archive) and on the topic.

        Written once our replica holds the certificate it extends (it may have reached us on the topic first):
        our change then depends on that one, so every replica has it when it checks ours and the chain, not
        our quota, pays for it (presence/admission.py)."""
        prev = out.body["prev"].hex()
        for _ in range(int(PREV_WAIT_S / TICK_S)):
            if out.body["prev"] == GENESIS or prev in self.replica.store.records["presence"]:
                break
            await asyncio.sleep(TICK_S)
        record = await self.replica.publish("certificate", out.body)
        self._fed.add(record.key)
        await self.node.publish(PULSE_TOPIC, messages.encode(messages.Cert(record.encoded)))
        cert = parse(record)
        self.core.on_certificate(cert, _now_ms())
        log.info("certified round %d with %d participants", cert.round, len(cert.entries))
        await self._publish_points(cert)

    async def _publish_points(self, cert: Certificate) -> None:
        view = await self.ledger(fresh=True)
        if any(c.record.key == cert.record.key for c in view.chain):
            for body in ledger.points_bodies(view, cert):
                await self.replica.publish("points", body)

    async def _feed_store(self) -> None:
        """Certificates our replica holds that the core has not seen: checked, then handed over."""
        for r in list(self.replica.store.all_records("presence")):
            if r.key in self._fed:
                continue
            self._fed.add(r.key)
            cert = await self._certs.get(r, verify, vrf_verify, full=False)
            if cert is not None:
                self.core.on_certificate(cert, _now_ms())

    # ---- the topic ----------------------------------------------------------------------------------

    async def _validate(self, env: Envelope) -> ValidationResult:
        try:
            msg = messages.decode(env.data)
        except WireError:
            return REJECT
        if isinstance(msg, messages.Cert):
            return await self._on_cert(msg)
        if isinstance(msg, messages.Origin):
            return await self._on_origin(env, msg)
        verdict, outputs = self.core.receive(env, msg, _now_ms())
        self._spawn(outputs)
        return verdict

    async def _on_cert(self, msg: messages.Cert) -> ValidationResult:
        from pynode.state.records import decode_record, verify_record

        try:
            record = decode_record(msg.record)
        except WireError:
            return REJECT
        if record.kind != "certificate" or not await verify_record(record):
            return REJECT
        if record.key not in self._fed:
            cert = await self._certs.get(record, verify, vrf_verify, full=False)
            if cert is None:
                return REJECT
            self._fed.add(record.key)
            self.core.on_certificate(cert, _now_ms())
        return ACCEPT

    async def _on_origin(self, env: Envelope, msg: messages.Origin) -> ValidationResult:
        """A relay's attestation: ours goes into our profile; anyone else's is just passed on."""
        if msg.node != self.node.peer_id:
            return ACCEPT
        payload = membership.origin_payload(msg.node, msg.origin, msg.expires)
        if msg.expires <= _now_ms() or not await verify(env.sender, payload, msg.sig):
            return REJECT
        self.relays.add(env.sender)
        attestation = msg.field(env.sender)
        if attestation != self.origin:
            self.origin = attestation
            self._spawn_profile()
        return ACCEPT

    def _spawn_profile(self) -> None:
        self._spawn_job(self.publish_profile())

    async def publish_profile(self) -> Record:
        """Our profile (name and capabilities as our newest one has them) with our origin and operator."""
        mine = [r for r in self.replica.store.all_records("identities") if r.author == self.node.peer_id]
        newest = max(mine, key=lambda r: (r.ts, r.key), default=None)
        body: dict[str, Any] = {"name": self.config.name[:64], "caps": list(self.config.caps)}
        if newest is not None:
            body = {"name": newest.body["name"], "caps": list(newest.body["caps"])}
            if "services" in newest.body:  # what the services runtime advertised stays advertised
                body["services"] = newest.body["services"]
        if self.origin is not None:
            body["origin"] = self.origin
        if self.config.operator is not None:
            body["operator"] = self.config.operator
        return await self.replica.publish("profile", body)

    # ---- the ledger and status ----------------------------------------------------------------------

    async def ledger(self, fresh: bool = False, full: bool = False) -> ledger.Ledger:
        now = time.monotonic()
        if fresh or full or self._view is None or now - self._view[0] >= VIEW_S:
            store = self.replica.store
            results = [r for d in DOMAINS for r in store.all_records(f"results.{d}")]
            evidence = await ledger.gather(
                store.all_records("presence"),
                store.all_records("identities"),
                verify,
                vrf_verify,
                frozenset(self.relays),
                results,
                store.all_records("reviews"),
                full=full,
                cache=None if full else self._certs,
                receipt_records=store.all_records("receipts"),
            )
            view = ledger.compute(evidence)
            if full:
                return view
            self._view = (now, view)
        return self._view[1]

    def status(self) -> dict[str, Any]:
        """The dashboard's node card: our points, rank, uptime factor, last round and whether it counted us."""
        view = self._view[1] if self._view is not None else None
        me = view.standings.get(self.node.peer_id) if view is not None else None
        last = view.chain[-1] if view is not None and view.chain else None
        return {
            "round": self.core.timing.round_of(_now_ms()),
            "interval_s": self.core.timing.interval_ms / 1000,
            "head": self.core.head.round,
            "points": str(me.points) if me is not None else "0",
            "rank": me.rank if me is not None else None,
            "nodes": len(view.standings) if view is not None else 0,
            "uptime_factor": str(round(me.uptime, 3)) if me is not None else "1",
            "streak": me.streak if me is not None else 0,
            "strikes": me.strikes if me is not None else 0,
            "last_round": last.round if last is not None else None,
            "last_counted_us": last is not None and self.node.peer_id in last.entries,
            "last_participants": len(last.entries) if last is not None else 0,
            "attested": self.origin is not None,
            "counters": dict(self.core.counters),
        }

    def top(self, n: int = 20) -> list[dict[str, Any]]:
        """The network page's list: the top nodes of the ledger."""
        if self._view is None:
            return []
        return [
            {
                "peer": peer_id_text(s.peer),
                "points": str(s.points),
                "rank": s.rank,
                "rounds": s.rounds,
                "uptime_factor": str(round(s.uptime, 3)),
                "strikes": s.strikes,
                "last_round": s.last_round,
                "group": peer_id_text(s.group) if s.group else "",
            }  # fmt: skip
            for s in self._view[1].top(n)
        ]


def _now_ms() -> int:
    return int(time.time() * 1000)
