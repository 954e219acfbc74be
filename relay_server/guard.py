"""The relay's guard on raw connections, below HTTP: what uvicorn leaves open to a slowloris.

uvicorn times out idle keep-alive connections but not a request that is still arriving: a client that sends half
a request line, or one header byte a second, holds a socket (a file descriptor) forever, and its per-address cap
covers nothing below the application (our own covered WebSockets only). So every accepted socket passes the
`ConnectionGuard` first:

- **fd budget**: at most `budget` sockets open at once (by default the process's descriptor limit less
  FD_RESERVE, kept for files, git and logs); beyond it a newcomer gets `503` and is closed at once, instead of
  the accept loop failing with EMFILE and nobody getting in;
- **per address**: at most `per_ip` sockets from one client address, HTTP and WebSocket alike (`429`; the
  relay allows its WebSocket cap plus HTTP_HEADROOM_PER_IP, so `/p2p` still answers its own
  `too_many_connections` first); the proxies an operator trusts (`forwarded_allow_ips`) are exempt here, and
  their clients are capped by the forwarded address in `/p2p`;
- **deadlines**: a request's line and headers must arrive within `header_timeout_s` of its first byte (or of
  the connection), the whole request within `request_timeout_s`; a socket that misses one gets `408` and is
  closed. An upgraded WebSocket is past them (the `/p2p` hello has its own timeout).

Each refusal is counted in the relay's rejections (so /metrics shows it) and logged through the rate limit.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import resource
import time
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.utils import get_remote_addr
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from relay_server.cork import CorkedTransport
from relay_server.limits import (
    FD_RESERVE,
    MAX_LINGERING,
    MIN_FD_BUDGET,
    REFUSAL_LINGER_S,
    UNLIMITED_FD_BUDGET,
)
from relay_server.stats import RelayStats

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def fd_budget(configured: int | None) -> int:
    """Sockets the relay may hold: the configured budget, never more than the descriptor limit leaves room for."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    room = UNLIMITED_FD_BUDGET if soft == resource.RLIM_INFINITY else max(MIN_FD_BUDGET, soft - FD_RESERVE)
    return room if configured is None else min(configured, room)


class ConnectionGuard:
    """Counts open sockets, in all and per client address, and says why a new one is refused."""

    def __init__(
        self,
        stats: RelayStats,
        *,
        budget: int,
        per_ip: int,
        trusted: tuple[str, ...] = (),
        header_timeout_s: float,
        request_timeout_s: float,
    ) -> None:
        self.stats = stats
        self.budget = budget
        self.per_ip = per_ip
        self.header_timeout_s = header_timeout_s
        self.request_timeout_s = request_timeout_s
        self._trusted: list[Network] = [ipaddress.ip_network(n, strict=False) for n in trusted]
        self._open: dict[int, str] = {}  # id(transport) → client address
        self._per_ip: dict[str, int] = {}
        self._lingering = 0

    @property
    def open(self) -> int:
        return len(self._open)

    def admit(self, key: int, ip: str) -> str | None:
        """Take a slot for a new socket; returns why it is refused ("fd_budget", "per_ip_cap") or None."""
        if len(self._open) >= self.budget:
            return "fd_budget"
        if not self._is_trusted(ip) and self._per_ip.get(ip, 0) >= self.per_ip:
            return "per_ip_cap"
        self._open[key] = ip
        self._per_ip[ip] = self._per_ip.get(ip, 0) + 1
        return None

    def linger(self, change: int) -> bool:
        """Count refused sockets kept open for a moment (REFUSAL_LINGER_S); False when there are too many."""
        if change > 0 and self._lingering >= MAX_LINGERING:
            return False
        self._lingering += change
        return True

    def release(self, key: int) -> None:
        """Give a socket's slot back (idempotent: the HTTP and the WebSocket side may both report the end)."""
        ip = self._open.pop(key, None)
        if ip is None:
            return
        n = self._per_ip[ip] - 1
        if n:
            self._per_ip[ip] = n
        else:
            del self._per_ip[ip]

    def refused(self, reason: str, ip: str) -> None:
        self.stats.reject(reason)
        log.warning("refused a connection from %s: %s (%d open)", ip, reason, len(self._open))

    def _is_trusted(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in net for net in self._trusted)


