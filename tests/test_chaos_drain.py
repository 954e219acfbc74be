"""The chaos benchmark settles on the final set of records: a node's write that was in flight when the quiet
file appeared returns late, and the drain must wait for it instead of declaring the network settled on the
records logged so far (CI once saw 134 of 137 records "on every replica", drained in 0.0 s)."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
from pathlib import Path

from bench.chaos import Chaos, Plan, Proc, _archived


def _archive(repo: Path, keys: list[str]) -> None:
    for k in keys:
        path = repo / "results" / "ml" / "chaos" / f"{k}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "records"], check=True)


def _node(root: Path, events: list[dict], records: list[str]) -> None:
    (root / "node0").mkdir(exist_ok=True)
    with (root / "node0" / "events.jsonl").open("a") as f:
        f.writelines(json.dumps(e) + "\n" for e in events)
    (root / "node0" / "status.json").write_text(json.dumps({"records": records}))


def test_the_drain_waits_for_a_write_that_returns_after_the_quiet_file(tmp_path):
    repo = tmp_path / "archive"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "config", "user.name", "t"], check=True)
    subprocess.run(["git", "-C", str(repo), "config", "user.email", "t@t"], check=True)
    plan = Plan(25.0, 1, 10.0, 1, 12.0, 0.5, 2.0, 2.0, drain_s=30.0)
    chaos = Chaos(plan, tmp_path, random.Random(1))
    chaos.bare = repo / ".git"
    chaos.nodes = [Proc("node", 0, ["true"], tmp_path / "node0.log")]
    _node(tmp_path, [{"e": "start", "t": 0}, {"e": "rec", "key": "k1"}], ["k1"])
    _archive(repo, ["k1"])

    async def late_write() -> None:
        await asyncio.sleep(0.5)  # the write in flight returns and the node says it writes no more
        _node(tmp_path, [{"e": "rec", "key": "k2"}, {"e": "quiet"}], ["k1"])
        await asyncio.sleep(0.5)  # then the record spreads and is archived
        _node(tmp_path, [], ["k1", "k2"])
        _archive(repo, ["k2"])

    async def drain() -> tuple[list[str], list[str], set[str]]:
        writer = asyncio.ensure_future(late_write())
        await chaos._drain()  # what the benchmark reads right after it
        seen = chaos._published_records(), chaos._status(chaos.nodes[0])["records"], _archived(chaos.bare)
        await writer
        return seen

    published, replica, archived = asyncio.run(drain())
    assert published == ["k1", "k2"]
    assert replica == ["k1", "k2"] and archived == {"k1", "k2"}
