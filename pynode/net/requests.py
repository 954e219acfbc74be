"""The asyncio side of `ReqResp` (PROTOCOL.md §3.4): a future for each request we wait on, a task for each
request we serve, and one timer at the machine's next deadline."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pynode.identity import short_id
from pynode.net.reqresp import Answered, Failed, Output, Reply, ReqResp, RequestFailed, Serve
from pynode.net.tasks import Tasks

log = logging.getLogger(__name__)

Service = Callable[[bytes, bytes], Awaitable[bytes]]  # (peer, request data) -> response data


class Requests:
    def __init__(
        self,
        machine: ReqResp,
        send: Callable[[bytes, bytes], None],
        linked: Callable[[bytes], bool],
        tasks: Tasks,
    ) -> None:
        self.machine = machine
        self._send = send
        self._linked = linked
        self._tasks = tasks
        self._services: dict[str, Service] = {}
        self._waiting: dict[tuple[bytes, int], asyncio.Future[bytes]] = {}
        self._timer: asyncio.TimerHandle | None = None

    def handle(self, proto: str, service: Service) -> None:
        self._services[proto] = service

    async def request(self, peer: bytes, proto: str, data: bytes, timeout: float) -> bytes:
        if not self._linked(peer):
            raise RequestFailed(f"not connected to {short_id(peer)}")
        loop = asyncio.get_running_loop()
        id, frame = self.machine.request(peer, proto, data, loop.time(), timeout)
        future = self._waiting[(peer, id)] = loop.create_future()
        self._arm()
        try:
            self._send(peer, frame)
            return await future
        finally:
            self._waiting.pop((peer, id), None)
            self.machine.cancel(peer, id)

    def receive(self, peer: bytes, value: dict[str, Any]) -> None:
        """A decoded `req` or `resp` frame; raises WireError when it is malformed."""
        self._apply(self.machine.receive(peer, value, self._services))

    def peer_gone(self, peer: bytes) -> None:
        self._apply(self.machine.peer_gone(peer))

    def _arm(self) -> None:
        """One timer, at the earliest deadline of an open request."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.machine.next_deadline()
        if deadline is not None:
            self._timer = asyncio.get_running_loop().call_at(deadline, self._expire)

    def _expire(self) -> None:
        self._timer = None
        self._apply(self.machine.tick(asyncio.get_running_loop().time()))
        self._arm()

    def _apply(self, outputs: list[Output]) -> None:
        for out in outputs:
            if isinstance(out, Reply):
                self._send(out.peer, out.frame)
            elif isinstance(out, Serve):
                self._tasks.spawn(self._serve(out), "request")
            else:
                self._settle(out)

    def _settle(self, out: Answered | Failed) -> None:
        future = self._waiting.get((out.peer, out.id))
        if future is None or future.done():
            return
        if isinstance(out, Failed):
            future.set_exception(TimeoutError() if out.timed_out else RequestFailed(out.reason))
        elif out.ok:
            future.set_result(out.data)
        else:
            future.set_exception(RequestFailed(out.data.decode("utf-8", "replace")))

    async def _serve(self, order: Serve) -> None:
        req = order.request
        try:
            data, ok = await self._services[req.proto](order.peer, req.data), True
        except RequestFailed as e:
            data, ok = str(e).encode(), False
        except Exception:
            log.exception("service %s failed", req.proto)
            data, ok = b"internal error", False
        self._apply([self.machine.served(order.peer, req.id, ok, data)])
