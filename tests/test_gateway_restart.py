"""Replays across a restart: the same signed body, sent again to a relay that was stopped and started on the same
data directory (its first copy already committed), is refused; so is a node's spent quota."""

from __future__ import annotations

from pathlib import Path

import httpx

from pynode.identity import Identity
from relay_server.gateway import make_submission
from tests.netutil import eventually, relay_on


async def post(port: int, body: bytes) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        return await http.post("/api/archive", content=body, headers={"content-type": "application/cbor"})


async def test_a_restarted_relay_refuses_a_body_it_accepted_before_and_remembers_quotas(tmp_path: Path):
    me = await Identity.generate()
    body = await make_submission(me.signer, [("run.log", b"loss 2.1\n")])
    big = await make_submission(me.signer, [("big.bin", b"x" * 6000)])
    config = dict(archive_dir=tmp_path / "arch", archive_interval_s=0.2, archive_quota_bytes=10_000)

    first = await relay_on(tmp_path, **config)
    try:
        assert (await post(first.port, body)).status_code == 202
        assert (await post(first.port, big)).status_code == 202
        archiver = first.relay.embedded.archiver
        await eventually(lambda: len(archiver.queue) == 0 and archiver.status.commits >= 1, 20, "a commit")
    finally:
        await first.stop()

    again = await relay_on(tmp_path, **config)
    try:
        r = await post(again.port, body)
        assert r.status_code == 409 and r.json()["error"] == "replayed", r.text
        more = await make_submission(me.signer, [("more.bin", b"y" * 6000)])
        r = await post(again.port, more)
        assert r.status_code == 413 and r.json()["error"] == "over_quota", r.text
        fresh = await make_submission(me.signer, [("next.log", b"loss 1.9\n")])
        assert (await post(again.port, fresh)).status_code == 202
        assert again.relay.embedded.archiver.queue.total.entries == 1  # the replay queued nothing
    finally:
        await again.stop()
