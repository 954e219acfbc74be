"""The inference service in a browser tab, measured: a headless Chromium tab that offers WebGPU (SwiftShader's
adapter) opens the dashboard (Pyodide + onnxruntime-web), loads the zoo's weights and serves a CPython node's
completion; which backends ran (WebGPU, or wasm for a graph the adapter cannot take), how long the weights took
to be served, how long each model's first forward pass took and in which phases (module import, wasm compile,
sessions, runs, turns), and the tab's tokens per second as the asking node saw them, once the models are warm."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import ROOT

TOKENS = 200


async def _tab(dist: Path, tmp: Path, webgpu: bool) -> dict[str, Any]:
    from pynode.identity import parse_peer_id
    from pynode.runtime.services import ServicesRuntime
    from pynode.services.codec import ServiceError
    from pynode.services.inference import resume_completion
    from tests.browser_util import Chromium, open_dashboard, wait_status
    from tests.netutil import eventually, node_on, relay_on

    relay = await relay_on(tmp, static_dir=dist, embedded_node=False)
    node = await node_on(relay.url)
    asking = ServicesRuntime(node)
    await asking.start()
    chromium = await Chromium(webgpu=webgpu).start()  # a WebGPU adapter (SwiftShader's) for the served models
    try:
        tab = await open_dashboard(await chromium.context(), relay.port, "research=off")
        s = await wait_status(
            tab, lambda s: s["state"] == "online" and s["services"].get("loading") is False, 300, "models"
        )
        tab_id = parse_peer_id(s["peer"])
        out: dict[str, Any] = {"load_s": s["services"].get("load_s")}  # served: requests are taken
        # each model's first forward pass (the build's wasm compiles, WebGPU's shaders): after it, which backend
        # ran, and where its seconds went (platform/browser.py WebOrtRunner.phases); the stream measures after it
        s = await wait_status(tab, lambda s: s["services"].get("warming") is False, 300, "warm-up")
        await eventually(lambda: tab_id in asking.providers("inference"), 60, "the tab offers inference")
        out["backend"] = ",".join(sorted({m["backend"] for m in s["services"]["models"]}))
        out.update(warm_s=s["services"].get("warm_s"), phases=s["services"].get("phases"))

        args = {"prompt": "the wing ", "max_tokens": TOKENS, "temperature_milli": 0}
        t0 = time.perf_counter()
        pieces: list[str] = []
        try:
            async for p in asking.stream("inference", "complete", args, resume=resume_completion, timeout=60):
                pieces.append(p)
        except ServiceError as e:  # a starved tab (a loaded machine): say so, with what did arrive
            out["error"] = str(e)
        seconds = time.perf_counter() - t0
        out["tokens"] = len(pieces)
        out["tokens_per_s"] = round(len(pieces) / seconds, 1)
        return out
    finally:
        await chromium.close()
        await asking.stop()
        await node.stop()
        await relay.stop()


def tab_inference(webgpu: bool = True) -> dict[str, Any]:
    """`webgpu=False`: a Chromium without the WebGPU flags, so the tab runs both models on the wasm build."""
    from wasm_build.web import build

    with tempfile.TemporaryDirectory() as tmp:
        dist = Path(tmp) / "dist"
        build(ROOT, dist)
        return asyncio.run(_tab(dist, Path(tmp), webgpu))
