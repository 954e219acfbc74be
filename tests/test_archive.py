"""The Git archiver against a local bare repository and against `git http-backend` over HTTP with a token."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pynode.identity import Identity
from pynode.platform import native
from pynode.state.records import make_record
from pynode.state.store import Store
from relay_server.archive import ArchiveConfig, Archiver
from relay_server.archive_layout import state_files

TOKEN = "ghp_test-token-1234567890abcdef"


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def bare_repo(path: Path) -> Path:
    git("init", "-q", "--bare", "-b", "main", str(path))
    return path


def remote_files(bare: Path) -> list[str]:
    return git("--git-dir", str(bare), "ls-tree", "-r", "--name-only", "main").split()


def added_paths(bare: Path) -> list[str]:
    """Every path added in the remote's history (a duplicate would appear twice)."""
    out = git("--git-dir", str(bare), "log", "--diff-filter=A", "--name-only", "--format=", "main")
    return [line for line in out.split() if line]


async def write_results(store: Store, who: Identity, n: int, start: int = 0) -> list[str]:
    keys = []
    for i in range(start, start + n):
        body = {
            "domain": "ml",
            "task": "mlp-digits",
            "metric": "val_loss",
            "unit": "nats",
            "direction": "min",
            "value": f"0.{i + 1}",
            "seeds": 2,
        }
        r = await make_record(who.signer, "result", body, int(time.time() * 1000))
        await store.write(who.signer, [r])
        keys.append(r.key)
    return keys


