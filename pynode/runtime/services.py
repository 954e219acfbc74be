"""The services runtime: hosts capability services on a Node and asks peers for theirs (PROTOCOL.md §11).

Hosting: each service's sans-IO core (`pynode/services/server.py`) answers requests on `hs/1/svc/NAME`;
this runs the handlers (unary calls with the spec's timeout, streams as producer tasks that run ahead of
their puller into a bounded buffer), cancels the work of a requester that leaves or stops pulling, and
publishes the node's profile with every service and its limits.

Asking: `call` and `stream` pick a capable peer (`services/choose.py`: latency × load), retry on another one
when a peer refuses for a reason of its own or leaves mid-request (a stream resumes through the caller's
`resume`), serve in-process when this node hosts the capability (unless told not to), and tally what each
peer served us for the receipts this runtime signs when an hour ends or the node stops.

The CPython node and the browser worker use this same class.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

from pynode.identity import peer_id_text
from pynode.net.reqresp import RequestFailed
from pynode.node import Node
from pynode.services import codec
from pynode.services.choose import Picker
from pynode.services.codec import ServiceError
from pynode.services.limits import (
    CALL_TIMEOUT_S,
    CLIENT_ATTEMPTS,
    LEFT_GRACE_S,
    MAX_REPLY_BYTES,
    PULL_WAIT_S,
    TICK_S,
)
from pynode.services.profile import newest_profiles, offers, with_services
from pynode.services.receipts import ReceiptTally, merge
from pynode.services.server import Begin, Next, ServiceServer, Stopped
from pynode.services.spec import Context, Service
from pynode.wire.errors import WireError

log = logging.getLogger(__name__)

STOP_WRITE_S = 5.0  # at shutdown, how long we wait for the replica to take our last receipts
PROFILE_CHECK_S = 30.0  # how often we check that our newest profile still lists our services
Resume = Callable[[dict[str, Any], list[Any]], dict[str, Any]]  # (args, items so far) -> args to resume with
Units = Callable[[Any], int]  # a unary result or one stream item -> units of work it represents


def _now_ms() -> int:
    return int(time.time() * 1000)


class ServicesRuntime:
    def __init__(
        self, node: Node, replica: Any = None, services: list[Service] | None = None, name: str = "node"
    ):
        """`replica`: a StateReplica (profiles for discovery, our profile and receipts go there); None runs
        without the state (discovery then uses the caps peers announced to the relay)."""
        self.node = node
        self.replica = replica
        self.name = name
        self.services: dict[str, Service] = {}
        self.servers: dict[str, ServiceServer] = {}
        self.picker = Picker()
        self.receipts = ReceiptTally()
        self.served_us: Counter[tuple[bytes, str]] = Counter()  # (peer, cap) -> requests it served us
        self.asked: Counter[str] = Counter()  # our calls by outcome: local, remote, retried, failed
        self._events: dict[tuple[str, int], asyncio.Event] = {}  # (service, sid) -> items or room changed
        self._producers: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._calls: dict[
            bytes, set[asyncio.Task[Any]]
        ] = {}  # unary work per requester, cancelled if it leaves
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None  # publishing our profile or receipts
        self._unpublished: list[dict[str, Any]] = []  # receipt bodies due, not yet written
        self._missing: dict[bytes, float] = {}  # requesters with open work whose connection went, since when
        self._profile_checked = -PROFILE_CHECK_S
        for s in services or []:
            self.host(s)

    # ---- hosting ----------------------------------------------------------------------------------------

    def host(self, service: Service) -> None:
        name = service.spec.name
        self.services[name] = service
        self.servers[name] = ServiceServer(service.spec, dict(service.methods))
        if name not in self.node.relay.caps:
            self.node.relay.caps.append(name)  # announced at the next relay hello too
        self.node.handle(codec.proto(name), lambda peer, data: self.serve(name, peer, data))
        self._profile_checked = -PROFILE_CHECK_S

    def update(self, service: Service) -> None:
        """A hosted service's new spec or methods (e.g. the models it serves changed); its quotas and counts
        carry on, and the profile is republished at the next tick."""
        server = self.servers[service.spec.name]
        server.spec, server.methods = service.spec, dict(service.methods)
        self.services[service.spec.name] = service
        self._profile_checked = -PROFILE_CHECK_S

    async def start(self) -> None:
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        """Cancel all work, and sign the receipts of everything peers served us."""
        tasks = [t for t in (self._task, self._writer, *self._producers.values()) if t is not None]
        tasks += [t for calls in self._calls.values() for t in calls]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = self._writer = None
        self._unpublished += self.receipts.flush()
        try:
            await asyncio.wait_for(self._publish_receipts(), STOP_WRITE_S)
        except TimeoutError:
            log.warning(
                "%d receipt(s) not signed: the replica did not take them in time", len(self._unpublished)
            )

    async def serve(self, name: str, peer: bytes, data: bytes) -> bytes:
        """Answer a request for hosted service `name` (what its protocol's handler does)."""
        server = self.servers[name]
        try:
            order = server.receive(peer, data, time.monotonic())
            if isinstance(order, Stopped):
                self._forget(name, order.sid)
                return server.ended(order.sid)
            if isinstance(order, Next):
                return await self._next(name, order.sid)
            if order.sid:
                self._start_stream(name, order)
                return await self._next(name, order.sid)
            return await self._unary(name, order)
        except ServiceError as e:
            raise RequestFailed(str(e)) from None

    async def _unary(self, name: str, order: Begin) -> bytes:
        server, service = self.servers[name], self.services[name]
        ctx = Context(order.peer)
        task = asyncio.ensure_future(service.methods[order.method].run(ctx, order.args))
        self._calls.setdefault(order.peer, set()).add(task)
        ok = False
        try:
            await asyncio.wait({task}, timeout=service.spec.timeout_s)
            if not task.done():
                task.cancel()
                raise ServiceError(codec.TIMEOUT, f"took over {service.spec.timeout_s} s")
            if task.cancelled():
                raise ServiceError(codec.CANCELLED, "the requester left")
            if isinstance(task.exception(), ServiceError):
                raise task.exception()  # type: ignore[misc]
            if task.exception() is not None:
                log.error("service %s failed", name, exc_info=task.exception())
                raise ServiceError(codec.FAILED, "internal error")
            answer = server.result(task.result())
            ok = True
            return answer
        except ServiceError as e:
            server.refused(order.peer, e.code)
            raise
        finally:
            if not task.done():  # we were cancelled ourselves (the node is stopping): so is the work
                task.cancel()
            calls = self._calls.get(order.peer, set())
            calls.discard(task)
            if not calls:
                self._calls.pop(order.peer, None)
            server.finished(order.peer, ok, ctx.units)

    def _start_stream(self, name: str, order: Begin) -> None:
        key = (name, order.sid)
        self._events[key] = asyncio.Event()
        self._producers[key] = asyncio.ensure_future(self._produce(name, order))

    async def _produce(self, name: str, order: Begin) -> None:
        server, key = self.servers[name], (name, order.sid)
        ctx = Context(order.peer)
        error: ServiceError | None = None
        try:
            run = self.services[name].methods[order.method].run(ctx, order.args)
            async with contextlib.aclosing(run) as items:  # type: ignore[type-var]
                async for item in items:
                    if not server.push(order.sid, item):
                        return  # the stream was stopped or expired
                    self._wake(key)
                    while not server.room(order.sid) and server.alive(order.sid):
                        await self._wait(key, None)
                    await asyncio.sleep(0)  # let pulls and gossip run between items
        except ServiceError as e:
            error = e
        except Exception:
            log.exception("service %s failed while streaming", name)
            error = ServiceError(codec.FAILED, "internal error")
        finally:
            server.close(order.sid, error, ctx.units)
            self._producers.pop(key, None)
            self._wake(key)
            if not server.alive(order.sid):
                self._events.pop(key, None)

    async def _next(self, name: str, sid: int) -> bytes:
        server, key = self.servers[name], (name, sid)
        deadline = time.monotonic() + PULL_WAIT_S
        while True:
            chunk = server.take(sid)
            if chunk is not None:
                self._wake(key)  # room for the producer
                if not server.alive(sid):
                    self._events.pop(key, None)
                return chunk
            left = deadline - time.monotonic()
            if left <= 0:
                return codec.Chunk(sid, [], False, server.load()).encode()
            await self._wait(key, left)

    def _forget(self, name: str, sid: int) -> None:
        """A stream that ended early (stopped, expired): stop its producer, wake and drop its waiters."""
        task = self._producers.pop((name, sid), None)
        if task is not None:
            task.cancel()
        self._wake((name, sid))
        self._events.pop((name, sid), None)

    def _wake(self, key: tuple[str, int]) -> None:
        event = self._events.get(key)
        if event is not None:
            event.set()

    async def _wait(self, key: tuple[str, int], timeout: float | None) -> None:
        event = self._events.get(key)
        if event is None:
            return
        event.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    # ---- asking -----------------------------------------------------------------------------------------

    def providers(self, cap: str) -> list[bytes]:
        """Connected peers offering `cap`: by their signed profile, or by the caps they told the relay."""
        connected = set(self.node.connected_peers())
        found = {p for p, caps in self.node.relay.peers.items() if cap in caps}
        if self.replica is not None:
            found |= {o.peer for o in offers(self.replica.store.all_records("identities"), cap)}
        found.discard(self.node.peer_id)
        return [p for p in found if p in connected]

    async def call(
        self,
        cap: str,
        method: str,
        args: dict[str, Any],
        *,
        local: bool = True,
        timeout: float = CALL_TIMEOUT_S,
        units: Units | None = None,
    ) -> Any:
        """One unary call: in-process when this node hosts `cap` and `local`, else by the best peer, retried
        on others. Raises ServiceError."""
        if local and cap in self.services:
            self.asked["local"] += 1
            return await self._local(cap, method, args)
        error = ServiceError(codec.UNAVAILABLE, f"no connected peer offers {cap}")
        tried: set[bytes] = set()
        for _ in range(CLIENT_ATTEMPTS):
            peer = self._pick(cap, tried)
            if peer is None:
                break
            tried.add(peer)
            started = time.monotonic()
            self.picker.started(peer, started)
            try:
                answer = await self._ask(peer, cap, codec.Call(method, args).encode(), timeout)
            except ServiceError as e:
                if not e.retryable:  # our request's fault, not the peer's
                    self.picker.ended(peer, time.monotonic())
                    raise
                self.picker.failed(peer, time.monotonic())
                error = e
                self.asked["retried"] += 1
                continue
            if not isinstance(answer, codec.Result):
                self.picker.failed(peer, time.monotonic())
                raise ServiceError(codec.FAILED, f"{cap}.{method} answered a stream to a unary call")
            self.picker.succeeded(peer, time.monotonic() - started, answer.load, time.monotonic())
            self._count(peer, cap, units(answer.value) if units else 1)
            return answer.value
        self.asked["failed"] += 1
        raise error

    async def stream(
        self,
        cap: str,
        method: str,
        args: dict[str, Any],
        *,
        resume: Resume | None = None,
        local: bool = True,
        timeout: float = CALL_TIMEOUT_S,
        units: Units | None = None,
    ) -> AsyncIterator[Any]:
        """The items of a streamed call. When the serving peer leaves or fails mid-stream, another peer takes
        over with `resume(args, items so far)` (without `resume`, only before the first item)."""
        if local and cap in self.services:
            self.asked["local"] += 1
            async for item in self._local_stream(cap, method, args):
                yield item
            return
        delivered: list[Any] = []
        error = ServiceError(codec.UNAVAILABLE, f"no connected peer offers {cap}")
        tried: set[bytes] = set()
        for _ in range(CLIENT_ATTEMPTS):
            peer = self._pick(cap, tried)
            if peer is None:
                break
            tried.add(peer)
            if delivered and resume is None:
                break
            attempt_args = resume(args, delivered) if delivered else args
            count = len(delivered)
            try:
                async with contextlib.aclosing(
                    self._stream_from(peer, cap, method, attempt_args, timeout)
                ) as items:
                    async for item in items:
                        delivered.append(item)
                        yield item
            except ServiceError as e:
                if not e.retryable:
                    raise
                error = e
                self.asked["retried"] += 1
                continue
            got = delivered[count:]
            self._count(peer, cap, sum(units(i) for i in got) if units else len(got))
            return
        self.asked["failed"] += 1
        raise error

    async def _stream_from(
        self, peer: bytes, cap: str, method: str, args: dict[str, Any], timeout: float
    ) -> AsyncIterator[Any]:
        started = time.monotonic()
        self.picker.started(peer, started)
        sid, finished = 0, False
        try:
            data = codec.Call(method, args).encode()
            while True:
                answer = await self._ask(peer, cap, data, timeout)
                if not isinstance(answer, codec.Chunk) or (sid and answer.sid != sid):
                    raise ServiceError(codec.FAILED, f"{cap}.{method} answered out of its stream")
                if not sid:
                    sid = answer.sid
                    self.picker.succeeded(peer, time.monotonic() - started, answer.load, time.monotonic())
                    self.picker.started(peer, time.monotonic())
                for item in answer.items:
                    yield item
                if answer.end:
                    finished = True
                    self.picker.succeeded(peer, time.monotonic() - started, answer.load, time.monotonic())
                    return
                data = codec.Pull(sid).encode()
        except ServiceError as e:
            if e.retryable:
                self.picker.failed(peer, time.monotonic())
            else:
                self.picker.ended(peer, time.monotonic())
            raise
        finally:
            if sid and not finished:
                self.picker.ended(peer, time.monotonic())
                self._stop_remote(peer, cap, sid)

    def _stop_remote(self, peer: bytes, cap: str, sid: int) -> None:
        """Tell a server we gave a stream up (best effort: it also expires unpulled streams)."""

        async def stop() -> None:
            with contextlib.suppress(RequestFailed, TimeoutError):
                await self.node.request(peer, codec.proto(cap), codec.Stop(sid).encode(), timeout=PULL_WAIT_S)

        if peer in self.node.connected_peers():
            task = asyncio.ensure_future(stop())
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _ask(self, peer: bytes, cap: str, data: bytes, timeout: float) -> codec.Result | codec.Chunk:
        try:
            raw = await self.node.request(peer, codec.proto(cap), data, timeout=timeout)
        except RequestFailed as e:
            raise ServiceError.from_reason(str(e)) from None
        except TimeoutError:
            raise ServiceError(codec.TIMEOUT, f"no answer within {timeout} s") from None
        return codec.decode_answer(raw, MAX_REPLY_BYTES)

    def _pick(self, cap: str, tried: set[bytes]) -> bytes | None:
        """The best provider not tried yet; once all were, the best again (attempts are bounded)."""
        providers = self.providers(cap)
        ranked = self.picker.rank([p for p in providers if p not in tried] or providers, time.monotonic())
        return ranked[0] if ranked else None

    def _count(self, peer: bytes, cap: str, units: int) -> None:
        self.asked["remote"] += 1
        self.served_us[(peer, cap)] += 1
        self.receipts.served(peer, cap, units, _now_ms())

    async def _local(self, cap: str, method: str, args: dict[str, Any]) -> Any:
        m = self._method(cap, method, stream=False)
        return await m.run(Context(self.node.peer_id), self._parse(m, args))

    async def _local_stream(self, cap: str, method: str, args: dict[str, Any]) -> AsyncIterator[Any]:
        m = self._method(cap, method, stream=True)
        async for item in m.run(Context(self.node.peer_id), self._parse(m, args)):
            yield item

    def _method(self, cap: str, method: str, stream: bool) -> Any:
        m = self.services[cap].methods.get(method)
        if m is None or m.stream != stream:
            raise ServiceError(
                codec.UNKNOWN_METHOD, f"{cap} has no {'streamed' if stream else 'unary'} {method}"
            )
        return m

    @staticmethod
    def _parse(m: Any, args: dict[str, Any]) -> Any:
        try:
            return m.parse(args)
        except ValueError as e:
            raise ServiceError(codec.BAD_REQUEST, str(e)[:200]) from None

    # ---- upkeep -----------------------------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("services tick failed")
            await asyncio.sleep(TICK_S)

    def _present(self, now: float) -> set[bytes]:
        """Connected peers, and those gone for less than LEFT_GRACE_S (a link being replaced is no departure)."""
        connected = set(self.node.connected_peers())
        watched = {p for s in self.servers.values() for p in s.quotas.open} | set(self._calls)
        for peer in watched - connected:
            self._missing.setdefault(peer, now)
        for peer in [p for p in self._missing if p in connected or p not in watched]:
            del self._missing[peer]
        return connected | {p for p, since in self._missing.items() if now - since < LEFT_GRACE_S}

    async def tick(self) -> None:
        now = time.monotonic()
        connected = self._present(now)
        for name, server in self.servers.items():
            for sid in server.tick(now, connected):
                self._forget(name, sid)
        for peer in [p for p in self._calls if p not in connected]:
            for task in self._calls.pop(peer):
                task.cancel()
        self._unpublished += self.receipts.due(_now_ms())
        profile = (
            self.replica is not None and self.services and now - self._profile_checked >= PROFILE_CHECK_S
        )
        if (profile or self._unpublished) and (self._writer is None or self._writer.done()):
            # in a task of its own: a replica still learning its own history holds writes back, and the tick
            # must go on expiring streams meanwhile
            if profile:
                self._profile_checked = now
            self._writer = asyncio.ensure_future(self._write(bool(profile)))

    async def _write(self, profile: bool) -> None:
        try:
            await self._publish_receipts()
            if profile:
                await self.ensure_profile()
        except Exception:
            log.exception("could not publish our profile or receipts")

    async def ensure_profile(self) -> Any:
        """Publish our profile with our services and their limits unless our newest one says exactly that."""
        if self.replica is None:
            return None
        mine = [r for r in self.replica.store.all_records("identities") if r.author == self.node.peer_id]
        newest = newest_profiles(mine).get(self.node.peer_id)
        entries = {name: s.spec.profile_entry() for name, s in self.services.items()}
        body = with_services(newest, self.name, self.node.relay.caps, entries)  # caps as the relay hears them
        if body is None:
            return None
        return await self.replica.publish("profile", body)

    async def _publish_receipts(self) -> None:
        """Sign the receipts due (each leaves the queue once written)."""
        if self.replica is None:
            self._unpublished.clear()
            return
        ours = [r for r in self.replica.store.all_records("receipts") if r.author == self.node.peer_id]
        while self._unpublished:
            body = self._unpublished[0]
            same = [
                r
                for r in ours
                if (r.body["server"], r.body["cap"], r.body["epoch"])
                == (body["server"], body["cap"], body["epoch"])
            ]
            earlier = max(same, key=lambda r: (r.ts, r.key)).body if same else None
            try:
                ours.append(await self.replica.publish("receipt", merge(body, earlier)))
            except (ValueError, WireError):  # refused by our own store (quota, schema): nothing to retry
                log.exception("could not publish a receipt")
            self._unpublished.pop(0)

    # ---- status -----------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What this node serves (counts served and refused, by whom) and who served it."""
        serving = {}
        for name, server in self.servers.items():
            t = server.tally
            serving[name] = {
                "limits": server.spec.profile_entry(),
                "served": t.served,
                "units": t.units,
                "refused": dict(t.refused),
                "cancelled": dict(t.cancelled),
                "open": server.quotas.total_open,
                "load_permille": server.load(),
                "top_requesters": [
                    {"peer": peer_id_text(p), "served": n} for p, n in t.by_peer.most_common(5)
                ],
            }
        served_us = [
            {"peer": peer_id_text(p), "cap": cap, "requests": n}
            for (p, cap), n in self.served_us.most_common(10)
        ]
        return {
            "serving": serving,
            "served_us": served_us,
            "asked": dict(self.asked),
            "receipts_pending": self.receipts.pending(),
        }
