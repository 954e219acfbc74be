"""Tests for the py-libp2p GossipSub benchmark anchor (bench/libp2p_*.py).

The end-to-end tests need the private venv (``python bench/libp2p_venv.py``, PyPI access once; `make test` builds
it); they are skipped when it is missing on a developer's machine and fail in CI.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.prereq import requires

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import libp2p_anchor  # noqa: E402
import libp2p_venv  # noqa: E402

needs_venv = requires(libp2p_venv.is_ready(), "py-libp2p venv missing: run `python bench/libp2p_venv.py`")


def _connected(nodes: int, edges: list[list[int]]) -> bool:
    adj: dict[int, set[int]] = {i: set() for i in range(nodes)}
    for i, j in edges:
        adj[i].add(j)
        adj[j].add(i)
    seen, todo = {0}, [0]
    while todo:
        for nb in adj[todo.pop()] - seen:
            seen.add(nb)
            todo.append(nb)
    return len(seen) == nodes


@pytest.mark.parametrize("seed", range(5))
def test_random_scenario_shape(seed: int) -> None:
    sc = libp2p_anchor.random_scenario(nodes=10, degree=4, messages=500, duration_s=10.0, seed=seed, D=6)
    assert sc["nodes"] == 10 and sc["D"] == 6 and sc["size"] == 1024
    assert len(sc["edges"]) == 20
    assert len({tuple(e) for e in sc["edges"]}) == 20
    assert all(0 <= i < j < 10 for i, j in sc["edges"])
    assert _connected(10, sc["edges"])
    assert len(sc["messages"]) == 500
    assert all(0 <= m["publisher"] < 10 and 0 <= m["at_s"] < 10.0 for m in sc["messages"])
    assert sc == libp2p_anchor.random_scenario(
        nodes=10, degree=4, messages=500, duration_s=10.0, seed=seed, D=6
    )


def test_random_edges_small_graph_caps_at_complete() -> None:
    import random

    assert len(libp2p_anchor.random_edges(3, 10, random.Random(0))) == 3


@needs_venv
def test_gossip_rejects_bad_scenario() -> None:
    python = libp2p_venv.venv_python(libp2p_venv.DEFAULT_VENV)
    proc = subprocess.run(
        [str(python), str(libp2p_anchor.GOSSIP_SCRIPT)],
        input=json.dumps({"nodes": 3, "edges": [[0, 7]]}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "bad edge" in proc.stderr
    assert proc.stdout == ""


@needs_venv
def test_gossip_tiny_end_to_end() -> None:
    scenario = {
        "nodes": 3,
        "edges": [[0, 1], [1, 2]],
        "messages": [{"publisher": p, "at_s": 0.05 * k} for k, p in enumerate([0, 1, 2, 0, 2])],
        "settle_s": 1.5,
        "drain_s": 1.5,
    }
    result = libp2p_anchor.run_libp2p_gossip(scenario, timeout_s=120)
    assert result["delivery_ratio"] == 1.0
    assert result["meta"]["delivered"] == result["meta"]["expected"] == 10
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p99"] < 1000
    # on a line each node has at most two mesh peers, so it can hear a message at most twice
    assert 0 <= result["duplicates_per_msg_per_node"] <= 1.0
    assert result["cpu_s"] > 0
