"""The gateway against a Sybil: fresh identities cost nothing, so the queue as a whole and each client address
have budgets of their own; and the gateway's cost per submission or status request does not grow with the queue.

Attacked over real sockets: 60 fresh identities × 6 submissions from six loopback addresses (127.0.0.2–7), and a
node submitting over its relay connection from an address whose budget HTTP clients already spent.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

from pynode.identity import Identity
from relay_server.gateway import ARCHIVE_PROTO, make_submission
from tests.netutil import eventually, node_on, relay_on

ORIGINS = [f"127.0.0.{i}" for i in range(2, 8)]
SIZE = 5000  # bytes per submission


class FileReads:
    """Counts files opened for reading under a folder, through the interpreter's audit hook (a real count of
    what the process does, whatever code does it). Hooks cannot be removed, so one is installed per process."""

    _hooked: list[FileReads] = []

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.count = 0
        self.on = False
        if not FileReads._hooked:
            sys.addaudithook(FileReads._hook)
        FileReads._hooked.append(self)

    @staticmethod
    def _hook(event: str, args: tuple) -> None:
        if event != "open":
            return
        for reads in FileReads._hooked:
            if reads.on:
                reads._saw(*args[:3])

    def _saw(self, path: object, mode: object, flags: object) -> None:
        if not isinstance(path, str) or not path.startswith(self.root) or os.path.isdir(path):
            return
        reading = (
            not any(c in mode for c in "wax+")
            if isinstance(mode, str)
            else (int(flags or 0) & os.O_ACCMODE) == 0
        )
        self.count += reading


async def submit(http: httpx.AsyncClient, who: Identity, name: str) -> httpx.Response:
    body = await make_submission(who.signer, [(name, os.urandom(SIZE))])
    return await http.post("/api/archive", content=body, headers={"content-type": "application/cbor"})


def clients(port: int) -> dict[str, httpx.AsyncClient]:
    return {
        ip: httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            transport=httpx.AsyncHTTPTransport(local_address=ip),
            timeout=10,
        )
        for ip in ORIGINS
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    ("budgets", "per_origin", "total"),
    [
        # entries run out: 40 per address, 100 in all
        (dict(archive_origin_entries=40, archive_queue_entries=100), 40, 100),
        # bytes run out: 30 submissions' worth per address, 80 in all
        (dict(archive_origin_bytes=30 * SIZE, archive_queue_bytes=80 * SIZE), 30, 80),
    ],
)
async def test_sixty_fresh_identities_are_refused_beyond_the_queue_and_origin_budgets(
    tmp_path, budgets, per_origin, total
):
    relay = await relay_on(tmp_path, archive_dir=tmp_path / "arch", archive_interval_s=3600, **budgets)
    identities = [await Identity.generate() for _ in range(60)]
    answers: Counter[tuple[str, int, str]] = Counter()
    http = clients(relay.port)
    try:
        for round_ in range(6):
            for i, who in enumerate(identities):
                ip = ORIGINS[0] if i < 30 else ORIGINS[1 + i % 5]  # half of them behind one address
                r = await submit(http[ip], who, f"run-{round_}.log")
                answers[(ip, r.status_code, r.json().get("error", "queued"))] += 1
                if r.status_code in (429, 503):
                    assert int(r.headers["Retry-After"]) == 3600
        accepted = {ip: answers[(ip, 202, "queued")] for ip in ORIGINS}
        assert sum(accepted.values()) == total, answers
        assert accepted[ORIGINS[0]] == per_origin and max(accepted.values()) == per_origin, answers
        refused = Counter(
            reason for (_, status, reason), n in answers.items() for _ in range(n) if status != 202
        )
        assert set(refused) == {"origin_busy", "queue_full"} and sum(refused.values()) == 360 - total
        archive = (await http[ORIGINS[0]].get("/api/status")).json()["extra"]["archive"]
        assert archive["queued"] == total and archive["queued_bytes"] == total * SIZE
    finally:
        for c in http.values():
            await c.aclose()
        await relay.stop()


async def test_a_node_over_its_relay_connection_shares_its_addresss_budget(tmp_path):
    relay = await relay_on(
        tmp_path, archive_dir=tmp_path / "arch", archive_interval_s=3600, archive_origin_entries=3
    )
    node = await node_on(relay.url)  # connects from 127.0.0.1
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{relay.port}", timeout=10) as http:
            for i in range(3):
                assert (await submit(http, await Identity.generate(), f"{i}.log")).status_code == 202
        relay_id = relay.relay.identity.peer_id
        await eventually(lambda: relay_id in node.connected_peers(), 20, "a link to the relay's node")
        body = await make_submission(node.identity.signer, [("mine.log", b"loss 1\n")])
        with pytest.raises(Exception, match="origin_busy"):
            await node.request(relay_id, ARCHIVE_PROTO, body)
        # from another address the same kind of request goes through
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{relay.port}",
            transport=httpx.AsyncHTTPTransport(local_address="127.0.0.9"),
            timeout=10,
        ) as other:
            assert (await submit(other, await Identity.generate(), "x.log")).status_code == 202
        assert relay.relay.embedded.archiver.queue.origin("127.0.0.1").entries == 3
    finally:
        await node.stop()
        await relay.stop()


@pytest.mark.slow
async def test_submissions_and_status_read_no_queued_file_however_long_the_queue(tmp_path):
    relay = await relay_on(
        tmp_path,
        archive_dir=tmp_path / "arch",
        archive_interval_s=3600,
        archive_origin_entries=1000,
        archive_queue_entries=1000,
    )
    reads = FileReads(tmp_path / "arch")
    per_size: dict[int, tuple[int, int]] = {}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{relay.port}", timeout=10) as http:
            queued = 0
            for size in (10, 150):
                while queued < size:
                    assert (await submit(http, await Identity.generate(), "q.log")).status_code == 202
                    queued += 1
                reads.count, reads.on = 0, True
                for _ in range(5):
                    assert (await http.get("/api/status")).status_code == 200
                status_reads = reads.count
                reads.count = 0
                for _ in range(5):
                    assert (await submit(http, await Identity.generate(), "probe.log")).status_code == 202
                    queued += 1
                per_size[size] = (status_reads, reads.count)
                reads.on = False
        assert per_size[10] == per_size[150] == (0, 0), per_size
    finally:
        reads.on = False
        await relay.stop()


def test_the_quota_ledger_survives_a_restart_a_torn_line_and_its_own_compaction(tmp_path):
    from relay_server.gateway_ledger import GatewayLedger

    path = tmp_path / "repo.gateway"
    ledger = GatewayLedger(path, compact_slack=10)
    for i in range(30):  # enough appends to be rewritten more than once
        ledger.record("alice", 3, bytes([i]) * 32, 0, 0)  # ts 0: these digests are long out of the window
    ledger.record("bob", 5, b"b" * 32, 10**15, 10**15)
    assert ledger.seen(b"b" * 32, 10**15) and not ledger.seen(bytes(32), 10**15)
    assert len(path.read_text().splitlines()) <= 2 * 3 + 10  # compacted: expired digests are gone
    with open(path, "a") as f:
        f.write("b carol 17\nb dave 4")  # a crash mid-append: the last line is torn
    again = GatewayLedger(path, compact_slack=10)
    assert (again.used("alice"), again.used("bob"), again.used("carol"), again.used("dave")) == (90, 5, 17, 0)
    assert again.seen(b"b" * 32, 10**15)
    again.record("erin", 2, b"e" * 32, 10**15, 10**15)  # not glued to the torn line
    assert GatewayLedger(path).used("erin") == 2 and GatewayLedger(path).used("carol") == 17
