"""One load process of `hyperspace bench relay`: many light clients on loopback against a relay or an echo server.

A light client is what a node's relay session is without the node: it opens the WebSocket, answers the relay's
challenge with a real signed hello (pynode/net/relay_proto.py), waits for its welcome and then only reads. A few
of them form pairs that send `circuit` frames to each other through the relay. Against the echo server (the
ceiling) the same sockets skip the hello and each pair's sender is its own receiver: the server sends every frame
back, so a frame crosses loopback twice either way.

The last `--probes` of its clients join one at a time after the ramp, while the others are held: their hello →
welcome time is what a newcomer meets at a relay holding that many peers. During the ramp itself, RAMP_CONCURRENCY
handshakes are in flight at once from this process, so a ramp client's time is mostly its place in that queue
(Little's law: in flight / the rate the machine completes them), and reported apart.

Driven over stdin/stdout by bench/relay.py: after the ramp and the probes it prints one JSON line (`held`, hello
latencies),
waits for a line on stdin, runs the circuit phases, prints the result line and exits. Each client binds its own
127.x.y.z source address, so no address reaches the relay's per-address socket cap (stock settings).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import resource
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from pynode.identity import signatures
from pynode.net.relay_proto import CircuitFrom, CircuitTo, Welcome, make_hello, parse_relay_frame
from pynode.wire.limits import MAX_RELAY_FRAME_BYTES

STAMP = struct.Struct(">QQ")  # pair index, send time (ns, perf counter; both ends are in this process)
PER_SOURCE_ADDRESS = 50  # clients per 127.x.y.z source address: under the relay's stock 64 per address
RAMP_CONCURRENCY = 64  # handshakes in flight at once while the ramp connects
CONNECT_TIMEOUT_S = 60.0  # one client's connect + hello → welcome; beyond this it counts as not held
DRAIN_TIMEOUT_S = 300.0  # after the ramp, the joins still on their way are read for at most this long
PROBE_GAP_S = 0.05  # between one probe's welcome and the next probe's connect: a trickle, not a storm


@dataclass
class Peer:
    index: int
    ws: ClientConnection | None = None
    peer_id: bytes = b""
    frames_in: int = 0
    closed: bool = False
    reader: asyncio.Task[None] | None = None


@dataclass
class Pair:
    index: int
    sender: Peer
    receiver: Peer
    sent: int = 0
    received: int = 0
    bytes_received: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    progress: asyncio.Event = field(default_factory=asyncio.Event)
    record: bool = False  # latencies are kept only in the latency phase


def source_address(worker: int, index: int) -> str:
    block = index // PER_SOURCE_ADDRESS
    return f"127.{1 + worker}.{block // 250}.{block % 250 + 1}"


async def open_peer(peer: Peer, url: str, worker: int, signer: Any | None) -> float | None:
    """Connect one light client; the hello → welcome time in ms (0 against the echo server), None on failure."""
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            peer.ws = await connect(
                url,
                max_size=MAX_RELAY_FRAME_BYTES * 2,
                max_queue=None,
                ping_interval=None,  # idle peers must cost the relay nothing but the socket
                open_timeout=CONNECT_TIMEOUT_S,
                compression=None,
                local_addr=(source_address(worker, peer.index), 0),
            )
            if signer is None:
                return 0.0
            challenge = parse_relay_frame(await peer.ws.recv(decode=False), from_relay=True)
            ts = time.time_ns() // 1_000_000
            hello = await make_hello(signer, challenge.nonce, challenge.relay, ("bench",), ts)  # type: ignore[union-attr]
            start = time.perf_counter()
            await peer.ws.send(hello.encode())
            while True:  # joins of earlier peers may not precede the welcome, but be lenient about order
                frame = parse_relay_frame(await peer.ws.recv(decode=False), from_relay=True)
                if isinstance(frame, Welcome):
                    return (time.perf_counter() - start) * 1000
    except (OSError, TimeoutError, WebSocketException, ValueError) as e:
        print(f"peer {peer.index} failed: {type(e).__name__}: {e}", file=sys.stderr)
        peer.closed = True
        return None


async def read_forever(peer: Peer, pair: Pair | None, echo: bool) -> None:
    """Take every frame (joins, leaves, signals, circuits); a pair's receiver checks and times its circuits."""
    assert peer.ws is not None
    try:
        async for message in peer.ws:
            peer.frames_in += 1
            if pair is None:
                continue
            data = message if echo else _circuit_data(message, pair)
            if data is None:
                continue
            index, sent_ns = STAMP.unpack_from(data)
            if index != pair.index:
                raise ValueError(f"pair {pair.index} got pair {index}'s frame")
            pair.received += 1
            pair.bytes_received += len(data)
            if pair.record:
                pair.latencies_ms.append((time.perf_counter_ns() - sent_ns) / 1e6)
            pair.progress.set()
    except ConnectionClosed:
        pass
    finally:
        peer.closed = True


def _circuit_data(message: bytes | str, pair: Pair) -> bytes | None:
    if not isinstance(message, bytes):
        raise ValueError("the relay sent a text message")
    if b"circuit" not in message[:16]:  # joins and leaves: the cheap skip a node's parser would not need
        return None
    frame = parse_relay_frame(message, from_relay=True)
    if not isinstance(frame, CircuitFrom):
        return None
    if frame.sender != pair.sender.peer_id:
        return None  # the relay's own node may open a circuit to any peer: not ours to count
    return frame.data


