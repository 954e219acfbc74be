"""X-Forwarded-For is believed only from the proxies an operator names (`--forwarded-allow-ips`), never by default.

Attacked over loopback: one client opens many sockets, each claiming another address in a forged header, and
submits to the archive gateway as many "origins". By default every one is the same client (the socket's address),
so the per-address caps hold; behind a named proxy, the header's address is the client.
"""

from __future__ import annotations

import contextlib

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from pynode.identity import Identity
from pynode.net import relay_proto as rp
from relay_server.config import RelayConfig
from relay_server.gateway import make_submission
from tests.netutil import relay_on

CAP = 4


async def open_sockets(url: str, forwarded: list[str]) -> tuple[list[ClientConnection], int]:
    """One socket per forged address; returns the sockets the relay challenged and how many it refused."""
    admitted, refused = [], 0
    for address in forwarded:
        try:
            ws = await connect(url, additional_headers={"X-Forwarded-For": address}, open_timeout=10)
        except InvalidStatus:  # refused before the upgrade
            refused += 1
            continue
        frame = rp.parse_relay_frame(await ws.recv(), from_relay=True)
        if isinstance(frame, rp.Challenge):
            admitted.append(ws)
        else:
            assert isinstance(frame, rp.Error) and frame.code == "too_many_connections", frame
            refused += 1
            await ws.close()
    return admitted, refused


async def submissions(port: int, forwarded: list[str]) -> list[int]:
    codes = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        for address in forwarded:
            body = await make_submission((await Identity.generate()).signer, [("run.log", b"loss 1\n")])
            headers = {"content-type": "application/cbor", "X-Forwarded-For": address}
            codes.append((await http.post("/api/archive", content=body, headers=headers)).status_code)
    return codes


async def close_all(sockets: list[ClientConnection]) -> None:
    for ws in sockets:
        with contextlib.suppress(Exception):
            await ws.close()


async def test_forged_forwarded_headers_do_not_multiply_one_client(tmp_path):
    relay = await relay_on(
        tmp_path, max_connections_per_ip=CAP, archive_dir=tmp_path / "arch", archive_origin_entries=3
    )
    sockets: list[ClientConnection] = []
    try:
        sockets, refused = await open_sockets(relay.url, [f"203.0.113.{i}" for i in range(12)])
        assert len(sockets) == CAP and refused == 12 - CAP
        codes = await submissions(relay.port, [f"198.51.100.{i}" for i in range(6)])
        assert codes == [202] * 3 + [429] * 3  # one origin: the socket's, whatever the header says
    finally:
        await close_all(sockets)
        await relay.stop()


async def test_behind_a_named_proxy_the_forwarded_address_is_the_client(tmp_path):
    relay = await relay_on(
        tmp_path,
        max_connections_per_ip=CAP,
        forwarded_allow_ips=("127.0.0.1",),
        archive_dir=tmp_path / "arch",
        archive_origin_entries=3,
    )
    sockets: list[ClientConnection] = []
    try:
        sockets, refused = await open_sockets(relay.url, [f"203.0.113.{i}" for i in range(12)])
        assert len(sockets) == 12 and refused == 0  # twelve clients behind the proxy
        more, refused = await open_sockets(relay.url, ["198.51.100.7"] * (CAP + 2))
        sockets += more
        assert len(more) == CAP and refused == 2  # and one of them is still capped
        codes = await submissions(relay.port, [f"198.51.100.{i}" for i in range(6)])
        assert codes == [202] * 6
    finally:
        await close_all(sockets)
        await relay.stop()


def test_forwarded_allow_ips_takes_addresses_and_networks_only():
    assert RelayConfig(forwarded_allow_ips=["10.0.0.0/8", "::1"]).forwarded_allow_ips == ("10.0.0.0/8", "::1")
    with pytest.raises(ValueError, match="not an IP"):
        RelayConfig(forwarded_allow_ips=("proxy.example",))
