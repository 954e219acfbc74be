"""Point-to-point request/response between nodes, over real relay circuits."""

import asyncio

import pytest

from pynode.net.reqresp import MAX_INFLIGHT_PER_PEER, RequestFailed
from tests.netutil import eventually, node_on, relay_on

pytestmark = pytest.mark.slow


@pytest.fixture
async def pair(tmp_path):
    relay = await relay_on(tmp_path)
    a, b = await node_on(relay.url), await node_on(relay.url)
    await eventually(
        lambda: b.peer_id in a.connected_peers() and a.peer_id in b.connected_peers(), 20, "link"
    )
    yield a, b
    for n in (a, b):
        await n.stop()
    await relay.stop()


async def test_request_gets_the_services_answer_and_the_asker_is_known(pair):
    a, b = pair
    seen = []

    async def echo(peer: bytes, data: bytes) -> bytes:
        seen.append(peer)
        return data[::-1]

    b.handle("test/echo", echo)
    assert await a.request(b.peer_id, "test/echo", b"abc") == b"cba"
    assert seen == [a.peer_id]  # the handshake-authenticated peer id, not a claim


async def test_unknown_protocol_and_refusals_come_back_as_request_failed(pair):
    a, b = pair

    async def refuse(peer: bytes, data: bytes) -> bytes:
        raise RequestFailed("not today")

    async def crash(peer: bytes, data: bytes) -> bytes:
        raise ValueError("bug")

    b.handle("test/refuse", refuse)
    b.handle("test/crash", crash)
    with pytest.raises(RequestFailed, match="unknown protocol"):
        await a.request(b.peer_id, "test/nothing", b"")
    with pytest.raises(RequestFailed, match="not today"):
        await a.request(b.peer_id, "test/refuse", b"")
    with pytest.raises(RequestFailed, match="internal error"):
        await a.request(b.peer_id, "test/crash", b"")


async def test_a_silent_service_times_out(pair):
    a, b = pair
    release = asyncio.Event()

    async def slow(peer: bytes, data: bytes) -> bytes:
        await release.wait()
        return b""

    b.handle("test/slow", slow)
    with pytest.raises(TimeoutError):
        await a.request(b.peer_id, "test/slow", b"", timeout=0.3)
    release.set()


async def test_a_peer_cannot_hold_more_than_the_inflight_limit(pair):
    a, b = pair
    release = asyncio.Event()

    async def slow(peer: bytes, data: bytes) -> bytes:
        await release.wait()
        return b"done"

    b.handle("test/slow", slow)
    n = MAX_INFLIGHT_PER_PEER + 8
    tasks = [asyncio.ensure_future(a.request(b.peer_id, "test/slow", b"", timeout=20)) for _ in range(n)]
    await eventually(lambda: sum(t.done() for t in tasks) >= 8, 10, "refusals beyond the limit")
    release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    busy = [r for r in results if isinstance(r, RequestFailed) and "busy" in str(r)]
    assert len(busy) == 8 and results.count(b"done") == MAX_INFLIGHT_PER_PEER
    assert b.rejections["requests_over_limit"] == 8


async def test_requests_to_an_unconnected_peer_fail_at_once(pair):
    a, _ = pair
    with pytest.raises(RequestFailed, match="not connected"):
        await a.request(b"\x00" * 32, "test/echo", b"")
