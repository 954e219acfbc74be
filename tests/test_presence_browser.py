"""A tab takes part in pulse rounds: Pyodide in headless Chromium proves the seed on the pure-Python group,
computes and reveals its rows, and a certificate names it — with a relay and a CPython node on loopback."""

from __future__ import annotations

import pytest

from pynode.identity import parse_peer_id
from pynode.presence.params import Timing
from pynode.runtime.pulse import PulseConfig, PulseRuntime
from pynode.runtime.replica import StateReplica
from tests.browser_util import open_dashboard, screenshot_path, wait_status
from tests.netutil import eventually, node_on, relay_on

pytestmark = pytest.mark.slow
INTERVAL_S = 20


async def test_a_tab_is_named_in_a_certificate_and_shows_its_points(dist, tmp_path, chromium):
    relay = await relay_on(tmp_path, static_dir=dist, presence_interval_s=INTERVAL_S)
    node = await node_on(relay.url)
    replica = StateReplica(node)
    pulse = PulseRuntime(node, replica, PulseConfig(timing=Timing(interval_ms=INTERVAL_S * 1000)))
    await replica.start()
    await pulse.start()
    try:
        tab = await open_dashboard(await chromium.context(), relay.port, f"research=off&rounds={INTERVAL_S}")
        me = (await wait_status(tab, lambda s: s["state"] == "online" and s["peer"], 90, "tab online"))[
            "peer"
        ]
        tab_id = parse_peer_id(me)
        store = replica.store

        def named() -> bool:
            return any(
                tab_id in {p[0] for p in r.body["participants"]} for r in store.all_records("presence")
            )

        await eventually(named, 4 * INTERVAL_S, "a certificate naming the tab")
        s = await wait_status(
            tab,
            lambda s: s["presence"].get("last_counted_us") and s["presence"]["top"],
            30,
            "the card's data",
        )
        assert s["presence"]["state"] == "on" and float(s["presence"]["points"]) > 0
        assert await tab.get_attribute("#presence-last", "data-counted") == "true"
        assert me in {n["peer"] for n in s["presence"]["top"]}
        await tab.screenshot(path=str(screenshot_path("dashboard-presence")), full_page=True)
    finally:
        await pulse.stop()
        await replica.stop()
        await node.stop()
        await relay.stop()
