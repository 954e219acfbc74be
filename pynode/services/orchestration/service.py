"""The orchestration service as the services framework hosts it: its profile entry says what this node offers
to tasks (memory, CPU share) and whether it orchestrates; its one method, `load`, answers what this node has
taken on (orchestrators and `hyperspace tasks` read it; the board stays the record of assignments)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pynode.services.spec import Context, Method, Service, ServiceSpec
from pynode.wire.schema import expect_map

NAME = "orchestration"
LOAD = "load"


def _no_args(a: dict[str, Any]) -> None:
    expect_map(a, "load args", set())


def orchestration_service(
    memory_mb: int, cpu_share: float, orchestrator: bool, load: Callable[[], dict[str, Any]]
) -> Service:
    """`load()`: this node's commitments now ({budget_s, committed_s, tasks})."""

    async def answer_load(ctx: Context, _: None) -> Any:
        return load()

    spec = ServiceSpec(
        name=NAME,
        max_bytes=256,
        info={"memory_mb": memory_mb, "cpu_permille": round(cpu_share * 1000), "orchestrator": orchestrator},
    )
    return Service(spec, {LOAD: Method(_no_args, answer_load)})
