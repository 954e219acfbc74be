"""The sentence embedder in a browser tab: Pyodide (our wheel's tokenizer) + onnxruntime-web (WASM), measured.

A small page and module worker written into a copy of web/dist boot Pyodide, load the pynode wheel, open the
embedder through the browser platform (the graph fetched from dist/models/ and checked against its sha256)
and embed the given sentences; the vectors come back so the caller compares them with CPython's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench import ROOT
from bench.tab_page import bench_page

PAGE = "embed-bench.html"
WORKER = "embed-bench-worker.js"
PAGE_HTML = f"""<!doctype html><meta charset="utf-8"><title>embedding bench</title>
<script type="module">
const worker = new Worker('{WORKER}', {{ type: 'module' }});
window.benchEmbed = (texts, rounds) => new Promise((resolve) => {{
  worker.onmessage = (e) => resolve(e.data);
  worker.postMessage({{ texts: JSON.stringify(texts), rounds }});
}});
</script>"""
WORKER_JS = """import { loadPyodide } from './pyodide/pyodide.mjs';
let ortLoading = null;
self.hsLoadOrt = () => (ortLoading ||= import('./ort/ort.wasm.min.mjs').then((ort) => {
  ort.env.wasm.wasmPaths = new URL('./ort/', import.meta.url).href;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  self.ort = ort;
  return ort;
}));
const PY = `
import asyncio, json, time
from pynode.services.embedding.embedder import open_embedder

async def _bench(texts_json, rounds):
    texts = json.loads(texts_json)
    t0 = time.perf_counter()
    embedder = await open_embedder()
    load_s = time.perf_counter() - t0
    embedder.embed_now(texts[:2])  # warm-up: the first run allocates
    t0 = time.perf_counter()
    for _ in range(rounds):
        vectors = embedder.embed_now(texts)
    seconds = time.perf_counter() - t0
    return json.dumps({"load_s": load_s, "seconds": seconds, "sentences": len(texts) * rounds,
                       "device": embedder.session.device, "vectors": [list(v) for v in vectors]})

def run(texts_json, rounds):
    return asyncio.ensure_future(_bench(texts_json, rounds))

run
`;
self.onmessage = async (e) => {
  try {
    const pyodide = await loadPyodide({
      indexURL: new URL('./pyodide/', import.meta.url).href,
      lockFileURL: new URL('./py/pyodide-lock.json', import.meta.url).href,
    });
    const errors = [];
    await pyodide.loadPackage(['pynode'], { messageCallback: () => {}, errorCallback: (m) => errors.push(m) });
    if (errors.length) throw new Error(errors.join('; '));
    const run = pyodide.runPython(PY);
    self.postMessage({ ok: true, result: JSON.parse(await run(e.data.texts, e.data.rounds)) });
  } catch (err) {
    self.postMessage({ ok: false, error: String((err && err.stack) || err) });
  }
};
"""


async def embed_in_tab(dist: Path, tmp: Path, texts: list[str], rounds: int = 1) -> dict[str, Any]:
    """{"seconds", "sentences", "load_s", "device", "vectors"} from a headless Chromium tab, or {"error"}."""
    async with bench_page(dist, tmp, PAGE, {PAGE: PAGE_HTML, WORKER: WORKER_JS}) as page:
        answer = await page.evaluate("([t, r]) => window.benchEmbed(t, r)", [texts, rounds])
    return answer["result"] if answer.get("ok") else {"error": answer.get("error", "no answer")}


def main() -> int:
    import asyncio
    import tempfile

    from wasm_build.web import build

    texts = sys.argv[1:] or ["Hello world!", "What similarity laws apply to aeroelastic models?"]
    with tempfile.TemporaryDirectory() as tmp:
        dist = Path(tmp) / "dist"
        build(ROOT, dist)
        out = asyncio.run(embed_in_tab(dist, Path(tmp), texts))
    out.pop("vectors", None)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
