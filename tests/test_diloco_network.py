"""DiLoCo over real connections: CPython nodes on a loopback relay train charlm-tiny together.

(The browser tab joins this test when the browser node lands.)
"""

import asyncio
import sys
from types import SimpleNamespace

import pytest

from pynode.runtime.diloco import DilocoPeer
from pynode.train.diloco import RunSpec, checkpoint_hash
from pynode.train.solo import SoloRun
from pynode.train.zoo import get_model, init_theta
from tests.netutil import eventually, full_mesh, node_on, relay_on, stop_all

pytestmark = pytest.mark.slow

ROUNDS = 3


async def test_four_nodes_complete_three_rounds_with_one_late_joiner_and_agree_on_theta(tmp_path):
    relay = await relay_on(tmp_path)
    nodes = [await node_on(relay.url) for _ in range(4)]
    # node 2 is "slower": half the inner steps, so its delta weighs half as much
    peers = [DilocoPeer(n, inner_steps=2 if i == 2 else None) for i, n in enumerate(nodes)]
    run = RunSpec(
        task="charlm-tiny", seed=3, H=4, codec="int8", deadline_s=30, cert_timeout_s=10, min_peers=3
    )
    try:
        await full_mesh(nodes)
        await peers[0].found(run)
        await eventually(lambda: all(run.run_id in p.announced for p in peers[1:3]), 20, "announcement")
        for p in peers[1:3]:
            await p.join(run.run_id)
        await asyncio.gather(*(p.wait_round(1, 60) for p in peers[:3]))
        # node 3 arrives after round 0: it must fetch θ_r from a peer and check it against a certificate
        await eventually(
            lambda: peers[3].announced.get(run.run_id, (run, 0, b""))[1] >= 1, 20, "a later announcement"
        )
        await peers[3].join(run.run_id)
        await asyncio.gather(*(p.wait_round(ROUNDS, 90) for p in peers))
        # the late joiner, once in sync, is waited for and counted
        await eventually(lambda: any(e.contributors == 4 for e in peers[0].log), 60, "a round counting it")

        # Nodes keep training after wait_round returns, each at its own pace: what they hold *now* may be
        # different rounds. Compare what each held after the same certificate, for every round logged.
        for r in sorted({e.round for p in peers for e in p.log}):
            held = {(e.state_hash, e.theta_hash) for p in peers for e in p.log if e.round == r}
            assert len(held) == 1, f"participants disagree after round {r}"
        first = peers[0].log[0]
        # round 0: three deltas, 4 + 4 + 2 inner steps of 16×32 tokens
        assert first.round == 0 and first.contributors == 3 and first.samples == (4 + 4 + 2) * 16 * 32
        # the late joiner applied certificates itself (not only fetched states), bit for bit as the others
        assert {e.round for e in peers[3].log} & {e.round for e in peers[0].log}
        assert peers[0].log[-1].val_loss < peers[0].log[0].val_loss + 0.5
        assert all(sum(p.core.rejected.values()) == 0 for p in peers), [p.core.rejected for p in peers]
    finally:
        await stop_all(peers, nodes, relay)


async def test_wait_round_returns_once_a_finished_round_is_logged_not_only_applied():
    # the core applies round 2 (S_3 held, its RoundDone in its history) before the runtime logs it, after the
    # round's evaluation: a caller that reads the log right after wait_round(3) must find round 2 there
    core = SimpleNamespace(round=3, history=["round 0", "round 1", "round 2"])
    driver = SimpleNamespace(core=core, log=["round 0", "round 1"], round_done=asyncio.Event())
    peer = SimpleNamespace(current=driver, runs={})
    waiting = asyncio.create_task(DilocoPeer.wait_round(peer, 3, 5))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    driver.log.append("round 2")  # as _record does, then sets round_done
    driver.round_done.set()
    await asyncio.wait_for(waiting, 1)


async def test_a_run_from_a_checkpoint_is_joined_at_round_0_with_it_and_after_a_round_without(tmp_path):
    relay = await relay_on(tmp_path)
    nodes = [await node_on(relay.url) for _ in range(3)]
    peers = [DilocoPeer(n) for n in nodes]
    checkpoint = init_theta(get_model("charlm-tiny"), 8)  # say, what `hyperspace train` committed
    run = RunSpec(
        task="charlm-tiny", seed=3, H=4, codec="int4", deadline_s=30, cert_timeout_s=10, min_peers=2,
        init=checkpoint_hash(checkpoint),
    )  # fmt: skip
    try:
        await full_mesh(nodes)
        with pytest.raises(ValueError, match="not given"):
            await peers[0].found(run)  # a founder must hold the checkpoint its run names
        await peers[0].found(run, checkpoint)
        await eventually(lambda: all(run.run_id in p.announced for p in peers[1:]), 20, "announcement")
        await peers[1].join(run.run_id, checkpoint)
        await peers[2].join(run.run_id)  # without the checkpoint: it waits for a certified state
        await asyncio.gather(*(p.wait_round(3, 90) for p in peers))
        first = peers[0].log[0]
        assert first.contributors == 2 and 0 not in {e.round for e in peers[2].log}
        for r in sorted({e.round for p in peers for e in p.log}):
            assert len({e.state_hash for p in peers for e in p.log if e.round == r}) == 1
        assert all(sum(p.core.rejected.values()) == 0 for p in peers), [p.core.rejected for p in peers]
    finally:
        await stop_all(peers, nodes, relay)


async def test_hyperspace_diloco_founds_a_run_from_a_trained_checkpoint(tmp_path):
    relay = await relay_on(tmp_path)
    cli = (sys.executable, "-m", "pynode.cli")
    trained = tmp_path / "warm"
    made = await asyncio.create_subprocess_exec(
        *cli, "train", "--task", "digits-mlp", "--steps", "6", "--checkpoint-every", "3", "--out", str(trained),
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert await made.wait() == 0
    theta = SoloRun(trained).load_state(6).theta
    proc = await asyncio.create_subprocess_exec(
        *cli, "diloco", "--relay", relay.url, "--data-dir", str(tmp_path / "node"), "--task", "digits-mlp",
        "--init", str(trained), "--H", "3", "--rounds", "2", "--wait", "0.5", "--min-peers", "1",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        if proc.returncode is None:
            proc.kill()
        await relay.stop()
    lines = err.decode().splitlines()
    assert proc.returncode == 0, lines
    assert f"from checkpoint {checkpoint_hash(theta).hex()[:12]}" in lines[0]
    assert [line.split()[1] for line in lines[1:]] == ["0", "1"]
