"""`python -m pynode.sim --nodes N --messages M --loss L --churn C --seed S`: print the run's JSON."""

from __future__ import annotations

import argparse
import json

from pynode.gossip.params import PeerScoreParams
from pynode.sim.gossip import run_simulation


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m pynode.sim", description=__doc__)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--loss", type=float, default=0.1, help="probability that one RPC is dropped")
    parser.add_argument(
        "--churn", type=float, default=0.2, help="share of nodes that leave (and join) mid-run"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--degree", type=int, default=8, help="connections each joining node opens")
    parser.add_argument("--score", action="store_true", help="enable peer scoring (default parameters)")
    args = parser.parse_args()
    result = run_simulation(
        nodes=args.nodes,
        messages=args.messages,
        loss=args.loss,
        churn=args.churn,
        seed=args.seed,
        degree=args.degree,
        score_params=PeerScoreParams() if args.score else None,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
