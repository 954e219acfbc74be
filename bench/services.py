"""`hyperspace bench services`: the capability services of issue 12, one part per service, in one JSON.

Parts (each `run(quick) -> {key: {...}}`, merged into the result):
- inference + api (here): a relay and two CPython nodes on loopback. `local_tokens_per_s`: the char-LM
  generating in-process (greedy, the same prompt, model work off the event loop as a node runs it);
  `mesh_tokens_per_s`: the same completion streamed from the peer that hosts the same model; the two
  alternate over a few rounds and each is the median (target: ratio ≥ 0.5). The serving spec's per-requester
  call rate is lifted (one requester measures); `p99_ms`: end-to-end time of
  short completions (16 characters) through the peer, p99 over the run; `browser_backend`: the backend a tab
  reports for its inference service (`--browser`: a headless Chromium tab serves a completion to a CPython
  node). `api.openai_client_ok`: the `openai` package's completion, chat and model listing against
  `hyperspace node --api` on the asking node, served by the peer.
- storage: bench/storage.py (E2).
- embedding, memory: bench/knowledge.py (sentences/s in CPython and a headless tab, max cosine error against
  sentence-transformers; recall@10 of the memory's index against exact search).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

PROMPT = "the boundary layer "


def _log(text: str) -> None:
    print(text, file=sys.stderr)


async def _inference(tokens: int, rounds: int, short_calls: int, tmp: Path) -> dict[str, Any]:
    from pynode.identity import Identity
    from pynode.node import Node, NodeConfig
    from pynode.platform import native
    from pynode.runtime.api import ApiServer
    from pynode.runtime.inference import offload_model_work
    from pynode.runtime.services import ServicesRuntime
    from pynode.services.inference import Inference, resume_completion
    from pynode.services.inference_weights import committed
    from pynode.services.spec import Context, Service
    from relay_server.config import RelayConfig
    from relay_server.server import start_relay

    charlm = committed("charlm")
    # what a node runs: model work off the event loop (runtime/inference.py), for both sides
    local = Inference({"charlm": charlm}, offload=offload_model_work)
    args = {"prompt": PROMPT, "max_tokens": tokens, "temperature_milli": 0}

    relay = await start_relay(
        RelayConfig(port=0, data_dir=tmp / "relay", log_level="warning", static_dir=None), embedded_node=False
    )
    members: list[tuple[Any, Any]] = []
    api = None
    try:
        served = Inference({"charlm": charlm}, offload=offload_model_work).service()
        # one requester measures: lift the per-requester call rate the default spec enforces (120 a minute)
        served = Service(replace(served.spec, per_min=60_000, burst=1_000), served.methods)
        for services in ([served], []):
            node = Node(await Identity.generate(), native.relay_link(relay.url), NodeConfig(direct_peers=0))
            runtime = ServicesRuntime(node, None, services)
            await node.start()
            await runtime.start()
            members.append((node, runtime))
        asking = members[1][1]
        while not asking.providers("inference"):
            await asyncio.sleep(0.05)
        local_runs, mesh_runs = [], []
        for r in range(rounds):  # interleaved, so that load on a shared machine hits both sides alike
            _log(
                f"inference: round {r + 1}/{rounds}, {tokens} characters in-process, then through the peer..."
            )
            t0 = time.perf_counter()
            local_text = "".join(
                [p async for p in local.complete(Context(b""), local._parse_completion(args))]
            )
            local_runs.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            mesh_text = "".join(
                [p async for p in asking.stream("inference", "complete", args, resume=resume_completion)]
            )
            mesh_runs.append(time.perf_counter() - t0)
        local_s, mesh_s = statistics.median(local_runs), statistics.median(mesh_runs)
        latencies = []
        short = {"prompt": PROMPT, "max_tokens": 16, "temperature_milli": 800}
        for i in range(short_calls):
            t0 = time.perf_counter()
            async for _ in asking.stream("inference", "complete", {**short, "seed": i}):
                pass
            latencies.append((time.perf_counter() - t0) * 1000)
        api = ApiServer(asking, "127.0.0.1", 0)
        await api.start()
        openai_ok, openai_detail = await _openai_check(api.url)
    finally:
        if api is not None:
            await api.stop()
        for node, runtime in members:
            await runtime.stop()
            await node.stop()
        await relay.stop()
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    return {
        "inference": {
            "tokens": tokens,
            "rounds": rounds,
            "local_tokens_per_s": round(tokens / local_s, 1),
            "mesh_tokens_per_s": round(tokens / mesh_s, 1),
            "ratio": round(local_s / mesh_s, 3),
            "same_text": mesh_text == local_text,
            "p99_ms": round(p99, 1),
            "p50_ms": round(statistics.median(latencies), 1),
            "short_completions": short_calls,
            "backend": "onnxruntime/cpu",
            "target_met": local_s / mesh_s >= 0.5,
        },
        "api": {"openai_client_ok": openai_ok, "detail": openai_detail},
    }


async def _openai_check(base_url: str) -> tuple[bool, str]:
    try:
        import openai
    except ImportError:
        return False, "the openai package is not installed (pip install -e .[test])"
    client = openai.AsyncOpenAI(base_url=base_url, api_key="none", max_retries=0)
    try:
        models = [m.id for m in (await client.models.list()).data]
        done = await client.completions.create(model="charlm", prompt=PROMPT, max_tokens=20, temperature=0)
        chat = await client.chat.completions.create(
            model="charlm", messages=[{"role": "user", "content": PROMPT}], max_tokens=20, temperature=0
        )
    except openai.OpenAIError as e:
        return False, f"{type(e).__name__}: {e}"[:300]
    finally:
        await client.close()  # before the bench's event loop closes
    ok = (
        "charlm" in models
        and len(done.choices[0].text) == 20
        and len(chat.choices[0].message.content or "") == 20
    )
    return ok, f"openai {openai.__version__}: models {models}, completion and chat of 20 characters"


def run_inference(quick: bool = False, browser: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = asyncio.run(
            _inference(200 if quick else 500, 2 if quick else 3, 20 if quick else 100, Path(tmp))
        )
    tab: dict[str, Any] = {}
    if browser:
        from bench.services_tab import tab_inference

        _log("inference: a headless Chromium tab derives the char-LM and serves a completion...")
        tab = tab_inference()
    out["inference"]["browser_backend"] = tab.get("backend")  # None: not measured (run with --browser)
    out["inference"]["browser"] = tab or None
    return out


def run_storage(quick: bool = False) -> dict[str, Any]:
    from bench.storage import run_storage as storage

    return {"storage": storage(quick)}


def run_embedding(quick: bool = False) -> dict[str, Any]:
    from bench.knowledge import run_embedding as embedding

    return embedding(quick)


def run_memory(quick: bool = False) -> dict[str, Any]:
    from bench.knowledge import run_memory as memory

    return memory(quick)


# The parts of the bench, in order.
PARTS: dict[str, Callable[[bool], dict[str, Any]]] = {
    "inference": run_inference,
    "storage": run_storage,
    "embedding": run_embedding,  # bench/knowledge.py: CPython and a headless tab, vs sentence-transformers
    "memory": run_memory,  # bench/knowledge.py: recall@10 of the index against exact search
}


def run_bench(quick: bool = False, parts: list[str] | None = None, browser: bool = False) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name in parts or list(PARTS):
        if name == "inference":
            result.update(run_inference(quick, browser))
        else:
            result.update(PARTS[name](quick))
    _table(result)
    return result


def _table(result: dict[str, Any]) -> None:
    inf = result.get("inference")
    if inf:
        _log(
            f"inference  local {inf['local_tokens_per_s']} tok/s  mesh {inf['mesh_tokens_per_s']} tok/s  "
            f"ratio {inf['ratio']} (target ≥ 0.5)  p99 {inf['p99_ms']} ms  browser {inf['browser_backend']}"
        )
    if "api" in result:
        _log(f"api        openai client ok: {result['api']['openai_client_ok']}  ({result['api']['detail']})")
    st = result.get("storage")
    if st:
        _log(f"storage    fetch {st['fetch_mib_s']} MiB/s  replicas after churn {st['replicas_after_churn']}")
    if "embedding" in result or "memory" in result:
        from bench.knowledge import table

        _log(table(result))
