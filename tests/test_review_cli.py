"""`hyperspace review`: help, one clear line for an unreachable relay, and `--once` against a real relay."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest

from pynode.review import sortition
from pynode.runtime.replica import StateReplica
from pynode.runtime.research import ResearchAgent, ResearchConfig
from tests.netutil import eventually, node_on, relay_on
from tests.test_cli import hyperspace


@pytest.mark.parametrize("command", [["review"], ["bench", "review"]], ids=" ".join)
def test_review_commands_have_a_help(command):
    result = hyperspace(*command, "--help")
    assert result.returncode == 0 and "usage: hyperspace" in result.stdout


def test_node_and_demo_take_the_validation_flags():
    for command in (["node"], ["demo"]):
        out = hyperspace(*command, "--help").stdout
        assert "--no-review" in out and "--review-cpu" in out and "--review-checkpoints-only" in out


def test_an_unreachable_relay_is_one_clear_line(tmp_path):
    result = hyperspace("review", "--once", "--relay", "ws://127.0.0.1:9/p2p", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hyperspace: cannot reach relay ws://127.0.0.1:9/p2p")


async def _cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pynode.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.mark.slow
async def test_review_once_announces_then_reviews_what_it_is_drawn_for(tmp_path):
    relay = await relay_on(tmp_path / "relay", archive_interval_s=3600)
    node = await node_on(relay.url)
    replica = StateReplica(node, interval=0.5)
    await replica.start()
    data = str(tmp_path / "validator")
    try:
        code, out, err = await _cli("review", "--once", "--relay", relay.url, "--data-dir", data)
        assert code == 0 and "announced itself as a validator just now" in err
        await eventually(lambda: len(replica.store.records["identities"]) == 1, 20, "the profile arrives")
        next_epoch = sortition.epoch_start(sortition.epoch_of(int(time.time() * 1000)) + 1)
        await asyncio.sleep(next_epoch / 1000 - time.time() + 0.5)
        agent = ResearchAgent(replica, ResearchConfig(domains=("search",), seed=2, cpu_share=1.0))
        published = await agent.run_once()
        await asyncio.sleep(11)  # reviewers start SETTLE_MS after a result
        code, out, err = await _cli("review", "--once", "--relay", relay.url, "--data-dir", data)
        assert code == 0, err
        assert published.result.key[:16] in out and "reproduced" in out and "1 review(s) published" in err
    finally:
        await replica.stop()
        await node.stop()
        await relay.stop()
