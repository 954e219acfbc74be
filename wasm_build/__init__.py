"""Build-time tools: `python -m wasm_build` produces web/dist (the browser app with its Python wheels)."""