_REFUSALS = {
    "fd_budget": (503, "Service Unavailable", "the relay is at its connection budget; try again shortly"),
    "per_ip_cap": (429, "Too Many Requests", "too many connections from your address"),
    "request_timeout": (408, "Request Timeout", "the request did not arrive in time"),
}


def _refusal(reason: str) -> bytes:
    status, phrase, text = _REFUSALS[reason]
    body = (text + "\n").encode()
    head = f"HTTP/1.1 {status} {phrase}\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
    return head.encode() + f"content-length: {len(body)}\r\n\r\n".encode() + body


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol behind the guard (bound to one by `guarded_protocols`)."""

    guard: ClassVar[ConnectionGuard]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._admitted = False
        self._upgraded = False
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_for = ""  # "headers" or "body": which deadline is armed
        self._request_started = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        remote = get_remote_addr(transport)
        ip = remote[0] if remote else "unknown"
        refusal = self.guard.admit(id(transport), ip)
        if refusal is None:
            self._admitted = True
            super().connection_made(transport)
            self._arm()
            return
        self.guard.refused(refusal, ip)
        transport.write(_refusal(refusal))
        if transport.can_write_eof() and self.guard.linger(+1):
            # Closing with the client's request unread would reset the connection, and the client might never
            # read why: half-close, read and drop what it sends, and cut it off if it has not closed in time.
            transport.write_eof()
            self.transport = transport
            self._deadline = self.loop.call_later(REFUSAL_LINGER_S, transport.abort)
        else:
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._admitted:
            if self._deadline is not None:  # a refused socket that lingered
                self._deadline.cancel()
                self.guard.linger(-1)
            return
        self._disarm()
        self.guard.release(id(self.transport))
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._admitted:
            return
        if not self._waiting_for and not self._upgraded and self.conn.their_state is h11.IDLE:
            self._arm()  # the first byte of a new request on a kept-alive connection
        super().data_received(data)
        if self._upgraded or self.conn.their_state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED):
            self._disarm()  # the request is in: the application answers in its own time
        elif self.conn.their_state is h11.SEND_BODY and self._waiting_for == "headers":
            left = self._request_started + self.guard.request_timeout_s - time.monotonic()
            self._set("body", max(0.0, left))

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._disarm()
        self._upgraded = True
        super().handle_websocket_upgrade(event)

    def _arm(self) -> None:
        self._request_started = time.monotonic()
        self._set("headers", self.guard.header_timeout_s)

    def _set(self, what: str, delay: float) -> None:
        self._disarm()
        self._waiting_for = what
        self._deadline = self.loop.call_later(delay, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = None
        self._waiting_for = ""

    def _too_slow(self) -> None:
        self._deadline, self._waiting_for = None, ""
        if self.transport.is_closing():
            return
        remote = get_remote_addr(self.transport)
        self.guard.refused("request_timeout", remote[0] if remote else "unknown")
        if self.conn.our_state is h11.IDLE:  # no response begun: say why
            self.transport.write(_refusal("request_timeout"))
        self.transport.close()


class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, giving the socket's slot back when it ends."""

    guard: ClassVar[ConnectionGuard]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._raw_transport = transport  # the guard knows the socket by its own transport
        super().connection_made(CorkedTransport(transport, self.loop))  # type: ignore[arg-type]

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.release(id(self._raw_transport))
        super().connection_lost(exc)


def guarded_protocols(
    guard: ConnectionGuard,
) -> tuple[type[GuardedH11Protocol], type[GuardedWebSocketProtocol]]:
    """The protocol classes uvicorn should use for one server, bound to its guard."""
    http = type("RelayH11Protocol", (GuardedH11Protocol,), {"guard": guard})
    ws = type("RelayWebSocketProtocol", (GuardedWebSocketProtocol,), {"guard": guard})
    return http, ws
