"""The proxy service: allowlist, private addresses, header filtering and quotas (sans-IO), and a real fetch
through a CPython peer to a loopback upstream that the test allowlists explicitly."""

from __future__ import annotations

import asyncio
import socket

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pynode.identity import Identity
from pynode.node import Node, NodeConfig
from pynode.platform import native
from pynode.runtime.proxy import ProxyHost
from pynode.runtime.services import ServicesRuntime
from pynode.services import codec
from pynode.services.codec import ServiceError
from pynode.services.proxy import Meter, ProxyRefused, Rules, parse_fetch, response_headers
from tests.netutil import eventually, relay_on

# ---- rules (sans-IO) -------------------------------------------------------------------------------------


def test_the_allowlist_matches_at_a_path_boundary():
    rules = Rules(["https://api.example.com", "http://10.0.0.5:8000/v1/"])
    assert rules.target("https://api.example.com/v1/chat").entry == "https://api.example.com"
    assert rules.target("http://10.0.0.5:8000/v1/x?y=1").path == "/v1/x?y=1"
    for url in (
        "https://api.example.com.evil.org/",
        "https://api.example.comx/",
        "http://api.example.com/",  # another scheme
        "http://10.0.0.5:8000/admin",
        "https://user:pw@api.example.com/",
        "ftp://api.example.com/",
    ):
        with pytest.raises(ProxyRefused):
            rules.target(url)
    with pytest.raises(ValueError):
        Rules(["api.example.com"])


def test_private_addresses_are_refused_unless_allowlisted_literally():
    rules = Rules(["https://api.example.com/", "http://127.0.0.1:9000/"])
    named = rules.target("https://api.example.com/v1")
    assert rules.check_addresses(named, ["93.184.216.34"]) == "93.184.216.34"
    for private in (["10.1.2.3"], ["93.184.216.34", "127.0.0.1"], ["169.254.169.254"], ["::1"], ["fd00::1"]):
        with pytest.raises(ProxyRefused, match="private"):
            rules.check_addresses(named, private)
    literal = rules.target("http://127.0.0.1:9000/x")
    assert rules.check_addresses(literal, ["127.0.0.1"]) == "127.0.0.1"


def test_requester_headers_lose_credentials_and_hop_by_hop_ones():
    rules = Rules(["https://api.example.com/"])
    headers = {"Content-Type": "application/json", "Authorization": "Bearer x", "Cookie": "a", "Host": "evil"}
    fetch = parse_fetch(
        {"method": "POST", "url": "https://api.example.com/v1", "headers": headers, "body": b"{}"}, rules
    )
    assert fetch.headers == (("Content-Type", "application/json"),)
    for bad in (
        {"url": "https://api.example.com/", "method": "DELETE"},
        {"url": "https://api.example.com/", "headers": {"X": "a\r\nInjected: 1"}},
        {"url": "https://api.example.com/", "body": b"x"},  # a GET with a body
        {"url": "https://api.example.com/" + "a" * 3000},
        {"url": "https://api.example.com/", "body": b"x" * 300_000, "method": "POST"},
    ):
        with pytest.raises(ValueError):
            parse_fetch(bad, rules)
    assert response_headers(
        [("Set-Cookie", "s"), ("Content-Type", "text/plain"), ("Connection", "close")]
    ) == {"content-type": "text/plain"}


def test_the_meter_counts_each_requesters_bytes_per_hour():
    m = Meter(per_hour=3600)
    assert m.spend(b"a", 3000, 0.0) and not m.spend(b"a", 1000, 0.0)
    assert m.spend(b"b", 1000, 0.0)  # another requester's hour
    assert m.left(b"a", 2000.0) > 0  # refilled over time


# ---- a real fetch through a peer -------------------------------------------------------------------------


async def _upstream() -> tuple[uvicorn.Server, asyncio.Task, int]:
    async def echo(request: Request) -> Response:
        body = await request.body()
        return JSONResponse(
            {
                "body": body.decode(),
                "auth": request.headers.get("authorization"),
                "host": request.headers["host"],
            }
        )

    async def big(request: Request) -> Response:
        return Response(b"x" * 200_000, media_type="application/octet-stream")

    app = Starlette(
        routes=[Route("/v1/echo", echo, methods=["POST"]), Route("/v1/big", big), Route("/secret", big)]
    )
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    sock = socket.create_server(("127.0.0.1", 0))
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    return server, task, sock.getsockname()[1]


