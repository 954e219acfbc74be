"""The storage and task-board services a node runs (`node` and `demo`): their options and their composition.

`hosted_services` builds the services runtime with storage (blobs on disk under the data dir, a quota of
--storage-quota) and the task board (worker always, orchestrator unless --no-orchestrator), each unless turned
off; it returns a `Hosted` that starts, stops and reports them.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pynode.cli.common import CliError

MIB = 1024 * 1024


def add_storage_options(p: argparse.ArgumentParser, quota_mib: int) -> None:
    g = p.add_argument_group("storage and tasks (on unless turned off)")
    g.add_argument("--no-storage", action="store_true", help="keep no blobs for the network")
    g.add_argument(
        "--storage-quota",
        type=int,
        default=quota_mib,
        metavar="MIB",
        help=f"disk the node gives to others' blobs, in MiB (default {quota_mib})",
    )
    g.add_argument(
        "--storage-replicas", type=int, default=3, help="copies of each blob the node keeps up (default 3)"
    )
    g.add_argument("--no-tasks", action="store_true", help="take no tasks from the task board")
    g.add_argument("--no-orchestrator", action="store_true", help="take tasks but do not assign them")
    g.add_argument(
        "--task-memory", type=int, default=1024, metavar="MIB", help="memory offered to tasks (default 1024)"
    )


@dataclass
class Hosted:
    services: Any
    storage: Any
    tasks: Any
    runner: Any = None

    async def start(self) -> None:
        await self.services.start()
        for part in (self.storage, self.tasks):
            if part is not None:
                await part.start()

    async def stop(self) -> None:
        for part in (self.tasks, self.runner, self.storage):
            if part is not None:
                await part.stop()
        await self.services.stop()

    def describe(self) -> str:
        parts = []
        if self.storage is not None:
            s = self.storage.core
            parts.append(f"storage {s.holdings.capacity // MIB} MiB, {s.replicas} replicas")
        if self.tasks is not None:
            parts.append("tasks" + (" + orchestrator" if self.tasks.orchestrator else ""))
        return ", ".join(parts)


def share_storage(hosted: Hosted, *parts: Any) -> None:
    """Give the research agent and the validator the node's storage: ml results put their trained checkpoints
    into it, reviewers fetch the checkpoints they check through it."""
    if hosted.storage is not None:
        for part in parts:
            if part is not None:
                part.config.storage = hosted.storage


def hosted_services(
    node: Any, replica: Any, args: argparse.Namespace, data_dir: Path, cpu_share: float
) -> Hosted:
    from pynode.runtime.services import ServicesRuntime
    from pynode.runtime.storage import StorageRuntime
    from pynode.runtime.task_runner import TaskRunner
    from pynode.runtime.tasks import TasksRuntime
    from pynode.services.storage.backend import DiskBackend

    services = ServicesRuntime(node, replica)
    storage = None
    if not args.no_storage:
        if not 1 <= args.storage_replicas <= 8:
            raise CliError("--storage-replicas must be 1..8")
        backend = DiskBackend(data_dir / "blobs")
        storage = StorageRuntime(node, services, backend, args.storage_quota * MIB, args.storage_replicas)
    tasks = runner = None
    if not args.no_tasks:
        runner = TaskRunner(node, storage, cpu_share)

        def taken(task: dict[str, Any]) -> None:
            print(f"  took task {task['kind']}: {task['title']}", file=sys.stderr)
            runner.taken(task)

        orchestrate = not args.no_orchestrator
        tasks = TasksRuntime(
            node, replica, services, args.task_memory, cpu_share, orchestrate, taken, runner.refuse
        )
    return Hosted(services, storage, tasks, runner)
