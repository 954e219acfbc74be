"""The relay server end to end: a real uvicorn on a free loopback port, real `websockets` clients."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import cbor2
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from pynode.identity import Identity, peer_id_text
from pynode.net.relay_proto import (
    Challenge,
    CircuitFrom,
    CircuitTo,
    Error,
    Hello,
    Join,
    Leave,
    PeerInfo,
    SignalFrom,
    SignalTo,
    Unreachable,
    Welcome,
    make_hello,
    parse_relay_frame,
)
from pynode.wire import cbor
from pynode.wire.limits import MAX_RELAY_FRAME_BYTES
from relay_server import RelayConfig, RelayServer, build_server, create_app, open_relay
from relay_server.embedded import LocalRelaySocket
from relay_server.hub import Hub
from relay_server.limits import WS_MAX_SIZE

ROOT = Path(__file__).resolve().parent.parent
RECV_TIMEOUT_S = 5  # a safety net against hangs, never a performance threshold


@dataclass
class Running:
    app: Starlette
    server: RelayServer
    http: str
    ws: str


@contextlib.asynccontextmanager
async def running_relay(tmp_path: Path, embedded: bool = False, **overrides) -> AsyncIterator[Running]:
    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text("<!doctype html><title>relay under test</title>")
    (static / "module.wasm").write_bytes(b"\x00asm\x01\x00\x00\x00")
    config = RelayConfig(
        port=0, data_dir=tmp_path / "relay", static_dir=static, log_level="warning", **overrides
    )
    app = create_app(await open_relay(config, embedded=embedded))
    server = build_server(config, app)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # startup failed: raise its error
        await asyncio.sleep(0.01)
    try:
        yield Running(app, server, f"http://127.0.0.1:{server.port}", f"ws://127.0.0.1:{server.port}/p2p")
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def relay(tmp_path) -> AsyncIterator[Running]:
    async with running_relay(tmp_path) as r:
        yield r


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def recv(ws: ClientConnection):
    return parse_relay_frame(await asyncio.wait_for(ws.recv(), RECV_TIMEOUT_S), from_relay=True)


async def assert_closed(ws: ClientConnection) -> None:
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), RECV_TIMEOUT_S)


@dataclass
class Peer:
    identity: Identity
    ws: ClientConnection
    welcome: Welcome

    @property
    def id(self) -> bytes:
        return self.identity.peer_id


async def open_socket(url: str) -> ClientConnection:
    return await connect(url, max_size=WS_MAX_SIZE)


async def join(url: str, identity: Identity | None = None, caps: tuple[str, ...] = ("test",)) -> Peer:
    identity = identity or await Identity.generate()
    ws = await open_socket(url)
    challenge = await recv(ws)
    assert isinstance(challenge, Challenge)
    hello = await make_hello(identity.signer, challenge.nonce, challenge.relay, caps, now_ms())
    await ws.send(hello.encode())
    welcome = await recv(ws)
    assert isinstance(welcome, Welcome), welcome
    return Peer(identity, ws, welcome)


async def rejections(http: str) -> dict[tuple[str, str], float]:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{http}/metrics")).text
    family = next(f for f in text_string_to_metric_families(text) if f.name == "hyperspace_rejections")
    return {
        (s.labels["where"], s.labels["reason"]): s.value for s in family.samples if s.name.endswith("_total")
    }


# ---- joining -------------------------------------------------------------------------------------------


async def test_a_signed_hello_is_welcomed_and_others_see_join_and_leave(relay):
    alice = await join(relay.ws, caps=("inference",))
    assert alice.welcome == Welcome(())
    bob = await join(relay.ws, caps=("storage", "relay"))
    assert bob.welcome == Welcome((PeerInfo(alice.id, ("inference",)),))
    assert await recv(alice.ws) == Join(bob.id, ("storage", "relay"))
    await bob.ws.close()
    assert await recv(alice.ws) == Leave(bob.id)
    await alice.ws.close()


@pytest.mark.parametrize("forgery", ["wrong_key", "wrong_nonce", "stale_ts", "signal_first"])
async def test_a_forged_hello_is_refused_and_closed(relay, forgery):
    victim, forger = await Identity.generate(), await Identity.generate()
    ws = await open_socket(relay.ws)
    challenge = await recv(ws)
    ts = now_ms() - 3_600_000 if forgery == "stale_ts" else now_ms()
    nonce = bytes(32) if forgery == "wrong_nonce" else challenge.nonce
    hello = await make_hello(forger.signer, nonce, challenge.relay, ("x",), ts)
    if forgery == "wrong_key":
        hello = Hello(victim.peer_id, hello.caps, hello.ts, hello.sig)
    frame = SignalTo(victim.peer_id, b"hi") if forgery == "signal_first" else hello
    await ws.send(frame.encode())
    error = await recv(ws)
    assert isinstance(error, Error) and error.code == "bad_hello"
    await assert_closed(ws)
    reason = {"stale_ts": "stale_hello", "signal_first": "unexpected_frame"}.get(forgery, "bad_signature")
    assert (await rejections(relay.http))[("relay", reason)] == 1


async def test_a_socket_that_never_says_hello_is_closed(tmp_path):
    async with running_relay(tmp_path, hello_timeout_s=0.05) as relay:
        ws = await open_socket(relay.ws)
        await recv(ws)
        assert await recv(ws) == Error("bad_hello", "no hello in time")
        await assert_closed(ws)
        assert (await rejections(relay.http))[("relay", "hello_timeout")] == 1


async def test_the_challenge_names_the_relays_identity(relay):
    ws = await open_socket(relay.ws)
    challenge = await recv(ws)
    assert challenge.relay == relay.app.state.relay.identity.peer_id
    await ws.close()


# ---- routing -------------------------------------------------------------------------------------------


async def test_signal_and_circuit_are_forwarded_with_the_senders_id(relay):
    alice = await join(relay.ws)
    bob = await join(relay.ws)
    await recv(alice.ws)  # join
    await alice.ws.send(SignalTo(bob.id, b"offer").encode())
    await alice.ws.send(CircuitTo(bob.id, b"hs1").encode())
    assert await recv(bob.ws) == SignalFrom(alice.id, b"offer")
    assert await recv(bob.ws) == CircuitFrom(alice.id, b"hs1")
    big = os.urandom(1024 * 1024)
    await bob.ws.send(CircuitTo(alice.id, big).encode())
    assert await recv(alice.ws) == CircuitFrom(bob.id, big)
    stranger = (await Identity.generate()).peer_id
    await alice.ws.send(CircuitTo(stranger, b"?").encode())
    assert await recv(alice.ws) == Unreachable(stranger)


async def test_a_second_hello_with_the_same_peer_id_replaces_the_first(relay):
    watcher = await join(relay.ws)
    me = await Identity.generate()
    first = await join(relay.ws, me, caps=("v1",))
    assert await recv(watcher.ws) == Join(me.peer_id, ("v1",))
    second = await join(relay.ws, me, caps=("v2",))
    assert await recv(first.ws) == Error("replaced", "the same peer connected again")
    await assert_closed(first.ws)
    assert await recv(watcher.ws) == Leave(me.peer_id)
    assert await recv(watcher.ws) == Join(me.peer_id, ("v2",))
    await watcher.ws.send(CircuitTo(me.peer_id, b"still there?").encode())
    assert await recv(second.ws) == CircuitFrom(watcher.id, b"still there?")


# ---- hostile input -------------------------------------------------------------------------------------

FILLER = bytes(32)
BAD_FRAMES = {
    "oversized": b"\x00" * (MAX_RELAY_FRAME_BYTES + 1),
    "malformed_cbor": b"\x1c",  # reserved additional information
    "truncated": b"\xa3\x61t",
    "non_canonical": cbor2.dumps({"to": FILLER, "data": b"", "t": "circuit"}),  # keys out of order
    "bad_type": cbor.encode([1, 2, 3]),
    "bad_field": cbor.encode({"t": "circuit", "to": "not bytes", "data": b""}),
    "unknown_type": cbor.encode({"t": "teleport", "to": FILLER}),
    "unexpected_frame": Hello(FILLER, (), 1, bytes(64)).encode(),
    "text_message": "a text message",
}


async def test_bad_frames_disconnect_the_sender_are_counted_and_spare_honest_peers(relay):
    alice = await join(relay.ws)
    bob = await join(relay.ws)
    await recv(alice.ws)  # bob's join
    for reason, payload in BAD_FRAMES.items():
        offender = await join(relay.ws)
        await offender.ws.send(payload)
        error = await recv(offender.ws)
        assert isinstance(error, Error) and error.code == "bad_frame", reason
        await assert_closed(offender.ws)
        assert await recv(alice.ws) == Join(offender.id, ("test",))
        assert await recv(alice.ws) == Leave(offender.id)
        await alice.ws.send(CircuitTo(bob.id, reason.encode()).encode())
        while isinstance(frame := await recv(bob.ws), Join | Leave):
            pass
        assert frame == CircuitFrom(alice.id, reason.encode())
    counted = await rejections(relay.http)
    assert {reason: counted.get(("relay", reason)) for reason in BAD_FRAMES} == dict.fromkeys(BAD_FRAMES, 1)


async def test_a_bad_frame_instead_of_a_hello_is_a_bad_frame(relay):
    ws = await open_socket(relay.ws)
    await recv(ws)
    await ws.send(b"\x1c")
    assert (await recv(ws)).code == "bad_frame"
    await assert_closed(ws)


async def test_a_flooder_is_throttled_then_disconnected_when_it_stays_over_its_rate(tmp_path):
    async with running_relay(tmp_path, frames_per_s=1, frames_burst=5, rate_limit_after_s=1.5) as relay:
        target = await join(relay.ws)
        flooder = await join(relay.ws)
        for _ in range(20):
            with contextlib.suppress(ConnectionClosed):
                await flooder.ws.send(CircuitTo(target.id, b"spam").encode())
        error = await recv(flooder.ws)
        assert isinstance(error, Error) and error.code == "rate_limited"
        await assert_closed(flooder.ws)
        assert (await rejections(relay.http))[("relay", "rate_limited")] == 1
        delivered = 0
        with contextlib.suppress(TimeoutError):
            while isinstance(await asyncio.wait_for(target.ws.recv(), 0.5), bytes):
                delivered += 1
        assert 5 < delivered < 20  # the burst, then one a second until it had been over for 1.5 s


async def test_frames_arriving_in_a_bunch_are_delayed_not_punished(tmp_path):
    """What a relay that stalled sees from a paced node: frames sent over seconds, read at once."""
    async with running_relay(tmp_path, frames_per_s=40, frames_burst=5) as relay:
        target = await join(relay.ws)
        sender = await join(relay.ws)
        assert (await recv(target.ws)).peer == sender.id  # its join
        for i in range(45):
            await sender.ws.send(CircuitTo(target.id, i.to_bytes(2, "big")).encode())
        got = [await recv(target.ws) for _ in range(45)]
        assert [int.from_bytes(f.data, "big") for f in got] == list(range(45))  # all, in order
        assert ("relay", "rate_limited") not in await rejections(relay.http)
        assert relay.app.state.relay.stats.throttled >= 30
        await sender.ws.send(CircuitTo(target.id, b"still here").encode())
        assert (await recv(target.ws)).data == b"still here"


async def test_sockets_beyond_the_per_address_cap_are_refused(tmp_path):
    async with running_relay(tmp_path, max_connections_per_ip=2) as relay:
        first, second = await open_socket(relay.ws), await open_socket(relay.ws)
        assert isinstance(await recv(first), Challenge) and isinstance(await recv(second), Challenge)
        third = await open_socket(relay.ws)
        assert (await recv(third)).code == "too_many_connections"
        await assert_closed(third)
        assert (await rejections(relay.http))[("relay", "too_many_connections")] == 1


# ---- the embedded (in-process) peer --------------------------------------------------------------------


async def test_a_local_peer_exchanges_circuit_frames_with_a_websocket_peer(relay):
    inbox: asyncio.Queue[bytes] = asyncio.Queue()
    local_id = (await Identity.generate()).peer_id
    handle = relay.app.state.relay.hub.attach_local(local_id, ["embedded"], inbox.put)

    async def local_recv():
        return parse_relay_frame(await asyncio.wait_for(inbox.get(), RECV_TIMEOUT_S), from_relay=True)

    assert await local_recv() == Welcome(())
    remote = await join(relay.ws)
    assert remote.welcome == Welcome((PeerInfo(local_id, ("embedded",)),))
    assert await local_recv() == Join(remote.id, ("test",))
    await remote.ws.send(CircuitTo(local_id, b"ping").encode())
    assert await local_recv() == CircuitFrom(remote.id, b"ping")
    await handle.send(CircuitTo(remote.id, b"pong").encode())
    assert await recv(remote.ws) == CircuitFrom(local_id, b"pong")
    handle.close()
    assert await recv(remote.ws) == Leave(local_id)


async def test_a_cancelled_read_of_the_embedded_nodes_socket_leaves_no_task_behind():
    """The embedded node's reader is cancelled when it stops: its wait on the inbox must go with it, or the
    pending task is garbage-collected later ("Task was destroyed but it is pending!")."""
    sock = LocalRelaySocket(Hub(), (await Identity.generate()).peer_id, ["embedded"])
    assert parse_relay_frame(await sock.recv(), from_relay=True) == Welcome(())
    reader = asyncio.ensure_future(sock.recv())
    await asyncio.sleep(0.01)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    await asyncio.sleep(0)
    assert [t for t in asyncio.all_tasks() if "Queue.get" in repr(t)] == []
    await sock.close()


# ---- HTTP ----------------------------------------------------------------------------------------------


async def test_status_health_and_metrics_show_the_relay_and_its_embedded_node(tmp_path):
    async with running_relay(tmp_path, embedded=True, archive=False) as relay:
        state = relay.app.state.relay
        peer = await join(relay.ws, caps=("inference",))
        assert peer.welcome == Welcome((PeerInfo(state.identity.peer_id, ("relay",)),))
        async with httpx.AsyncClient(base_url=relay.http) as client:
            health = await client.get("/healthz")
            status = (await client.get("/api/status")).json()
            metrics = (await client.get("/metrics")).text
    assert health.status_code == 200 and health.text == "ok"
    assert status["relay"] == state.identity.text
    # no archive: the relay was told not to keep one
    assert status["extra"].keys() == {"node", "state", "presence"}
    assert {"relay_connected", "mesh"} <= status["extra"]["node"].keys()
    assert status["extra"]["state"]["records"] == 0
    assert status["counts"]["peers"] == 2 and status["counts"]["local"] == 1
    newest = status["peers"][0]
    assert newest["peer"] == peer_id_text(peer.id) and newest["kind"] == "websocket"
    assert newest["caps"] == ["inference"] and newest["frames_in"] == 0
    embedded = status["peers"][1]
    assert embedded["kind"] == "local" and embedded["peer"] == state.identity.text
    assert {"version", "uptime_s"} <= status.keys()
    assert 'hyperspace_relay_connections{kind="websocket"} 1.0' in metrics
    assert 'hyperspace_relay_connections{kind="local"} 1.0' in metrics
    assert re.search(r'hyperspace_relay_frames_total\{direction="out"\} [1-9]', metrics)


async def test_static_files_have_their_mime_types_and_isolation_headers(relay):
    async with httpx.AsyncClient(base_url=relay.http) as client:
        index = await client.get("/")
        wasm = await client.get("/module.wasm")
        again = await client.get("/module.wasm", headers={"If-None-Match": wasm.headers["etag"]})
        missing = await client.get("/nope.js")
    assert index.status_code == 200 and "relay under test" in index.text
    assert index.headers["content-type"].startswith("text/html")
    assert wasm.headers["content-type"] == "application/wasm"
    for response in (index, wasm):
        assert response.headers["cross-origin-opener-policy"] == "same-origin"
        assert response.headers["cross-origin-embedder-policy"] == "require-corp"
        assert response.headers["cache-control"] == "no-cache"
    assert again.status_code == 304
    assert missing.status_code == 404


async def test_the_default_web_app_is_the_repositorys_web_folder(tmp_path):
    app = create_app(await open_relay(RelayConfig(data_dir=tmp_path), embedded=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://relay") as client:
        index = await client.get("/")
    assert index.status_code == 200 and "Hyperspace" in index.text


# ---- shutdown ------------------------------------------------------------------------------------------


async def test_sigterm_tells_peers_and_stops_the_process(tmp_path):
    """The relay's own node leaves first, then every peer is told why the relay goes."""
    code = (
        "import sys; from relay_server import RelayConfig, run; "
        "run(RelayConfig(port=0, data_dir=sys.argv[1], static_dir=None, archive=False))"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, str(tmp_path), cwd=ROOT, stderr=asyncio.subprocess.PIPE
    )
    try:
        port = None
        while port is None:
            line = await asyncio.wait_for(proc.stderr.readline(), RECV_TIMEOUT_S)
            assert line, "the relay exited before listening"
            if m := re.search(rb"running on http://127\.0\.0\.1:(\d+)", line):
                port = int(m.group(1))
        peer = await join(f"ws://127.0.0.1:{port}/p2p")
        (embedded,) = peer.welcome.peers
        proc.send_signal(signal.SIGTERM)
        frames = [await recv(peer.ws)]
        while not isinstance(frames[-1], Error):  # the embedded node may be dialling us meanwhile
            frames.append(await recv(peer.ws))
        assert frames[-1] == Error("shutting_down", "the relay is stopping")
        assert Leave(embedded.peer) in frames[:-1]
        await assert_closed(peer.ws)
        assert await asyncio.wait_for(proc.wait(), RECV_TIMEOUT_S) in (0, -signal.SIGTERM)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