class GitHttpServer:
    """`git http-backend` behind Basic auth on 127.0.0.1; can hold receive-pack to simulate a stalled push."""

    def __init__(self, root: Path, token: str) -> None:
        self.root = root
        self.expected = "Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()
        self.hold_push = threading.Event()
        self.push_started = threading.Event()
        # a held push whose client died is dropped when released, as a server drops a half-sent request
        self.drop_held = threading.Event()
        self.push_dropped = threading.Event()
        self.seen_auth: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._cgi()

            def do_POST(self) -> None:
                self._cgi()

            def _cgi(self) -> None:
                auth = self.headers.get("Authorization")
                outer.seen_auth.append(auth)
                if auth != outer.expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="archive"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path, _, query = self.path.partition("?")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if path.endswith("/git-receive-pack") and self.command == "POST":
                    outer.push_started.set()
                    while outer.hold_push.is_set():
                        time.sleep(0.02)
                    if outer.drop_held.is_set():
                        outer.drop_held.clear()
                        outer.push_dropped.set()
                        self.close_connection = True
                        return
                env = {
                    "PATH": os.environ["PATH"],
                    "GIT_PROJECT_ROOT": str(outer.root),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "REMOTE_USER": "archiver",
                    "REQUEST_METHOD": self.command,
                    "PATH_INFO": path,
                    "QUERY_STRING": query,
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                    "HTTP_GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                }
                out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
                head, _, payload = out.partition(b"\r\n\r\n")
                status = 200
                headers = []
                for line in head.decode().split("\r\n"):
                    name, _, value = line.partition(": ")
                    if name.lower() == "status":
                        status = int(value.split()[0])
                    elif name:
                        headers.append((name, value))
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def close(self) -> None:
        self.hold_push.clear()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def http_remote(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    bare_repo(root / "archive.git")
    server = GitHttpServer(root, TOKEN)
    yield server, root / "archive.git"
    server.close()


async def test_records_land_in_the_documented_layout_in_a_local_bare_repo(tmp_path):
    bare = bare_repo(tmp_path / "remote.git")
    me = await Identity.generate()
    store = Store(me.peer_id, native)
    keys = await write_results(store, me, 3)
    profile = await make_record(me.signer, "profile", {"name": "ada", "caps": ["research"]}, 1)
    await store.write(me.signer, [profile])
    archiver = Archiver(ArchiveConfig(tmp_path / "repo", remote=str(bare)), lambda: state_files(store))
    assert await archiver.cycle()
    files = set(remote_files(bare))
    assert {f"results/ml/mlp-digits/{k}.json" for k in keys} <= files
    assert {"leaderboards/ml.json", "leaderboards/ml.md", "snapshots/results.ml.loro"} <= files
    assert f"profiles/{me.text}.json" in files
    assert not await archiver.cycle()  # nothing new: no commit, no push
    assert archiver.status.commits == 1


async def test_a_cycle_with_nothing_to_archive_creates_no_repository(tmp_path):
    archiver = Archiver(ArchiveConfig(tmp_path / "repo"), lambda: {})
    assert not await archiver.cycle()
    assert not (tmp_path / "repo").exists()


@pytest.mark.slow
async def test_push_over_http_with_a_token_that_is_never_stored_or_logged(
    tmp_path, http_remote, monkeypatch, caplog
):
    server, bare = http_remote
    caplog.set_level(logging.DEBUG)
    me = await Identity.generate()
    store = Store(me.peer_id, native)
    keys = await write_results(store, me, 2)
    config = ArchiveConfig(
        tmp_path / "repo", remote=server.url("archive.git"), token_env="TEST_ARCHIVE_TOKEN"
    )

    monkeypatch.delenv("TEST_ARCHIVE_TOKEN", raising=False)
    archiver = Archiver(config, lambda: state_files(store))
    assert not await archiver.cycle()  # no token: refused by the server, kept locally for a retry
    assert archiver.status.push_failures == 1 and archiver.status.commits == 1

    monkeypatch.setenv("TEST_ARCHIVE_TOKEN", TOKEN)
    archiver._next_push_at = 0.0  # skip the backoff wait
    assert await archiver.cycle()
    assert {f"results/ml/mlp-digits/{k}.json" for k in keys} <= set(remote_files(bare))
    assert server.expected in server.seen_auth
    stored = [p for p in tmp_path.rglob("*") if p.is_file() and "served" not in p.parts]
    assert stored and not any(TOKEN.encode() in p.read_bytes() for p in stored)  # .git/config included
    assert TOKEN not in caplog.text and TOKEN not in str(archiver.describe())


@pytest.mark.slow
async def test_killed_mid_push_then_restarted_loses_nothing_and_duplicates_nothing(
    tmp_path, http_remote, monkeypatch
):
    server, bare = http_remote
    monkeypatch.setenv("TEST_ARCHIVE_TOKEN", TOKEN)
    me = await Identity.generate()
    store = Store(me.peer_id, native)
    keys = await write_results(store, me, 3)
    config = ArchiveConfig(
        tmp_path / "repo", remote=server.url("archive.git"), token_env="TEST_ARCHIVE_TOKEN"
    )
    archiver = Archiver(config, lambda: state_files(store))
    archiver.enqueue([(f"agents/{me.text}/run.log", b"step 1 loss 2.3\n")])

    server.hold_push.set()
    cycle = asyncio.ensure_future(archiver.cycle())
    while not server.push_started.is_set():
        await asyncio.sleep(0.02)
    cycle.cancel()  # the relay dies mid-push: the git child is killed with it
    await asyncio.gather(cycle, return_exceptions=True)
    server.drop_held.set()
    server.hold_push.clear()
    while not server.push_dropped.is_set():  # the server gives up on the dead client's request
        await asyncio.sleep(0.02)
    assert not git("--git-dir", str(bare), "branch").strip()  # the push never completed

    keys += await write_results(store, me, 2, start=10)  # more results arrive while it is down
    restarted = Archiver(config, lambda: state_files(store))
    assert await restarted.cycle()
    added = added_paths(bare)
    expected = {f"results/ml/mlp-digits/{k}.json" for k in keys} | {f"agents/{me.text}/run.log"}
    assert expected <= set(added)
    assert len(added) == len(set(added))  # every file was added exactly once
    assert not list(config.queue_dir.glob("*.cbor"))  # the queued submission is committed and gone


def test_a_planted_symlink_is_never_written_through(tmp_path):
    from relay_server.archive_tree import safe_write

    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "repo"
    (root / "agents").mkdir(parents=True)
    (root / "agents" / "evil").symlink_to(outside)
    with pytest.raises(PermissionError):
        safe_write(root, "agents/evil/x.txt", b"pwned")
    assert not list(outside.iterdir())


def test_an_entry_whose_write_fails_half_way_leaves_the_tree_as_it_was(tmp_path):
    from relay_server.archive_tree import Unwritable, write_entry

    root = tmp_path / "repo"
    root.mkdir()
    (root / "kept").write_bytes(b"before")
    entry = [("kept", b"after"), ("new/ok.txt", b"1"), ("new/" + "n" * 300, b"name too long for the disk")]
    with pytest.raises(Unwritable):
        write_entry(root, entry)
    assert (root / "kept").read_bytes() == b"before"
    assert sorted(p.name for p in root.iterdir()) == ["kept"]
