"""Hosts the proxy service on a CPython node (a tab cannot open raw connections): resolves, checks the
addresses (`services/proxy.py`), connects to the checked address with the requested host's TLS name, and
streams the upstream response back in pieces, metering each requester's bytes."""

from __future__ import annotations

import asyncio
import http.client
import socket
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any

from pynode.platform import in_browser
from pynode.runtime.services import ServicesRuntime
from pynode.services import codec
from pynode.services.codec import ServiceError
from pynode.services.limits import MAX_PROXY_RESPONSE, PROXY_CHUNK, PROXY_TIMEOUT_S
from pynode.services.proxy import CAP, Fetch, Meter, Rules, parse_fetch, response_headers
from pynode.services.spec import Context, Method, Service, ServiceSpec


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a checked address, with certificate and SNI checks against the requested host name."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def _open(fetch: Fetch, address: str, auth: str | None) -> http.client.HTTPResponse:
    t = fetch.target
    if t.scheme == "https":
        conn: http.client.HTTPConnection = _PinnedHTTPS(t.host, address, t.port, PROXY_TIMEOUT_S)
    else:
        conn = http.client.HTTPConnection(address, t.port, timeout=PROXY_TIMEOUT_S)
    headers = dict(fetch.headers)
    headers["Host"] = t.host if t.port in (80, 443) else f"{t.host}:{t.port}"
    if auth:
        headers["Authorization"] = f"Bearer {auth}"
    conn.request(fetch.method, t.path, body=fetch.body or None, headers=headers)
    return conn.getresponse()


class ProxyHost:
    def __init__(self, services: ServicesRuntime, allow: list[str], auth: str | None = None) -> None:
        if in_browser():
            raise RuntimeError("only a CPython node can serve the proxy")
        if not allow:
            raise ValueError("the proxy needs at least one --proxy-allow URL prefix")
        self.rules = Rules(allow)
        self.auth = auth  # the operator's credential for the allowlisted endpoints, never a requester's
        self.meter = Meter()
        services.host(self.service())

    def service(self) -> Service:
        spec = ServiceSpec(
            CAP,
            max_bytes=300 * 1024,
            per_min=30,
            burst=10,
            concurrent=2,
            capacity=8,
            info={"allow": self.rules.allow[:32], "max_response": MAX_PROXY_RESPONSE},
        )
        return Service(spec, {"fetch": Method(lambda a: parse_fetch(a, self.rules), self.fetch, stream=True)})

    async def fetch(self, ctx: Context, req: Fetch) -> AsyncIterator[Any]:
        if self.meter.left(ctx.peer, time.monotonic()) <= 0:
            raise ServiceError(codec.RATE_LIMITED, "this requester's proxy bytes for the hour are spent")
        t = req.target
        try:
            infos = await asyncio.to_thread(socket.getaddrinfo, t.host, t.port, 0, socket.SOCK_STREAM)
        except OSError as e:
            raise ServiceError(codec.BAD_REQUEST, f"{t.host} does not resolve: {e}") from None
        try:
            address = self.rules.check_addresses(t, sorted({str(i[4][0]) for i in infos}))
        except ValueError as e:
            raise ServiceError(codec.BAD_REQUEST, str(e)) from None
        try:
            response = await asyncio.to_thread(_open, req, address, self.auth)
        except (OSError, http.client.HTTPException) as e:
            raise ServiceError(codec.FAILED, f"upstream: {e}"[:200]) from None
        try:
            yield {"status": response.status, "headers": response_headers(response.getheaders())}
            total = 0
            while True:
                piece = await asyncio.to_thread(response.read1, PROXY_CHUNK)
                if not piece:
                    return
                total += len(piece)
                ctx.units += len(piece)
                if total > MAX_PROXY_RESPONSE:
                    raise ServiceError(codec.TOO_LARGE, f"upstream response over {MAX_PROXY_RESPONSE} bytes")
                if not self.meter.spend(ctx.peer, len(piece), time.monotonic()):
                    raise ServiceError(
                        codec.RATE_LIMITED, "this requester's proxy bytes for the hour are spent"
                    )
                yield piece
        except (OSError, http.client.HTTPException) as e:
            raise ServiceError(codec.FAILED, f"upstream: {e}"[:200]) from None
        finally:
            response.close()
