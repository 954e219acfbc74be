"""`hyperspace node` saves its own writes before gossiping them: a node killed with SIGKILL restarts from what
it signed, so it never signs a second change under an id it already used (peers would hold it faulty)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest

from pynode.cli.review import node_store
from pynode.identity import Identity
from pynode.runtime.replica import load_store
from tests.netutil import eventually, relay_on

pytestmark = pytest.mark.slow


async def test_a_killed_node_finds_what_it_signed_on_disk(tmp_path):
    relay = await relay_on(tmp_path / "relay", embedded_node=False)
    data = tmp_path / "node"
    off = ["--no-research", "--no-review", "--no-embedding", "--no-storage", "--no-tasks", "--no-inference"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pynode.cli",
        "node",
        "--relay",
        relay.url,
        "--data-dir",
        str(data),
        *off,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=(tmp_path / "node.log").open("wb"),
    )
    try:
        state = data / "state"

        def saved() -> bool:  # its first signed record (a profile, a certificate) is on disk
            return state.is_dir() and any(state.glob("*.loro"))

        # a loaded machine may take a while to import and start the node; the file is the only signal
        await eventually(lambda: saved() or proc.returncode is not None, 180, "the node's saved profile")
        assert saved(), (tmp_path / "node.log").read_text()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
        await relay.stop()
    me = (await Identity.load_or_create(data)).peer_id
    store = node_store(me)
    await load_store(store, data / "state")
    mine = [r for records in store.records.values() for r in records.values()]
    assert mine and {r.author for r in mine} == {me}
