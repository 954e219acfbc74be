"""A tab's relay hello names its services before they load (pynode/browser/services.py, `announce`): the caps it
names are those `attach` hosts, and a request for one is held until then — never refused as an unknown
protocol, which a peer would count against the tab. BrowserServices runs in CPython as in a tab.
"""

from __future__ import annotations

import asyncio

import pytest

from pynode.browser.services import BrowserServices
from pynode.identity import Identity
from pynode.net.reqresp import RequestFailed
from pynode.node import Node, NodeConfig
from pynode.platform import native
from pynode.services import codec
from tests.netutil import eventually, node_on, relay_on


def _quiet(*args: object, **kwargs: object) -> None:
    pass


@pytest.mark.parametrize("inference", [True, False])
async def test_the_hello_names_exactly_the_services_attach_hosts(inference: bool) -> None:
    node = Node(
        await Identity.generate(), native.relay_link("ws://127.0.0.1:9"), NodeConfig(caps=["browser"])
    )
    services = BrowserServices()
    services.announce(node, inference)
    announced = list(node.relay.caps)
    services.attach(node, None, inference, _quiet)
    assert node.relay.caps == announced
    assert services.runtime is not None and sorted(services.runtime.services) == sorted(
        c for c in announced if c in ("storage", "inference")
    )
    await services.detach()


async def test_a_request_before_the_services_load_is_held_then_answered(tmp_path) -> None:
    relay = await relay_on(tmp_path)
    tab = Node(await Identity.generate(), native.relay_link(relay.url), NodeConfig(caps=["browser"]))
    services = BrowserServices()
    services.announce(tab, serve_inference=False)
    await tab.start()
    peer = await node_on(relay.url)
    try:
        await eventually(lambda: tab.peer_id in peer.relay.peers, 10, "the tab on the relay")
        assert "storage" in peer.relay.peers[tab.peer_id]
        # listed by the relay comes before linked (the circuit's handshake): a request before it is refused at once
        await eventually(lambda: tab.peer_id in peer.connected_peers(), 10, "the tab linked")
        ask = codec.Call("no-such-method", {}).encode()
        held = asyncio.ensure_future(peer.request(tab.peer_id, codec.proto("storage"), ask, timeout=30))
        with pytest.raises(TimeoutError):  # not answered (nor refused) while the services are not hosted
            await peer.request(tab.peer_id, codec.proto("storage"), ask, timeout=1.0)
        services.attach(tab, None, False, _quiet)
        with pytest.raises(RequestFailed, match="storage has no method"):  # the storage service's own answer
            await held

        await services.detach()
        services.announce(tab, serve_inference=False)  # as a rejoin does; then the tab leaves before loading
        refused = asyncio.ensure_future(peer.request(tab.peer_id, codec.proto("storage"), ask, timeout=30))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(refused), 1.0)
        await services.detach()
        with pytest.raises(RequestFailed, match="not served here"):
            await refused
    finally:
        await peer.stop()
        await tab.stop()
        await relay.stop()
