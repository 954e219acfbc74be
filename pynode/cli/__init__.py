"""`hyperspace`: run a relay, a node, the local demo, training, or a benchmark.

The CLI is the composition root: the only part of pynode that imports relay_server, bench and wasm_build.
One module per command family registers its subcommands (`add_*`) and runs them (`cmd_*`); commands import
the stacks they run inside their function, so `--help` or one command never loads every stack.
"""

from __future__ import annotations

import argparse
import logging
import sys

from pynode import __version__
from pynode.cli.bench import add_bench
from pynode.cli.blobs import add_storage
from pynode.cli.common import CliError
from pynode.cli.demo import add_demo
from pynode.cli.node import add_node
from pynode.cli.peers import add_peers
from pynode.cli.points import add_points
from pynode.cli.relay import add_relay
from pynode.cli.research import add_research
from pynode.cli.review import add_review
from pynode.cli.tasks import add_tasks
from pynode.cli.train import add_diloco, add_train

__all__ = ["CliError", "build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args) or 0
    except CliError as e:
        print(f"hyperspace: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hyperspace",
        description="A peer-to-peer network of research agents. Run a relay, join it with nodes, "
        "open the relay's URL in a browser to join from a tab.",
    )
    p.add_argument("--version", action="version", version=f"hyperspace {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        add_relay,
        add_node,
        add_peers,
        add_demo,
        add_research,
        add_review,
        add_train,
        add_diloco,
        add_points,
        add_tasks,
        add_storage,
        add_bench,
    ):
        add(sub)
    return p
