"""The archiver survives SIGKILL: a real `hyperspace relay` process, pushing to `git http-backend` over HTTP with a
token, is killed in the middle of a push (twice), and once more in a way that leaves git's index lock behind.
After the last restart every file any relay acknowledged (202) is in the remote exactly once, and the queue is
empty."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from pynode.identity import Identity
from relay_server.gateway import make_submission
from tests.test_archive import TOKEN, GitHttpServer, added_paths, bare_repo, git

pytestmark = pytest.mark.slow


def pushed(bare: Path) -> list[str]:
    """Every path added in the remote's history, once per time it was added ([] before the first push)."""
    return added_paths(bare) if git("--git-dir", str(bare), "branch").strip() else []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def relay_process(data: Path, port: int, remote: str) -> Iterator[subprocess.Popen[bytes]]:
    cmd = [sys.executable, "-m", "pynode.cli", "relay", "--port", str(port), "--data-dir", str(data)]
    cmd += ["--archive-remote", remote, "--archive-interval", "0.5"]
    env = {**os.environ, "HYPERSPACE_ARCHIVE_TOKEN": TOKEN}
    with open(data.parent / "relay.log", "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.terminate()
            proc.wait(30)


async def wait_until_up(proc: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(timeout=2) as http:
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return
            assert proc.poll() is None and time.monotonic() < deadline, "the relay did not start"
            await asyncio.sleep(0.2)


async def submit(port: int, who: Identity, name: str) -> str:
    body = await make_submission(who.signer, [(name, f"{name}\n".encode())])
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.post(f"http://127.0.0.1:{port}/api/archive", content=body)
    assert r.status_code == 202, r.text
    return r.json()["paths"][0]


async def until(cond: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_relay_killed_mid_push_loses_and_duplicates_nothing(tmp_path: Path):
    root = tmp_path / "served"
    root.mkdir()
    bare = bare_repo(root / "archive.git")
    server = GitHttpServer(root, TOKEN)
    data, port, me = tmp_path / "relay", free_port(), await Identity.generate()
    acknowledged: list[str] = []
    try:
        for round_ in range(2):  # killed in the middle of a push, twice
            server.push_started.clear()
            server.hold_push.set()
            with relay_process(data, port, server.url("archive.git")) as proc:
                await wait_until_up(proc, port)
                for i in range(3):
                    acknowledged.append(await submit(port, me, f"round{round_}-{i}.log"))
                await until(server.push_started.is_set, "a push to begin")
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
            server.push_dropped.clear()
            server.drop_held.set()  # the dead relay's push never completes
            server.hold_push.clear()
            await until(server.push_dropped.is_set, "the held push to be dropped")
        assert not git("--git-dir", str(bare), "branch").strip()  # no push ever completed

        # killed between `git add` and `git commit`: the index lock stays behind
        (data / "archive" / "repo" / ".git" / "index.lock").write_bytes(b"")
        with relay_process(data, port, server.url("archive.git")) as proc:
            await wait_until_up(proc, port)
            acknowledged.append(await submit(port, me, "after.log"))
            await until(lambda: set(acknowledged) <= set(pushed(bare)), "everything pushed")
        added = pushed(bare)
        assert len(added) == len(set(added))  # each file added once
        assert not list((data / "archive" / "repo.queue").glob("*.cbor"))
        assert not (data / "archive" / "repo.queue" / "quarantine").exists()
    finally:
        server.close()
