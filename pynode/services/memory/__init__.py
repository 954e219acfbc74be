"""The memory service (capability `memory`): a vector index over the replicated papers and results, answering
k-nearest-neighbour queries from peers. Never authoritative: it is rebuilt from the state, and a rebuild from
the same records gives the same index (index.py). corpus.py turns records into indexed texts, service.py is
the protocol, pynode/runtime/memory.py keeps the index up to date on a node."""
