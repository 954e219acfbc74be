"""What every command shares: the error users can fix, argument types, defaults, and the asyncio runner."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from pynode.identity import parse_peer_id

DEFAULT_PORT = 8787
DEFAULT_DATA = Path(os.environ.get("HYPERSPACE_HOME", Path.home() / ".hyperspace"))


class CliError(Exception):
    """A problem the user can fix; printed as one line, no traceback."""


def port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is 1..65535 (0 picks a free one)")
    return value


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be ≥ 1")
    return value


def non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be ≥ 0")
    return value


def peer_ids(text: str) -> frozenset[bytes]:
    try:
        return frozenset(parse_peer_id(p.strip()) for p in text.split(",") if p.strip())
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def relay_url(url: str) -> str:
    if not url.startswith(("ws://", "wss://")):
        raise CliError(f"--relay must be a ws:// or wss:// URL, got {url!r}")
    return url


def run(coro: Coroutine[Any, Any, int]) -> int:
    """Run a command's coroutine; Ctrl-C and SIGTERM cancel it cleanly."""

    async def wrapper() -> int:
        task = asyncio.ensure_future(coro)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            return await task
        except asyncio.CancelledError:
            return 0

    return asyncio.run(wrapper())


def add_json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="JSON on stdout (the table always goes to stderr)")


def report(args: argparse.Namespace, result: dict[str, Any]) -> int:
    """Benchmarks print their table on stderr themselves; `--json` adds the result on stdout."""
    if args.json:
        print(json.dumps(result))
    return 0