async def send_loop(
    pair: Pair, echo: bool, size: int, until: float, rate_hz: float | None, window: int
) -> None:
    """Send stamped frames until `until`: at `rate_hz` (latency), or as fast as `window` in flight allows."""
    ws = pair.sender.ws
    assert ws is not None
    pad = random.randbytes(max(0, size - STAMP.size))
    target = pair.receiver.peer_id
    interval = 1.0 / rate_hz if rate_hz else 0.0
    next_at = time.perf_counter() + random.random() * interval
    try:
        while time.perf_counter() < until and not pair.sender.closed:
            if rate_hz:
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                next_at += interval
            else:
                while pair.sent - pair.received >= window and time.perf_counter() < until:
                    pair.progress.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(pair.progress.wait(), 1.0)
            data = STAMP.pack(pair.index, time.perf_counter_ns()) + pad
            await ws.send(data if echo else CircuitTo(target, data).encode())
            pair.sent += 1
    except ConnectionClosed:
        pass


async def run(args: argparse.Namespace) -> None:
    echo = args.mode == "echo"
    signers = [] if echo else [await signatures.load_signer(signatures.new_seed()) for _ in range(args.peers)]
    peers = [Peer(i) for i in range(args.peers)]
    for p, s in zip(peers, signers, strict=False):
        p.peer_id = s.public_key
    sem = asyncio.Semaphore(RAMP_CONCURRENCY)
    pairs = [Pair(i, peers[2 * i], peers[2 * i + 1]) for i in range(min(args.pairs, args.peers // 2))]
    pair_of = {id(p.receiver if not echo else p.sender): p for p in pairs}

    async def ramp_one(peer: Peer) -> float | None:
        async with sem:
            ms = await open_peer(peer, args.url, args.worker, None if echo else signers[peer.index])
        if ms is not None:
            peer.reader = asyncio.create_task(read_forever(peer, pair_of.get(id(peer)), echo))
        return ms

    ramped, probes = peers[: len(peers) - args.probes], peers[len(peers) - args.probes :]
    ramp_start = time.perf_counter()
    hello_ms = await asyncio.gather(*(ramp_one(p) for p in ramped))
    ramp_s = time.perf_counter() - ramp_start
    # The last welcomes come before the joins they set off (N² of them while a relay fills): circuits are timed
    # once those are read, not behind them in this process's own backlog.
    quiet_by = time.perf_counter() + DRAIN_TIMEOUT_S
    last = -1
    while time.perf_counter() < quiet_by:
        total = sum(p.frames_in for p in peers)
        if total == last:  # a second without a frame: the fan-out has been read
            break
        last = total
        await asyncio.sleep(1.0)
    drain_s = time.perf_counter() - ramp_start - ramp_s
    probe_ms = []
    for peer in probes:
        probe_ms.append(await ramp_one(peer))
        await asyncio.sleep(PROBE_GAP_S)
    held = sum(1 for p in peers if p.ws is not None and not p.closed)
    _emit(
        {
            "phase": "held",
            "held": held,
            "ramp_s": ramp_s,
            "drain_s": drain_s,
            "hello_ms": [m for m in hello_ms if m is not None],
            "probe_ms": [m for m in probe_ms if m is not None],
            "failed": sum(1 for m in hello_ms + probe_ms if m is None),
            "cpu_s": time.process_time(),
        }
    )
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

    # Latency: small frames at a modest rate, so queues stay short and the time is the relay's own.
    for pair in pairs:
        pair.record = True
    until = time.perf_counter() + args.latency_s
    await asyncio.gather(*(send_loop(p, echo, 1024, until, args.rate_hz, 0) for p in pairs))
    await asyncio.sleep(1.0)  # the last frames land
    latency = [m for p in pairs for m in p.latencies_ms]
    lat_sent, lat_received = sum(p.sent for p in pairs), sum(p.received for p in pairs)
    for pair in pairs:
        pair.record = False
        pair.sent = pair.received = pair.bytes_received = 0

    # Throughput: big frames, a window of them in flight per pair; bytes received while the clock runs.
    size = args.frame_kib * 1024
    start = time.perf_counter()
    until = start + args.throughput_s
    await asyncio.gather(*(send_loop(p, echo, size, until, None, args.window) for p in pairs))
    elapsed = time.perf_counter() - start
    moved = sum(p.bytes_received for p in pairs)
    await asyncio.sleep(
        1.0
    )  # what was in flight at the cut-off lands (and counts as delivered, not as moved)
    held_end = sum(1 for p in peers if p.ws is not None and not p.closed)
    _emit(
        {
            "phase": "done",
            "held_end": held_end,
            "circuit_ms": latency,
            "latency_sent": lat_sent,
            "latency_received": lat_received,
            "throughput_bytes": moved,
            "throughput_s": elapsed,
            "throughput_sent": sum(p.sent for p in pairs),
            "throughput_received": sum(p.received for p in pairs),
            "frames_in": sum(p.frames_in for p in peers),
            "cpu_s": time.process_time(),
        }
    )
    for p in peers:
        if p.reader is not None:
            p.reader.cancel()
    await asyncio.gather(*(p.ws.close() for p in peers if p.ws is not None), return_exceptions=True)


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--url", required=True)
    p.add_argument("--mode", choices=("relay", "echo"), default="relay")
    p.add_argument("--worker", type=int, default=0)
    p.add_argument("--peers", type=int, required=True)
    p.add_argument("--pairs", type=int, default=8)
    p.add_argument(
        "--probes", type=int, default=0, help="clients of --peers that join one by one after the ramp"
    )
    p.add_argument("--rate-hz", type=float, default=20.0)
    p.add_argument("--latency-s", type=float, default=5.0)
    p.add_argument("--throughput-s", type=float, default=5.0)
    p.add_argument("--frame-kib", type=int, default=64)
    p.add_argument("--window", type=int, default=8)
    args = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:  # each client is a socket: take the hard limit
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
