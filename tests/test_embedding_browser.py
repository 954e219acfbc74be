"""The embedder in a headless Chromium tab (Pyodide's tokenizer + onnxruntime-web, the graph fetched from
web/dist and checked against its hash) gives the vectors CPython gives for the same sentences."""

from __future__ import annotations

import pytest

from pynode.services.embedding.embedder import cosine, open_embedder

pytestmark = pytest.mark.slow

SENTENCES = [
    "What similarity laws must be obeyed when constructing aeroelastic models of heated high speed aircraft?",
    "Héllo  Wörld — naïve café, 東京 is big. 😀",
    "supercalifragilisticexpialidocious",
    "",
]


async def test_the_tab_embeds_like_cpython(dist, tmp_path):
    from bench.embedding_tab import embed_in_tab

    tab = await embed_in_tab(dist, tmp_path, SENTENCES)
    assert "error" not in tab, tab.get("error")
    assert tab["device"] == "wasm" and tab["sentences"] == len(SENTENCES)
    ours = await (await open_embedder()).embed(SENTENCES)
    sims = [cosine(a, b) for a, b in zip(ours, tab["vectors"], strict=True)]
    assert min(sims) >= 0.9999, sims
    assert cosine(ours[0], ours[2]) < 0.9  # distinct sentences stay distinct
