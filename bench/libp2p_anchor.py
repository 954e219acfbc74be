"""Run the py-libp2p GossipSub anchor from the project's interpreter.

``run_libp2p_gossip(scenario)`` makes sure the private venv exists (``bench/libp2p_venv.py``), runs
``bench/libp2p_gossip.py`` under it with the scenario on stdin and returns the parsed result.
``random_scenario(...)`` builds a connected random topology and a publish schedule in the same schema, so both
routers can be fed the identical scenario.

CLI: ``python bench/libp2p_anchor.py --nodes 10 --degree 4 --messages 500 --duration 10 [--seed 1]``
prints the scenario's result JSON (``--print-scenario`` prints the scenario instead).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from libp2p_venv import DEFAULT_VENV, ensure_venv  # noqa: E402

GOSSIP_SCRIPT = Path(__file__).resolve().parent / "libp2p_gossip.py"


class AnchorError(RuntimeError):
    """The libp2p anchor failed (venv, crash, timeout or unparsable output)."""


def random_edges(nodes: int, degree: float, rng: random.Random) -> list[list[int]]:
    """A connected random graph: a random spanning tree plus random extra edges up to ~``degree`` per node."""
    order = list(range(nodes))
    rng.shuffle(order)
    edges = {tuple(sorted((order[k], order[rng.randrange(k)]))) for k in range(1, nodes)}
    target = min(round(nodes * degree / 2), nodes * (nodes - 1) // 2)
    while len(edges) < target:
        i, j = rng.sample(range(nodes), 2)
        edges.add((min(i, j), max(i, j)))
    return [list(e) for e in sorted(edges)]


def random_scenario(
    nodes: int = 10,
    degree: float = 4,
    messages: int = 500,
    duration_s: float = 10.0,
    size: int = 1024,
    seed: int | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A scenario dict for ``libp2p_gossip.py``: random topology, ``messages`` spread uniformly over
    ``duration_s`` from random publishers. ``overrides`` set any other scenario key (D, settle_s, ...)."""
    rng = random.Random(seed)
    step = duration_s / messages if messages else 0.0
    schedule = [{"publisher": rng.randrange(nodes), "at_s": round(k * step, 6)} for k in range(messages)]
    return {
        "nodes": nodes,
        "edges": random_edges(nodes, degree, rng),
        "topic": "hs/1/bench",
        "messages": schedule,
        "size": size,
        **overrides,
    }


def run_libp2p_gossip(
    scenario: dict[str, Any], venv: Path = DEFAULT_VENV, timeout_s: float | None = None
) -> dict[str, Any]:
    """Run the anchor on ``scenario`` and return its result dict; raise ``AnchorError`` on failure."""
    python = ensure_venv(venv)
    if timeout_s is None:
        last = max((m["at_s"] for m in scenario.get("messages", [])), default=0.0)
        timeout_s = 60.0 + 3 * (last + scenario.get("settle_s", 2.0) + scenario.get("drain_s", 3.0))
    try:
        proc = subprocess.run(
            [str(python), str(GOSSIP_SCRIPT)],
            input=json.dumps(scenario),
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired as exc:
        raise AnchorError(f"libp2p anchor timed out after {timeout_s:.0f} s") from exc
    if proc.returncode != 0:
        raise AnchorError(f"libp2p anchor exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AnchorError(f"libp2p anchor printed no JSON: {proc.stdout[-500:]!r}") from exc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=10)
    ap.add_argument("--degree", type=float, default=4)
    ap.add_argument("--messages", type=int, default=500)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds over which messages are spread")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="extra scenario key")
    ap.add_argument("--print-scenario", action="store_true")
    args = ap.parse_args(argv)
    extra = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    sc = random_scenario(args.nodes, args.degree, args.messages, args.duration, args.size, args.seed, **extra)
    if args.print_scenario:
        print(json.dumps(sc))
        return 0
    try:
        print(json.dumps(run_libp2p_gossip(sc)))
    except (AnchorError, RuntimeError, OSError) as exc:
        print(f"libp2p_anchor: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
