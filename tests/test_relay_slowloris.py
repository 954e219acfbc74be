"""Slowloris against a real `hyperspace relay` process with a low descriptor limit (512).

1,100 half-sent requests from one address used to exhaust its descriptors (newcomers could not connect) while
asyncio logged megabytes. Now: one address gets its cap of sockets and a clear 429 beyond it, a newcomer from
another address is served, the process holds a bounded number of descriptors, many addresses together meet the fd
budget (a clear 503, never a hang), half-sent requests are cut off at the header deadline (which frees the budget),
and the logs of the whole flood stay a few kilobytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.netutil import relay_on

WS_CAP = 8  # --max-conns-per-ip; all sockets of one address: this plus the HTTP headroom
PER_IP = WS_CAP + 16  # relay_server.limits.HTTP_HEADROOM_PER_IP
BUDGET = 100  # --max-open-connections
HEADER_TIMEOUT_S = 8  # --header-timeout: longer than the attack takes to set up, even on a loaded machine
HALF_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: relay\r\nX-Slow: "  # and then nothing, ever


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (512, 512))


Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def half_open(port: int, source: str, n: int) -> list[Conn]:
    conns = []
    for _ in range(n):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        writer.write(HALF_REQUEST)
        conns.append((reader, writer))
    return conns


async def closed_by_the_relay(conn: Conn) -> bytes:
    """What the relay said before closing this socket (it must close it)."""
    try:
        return await asyncio.wait_for(conn[0].read(), 10)
    except ConnectionResetError:
        return b"(reset)"


async def get(port: int, source: str, path: str = "/healthz") -> httpx.Response:
    transport = httpx.AsyncHTTPTransport(local_address=source)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", transport=transport, timeout=10
    ) as http:
        return await http.get(path)


async def rejections(port: int) -> dict[str, float]:
    text = (await get(port, "127.0.0.250", "/metrics")).text
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "hyperspace_rejections_total" and sample.labels["where"] == "relay":
                out[sample.labels["reason"]] = sample.value
    return out


@contextlib.contextmanager
def relay_process(tmp_path: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """`hyperspace relay` with 512 descriptors, its output in tmp_path/stdout.log and stderr.log."""
    cmd = [
        sys.executable,
        "-m",
        "pynode.cli",
        "relay",
        "--port",
        str(port),
        "--data-dir",
        str(tmp_path / "relay"),
    ]
    cmd += ["--no-archive", "--max-conns-per-ip", str(WS_CAP), "--max-open-connections", str(BUDGET)]
    cmd += ["--header-timeout", str(HEADER_TIMEOUT_S)]
    with open(tmp_path / "stdout.log", "wb") as out, open(tmp_path / "stderr.log", "wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, preexec_fn=low_fd_limit)
        try:
            yield proc
        finally:
            proc.terminate()
            proc.wait(20)


async def served(port: int, source: str) -> bool:
    try:
        return (await get(port, source)).status_code == 200
    except httpx.TransportError:
        return False


@pytest.mark.slow
async def test_half_sent_requests_neither_starve_newcomers_nor_flood_the_logs(tmp_path: Path):
    port = free_port()
    attack: list[Conn] = []
    with relay_process(tmp_path, port) as proc:
        try:
            deadline = time.monotonic() + 60
            while not await served(port, "127.0.0.2"):
                assert proc.poll() is None and time.monotonic() < deadline, "the relay did not start"
                await asyncio.sleep(0.2)

            # One address, 1,100 half-sent requests: it keeps its cap, the rest are refused at once.
            attack += await half_open(port, "127.0.0.1", 1100)
            newcomer = await get(port, "127.0.0.2")
            assert newcomer.status_code == 200 and newcomer.text == "ok"
            assert len(os.listdir(f"/proc/{proc.pid}/fd")) <= BUDGET + 128  # bounded, far below the limit
            assert (await rejections(port))["per_ip_cap"] == 1100 - PER_IP

            # Many addresses: together they meet the budget, and a newcomer is told so plainly.
            for i in range(10, 20):
                attack += await half_open(port, f"127.0.0.{i}", PER_IP)
            full = await get(port, "127.0.0.3")
            assert full.status_code == 503 and "connection budget" in full.text

            # The header deadline cuts every half-sent request off, which frees the budget.
            deadline = time.monotonic() + 30
            while not await served(port, "127.0.0.3"):
                assert time.monotonic() < deadline, "the half-sent requests were never cut off"
                await asyncio.sleep(0.5)
            said = await asyncio.gather(*(closed_by_the_relay(c) for c in attack))  # none is left hanging
            timed_out = sum(s.startswith(b"HTTP/1.1 408") for s in said)
            assert timed_out >= PER_IP and timed_out == (await rejections(port))["request_timeout"]
            assert proc.poll() is None
        finally:
            for _, w in attack:
                w.close()
    logged = (tmp_path / "stdout.log").stat().st_size + (tmp_path / "stderr.log").stat().st_size
    assert logged < 32 * 1024, (tmp_path / "stderr.log").read_text()[-3000:]


async def test_a_trickled_body_and_a_half_sent_second_request_are_cut_off(tmp_path: Path):
    relay = await relay_on(tmp_path, header_timeout_s=1.0, request_timeout_s=2.0)
    try:
        # headers in time, then the body one byte at a time: the request deadline ends it
        reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
        writer.write(b"POST /api/archive HTTP/1.1\r\nHost: relay\r\nContent-Length: 1000\r\n\r\n")
        said, sent = b"", 0
        while not said and sent < 100:
            writer.write(b"x")
            sent += 1
            try:
                said = await asyncio.wait_for(reader.read(4096), 0.5)
            except TimeoutError:
                continue
            except ConnectionError:  # cut off while a byte was on its way: it was said and reset
                said = b"(reset)"
        assert said.startswith((b"HTTP/1.1 408", b"(reset)")) and sent < 100, said
        writer.close()

        # a kept-alive connection: a whole request is answered, half of the next one is cut off
        reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\n")
        first = await asyncio.wait_for(reader.readuntil(b"ok"), 5)
        assert first.startswith(b"HTTP/1.1 200")
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: re")
        assert (await asyncio.wait_for(reader.read(4096), 10)).startswith(b"HTTP/1.1 408")
        writer.close()
        assert relay.relay.stats.rejections["request_timeout"] == 2
    finally:
        await relay.stop()
