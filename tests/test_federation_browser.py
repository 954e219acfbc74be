"""A tab in headless Chromium across federated relays: a direct channel to a CPython node on another relay
(WebRTC signalling through the relays' link), and fail-over when the tab's relay goes away."""

from __future__ import annotations

import socket

import httpx
import pytest

from pynode.identity import parse_peer_id, peer_id_text
from tests.browser_util import open_dashboard, wait_status
from tests.netutil import eventually, node_on, relay_on

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return s.getsockname()[1]


async def _peers_of(port: int) -> set[str]:
    async with httpx.AsyncClient() as client:
        body = (await client.get(f"http://127.0.0.1:{port}/api/status", timeout=5)).json()
    return {p["peer"] for p in body["peers"]}


async def test_a_tab_on_relay_a_holds_a_direct_channel_to_a_node_on_relay_c_and_fails_over_to_c(
    dist, tmp_path, chromium
):
    a_port, c_port = free_port(), free_port()
    a_url, c_url = f"ws://127.0.0.1:{a_port}/p2p", f"ws://127.0.0.1:{c_port}/p2p"
    a = await relay_on(tmp_path / "a", port=a_port, static_dir=dist, archive=False, public_url=a_url)
    c = await relay_on(tmp_path / "c", port=c_port, archive=False, public_url=c_url, peer_relays=(a_url,))
    relays, py = [a, c], None
    try:
        await eventually(lambda: len(a.relay.federation.core.links()) == 1, 20, "A and C linked")
        py = await node_on(c_url, direct_peers=4)
        tab = await open_dashboard(await chromium.context(), a_port)
        status = await wait_status(tab, lambda s: s["state"] == "online" and s["peer"], 180, "tab online")
        tab_id = parse_peer_id(status["peer"])
        await eventually(lambda: c.relay.federation.core.route(tab_id) is not None, 10, "C routes to the tab")

        py.peer_manager.pin(tab_id)  # a circuit C → A, then the smaller id offers WebRTC through the relays
        py_text = peer_id_text(py.peer_id)
        await wait_status(
            tab,
            lambda s: any(p["peer"] == py_text and p["kind"] == "direct" for p in s["peers"]),
            60,
            "a direct channel between the tab (relay A) and the CPython node (relay C)",
        )
        assert py.connected_peers()[tab_id] == "direct"

        # relay A goes away: the tab learned C from its welcome and moves there; the channel stays up
        await a.stop()
        relays.remove(a)
        await eventually(lambda: tab_id in {cl.peer for cl in c.relay.hub.clients}, 30, "the tab on relay C")
        await wait_status(
            tab,
            lambda s: s["relay_connected"] and s["relay"] == c_url and s["state"] == "online",
            30,
            "tab on C",
        )
        assert status["peer"] in await _peers_of(c_port)
        assert py.connected_peers().get(tab_id) == "direct"
    finally:
        if py is not None:
            await py.stop()
        for r in relays:
            await r.stop()
