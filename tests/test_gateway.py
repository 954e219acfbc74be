"""The archive gateway: a node's signed submission lands under agents/<its peer id>/, anything else is refused."""

from __future__ import annotations

import time

import httpx
import pytest

from pynode.identity import Identity
from pynode.wire import cbor
from relay_server.app import create_app
from relay_server.config import RelayConfig
from relay_server.gateway import make_submission
from relay_server.limits import MAX_SUBMISSION_BYTES
from relay_server.relay import open_relay


@pytest.fixture
async def served(tmp_path):
    """A relay app whose gateway archives into tmp_path/repo, and an HTTP client to it."""
    config = RelayConfig(
        data_dir=tmp_path / "relay", static_dir=None, archive_dir=tmp_path, archive_quota_bytes=10_000
    )
    relay = await open_relay(config, identity=await Identity.generate())
    app = create_app(relay)
    archiver = relay.embedded.archiver
    assert archiver is not None and archiver.config.repo_dir == tmp_path / "repo"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://relay") as client:
        yield client, archiver
    await relay.shutdown()


async def post(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await client.post("/api/archive", content=body, headers={"content-type": "application/cbor"})


def tree(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and ".git" not in p.parts)


async def test_a_signed_submission_lands_under_the_nodes_own_folder(served):
    client, archiver = served
    me = await Identity.generate()
    body = await make_submission(me.signer, [("runs/1/log.txt", b"loss 2.1\n"), ("curve.csv", b"1,2.1\n")])
    r = await post(client, body)
    assert r.status_code == 202, r.text
    assert r.json()["paths"] == [f"agents/{me.text}/runs/1/log.txt", f"agents/{me.text}/curve.csv"]
    await archiver.cycle()
    root = archiver.config.repo_dir
    assert tree(root) == [f"agents/{me.text}/curve.csv", f"agents/{me.text}/runs/1/log.txt"]
    assert (root / f"agents/{me.text}/runs/1/log.txt").read_bytes() == b"loss 2.1\n"


@pytest.mark.parametrize(
    "path",
    [
        "../escape.txt",
        "a/../../escape.txt",
        "/etc/passwd",
        "a//b",
        ".git/config",
        "a/./b",
        "a\\b",
        "",
        "x" * 300,
    ],
)
async def test_paths_aiming_outside_the_folder_are_refused_and_nothing_is_written(served, path):
    client, archiver = served
    body = await make_submission((await Identity.generate()).signer, [(path, b"x")])
    r = await post(client, body)
    assert r.status_code == 400 and r.json()["error"] in ("bad_path", "malformed"), r.text
    await archiver.cycle()
    assert not archiver.config.repo_dir.exists() or tree(archiver.config.repo_dir) == []


async def test_a_path_through_a_planted_symlink_is_refused(served, tmp_path):
    client, archiver = served
    me = await Identity.generate()
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = archiver.config.repo_dir / "agents" / me.text
    folder.mkdir(parents=True)
    (folder / "link").symlink_to(outside)
    r = await post(client, await make_submission(me.signer, [("link/x.txt", b"x")]))
    assert r.status_code == 400 and r.json()["error"] == "bad_path" and "symlink" in r.json()["detail"]
    assert not list(outside.iterdir())


async def test_an_unsigned_or_forged_submission_is_refused(served):
    client, archiver = served
    me, other = await Identity.generate(), await Identity.generate()
    body = cbor.decode(await make_submission(me.signer, [("a.txt", b"x")]))
    forged = cbor.encode({**body, "peer": other.peer_id})  # claims another node's folder
    unsigned = cbor.encode({**body, "sig": bytes(64)})
    for bad in (forged, unsigned):
        r = await post(client, bad)
        assert r.status_code == 401 and r.json()["error"] == "bad_signature"
    assert not archiver.config.queue_dir.exists() or not list(archiver.config.queue_dir.iterdir())


async def test_an_oversized_submission_is_refused_before_it_is_read(served):
    client, _ = served
    r = await post(client, b"\x00" * (MAX_SUBMISSION_BYTES + 1))
    assert r.status_code == 413 and r.json()["error"] == "too_large"


async def test_a_submission_over_the_nodes_quota_is_refused(served):
    client, archiver = served
    me = await Identity.generate()
    assert (await post(client, await make_submission(me.signer, [("a.bin", b"x" * 6000)]))).status_code == 202
    r = await post(client, await make_submission(me.signer, [("b.bin", b"y" * 6000)]))  # queued bytes count
    assert r.status_code == 413 and r.json()["error"] == "over_quota"
    await archiver.cycle()
    r = await post(
        client, await make_submission(me.signer, [("c.bin", b"z" * 6000)])
    )  # committed bytes count
    assert r.status_code == 413
    assert tree(archiver.config.repo_dir) == [f"agents/{me.text}/a.bin"]
    other = await Identity.generate()  # the quota is per node
    assert (
        await post(client, await make_submission(other.signer, [("a.bin", b"x" * 6000)]))
    ).status_code == 202


async def test_a_replayed_or_stale_submission_is_refused(served):
    client, _ = served
    me = await Identity.generate()
    body = await make_submission(me.signer, [("a.txt", b"x")])
    assert (await post(client, body)).status_code == 202
    r = await post(client, body)
    assert r.status_code == 409 and r.json()["error"] == "replayed"
    old = await make_submission(me.signer, [("b.txt", b"x")], ts=int(time.time() * 1000) - 3_600_000)
    r = await post(client, old)
    assert r.status_code == 400 and r.json()["error"] == "stale"


async def test_malformed_bodies_get_a_clear_error(served):
    client, _ = served
    for body in (b"", b"\xff\xff", cbor.encode({"peer": b"x"})):
        r = await post(client, body)
        assert r.status_code == 400 and r.json()["error"] == "malformed" and r.json()["detail"]
