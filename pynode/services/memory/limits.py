"""Limits of the memory service, each with its reason."""

MAX_K = 50  # neighbours one query may ask for: bounds the reply (each hit carries ~300 B of metadata)
MAX_QUERY_CHARS = 2000  # a text query is one sentence to embed (the embedding service's MAX_CHARS)
MAX_REQUEST_BYTES = (
    4 * MAX_QUERY_CHARS + 4 * 1024
)  # a text or a 384-float vector, plus filters: refused unread above
MAX_ENTRIES = 20_000  # vectors held (~30 MiB with their metadata); beyond it the oldest records drop out
MAX_DIM = 1024  # a query vector's floats: the index says its own dimension, this bounds parsing before that
MAX_TEXT_CHARS = (
    1200  # characters of a record embedded: the model reads at most 256 tokens (~1000 characters)
)
MAX_META_CHARS = 200  # a hit's title or hypothesis as returned: enough to read, bounded for the reply
EXACT_BELOW = 2048  # indexes smaller than this are searched exactly (fast enough: ~70 ms on CPython 3.11)
RERANK = 20  # candidates per neighbour asked that the binary codes pass to the exact re-ranking (k=10 → 200)
MIN_RERANK = 200  # ...and at least this many: recall@10 ≥ 0.95 measured by bench services on real embeddings
INDEX_BATCH = 16  # records embedded per step of the indexer: keeps the node responsive while it catches up
