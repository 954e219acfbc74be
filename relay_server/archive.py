"""The Git archiver: finalized state and nodes' submitted artefacts, committed and pushed every interval.

The git CLI is the engine, run through asyncio subprocesses. Layout of the repository (docs/ARCHIVE.md):

  results/<domain>/<task>/<record key>.json   one validated result record each
  reviews/<record key>.json · points/<record key>.json · profiles/<peer id>.json (latest)
  papers/<record key>.md (+ .json: the index entry)
  leaderboards/<domain>.json and .md          the boards as every node computes them
  leaderboards/<domain>/<task>/LEADERBOARD.md one task's board with CI, held-out and lineage columns
  snapshots/<document>.loro                   Loro snapshots: the whole replicated state
  agents/<peer id>/<domain>/run-NNNN.json     each author's results, numbered (written from the state)
  agents/<peer id>/papers/NNNN.md + .svg      each author's papers and figures (written from the state)
  agents/<peer id>/...                        what that node submitted through the gateway

Durability: every cycle commits locally first, so a failed push loses nothing; the next push (retried with
exponential backoff) sends every commit the remote lacks. Gateway submissions wait in an on-disk queue
(written with fsync before the submitter is answered) until a commit holds them. Paths are content-addressed,
so re-running a cycle after a crash rewrites identical files: no duplicates, and no empty commits. A queued
entry that cannot be written is quarantined (archive_queue.py) and never blocks the queue.

The token for the remote comes from an environment variable and reaches git only through the child's
environment (GIT_CONFIG_* → http.extraHeader); it is never in argv, in .git/config, or in a log line.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relay_server.archive_queue import ArchiveQueue, Entry, QueueError
from relay_server.archive_tree import Unwritable, problem, safe_write, write_entry
from relay_server.limits import GIT_TIMEOUT_S, STALE_LOCK_S

log = logging.getLogger(__name__)

REMOTE_NAME = "archive"
BRANCH = "main"
PUSH_BACKOFF_S = (2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 120.0, 300.0)
GC_EVERY_COMMITS = 50
AUTHOR = ("hyperspace-archiver", "archiver@hyperspace.invalid")


class GitError(Exception):
    pass


@dataclass
class ArchiveConfig:
    repo_dir: Path  # the working repository (created on first use)
    remote: str | None = None  # e.g. https://github.com/org/archive.git; None = local commits only
    interval_s: float = 300.0
    token_env: str = "HYPERSPACE_ARCHIVE_TOKEN"  # name of the environment variable holding the token
    queue_dir: Path | None = None  # defaults to <repo_dir>.queue, beside the repository

    def __post_init__(self) -> None:
        self.repo_dir = Path(self.repo_dir)
        self.queue_dir = (
            Path(self.queue_dir) if self.queue_dir else self.repo_dir.with_name(self.repo_dir.name + ".queue")
        )


# What the archiver asks of the state: files to write (relative path → bytes), recomputed each cycle.
StateFiles = Callable[[], dict[str, bytes]]


@dataclass
class ArchiveStatus:
    commits: int = 0
    pushes: int = 0
    push_failures: int = 0
    last_commit_at: float | None = None
    last_push_at: float | None = None
    last_error: str | None = None
    pushed_upto: dict[str, float] = field(default_factory=dict)  # file path → wall time it was first pushed


class Archiver:
    def __init__(self, config: ArchiveConfig, state_files: StateFiles | None = None) -> None:
        self.config = config
        self.state_files = state_files
        self.status = ArchiveStatus()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._initialised = False
        self._push_failures_in_a_row = 0
        self._next_push_at = 0.0
        self._commits_since_gc = 0
        self._unpushed: dict[str, float] = {}  # file path → when it was committed, until pushed
        self.queue = ArchiveQueue(config.queue_dir)  # type: ignore[arg-type]  # set by ArchiveConfig

    # ---- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self, final_cycle: bool = True) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if final_cycle:
            with contextlib.suppress(GitError, OSError, TimeoutError):
                async with asyncio.timeout(10):
                    await self.cycle()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.config.interval_s)
            try:
                await self.cycle()
            except (GitError, OSError) as e:
                self.status.last_error = self._redact(str(e))
                log.warning("archive cycle failed: %s", self.status.last_error)

    # ---- the cycle --------------------------------------------------------------------------------

    async def cycle(self) -> bool:
        """Write state and queued submissions, commit if anything changed, push if due. True if pushed.

        A queued entry that cannot be written (a file where it needs a folder, a symlink, a failed write) is
        quarantined, never retried: the rest of the queue and the state are committed without it.
        """
        async with self._lock:
            changed: list[str] = []
            files = self.state_files() if self.state_files is not None else {}
            queued = self.queue.entries()
            if not files and not queued and not self._initialised and not self.config.repo_dir.exists():
                return False  # nothing ever to archive: do not even create the repository
            await self._init()
            root = self.config.repo_dir
            for rel, data in files.items():
                if safe_write(root, rel, data):
                    changed.append(rel)
            written: list[Entry] = []
            for entry in queued:
                try:
                    changed += write_entry(root, self.queue.read(entry))
                except (Unwritable, QueueError) as e:
                    self.queue.quarantine(entry, str(e))
                    continue
                written.append(entry)
            await self._commit(changed)
            for entry in written:  # committed (or identical to what is): the queue entry is done
                self.queue.done(entry)
            if self._commits_since_gc >= GC_EVERY_COMMITS:
                self._commits_since_gc = 0
                await self._git("gc", "--auto", "--quiet")
            return await self._push_if_due()

    async def _commit(self, changed: list[str]) -> None:
        """Commit whatever the tree holds that HEAD does not: this cycle's changes, and any a crash left
        written but uncommitted."""
        await self._git("add", "-A", "--", ".")
        if not (await self._git("status", "--porcelain")).strip():
            return
        now = time.time()
        await self._git("commit", "-q", "-m", f"archive: {len(changed)} file(s)")
        self.status.commits += 1
        self.status.last_commit_at = now
        self._commits_since_gc += 1
        for rel in changed:
            self._unpushed.setdefault(rel, now)

    async def _push_if_due(self) -> bool:
        if self.config.remote is None or time.monotonic() < self._next_push_at:
            return False
        if not await self._ahead():
            return False
        try:
            await self._git("push", "-q", REMOTE_NAME, f"HEAD:refs/heads/{BRANCH}", auth=True)
        except (GitError, TimeoutError) as e:
            self.status.push_failures += 1
            delay = PUSH_BACKOFF_S[min(self._push_failures_in_a_row, len(PUSH_BACKOFF_S) - 1)]
            self._push_failures_in_a_row += 1
            self._next_push_at = time.monotonic() + delay
            self.status.last_error = self._redact(str(e))
            log.warning("archive push failed (retry in %.0f s): %s", delay, self.status.last_error)
            return False
        self._push_failures_in_a_row = 0
        self._next_push_at = 0.0
        now = time.time()
        self.status.pushes += 1
        self.status.last_push_at = now
        self.status.last_error = None
        for rel in self._unpushed:
            self.status.pushed_upto.setdefault(rel, now)
        self._unpushed.clear()
        return True

    async def _ahead(self) -> int:
        """Commits the remote lacks (all of them if we never pushed)."""
        tracking = f"refs/remotes/{REMOTE_NAME}/{BRANCH}"
        try:
            await self._git("rev-parse", "-q", "--verify", "HEAD")
        except GitError:
            return 0  # no commit yet
        try:
            await self._git("rev-parse", "-q", "--verify", tracking)
        except GitError:
            return int((await self._git("rev-list", "--count", "HEAD")).strip())
        return int((await self._git("rev-list", "--count", f"{tracking}..HEAD")).strip())

    async def _init(self) -> None:
        if self._initialised:
            return
        root = self.config.repo_dir
        if not (root / ".git").is_dir():
            root.mkdir(parents=True, exist_ok=True)
            await self._git("init", "-q", "-b", BRANCH)
        await self._clear_stale_locks()
        await self._git("config", "user.name", AUTHOR[0])
        await self._git("config", "user.email", AUTHOR[1])
        remotes = (await self._git("remote")).split()
        if self.config.remote is not None:
            verb = "set-url" if REMOTE_NAME in remotes else "add"
            await self._git("remote", verb, REMOTE_NAME, self.config.remote)
        self._initialised = True

    async def _clear_stale_locks(self) -> None:
        """A relay killed in the middle of a git command leaves its lock file behind, and every later command
        would fail on it. None of ours runs yet, so a lock that is (or grows) STALE_LOCK_S old is a dead
        process's: remove it. A younger one may be an orphaned git finishing: wait for it first."""
        git_dir = self.config.repo_dir / ".git"
        locks = [git_dir / name for name in ("index.lock", "config.lock", "HEAD.lock", "packed-refs.lock")]
        locks += list((git_dir / "refs").rglob("*.lock"))
        for lock in locks:
            while True:
                try:
                    age = time.time() - lock.stat().st_mtime
                except FileNotFoundError:
                    break
                if age >= STALE_LOCK_S:
                    log.warning(
                        "archive: removing %s, left by a git process that died", lock.relative_to(git_dir)
                    )
                    lock.unlink(missing_ok=True)
                    break
                await asyncio.sleep(min(1.0, STALE_LOCK_S - age))

    # ---- the gateway's queue ----------------------------------------------------------------------

    def enqueue(self, files: list[tuple[str, bytes]], owner: str = "", origin: str = "local") -> str:
        """Persist a submission (fsync'd) until a commit holds it; returns its queue id."""
        return self.queue.put(files, owner, origin).qid

    def clash(self, rel: str) -> Unwritable | None:
        """Why `rel` cannot become a file beside what the archive holds and what is queued, or None."""
        found = problem(self.config.repo_dir, rel)
        if found is not None:
            return found
        queued = self.queue.clash(rel)
        return Unwritable(queued) if queued is not None else None

    def queued_bytes(self, owner: str) -> int:
        return self.queue.owner_bytes(owner)

    # ---- git --------------------------------------------------------------------------------------

    def _token(self) -> str | None:
        token = os.environ.get(self.config.token_env)
        return token or None

    def _redact(self, text: str) -> str:
        token = self._token()
        return text.replace(token, "***") if token else text

    async def _git(self, *args: str, auth: bool = False) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(GIT_TERMINAL_PROMPT="0", GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
        token = self._token() if auth else None
        if token is not None:
            # GitHub takes a token as the password of HTTP Basic auth (any user name): `x-access-token`
            basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
            env.update(
                GIT_CONFIG_COUNT="1",
                GIT_CONFIG_KEY_0="http.extraHeader",
                GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}",
            )
        proc = await asyncio.create_subprocess_exec(
            "git",
            *args,
            cwd=self.config.repo_dir,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group: a push runs helpers (git-remote-http) too
        )
        try:
            async with asyncio.timeout(GIT_TIMEOUT_S):
                out, err = await proc.communicate()
        except BaseException:  # cancelled or timed out: never leave a git process (or its helpers) behind
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            raise
        if proc.returncode != 0:
            raise GitError(
                f"git {args[0]} failed ({proc.returncode}): {self._redact(err.decode(errors='replace'))[:500]}"
            )
        return out.decode(errors="replace")

    def describe(self) -> dict[str, Any]:
        remote = self.config.remote
        return {
            "repo": str(self.config.repo_dir),
            "remote": remote,
            "interval_s": self.config.interval_s,
            "commits": self.status.commits,
            "pushes": self.status.pushes,
            "push_failures": self.status.push_failures,
            "queued": len(self.queue),
            "queued_bytes": self.queue.total.bytes,
            "quarantined": self.queue.quarantined,
            "last_commit_at": self.status.last_commit_at,
            "last_push_at": self.status.last_push_at,
            "last_error": self.status.last_error,
        }


def json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
