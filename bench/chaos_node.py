"""One honest node of `hyperspace bench chaos`, run as its own process: `python -m bench.chaos_node …`.

It is a plain CPython node (pynode.node.Node with a StateReplica, as `hyperspace node` composes them) that
publishes a gossip message every `--publish-every` seconds and a result record every `--record-every`
seconds, and writes what happens to it where the benchmark can read it after a SIGKILL:
- an append-only event log (JSON lines, flushed every FLUSH_S): `start`, `pub` (a gossip message whose publish
  returned), `got` (a gossip message delivered to this node), `rec` (a record this node wrote, kept on disk and
  gossiped), `lost` (a relay session ended, with the reason the client saw), `quiet` (the quiet file was seen
  and the last write has returned: no `rec` follows);
- a status file rewritten every STATUS_S: the keys of every benchmark record its replica holds.

Its replica is saved after every write of its own, before the write is gossiped, and loaded at start, so a
restarted node knows every change it signed; its gossip messages go to a sent log first (runtime/sent.py), so
those a kill kept from anyone are offered again after the restart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from pynode.identity import Identity, short_id
from pynode.node import Node, NodeConfig
from pynode.platform import native
from pynode.runtime.replica import StateReplica, load_store
from pynode.runtime.sent import SentLog
from pynode.state.authorship import loro_peer
from pynode.state.store import Store
from pynode.wire.envelope import Envelope

TOPIC = "hs/1/chaos/events"
TASK = "chaos"  # the benchmark's records: results of a task no research domain defines
DOC = "results.ml"
FLUSH_S = 0.25  # event log flushes: a SIGKILL loses at most this much of the log
STATUS_S = 1.0
WATCH_S = 0.05  # relay session polling: finer than the client's quickest reconnection (BACKOFF_MIN_S / 2)
PAYLOAD_BYTES = 256  # a small event, like a result announcement


def record_body(index: int, boot: int, n: int) -> dict[str, Any]:
    return {
        "domain": "ml",
        "task": TASK,
        "metric": "val_loss",
        "unit": "nats",
        "direction": "min",
        "value": f"{index}.{boot:04d}{n:05d}",
        "seeds": 1,
    }


def message(index: int, boot: int, n: int) -> bytes:
    head = f"chaos|{index}|{boot}|{n}|".encode()
    return head + b"." * max(0, PAYLOAD_BYTES - len(head))


def parse_message(data: bytes) -> tuple[int, int, int] | None:
    parts = data.split(b"|")
    if len(parts) < 5 or parts[0] != b"chaos":
        return None
    try:
        return int(parts[1]), int(parts[2]), int(parts[3])
    except ValueError:
        return None


class EventLog:
    def __init__(self, path: Path) -> None:
        self._file = path.open("a", encoding="utf-8")
        self._pending: list[str] = []

    def add(self, event: str, **fields: Any) -> None:
        self._pending.append(json.dumps({"e": event, "t": round(time.time(), 4), **fields}))

    def flush(self) -> None:
        if self._pending:
            self._file.write("\n".join(self._pending) + "\n")
            self._file.flush()
            self._pending.clear()


class ChaosNode:
    def __init__(self, args: argparse.Namespace, identity: Identity, store: Store, boot: int) -> None:
        self.args = args
        self.boot = boot
        config = NodeConfig(direct_peers=args.direct_peers, ice_addresses=["127.0.0.1"])
        self.node = Node(identity, native.relay_link(args.relay), config)
        self.replica = StateReplica(self.node, store=store, save_to=args.data_dir / "state")
        self.log = EventLog(args.data_dir / "events.jsonl")
        self.node.subscribe(TOPIC, self._on_message)

    def _on_message(self, env: Envelope) -> None:
        parsed = parse_message(env.data)
        if parsed is not None:
            self.log.add("got", src=parsed[0], boot=parsed[1], n=parsed[2])

    async def run(self) -> None:
        self.log.add(
            "start",
            boot=self.boot,
            pid=os.getpid(),
            loro_peer=loro_peer(self.node.peer_id),
            peer=short_id(self.node.peer_id),
        )
        self.log.flush()
        await SentLog(self.node, self.args.data_dir / "sent").open()  # as `hyperspace node` does
        await self.node.start()
        await self.replica.start()
        loops = [self._flusher(), self._watch_relay(), self._status(), self._publisher(), self._writer()]
        await asyncio.gather(*loops)

    async def _flusher(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            self.log.flush()

    async def _watch_relay(self) -> None:
        """A `lost` event whenever a relay session ends, with the reason the client recorded."""
        was = False
        while True:
            now = self.node.relay.connected
            if was and not now:
                self.log.add("lost", why=self.node.relay.last_error[:200])
            was = now
            await asyncio.sleep(WATCH_S)

    async def _status(self) -> None:
        path, tmp = self.args.data_dir / "status.json", self.args.data_dir / "status.json.tmp"
        while True:
            keys = [k for k, r in self.replica.store.records[DOC].items() if r.body.get("task") == TASK]
            body = {"t": time.time(), "boot": self.boot, "records": sorted(keys), **self._counts()}
            tmp.write_text(json.dumps(body))
            tmp.replace(path)
            await asyncio.sleep(STATUS_S)

    def _counts(self) -> dict[str, Any]:
        return {
            "connected": self.node.relay.connected,
            "peers": len(self.node.connected_peers()),
            "faulty": sorted(self.replica.store.faulty),
            "rejections": dict(self.node.rejections),
        }

    async def _publisher(self) -> None:
        n = 0
        while True:
            await asyncio.sleep(self.args.publish_every)
            if self.args.quiet_file.exists():  # the benchmark is settling: publish and write nothing more
                return
            n += 1
            await self.node.publish(TOPIC, message(self.args.index, self.boot, n))
            self.log.add("pub", n=n)

    async def _writer(self) -> None:
        n = 0
        while True:
            await asyncio.sleep(self.args.record_every)
            if self.args.quiet_file.exists():  # the benchmark is settling: publish and write nothing more
                self.log.add("quiet")  # a write in flight when the file appeared has returned by now
                self.log.flush()
                return
            n += 1
            record = await self.replica.publish("result", record_body(self.args.index, self.boot, n))
            self.log.add("rec", key=record.key)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.chaos_node")
    p.add_argument("--relay", required=True)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--index", type=int, required=True)
    p.add_argument("--direct-peers", type=int, default=0)
    p.add_argument("--publish-every", type=float, default=1.0)
    p.add_argument("--record-every", type=float, default=5.0)
    p.add_argument(
        "--quiet-file", type=Path, required=True, help="once it exists: stop publishing and writing"
    )
    return p.parse_args(argv)


async def _main(args: argparse.Namespace) -> None:
    args.data_dir.mkdir(parents=True, exist_ok=True)
    identity = await Identity.load_or_create(args.data_dir)
    boot_file = args.data_dir / "boots"
    boot = int(boot_file.read_text()) + 1 if boot_file.exists() else 1
    boot_file.write_text(str(boot))
    store = Store(identity.peer_id, native)
    await load_store(store, args.data_dir / "state")
    await ChaosNode(args, identity, store, boot).run()


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("pynode.net.peers").setLevel(logging.INFO)  # bans, with their reasons
    asyncio.run(_main(_parse(argv)))


if __name__ == "__main__":
    main()
