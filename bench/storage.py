"""`bench/storage.py`: the storage part of `hyperspace bench services` (issue 12).

- `fetch_mib_s`: a relay and two CPython nodes on loopback; one stores a blob, the other fetches it through the
  storage protocol (manifest, then chunks four in flight, each checked against its hash); MiB per second of the
  fetch over a relay circuit (what any two nodes have), and `direct_fetch_mib_s` over a direct WebRTC channel
  (aiortc), when one came up.
- `replicas_after_churn`: the production `StorageCore`s of `nodes` nodes in memory (pynode/sim/storage.py):
  blobs stored with r = 3, then 30% of the nodes leave in waves (as many fresh ones join), upkeep rounds
  (10 s each) between waves; the smallest number of holders any blob has at the end. Target: ≥ r.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pynode.services.storage.limits import DEFAULT_REPLICAS
from pynode.sim.storage import run_churn


async def _fetch_rate(size: int, tmp: Path, direct: bool) -> dict[str, Any]:
    from pynode.identity import Identity
    from pynode.node import Node, NodeConfig
    from pynode.platform import native
    from pynode.runtime.services import ServicesRuntime
    from pynode.runtime.storage import StorageRuntime
    from pynode.services.storage.backend import MemoryBackend
    from relay_server.config import RelayConfig
    from relay_server.server import start_relay

    relay = await start_relay(
        RelayConfig(port=0, data_dir=tmp / "relay", log_level="warning", static_dir=None), embedded_node=False
    )
    members = []
    try:
        for _ in range(2):
            cfg = NodeConfig(direct_peers=1 if direct else 0, ice_addresses=["127.0.0.1"])
            node = Node(await Identity.generate(), native.relay_link(relay.url), cfg)
            services = ServicesRuntime(node, None)
            storage = StorageRuntime(node, services, MemoryBackend(), 4 * size)
            await node.start()
            await services.start()
            members.append((node, services, storage))
        (a, _, owner), (b, _, reader) = members
        deadline = time.monotonic() + 20
        want = "direct" if direct else "relayed"
        while time.monotonic() < deadline and a.connected_peers().get(b.peer_id) != want:
            await asyncio.sleep(0.1)
        link = a.connected_peers().get(b.peer_id, "none")
        data = random.Random(1).randbytes(size)
        blob = await owner.put(data)
        start = time.perf_counter()
        got = await reader.get(blob)
        elapsed = time.perf_counter() - start
        if got != data:
            raise RuntimeError("the fetched blob differs")
        return {"fetch_mib_s": round(size / elapsed / 2**20, 2), "link": link}
    finally:
        for node, services, storage in members:
            await storage.stop()
            await services.stop()
            await node.stop()
        await relay.stop()


def run_storage(quick: bool = False) -> dict[str, Any]:
    size = (4 if quick else 16) * 2**20
    _log(f"storage: fetching a {size >> 20} MiB blob between two loopback nodes...")
    with tempfile.TemporaryDirectory() as tmp:
        relayed = asyncio.run(_fetch_rate(size, Path(tmp) / "relayed", direct=False))
        direct = asyncio.run(_fetch_rate(size, Path(tmp) / "direct", direct=True))
    nodes, blobs = (20, 30) if quick else (40, 120)
    _log(f"storage: {nodes} nodes, {blobs} blobs, 30% churn in 6 waves...")
    churn = run_churn(nodes=nodes, blobs=blobs, churn=0.3, waves=6, rounds_per_wave=3)
    return {
        "fetch_mib_s": relayed["fetch_mib_s"],  # through a relay circuit: what any two nodes have
        "direct_fetch_mib_s": direct["fetch_mib_s"] if direct["link"] == "direct" else None,
        "blob_mib": size / 2**20,
        "replicas_after_churn": churn["replicas_after_churn"],
        "replicas": DEFAULT_REPLICAS,
        "target_met": churn["replicas_after_churn"] >= DEFAULT_REPLICAS,
        "churn": churn,
    }


def _log(text: str) -> None:
    print(text, file=sys.stderr)
