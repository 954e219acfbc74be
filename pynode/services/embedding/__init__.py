"""The embedding service (capability `embedding`): all-MiniLM-L6-v2 sentence vectors, in CPython and in the tab.

tokenizer.py is the model's WordPiece tokenizer in pure Python; embedder.py runs it and the graph that
wasm_build/export_embedding.py exported (assets.py finds and checks the files); service.py is the protocol."""
