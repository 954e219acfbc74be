"""The archive wedge, attacked over HTTP on a live relay: path sets that can never be written (`a` beside `a/b`,
within a submission, against the queue, against the archive) are refused at submission; an entry that still
cannot be written at commit time is quarantined, and honest work submitted after it is committed and pushed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from pynode.identity import Identity
from pynode.wire import cbor
from relay_server.gateway import make_submission
from tests.netutil import eventually, relay_on


def bare_repo(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    return path


def pushed(bare: Path) -> set[str]:
    out = subprocess.run(
        ["git", "--git-dir", str(bare), "ls-tree", "-r", "--name-only", "main"],
        capture_output=True,
        text=True,
    )
    return set(out.stdout.split()) if out.returncode == 0 else set()


async def submit(http: httpx.AsyncClient, who: Identity, files: list[tuple[str, bytes]]) -> httpx.Response:
    body = await make_submission(who.signer, files)
    return await http.post("/api/archive", content=body, headers={"content-type": "application/cbor"})


def metric(text: str, name: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    raise AssertionError(f"{name} not in /metrics")


async def test_path_sets_that_could_never_be_written_are_refused_at_submission(tmp_path):
    bare = bare_repo(tmp_path / "remote.git")
    relay = await relay_on(
        tmp_path, archive_dir=tmp_path / "arch", archive_remote=str(bare), archive_interval_s=0.2
    )
    me = await Identity.generate()
    mine = f"agents/{me.text}"
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{relay.port}", timeout=10) as http:
            r = await submit(http, me, [("a", b"file"), ("a/b", b"under the file")])
            assert r.status_code == 409 and r.json()["error"] == "path_clash", r.text

            async with relay.relay.embedded.archiver._lock:  # no cycle meanwhile: these stay queued
                assert (await submit(http, me, [("a", b"file")])).status_code == 202
                assert (await submit(http, me, [("d/e", b"in a folder")])).status_code == 202
                for path in ("a/b", "d", "A/b"):  # against the queue (and a case-folding disk's view)
                    r = await submit(http, me, [(path, b"x")])
                    assert r.status_code == 409 and r.json()["error"] == "path_clash", (path, r.text)

            await eventually(lambda: {f"{mine}/a", f"{mine}/d/e"} <= pushed(bare), 20, "the first push")
            for path in ("a/c", "d"):  # against what is archived
                r = await submit(http, me, [(path, b"x")])
                assert r.status_code == 409 and r.json()["error"] == "path_clash", (path, r.text)
            assert (await submit(http, me, [("d/f", b"beside e")])).status_code == 202
            await eventually(lambda: f"{mine}/d/f" in pushed(bare), 20, "the second push")
            assert relay.relay.embedded.archiver.queue.quarantined == 0
    finally:
        await relay.stop()


async def test_an_entry_that_cannot_be_committed_is_quarantined_and_honest_work_still_goes_out(tmp_path):
    bare = bare_repo(tmp_path / "remote.git")
    evil, honest = await Identity.generate(), await Identity.generate()
    # A queue left by an older relay that accepted a wedge: a file `w` and a file `w/x`, in the first format.
    queue = tmp_path / "arch" / "repo.queue"
    queue.mkdir(parents=True)
    wedge = [[f"agents/{evil.text}/w", b"file"], [f"agents/{evil.text}/w/x", b"under the file"]]
    (queue / "00000000000000000001-wedge.cbor").write_bytes(cbor.encode(wedge))

    relay = await relay_on(
        tmp_path, archive_dir=tmp_path / "arch", archive_remote=str(bare), archive_interval_s=0.2
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{relay.port}", timeout=10) as http:
            assert (await submit(http, honest, [("run.log", b"loss 2.1\n")])).status_code == 202
            await eventually(
                lambda: f"agents/{honest.text}/run.log" in pushed(bare), 20, "honest work pushed"
            )
            assert (await submit(http, honest, [("later.log", b"loss 1.9\n")])).status_code == 202
            await eventually(
                lambda: f"agents/{honest.text}/later.log" in pushed(bare), 20, "later work pushed"
            )

            assert not [p for p in pushed(bare) if p.startswith(f"agents/{evil.text}/")]
            assert not list(queue.glob("*.cbor"))  # nothing is left blocking the queue
            assert [p.name for p in (queue / "quarantine").glob("*.cbor")] == [
                "00000000000000000001-wedge.cbor"
            ]
            assert "folder" in (queue / "quarantine" / "00000000000000000001-wedge.why").read_text()
            text = (await http.get("/metrics")).text
            assert metric(text, "hyperspace_archive_quarantined_total") == 1
            assert metric(text, "hyperspace_archive_queue_entries") == 0
            status = (await http.get("/api/status")).json()["extra"]["archive"]
            assert status["quarantined"] == 1 and status["last_error"] is None
    finally:
        await relay.stop()
