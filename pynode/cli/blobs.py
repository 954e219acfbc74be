"""`hyperspace storage`: put a file into the network's storage, get one back by its id, see who holds one.

Each joins a relay with a short-lived node that hosts storage in memory: `put` keeps the file and offers it to
its placement holders, then stays until --replicas holders have it (they pull it from this node); `get` fetches
it from whoever holds it, checking every chunk and the whole file against the id.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from pynode.cli.common import DEFAULT_DATA, CliError, positive, relay_url, run
from pynode.cli.research import DEFAULT_RELAY

WAIT_S = 60.0  # how long put waits for holders, and get for a storage peer


def add_storage(sub: Any) -> None:
    s = sub.add_parser(
        "storage", help="put, get and locate blobs in the network's storage", description=__doc__
    )
    ssub = s.add_subparsers(dest="storage_command", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--relay", default=DEFAULT_RELAY, help=f"relay WebSocket URL (default {DEFAULT_RELAY})"
    )
    common.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA / "storage", help="identity used to join"
    )
    common.add_argument("--wait", type=float, default=WAIT_S, help=f"seconds to wait (default {WAIT_S:g})")
    put = ssub.add_parser("put", parents=[common], help="store a file; prints its id (SHA-256)")
    put.add_argument("file", type=Path)
    put.add_argument(
        "--days", type=positive, default=7, help="how long holders keep it (default 7, at most 90)"
    )
    put.add_argument("--replicas", type=positive, default=3, help="holders to wait for (default 3)")
    get = ssub.add_parser("get", parents=[common], help="fetch a blob by its id")
    get.add_argument("id", help="the blob's SHA-256, 64 hex digits")
    get.add_argument("-o", "--output", type=Path, help="write here (default: stdout)")
    holders = ssub.add_parser("holders", parents=[common], help="the connected nodes holding a blob")
    holders.add_argument("id", help="the blob's SHA-256, 64 hex digits")
    for p in (put, get, holders):
        p.set_defaults(func=cmd_storage)


def cmd_storage(args: argparse.Namespace) -> int:
    from pynode.services.storage.limits import MAX_BLOB_BYTES, MAX_TTL_S

    relay_url(args.relay)
    if args.storage_command == "put":
        if not args.file.is_file():
            raise CliError(f"{args.file} is not a file")
        if args.file.stat().st_size > MAX_BLOB_BYTES:
            raise CliError(f"{args.file} is over the {MAX_BLOB_BYTES >> 20} MiB a blob may hold")
        if args.days * 86400 > MAX_TTL_S:
            raise CliError(f"--days is at most {MAX_TTL_S // 86400}")
    else:
        try:
            args.blob = bytes.fromhex(args.id)
        except ValueError:
            args.blob = b""
        if len(args.blob) != 32:
            raise CliError("a blob id is 64 hex digits (its SHA-256)")
    return run(_main(args))


async def _main(args: argparse.Namespace) -> int:
    from pynode.identity import Identity
    from pynode.net.relay_client import RelayUnreachable
    from pynode.node import Node, NodeConfig
    from pynode.platform import current
    from pynode.runtime.services import ServicesRuntime
    from pynode.runtime.storage import StorageRuntime
    from pynode.services.storage.backend import MemoryBackend
    from pynode.services.storage.limits import MAX_BLOB_BYTES

    identity = await Identity.load_or_create(args.data_dir)
    node = Node(identity, current().relay_link(args.relay), NodeConfig(caps=["relay"]))
    services = ServicesRuntime(node, None)
    storage = StorageRuntime(node, services, MemoryBackend(), MAX_BLOB_BYTES, keeps_others=False)
    await node.start()
    try:
        await node.relay.wait_connected(timeout=5)
        await services.start()
        await storage.start()
        return await _act(args, storage)
    except RelayUnreachable as e:
        raise CliError(str(e)) from None
    finally:
        await storage.stop()
        await services.stop()
        await node.stop()


async def _act(args: argparse.Namespace, storage: Any) -> int:
    deadline = time.monotonic() + args.wait
    while not storage.services.providers("storage"):  # peers announce storage at the relay hello
        if time.monotonic() > deadline:
            raise CliError("no node offering storage is connected")
        await asyncio.sleep(0.2)
    if args.storage_command == "put":
        blob = await storage.put(args.file.read_bytes(), ttl=args.days * 86400)
        while len(held := await storage.holders(blob)) - 1 < args.replicas:  # ourselves aside
            if time.monotonic() > deadline:
                print(f"{blob.hex()}  (only {len(held) - 1} holder(s) so far)")
                return 1
            await asyncio.sleep(1.0)
        print(blob.hex())
        return 0
    if args.storage_command == "holders":
        from pynode.identity import peer_id_text

        for p in await storage.holders(args.blob):
            if p != storage.node.peer_id:
                print(peer_id_text(p))
        return 0
    data = await storage.get(args.blob)
    if data is None:
        raise CliError(f"no connected holder delivered {args.id}")
    if args.output is None:
        sys.stdout.buffer.write(data)
    else:
        args.output.write_bytes(data)
    return 0
