"""A tab whose browser offers WebGPU serves inference on it: headless Chromium with SwiftShader's WebGPU adapter
loads onnxruntime-web's WebGPU build for the served models (training stays on wasm), a model whose graph the
provider refuses runs on wasm, each says which in the status and the service's advertised limits, and the tab
answers a CPython node as CPython's onnxruntime does on the same weights."""

from __future__ import annotations

import pytest

from pynode.identity import parse_peer_id
from pynode.runtime.services import ServicesRuntime
from pynode.services.inference import Inference
from pynode.services.inference_weights import committed
from pynode.services.spec import Context
from pynode.train.data import load_dataset
from tests.browser_util import Chromium, open_dashboard, wait_status
from tests.netutil import eventually, node_on, relay_on

pytestmark = pytest.mark.slow

# A digit's softmax confidence, in thousandths, may differ by this much from CPython's: the GPU sums float32 in
# other orders (last-bit differences, ~1e-6 relative), and rounding to thousandths can move that by one.
CONFIDENCE_TOLERANCE_MILLI = 2
DIGITS = 64  # held-out images classified on both sides


async def test_a_webgpu_tab_serves_the_zoo_models_as_cpython_does(dist, tmp_path):
    chromium = await Chromium(webgpu=True).start()
    relay = await relay_on(tmp_path, static_dir=dist, embedded_node=False)
    node = await node_on(relay.url)
    asking = ServicesRuntime(node)
    await asking.start()
    try:
        tab = await open_dashboard(await chromium.context(), relay.port)
        s = await wait_status(
            tab,
            # served, and warm: each model ran its first forward pass, which settles its backend
            lambda s: s["state"] == "online" and s["services"].get("warming") is False,
            150,
            "the tab's models",
        )
        tab_id = parse_peer_id(s["peer"])
        await eventually(lambda: tab_id in asking.providers("inference"), 30, "the tab offers inference")

        rows = load_dataset("digits").val[:DIGITS]
        images = b"".join(r[:64] for r in rows)
        tab_digits = await asking.call("inference", "classify", {"images": images})
        args = {"prompt": "the wing ", "max_tokens": 30, "temperature_milli": 0}
        tab_text = "".join([p async for p in asking.stream("inference", "complete", args)])

        here = Inference({m: committed(m) for m in ("charlm", "digits")})  # onnxruntime on this CPU
        digits = await here.classify(Context(b""), here._parse_classify({"images": images}))
        text = "".join([p async for p in here.complete(Context(b""), here._parse_completion(args))])
        assert tab_digits["classes"] == digits["classes"]
        gaps = [
            abs(a - b)
            for a, b in zip(tab_digits["confidence_milli"], digits["confidence_milli"], strict=True)
        ]
        assert max(gaps) <= CONFIDENCE_TOLERANCE_MILLI, gaps
        assert tab_text == text  # greedy decoding: the same characters
        assert asking.served_us[(tab_id, "inference")] == 2

        # Which backend ran. The digits MLP runs on WebGPU. The char-LM's graph splits θ into its 28 tensors in
        # one Split, whose WebGPU shader needs a storage buffer per output, and SwiftShader's adapter allows 10
        # per shader stage: the provider refuses it at the warm-up pass, and the model says wasm.
        s = await wait_status(
            tab, lambda s: s["services"]["serving"]["inference"]["served"] == 2, 20, "served"
        )
        backends = {m["id"]: m["backend"] for m in s["services"]["models"]}
        assert backends == {"digits": "onnxruntime-web/webgpu", "charlm": "onnxruntime-web/wasm"}, backends
        advertised = s["services"]["serving"]["inference"]["limits"]["backend"]
        assert advertised == "onnxruntime-web/wasm,onnxruntime-web/webgpu"  # what runs, not what was tried
    finally:
        await asking.stop()
        await node.stop()
        await relay.stop()
        await chromium.close()
