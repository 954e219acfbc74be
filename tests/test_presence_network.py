"""Pulse rounds over the real network: a relay (its node takes part and attests origins) and three CPython
nodes on loopback certify rounds, the certificates and points records reach every replica through the state,
and the ledger each one recomputes with every proof checked equals what the leaders published — as does the
one `hyperspace points` recomputes from the live relay (--relay) and from its archive; the relay's network
page (/explore/points) lists every node with its rank."""

from __future__ import annotations

import asyncio
import json
import sys

import httpx
import pytest

from pynode.identity import peer_id_text
from pynode.presence import ledger
from pynode.presence.params import Timing
from pynode.runtime.pulse import PulseConfig, PulseRuntime
from pynode.runtime.replica import StateReplica
from tests.netutil import eventually, node_on, relay_on

INTERVAL_S = 20.0  # the shortest round the takeovers fit in (params.Timing.check)


def _counted_everyone(store, everyone: set[bytes]) -> bool:
    certs = [r for r in store.all_records("presence") if {p[0] for p in r.body["participants"]} >= everyone]
    return bool(certs) and any(
        r.body["round"] == c.body["round"] for c in certs for r in store.all_records("points")
    )


def _same_accounts(stores) -> bool:
    """Every replica holds the same certificates, charged the same way, and the chain paid for some."""
    if len({frozenset(s.records["presence"]) for s in stores}) != 1:
        return False
    leaders = {r.author for r in stores[0].all_records("presence")}
    accounts = [{a: (s.quotas["presence"].usage(a).records, s.quotas["presence"].usage(a).exempt) for a in leaders}
                for s in stores]  # fmt: skip
    return all(a == accounts[0] for a in accounts) and any(e is not None for _, e in accounts[0].values())


@pytest.mark.slow
async def test_nodes_and_the_relay_certify_rounds_and_agree_on_the_points(tmp_path):
    relay = await relay_on(tmp_path, presence_interval_s=INTERVAL_S)
    nodes, replicas, pulses = [], [], []
    try:
        for _ in range(3):
            node = await node_on(relay.url)
            replica = StateReplica(node)
            pulse = PulseRuntime(
                node, replica, PulseConfig(timing=Timing(interval_ms=int(INTERVAL_S * 1000)))
            )
            nodes.append(node), replicas.append(replica), pulses.append(pulse)
            await replica.start()
            await pulse.start()
        embedded = relay.relay.embedded
        assert embedded is not None and embedded.pulse is not None
        everyone = {n.peer_id for n in nodes} | {embedded.node.peer_id}
        stores = [r.store for r in replicas] + [embedded.replica.store]
        await eventually(lambda: all(_counted_everyone(s, everyone) for s in stores), 3 * INTERVAL_S + 15,
                         "a certificate naming all four, with its points, in every replica")  # fmt: skip
        await eventually(lambda: all(p.origin is not None for p in pulses), 10, "origin attestations")
        # the chain, not the leaders, pays for linked certificates, and every replica charges the same authors
        await eventually(
            lambda: _same_accounts(stores), INTERVAL_S + 20, "the chain paying, alike everywhere"
        )
        for pulse in pulses:
            view = await pulse.ledger(full=True)  # every proof and signature checked
            check = ledger.verify_published(view, pulse.replica.store.all_records("points"))
            assert check.matching and not check.mismatched, check
        status = pulses[0].status()
        assert status["attested"] and status["last_round"] is not None
        # the three nodes connect from one address: the relay attests one origin, the ledger one group
        groups = {view.standings[n.peer_id].group for n in nodes}
        assert len(groups) == 1 and view.standings[embedded.node.peer_id].group not in groups
        # anyone syncs the state from the live relay and recomputes the ledger from it
        out = await _points_cli(
            "--relay", relay.url, "--data-dir", str(tmp_path / "cli"), "--sync-timeout", "15"
        )
        assert {n["peer"] for n in out["nodes"]} >= {peer_id_text(n.peer_id) for n in nodes}
        # the network page lists every node with its rank and points, as the relay's node computes them
        relays_view = await embedded.pulse.ledger(fresh=True)
        host = relay.server.config.host
        async with httpx.AsyncClient() as client:
            page = await client.get(f"http://{host}:{relay.port}/explore/points")
        assert page.status_code == 200
        for n in nodes:
            me = relays_view.standings[n.peer_id]
            row = f'<tr><td class="r">{me.rank}</td><td><code title="{peer_id_text(n.peer_id)}">'
            cells = page.text.split(row)[1].split("</tr>")[0] if row in page.text else ""
            assert f'<td class="r">{me.points}</td>' in cells, (row, page.text)
    finally:
        for p in pulses:
            await p.stop()
        for r in replicas:
            await r.stop()
        for n in nodes:
            await n.stop()
        await relay.stop()  # its archiver's last cycle writes the state's snapshots
    # anyone with the archive recomputes the ledger, checks every proof, and compares with the published records
    out = await _points_cli("--archive", str(tmp_path / "relay" / "archive" / "repo"))
    assert {n["peer"] for n in out["nodes"]} >= {peer_id_text(n.peer_id) for n in nodes}


async def _points_cli(*source: str) -> dict:
    """`hyperspace points SOURCE --verify --json`: it must exit 0 with EQUAL and at least one round matching."""
    cli = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pynode.cli", "points", *source, "--verify", "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await cli.communicate()
    assert cli.returncode == 0, stderr.decode()
    out = json.loads(stdout)
    assert out["verify"]["equal"] and out["verify"]["matching"] >= 1, out
    return out
