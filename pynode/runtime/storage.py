"""The storage runtime: hosts the storage service on a node, publishes and fetches blobs, keeps r copies.

`put(data)` keeps a blob and offers it to its r placement holders (they pull it); `get(blob)` answers from
this node's holdings or fetches it from any holder (`services/storage/fetch.py`), penalising a peer that sends
provably wrong data; `share(data)` keeps a local copy others may fetch, without replicating it (DiLoCo's
recent states). Every UPKEEP_INTERVAL_S the core's upkeep round runs (expiry, probes, offers, proofs) against
the peers that currently offer `storage`. Peer calls go through the services codec on `hs/1/svc/storage`,
to the peer the core chose (placement and proofs need a given peer, not the best one).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any

from pynode.identity import short_id
from pynode.net.reqresp import RequestFailed
from pynode.node import Node
from pynode.runtime.services import ServicesRuntime
from pynode.services import codec
from pynode.services.codec import ServiceError
from pynode.services.limits import MAX_REPLY_BYTES
from pynode.services.storage import messages as msg
from pynode.services.storage.backend import Backend
from pynode.services.storage.core import Challenge, Offer, Output, Probe, Pull, StorageCore
from pynode.services.storage.fetch import Ask, Done, Fetch, GaveUp, Penalise
from pynode.services.storage.holdings import Holdings, Refused
from pynode.services.storage.limits import (
    DEFAULT_REPLICAS,
    DEFAULT_TTL_S,
    MAX_BLOB_BYTES,
    REQUEST_TIMEOUT_S,
    UPKEEP_INTERVAL_S,
)
from pynode.services.storage.manifest import split
from pynode.services.storage.service import storage_service
from pynode.wire.errors import WireError

log = logging.getLogger(__name__)


class StorageRuntime:
    def __init__(
        self,
        node: Node,
        services: ServicesRuntime,
        backend: Backend,
        capacity: int,
        replicas: int = DEFAULT_REPLICAS,
        upkeep_s: float = UPKEEP_INTERVAL_S,
        peer_quota: int | None = None,
        clock: Callable[[], float] = time.time,
        keeps_others: bool = True,
    ) -> None:
        """`keeps_others=False`: a short-lived node (a CLI command) that serves only its own blobs — it does not
        announce `storage`, so placement never counts on it, and refuses offers."""
        self.node = node
        self.services = services
        self.clock = clock
        self.upkeep_s = upkeep_s
        holdings = Holdings(node.peer_id, backend, capacity, peer_quota)
        self.core = StorageCore(node.peer_id, holdings, replicas, accepting=keeps_others)
        self.fetched_bytes = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._upkeep: set[asyncio.Task[Any]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        services.host(storage_service(self.core, clock, self._carry_out))
        if not keeps_others and msg.NAME in node.relay.caps:
            node.relay.caps.remove(msg.NAME)  # still answers its own blobs' chunks, unannounced

    async def start(self) -> None:
        self._loop_task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        tasks = [t for t in (self._loop_task, *self._tasks) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop_task = None

    # ---- public API -----------------------------------------------------------------------------------

    async def put(self, data: bytes, ttl: int = DEFAULT_TTL_S) -> bytes:
        """Keep `data` and offer it to its placement holders; returns its id (SHA-256). Raises ValueError
        when it is too large, Refused when this node has no room for it."""
        manifest, chunks = split(data)
        now = self.clock()
        self.refresh_peers()
        self.core.store_own(manifest, chunks, ttl, now)
        await asyncio.gather(*(self._offer(o) for o in self.core.publish(manifest.blob, now)))
        return manifest.blob

    def share(self, data: bytes, ttl: int) -> bytes | None:
        """Keep a copy peers may fetch, not replicated and first to go when room is needed; None if no room."""
        manifest, chunks = split(data)
        return manifest.blob if self.core.cache(manifest, chunks, self.clock(), ttl) else None

    def forget(self, blob: bytes) -> None:
        """Drop a shared copy (a blob this node is not a placement holder for; placement copies stay)."""
        e = self.core.holdings.entries.get(blob)
        if e is not None and not e.own and self.core.surplus(blob):
            self.core.holdings.drop(blob)

    async def get(
        self, blob: bytes, hints: Iterable[bytes] = (), limit: int = MAX_BLOB_BYTES, keep: bool = False
    ) -> bytes | None:
        """The blob, from our holdings or any holder (`hints` asked first); None when no holder delivers it.
        `keep`: cache the fetched copy (surplus: the first to go when room is needed)."""
        now = self.clock()
        m = self.core.holdings.manifest(blob)
        if m is not None and m.size <= limit:
            chunks = [self.core.holdings.chunk(blob, i, now) for i in range(m.chunks)]
            if all(c is not None for c in chunks):
                return b"".join(c for c in chunks if c is not None)
        self.refresh_peers()
        connected = self.node.connected_peers()
        sources = [p for p in dict.fromkeys([*hints, *self.core.sources(blob)]) if p in connected]
        result = await self._fetch(Fetch(blob, sources, limit))
        if not isinstance(result, Done):
            log.info("storage: fetch of %s failed: %s", blob.hex()[:12], result.reason)
            return None
        if keep:
            self.core.cache(result.manifest, result.chunks, self.clock(), DEFAULT_TTL_S)
        return result.data

    async def holders(self, blob: bytes) -> list[bytes]:
        """Every connected storage peer (and this node) that says it holds `blob` whole."""
        peers = self.services.providers(msg.NAME)
        answers = await asyncio.gather(
            *(self._ask(p, msg.HAS, {"blobs": [blob]}) for p in peers), return_exceptions=True
        )
        found = [p for p, a in zip(peers, answers, strict=True) if a == [True]]
        return found + ([self.node.peer_id] if self.core.holdings.has(blob) else [])

    def refresh_peers(self) -> None:
        self.core.set_peers(set(self.services.providers(msg.NAME)), self.clock())

    def status(self) -> dict[str, Any]:
        h = self.core.holdings
        return {
            "blobs": len(h.entries),
            "used": h.used(),
            "capacity": h.capacity,
            "pulling": h.pending(),
            "evicted": h.evicted,
            "excluded": len(self.core.excluded),
            "fetched_bytes": self.fetched_bytes,
            **self.core.counters,
        }

    # ---- carrying out the core's outputs --------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.upkeep_s)
            if self._upkeep:
                continue  # the previous round is still out: do not pile rounds up on slow peers
            try:
                self.refresh_peers()
                self._carry_out(self.core.tick(self.clock(), secrets.token_bytes(32)), self._upkeep)
            except Exception:
                log.exception("storage upkeep failed")

    def _carry_out(self, outputs: list[Output], group: set[asyncio.Task[Any]] | None = None) -> None:
        for out in outputs:
            if isinstance(out, Pull):
                coro: Any = self._pull(out)
            elif isinstance(out, Probe):
                coro = self._probe(out)
            elif isinstance(out, Offer):
                coro = self._offer(out)
            else:
                coro = self._challenge(out)
            task = asyncio.ensure_future(coro)
            for s in (self._tasks, group):
                if s is not None:
                    s.add(task)
                    task.add_done_callback(s.discard)

    async def _pull(self, pull: Pull) -> None:
        result = await self._fetch(Fetch(pull.manifest.blob, pull.holders, pull.manifest.size))
        if isinstance(result, Done):
            self.core.pulled(pull, result.chunks, self.clock())
        else:
            log.info("storage: pull of %s failed: %s", pull.manifest.blob.hex()[:12], result.reason)
            self.core.pull_failed(pull)

    async def _probe(self, p: Probe) -> None:
        try:
            held = msg.has_result(await self._ask(p.peer, msg.HAS, {"blobs": p.blobs}), len(p.blobs))
        except (ServiceError, WireError) as e:
            log.debug("storage: probe failed: %s", e)
            self.core.probe_failed(p.peer, p.blobs)
            return
        self._carry_out(self.core.probed(p.peer, p.blobs, held, self.clock()), self._upkeep)

    async def _offer(self, o: Offer) -> None:
        blob = o.args["manifest"]["blob"]
        try:
            answer = await self._ask(o.peer, msg.OFFER, o.args)
        except ServiceError as e:
            log.debug("storage: offer refused: %s", e)
            answer = None
        self.core.offered(o.peer, blob, answer if isinstance(answer, str) else None)

    async def _challenge(self, c: Challenge) -> None:
        args = {"blob": c.blob, "seed": c.seed, "count": c.count}
        try:
            answers = msg.prove_result(await self._ask(c.peer, msg.PROVE, args), c.count)
        except (ServiceError, WireError) as e:
            log.info("storage: proof of %s failed: %s", c.blob.hex()[:12], e)
            answers = None
        self._carry_out(self.core.proved(c, answers, self.clock()), self._upkeep)

    async def _fetch(self, f: Fetch) -> Done | GaveUp:
        """Run a fetch machine: its asks concurrently, their answers fed back as they come."""
        pending: dict[asyncio.Task[Any], Ask] = {}
        ended: list[Done | GaveUp] = []

        def apply(outputs: list[Any]) -> None:
            for out in outputs:
                if isinstance(out, Ask):
                    pending[asyncio.ensure_future(self._ask(out.peer, out.method, out.args))] = out
                elif isinstance(out, Penalise):
                    log.warning("storage: %s from %s: %s", out.code, short_id(out.peer), out.detail)
                    self.core.exclude(out.peer, self.clock())
                    self.node.penalise(out.peer, "storage_" + out.code)
                else:
                    ended.append(out)

        apply(f.start())
        try:
            while pending and not ended:
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    ask = pending.pop(task)
                    try:
                        apply(f.answered(ask, task.result()))
                    except ServiceError as e:
                        apply(f.failed(ask, str(e)))
        finally:
            for task in pending:
                task.cancel()
        self.fetched_bytes += f.bytes_received
        return ended[0] if ended else GaveUp("no answer")

    async def _ask(self, peer: bytes, method: str, args: dict[str, Any]) -> Any:
        """Call `method` on `peer`'s storage service; raises ServiceError (refused, gone, timed out)."""
        try:
            raw = await self.node.request(
                peer, codec.proto(msg.NAME), codec.Call(method, args).encode(), REQUEST_TIMEOUT_S
            )
        except RequestFailed as e:
            raise ServiceError.from_reason(str(e)) from None
        except TimeoutError:
            raise ServiceError(codec.TIMEOUT, f"no answer within {REQUEST_TIMEOUT_S} s") from None
        answer = codec.decode_answer(raw, MAX_REPLY_BYTES)
        if not isinstance(answer, codec.Result):
            raise ServiceError(codec.FAILED, "storage answered a stream")
        if method == msg.CHUNK and isinstance(answer.value, dict):  # data served to us: what receipts count
            units = len(answer.value.get("data", b""))
            self.services.receipts.served(peer, msg.NAME, units, int(time.time() * 1000))
        return answer.value


__all__ = ["Refused", "StorageRuntime"]
