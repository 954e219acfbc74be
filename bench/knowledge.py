"""The embedding and memory services measured (issue 12's `embedding` and `memory` parts of bench services).

embedding: sentences per second of all-MiniLM-L6-v2 in this CPython (onnxruntime, one thread) and in a headless
Chromium tab (Pyodide + onnxruntime-web WASM), on the Cranfield queries (real one-sentence questions), and
the largest cosine error of either against sentence-transformers on the same sentences (target ≤ 1e-3).
memory: recall@10 of the index's binary-code search against exact search (target ≥ 0.95), with the query
time of each, over Cranfield titles and abstract sentences embedded by the same model, queried with the
Cranfield queries.

    python -m bench.knowledge [--quick] [--no-browser] [--json]

`hyperspace bench services` runs these as its `embedding` and `memory` parts (run_embedding, run_memory).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import ROOT

K = 10


def _cranfield() -> dict[str, Any]:
    from pynode.research.assets import DATA_DIR

    return json.loads(gzip.decompress((DATA_DIR / "cranfield.json.gz").read_bytes()))


def _cosine(a: Any, b: Any) -> float:
    dot = sum(float(x) * float(y) for x, y in zip(a, b, strict=True))
    na = sum(float(x) ** 2 for x in a) ** 0.5
    nb = sum(float(y) ** 2 for y in b) ** 0.5
    return dot / (na * nb)


async def embedding(quick: bool = False, browser: bool = True) -> dict[str, Any]:
    from pynode.services.embedding import assets
    from pynode.services.embedding.embedder import open_embedder
    from wasm_build.export_embedding import ensure_built, load_reference

    ensure_built(assets.MODEL_DIR)
    texts = _cranfield()["queries"][: 64 if quick else 225]
    embedder = await open_embedder()
    embedder.embed_now(texts[:2])  # warm-up
    t0 = time.perf_counter()
    ours = embedder.embed_now(texts)
    cpython_s = time.perf_counter() - t0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    reference = load_reference().encode(texts, convert_to_numpy=True)
    errors = {"cpython": max(1 - _cosine(a, b) for a, b in zip(ours, reference, strict=True))}
    rates: dict[str, float | None] = {"cpython": round(len(texts) / cpython_s, 1), "browser": None}
    out: dict[str, Any] = {"sentences": len(texts), "model": assets.MODEL_NAME, "graph_mib": 0.0}
    out["graph_mib"] = round(assets.graph_path().stat().st_size / 2**20, 1)
    if browser:
        tab_texts = texts[: 32 if quick else 64]
        tab = await _in_tab(tab_texts)
        if "error" in tab:
            out["browser_error"] = tab["error"][:300]
        else:
            rates["browser"] = round(tab["sentences"] / tab["seconds"], 1)
            errors["browser"] = max(
                1 - _cosine(a, b) for a, b in zip(tab["vectors"], reference, strict=False)
            )
            errors["browser_vs_cpython"] = max(
                1 - _cosine(a, b) for a, b in zip(tab["vectors"], ours, strict=False)
            )
            out["browser_backend"] = tab["device"]
            out["browser_load_s"] = round(tab["load_s"], 2)
            out["browser_sentences"] = len(tab_texts)
    out["sentences_per_s"] = rates
    out["max_cosine_error"] = float(f"{max(v for k, v in errors.items() if k != 'browser_vs_cpython'):.3g}")
    out["cosine_error"] = {k: float(f"{max(v, 0.0):.3g}") for k, v in errors.items()}
    return out


async def _in_tab(texts: list[str]) -> dict[str, Any]:
    from bench.embedding_tab import embed_in_tab
    from wasm_build.web import build

    with tempfile.TemporaryDirectory() as tmp:
        dist = Path(tmp) / "dist"
        build(ROOT, dist)
        return await embed_in_tab(dist, Path(tmp), texts)


async def memory(quick: bool = False) -> dict[str, Any]:
    from pynode.services.embedding import assets
    from pynode.services.embedding.embedder import open_embedder
    from pynode.services.memory.index import Entry, VectorIndex
    from wasm_build.export_embedding import ensure_built

    ensure_built(assets.MODEL_DIR)
    data = _cranfield()
    corpus = [d[1] for d in data["docs"]]
    if not quick:  # abstract sentences: ~9,500 entries in all, past the exact-search size
        corpus += [s.strip() for d in data["docs"] for s in d[2].split(" . ") if len(s.strip()) > 20]
    queries = data["queries"][: 50 if quick else 225]
    embedder = await open_embedder()
    t0 = time.perf_counter()
    vectors = embedder.embed_now(corpus)
    embed_s = time.perf_counter() - t0
    index = VectorIndex(embedder.dim, max_entries=len(corpus))
    for i, v in enumerate(vectors):
        index.add(Entry(f"{i:064x}", i, v))
    found = 0
    times: dict[str, list[float]] = {"exact": [], "approximate": []}
    for q in embedder.embed_now(queries):
        t0 = time.perf_counter()
        exact = index.search(q, K, exact=True)
        t1 = time.perf_counter()
        approx = index.search(q, K, exact=False)
        t2 = time.perf_counter()
        times["exact"].append(t1 - t0)
        times["approximate"].append(t2 - t1)
        found += len({h.key for h in exact} & {h.key for h in approx})
    return {
        "recall_at_10": round(found / (K * len(queries)), 4),
        "entries": len(index),
        "queries": len(queries),
        "query_ms": {k: round(1000 * statistics.median(v), 2) for k, v in times.items()},
        "index_embed_per_s": round(len(corpus) / embed_s, 1),
        "python": sys.version.split()[0],
    }


def run_embedding(quick: bool = False) -> dict[str, Any]:
    """bench/services.py's part: {"embedding": {...}} (the tab included: the issue asks for both rates)."""
    return {"embedding": asyncio.run(embedding(quick, browser=True))}


def run_memory(quick: bool = False) -> dict[str, Any]:
    """bench/services.py's part: {"memory": {...}}."""
    return {"memory": asyncio.run(memory(quick))}


def table(r: dict[str, Any]) -> str:
    lines = []
    if "embedding" in r:
        e = r["embedding"]
        rate = e["sentences_per_s"]
        browser = (
            f"{rate['browser']}" if rate["browser"] is not None else f"— ({e.get('browser_error', 'off')})"
        )
        lines += [
            f"embedding ({e['model']}, {e['sentences']} Cranfield queries, graph {e['graph_mib']} MiB)",
            f"  sentences/s  CPython {rate['cpython']}   tab {browser} ({e.get('browser_backend', '—')})",
            f"  max cosine error vs sentence-transformers: {e['max_cosine_error']}  {e['cosine_error']}",
        ]
    if "memory" in r:
        m = r["memory"]
        lines += [
            f"memory ({m['entries']} entries, {m['queries']} queries, Python {m['python']})",
            f"  recall@10 of binary codes + re-ranking vs exact: {m['recall_at_10']}",
            f"  median query ms: exact {m['query_ms']['exact']}, approximate {m['query_ms']['approximate']}",
        ]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer sentences, titles only for the memory")
    p.add_argument("--no-browser", action="store_true", help="skip the tab")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    args = p.parse_args()

    async def run() -> dict[str, Any]:
        return {
            "embedding": await embedding(args.quick, not args.no_browser),
            "memory": await memory(args.quick),
        }

    report = asyncio.run(run())
    print(table(report), file=sys.stderr)
    if args.json:
        print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
