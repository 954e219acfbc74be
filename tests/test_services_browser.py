"""A tab serves inference: Pyodide + onnxruntime-web in headless Chromium derives the char-LM's weights, hosts
the inference service, and a CPython node's completion streams from it; the Services card shows the request."""

from __future__ import annotations

import time

import pytest

from pynode.identity import parse_peer_id
from pynode.runtime.services import ServicesRuntime
from pynode.train.assets import TEXT_ALPHABET
from tests.browser_util import open_dashboard, screenshot_path, wait_status
from tests.netutil import eventually, node_on, relay_on

pytestmark = pytest.mark.slow


async def test_a_cpython_node_gets_a_completion_from_a_tab(dist, tmp_path, chromium):
    relay = await relay_on(tmp_path, static_dir=dist, embedded_node=False)
    node = await node_on(relay.url)
    asking = ServicesRuntime(node)
    await asking.start()
    try:
        tab = await open_dashboard(await chromium.context(), relay.port, "research=off")
        s = await wait_status(
            tab, lambda s: s["state"] == "online" and s["services"].get("models"), 150, "the tab's models"
        )
        tab_id = parse_peer_id(s["peer"])
        print("tab boot", s["boot"], "models loaded in", s["services"]["load_s"], "s")
        backends = {m["backend"] for m in s["services"]["models"]}
        assert backends == {"onnxruntime-web/wasm"}, s["services"]
        await eventually(lambda: tab_id in asking.providers("inference"), 30, "the tab offers inference")
        args = {"prompt": "the wing ", "max_tokens": 30, "temperature_milli": 0}
        t0 = time.monotonic()
        text = "".join([p async for p in asking.stream("inference", "complete", args)])
        print(f"completion from the tab in {time.monotonic() - t0:.2f} s")
        assert len(text) == 30 and set(text) <= set(TEXT_ALPHABET)
        assert asking.served_us[(tab_id, "inference")] == 1
        s = await wait_status(
            tab, lambda s: s["services"]["serving"]["inference"]["served"] == 1, 20, "the served count"
        )
        assert s["services"]["serving"]["inference"]["limits"]["backend"] == "onnxruntime-web/wasm"
        await tab.wait_for_selector(
            "#card-services li[data-service=inference] [data-served='1']", timeout=10_000
        )
        await tab.screenshot(path=str(screenshot_path("dashboard-services")), full_page=True)
    finally:
        await asking.stop()
        await node.stop()
        await relay.stop()
