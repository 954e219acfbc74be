"""Limits of the embedding service, each with its reason."""

MAX_SENTENCES = 64  # sentences in one request: bounds one call's work (~1 s on one CPU core) and its reply
MAX_CHARS = 2000  # characters of one sentence: 256 tokens (the model's window) rarely need more
MAX_REQUEST_BYTES = (
    MAX_SENTENCES * (4 * MAX_CHARS + 4) + 64
)  # UTF-8 at worst, CBOR heads: refused unread above
BATCH = 16  # sentences run through the graph at once: padding to the longest costs less in small batches