@pytest.mark.slow
async def test_a_tab_stand_in_fetches_through_a_cpython_peer(tmp_path):
    upstream, upstream_task, port = await _upstream()
    relay = await relay_on(tmp_path, embedded_node=False)
    nodes, runtimes = [], []
    try:
        for _ in range(2):
            nodes.append(
                Node(await Identity.generate(), native.relay_link(relay.url), NodeConfig(direct_peers=0))
            )
            runtimes.append(ServicesRuntime(nodes[-1]))
        proxy = ProxyHost(runtimes[0], [f"http://127.0.0.1:{port}/v1/"], auth="operator-key")
        for n, r in zip(nodes, runtimes, strict=True):
            await n.start()
            await r.start()
        asking = runtimes[1]
        await eventually(lambda: asking.providers("proxy"), 20, "a proxy peer")

        async def fetch(**args) -> list:
            return [i async for i in asking.stream("proxy", "fetch", args)]

        head, *body = await fetch(
            method="POST",
            url=f"http://127.0.0.1:{port}/v1/echo",
            headers={"Content-Type": "text/plain", "Authorization": "Bearer the-tabs-own"},
            body=b"hello",
        )
        assert head["status"] == 200 and head["headers"]["content-type"] == "application/json"
        echoed = b"".join(body).decode()
        assert (
            '"body":"hello"' in echoed and '"auth":"Bearer operator-key"' in echoed
        )  # the operator's, not the tab's

        head, *body = await fetch(url=f"http://127.0.0.1:{port}/v1/big")
        assert sum(len(b) for b in body) == 200_000 and len(body) >= 3  # streamed in pieces

        with pytest.raises(ServiceError) as e:
            await fetch(url=f"http://127.0.0.1:{port}/secret")
        assert e.value.code == codec.BAD_REQUEST and "allowlist" in e.value.detail

        proxy.rules = Rules([f"http://localhost:{port}/v1/"])  # a name for a loopback address: refused
        with pytest.raises(ServiceError) as e:
            await fetch(url=f"http://localhost:{port}/v1/big")
        assert e.value.code == codec.BAD_REQUEST and "private address" in e.value.detail

        proxy.rules = Rules([f"http://127.0.0.1:{port}/v1/"])
        proxy.meter = Meter(per_hour=100_000)  # this requester may pull 100 kB an hour: the big one breaks it
        with pytest.raises(ServiceError) as e:
            await fetch(url=f"http://127.0.0.1:{port}/v1/big")
        assert e.value.code == codec.RATE_LIMITED
        with pytest.raises(ServiceError) as e:  # and the next is refused before it starts
            await fetch(url=f"http://127.0.0.1:{port}/v1/big")
        assert e.value.code == codec.RATE_LIMITED
        refused = runtimes[0].servers["proxy"].tally.refused
        assert refused[codec.BAD_REQUEST] == 2 and refused[codec.RATE_LIMITED] >= 2
    finally:
        for r in runtimes:
            await r.stop()
        for n in nodes:
            await n.stop()
        await relay.stop()
        upstream.should_exit = True
        await upstream_task


@pytest.mark.slow
async def test_over_quota_requesters_are_refused(tmp_path):
    relay = await relay_on(tmp_path, embedded_node=False)
    nodes = [
        Node(await Identity.generate(), native.relay_link(relay.url), NodeConfig(direct_peers=0))
        for _ in range(2)
    ]
    runtimes = [ServicesRuntime(n) for n in nodes]
    ProxyHost(runtimes[0], ["http://127.0.0.1:9/v1/"])
    try:
        for n, r in zip(nodes, runtimes, strict=True):
            await n.start()
            await r.start()
        await eventually(lambda: runtimes[1].providers("proxy"), 20, "a proxy peer")
        codes = []
        for _ in range(12):  # the spec allows a burst of 10 calls
            with pytest.raises(ServiceError) as e:
                await runtimes[1].call("proxy", "fetch", {"url": "http://127.0.0.1:9/other"})
            codes.append(e.value.code)
        assert codes[:10] == [codec.BAD_REQUEST] * 10 and codes[10:] == [codec.RATE_LIMITED] * 2
    finally:
        for r in runtimes:
            await r.stop()
        for n in nodes:
            await n.stop()
        await relay.stop()
