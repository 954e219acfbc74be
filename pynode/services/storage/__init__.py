"""Storage: content-addressed blobs (SHA-256) in chunks, replicated to r holders by rendezvous hashing.

`manifest` (chunking, ids), `placement` (rendezvous hashing), `proofs` (storage challenges), `backend` (memory
and disk), `holdings` (capacity, quotas, expiry, eviction), `messages` (methods and their hostile arguments),
`fetch` (fetching one blob from any holder), `core` (answers and upkeep), `service` (the framework's view);
limits in `limits`. The asyncio side is `pynode/runtime/storage.py`.
"""
