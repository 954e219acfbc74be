"""The task board, sans-IO: record schemas (hostile bodies refused), the board view (which assignment counts,
declines stand), matching by capabilities, memory and CPU share, and orchestrators and workers assigning,
declining and reassigning on churn over real signed records."""

from __future__ import annotations

import json

import pytest

from pynode.identity import Identity
from pynode.services.orchestration.board import ASSIGNED, EXPIRED, OPEN, RUNNING, board
from pynode.services.orchestration.core import Orchestrator, Worker, responsible
from pynode.services.orchestration.limits import GONE_GRACE_S, HORIZON_S, REPLY_TIMEOUT_S
from pynode.services.orchestration.matching import Candidate, match
from pynode.state.records import decode_record, make_record
from pynode.wire.errors import WireError

T0 = 1_800_000_000_000  # ms


def task_body(**over) -> dict:
    body = {
        "kind": "diloco",
        "title": "char-LM DiLoCo run",
        "spec": json.dumps({"task": "charlm", "rounds": 20}),
        "caps": ["research"],
        "memory_mb": 512,
        "compute_s": 600,
        "slots": 2,
        "expires": T0 + 3_600_000,
    }
    return {**body, **over}


class World:
    """Signed records of a few nodes, and the board they make."""

    def __init__(self) -> None:
        self.tasks: list = []
        self.assignments: list = []
        self.replies: list = []
        self.orchestrators: set[bytes] = set()

    def board(self):
        return board(self.tasks, self.assignments, self.replies, self.orchestrators.__contains__)

    async def add(self, who: Identity, kind: str, body: dict, ts: int) -> None:
        r = await make_record(who.signer, kind, body, ts)
        assert decode_record(r.encoded) == r  # what travels is what was made
        {"task": self.tasks, "assignment": self.assignments, "task_reply": self.replies}[kind].append(r)


@pytest.mark.parametrize(
    ("kind", "body", "error"),
    [
        ("task", task_body(kind="mining"), "kind must be one of"),
        ("task", task_body(caps=["Research!"]), "capability names"),
        ("task", task_body(slots=0), "slots"),
        ("task", task_body(slots=257), "slots"),
        ("task", task_body(memory_mb=-1), "memory_mb"),
        ("task", task_body(title="x" * 201), "title"),
        ("task", {**task_body(), "extra": 1}, "keys"),
        ("task", task_body(orchestrators=[b"o" * 31]), "32-byte peer ids"),
        ("task", task_body(orchestrators=[bytes([i]) * 32 for i in range(9)]), "at most 8"),
        ("assignment", {"task": "a" * 64, "epoch": 0, "nodes": [b"p" * 32, b"p" * 32]}, "distinct"),
        ("assignment", {"task": "nope", "epoch": 0, "nodes": []}, "record key"),
        ("task_reply", {"task": "a" * 64, "epoch": 0, "accept": 1}, "boolean"),
    ],
)
async def test_hostile_task_records_are_refused(kind: str, body: dict, error: str) -> None:
    me = await Identity.generate()
    with pytest.raises(WireError, match=error):
        await make_record(me.signer, kind, body, T0)


async def test_the_board_counts_the_newest_epoch_of_orchestrators_only_and_declines_stand() -> None:
    w = World()
    poster, orch, rogue = await Identity.generate(), await Identity.generate(), await Identity.generate()
    a, b = b"a" * 32, b"b" * 32
    w.orchestrators.add(orch.peer_id)
    await w.add(poster, "task", task_body(), T0)
    key = w.tasks[0].key
    assert w.board()[key].status(T0) == OPEN
    await w.add(orch, "assignment", {"task": key, "epoch": 0, "nodes": [a]}, T0 + 1)
    await w.add(orch, "assignment", {"task": key, "epoch": 1, "nodes": [a, b]}, T0 + 2)
    rogue_body = {"task": key, "epoch": 2, "nodes": [b"r" * 32]}
    await w.add(rogue, "assignment", rogue_body, T0 + 3)  # not an orchestrator: does not count
    jumper = await Identity.generate()
    w.orchestrators.add(jumper.peer_id)
    await w.add(
        jumper, "assignment", {"task": key, "epoch": 2**32, "nodes": [b"j" * 32]}, T0 + 4
    )  # skips ahead
    s = w.board()[key]
    assert s.epoch == 1 and s.nodes == [a, b] and s.status(T0) == ASSIGNED
    assert w.board()[key].status(T0 + 3_600_000) == EXPIRED
    # a task naming its orchestrators counts only theirs
    await w.add(poster, "task", task_body(orchestrators=[jumper.peer_id]), T0 + 5)
    pinned = w.tasks[-1].key
    await w.add(orch, "assignment", {"task": pinned, "epoch": 0, "nodes": [a]}, T0 + 6)
    assert w.board()[pinned].status(T0) == OPEN
    await w.add(jumper, "assignment", {"task": pinned, "epoch": 0, "nodes": [b]}, T0 + 7)
    assert w.board()[pinned].nodes == [b]
    o = Orchestrator(orch.peer_id)  # the only live orchestrator, but not named: it leaves the task alone
    cands = {a: Candidate(a, frozenset({"research"}), 4096, 1.0)}
    assert all(x.body["task"] != pinned for x in o.tick(w.board(), cands, {orch.peer_id}, {a}, 0.0, T0))


async def test_matching_by_caps_memory_and_cpu_share() -> None:
    w = World()
    poster = await Identity.generate()
    await w.add(poster, "task", task_body(slots=3), T0)
    s = w.board()[w.tasks[0].key]
    full = Candidate(b"f" * 32, frozenset({"research"}), 4096, 600 / HORIZON_S * 0.5)  # 300 s of budget
    small = Candidate(b"m" * 32, frozenset({"research"}), 256, 1.0)
    nocap = Candidate(b"n" * 32, frozenset({"storage"}), 4096, 1.0)
    roomy = Candidate(b"r" * 32, frozenset({"research", "storage"}), 8192, 1.0)
    half = Candidate(b"h" * 32, frozenset({"research"}), 1024, 0.5)
    assert match(s, [full, small, nocap, half, roomy], w.board(), T0) == [roomy.peer, half.peer]


async def test_orchestrator_assigns_workers_decline_and_churn_reassigns() -> None:
    w = World()
    poster, orch = await Identity.generate(), await Identity.generate()
    nodes = [await Identity.generate() for _ in range(4)]
    w.orchestrators.add(orch.peer_id)
    # two roomy nodes, one whose CPU share is spoken for, one that lacks the capability
    spec = [
        (frozenset({"research"}), 1.0),
        (frozenset({"research"}), 0.9),
        (frozenset({"research"}), 0.05),
        (frozenset(), 1.0),
    ]
    cands = {
        n.peer_id: Candidate(n.peer_id, caps, 2048, share)
        for n, (caps, share) in zip(nodes, spec, strict=True)
    }
    workers = {n.peer_id: Worker(cands[n.peer_id]) for n in nodes}
    o = Orchestrator(orch.peer_id)
    await w.add(poster, "task", task_body(slots=2, compute_s=900), T0)
    key = w.tasks[0].key
    live = set(cands)

    async def step(now_s: float, now_ms: int) -> None:
        for a in o.tick(
            w.board(), {p: c for p, c in cands.items() if p in live}, {orch.peer_id}, live, now_s, now_ms
        ):
            await w.add(orch, "assignment", a.body, now_ms)
        for p, worker in workers.items():
            if p in live:
                for r in worker.tick(w.board(), now_ms):
                    await w.add(next(n for n in nodes if n.peer_id == p), "task_reply", r.body, now_ms)

    await step(0.0, T0 + 1000)
    s = w.board()[key]
    assert s.epoch == 0 and set(s.nodes) == {nodes[0].peer_id, nodes[1].peer_id}
    await step(1.0, T0 + 2000)
    assert w.board()[key].status(T0 + 2000) == RUNNING
    # the third node has 0.05 × 3600 = 180 s: it would decline a 900 s task if assigned (checked directly)
    lonely = Worker(cands[nodes[2].peer_id])
    fake = await make_record(
        orch.signer, "assignment", {"task": key, "epoch": 0, "nodes": [nodes[2].peer_id]}, T0
    )
    replies = lonely.tick(board(w.tasks, [fake], [], {orch.peer_id}.__contains__), T0 + 2000)
    assert replies[0].body["accept"] is False and "CPU share full" in replies[0].body["reason"]
    # a taken node leaves: after the grace it is replaced by the next qualifying node, if any
    gone = nodes[1].peer_id
    live.discard(gone)
    await step(10.0, T0 + 10_000)
    assert w.board()[key].epoch == 0  # within the grace: a reconnect is not churn
    cands[nodes[2].peer_id] = Candidate(
        nodes[2].peer_id, frozenset({"research"}), 2048, 1.0
    )  # it freed its CPU
    workers[nodes[2].peer_id] = Worker(cands[nodes[2].peer_id])
    await step(10.0 + GONE_GRACE_S, T0 + 50_000)
    s = w.board()[key]
    assert s.epoch == 1 and set(s.nodes) == {nodes[0].peer_id, nodes[2].peer_id}
    await step(11.0 + GONE_GRACE_S, T0 + 51_000)
    assert w.board()[key].status(T0 + 51_000) == RUNNING


async def test_a_silent_node_is_replaced_after_the_reply_timeout() -> None:
    w = World()
    poster, orch = await Identity.generate(), await Identity.generate()
    quiet, other = b"q" * 32, b"o" * 32
    w.orchestrators.add(orch.peer_id)
    await w.add(poster, "task", task_body(slots=1), T0)
    key = w.tasks[0].key
    o = Orchestrator(orch.peer_id)
    cands = {quiet: Candidate(quiet, frozenset({"research"}), 4096, 1.0)}
    for a in o.tick(w.board(), cands, {orch.peer_id}, {quiet}, 0.0, T0):
        await w.add(orch, "assignment", a.body, T0)
    assert w.board()[key].nodes == [quiet]
    cands[other] = Candidate(other, frozenset({"research"}), 1024, 1.0)
    assert (
        o.tick(w.board(), cands, {orch.peer_id}, {quiet, other}, 1.0, T0 + 1000) == []
    )  # it may still answer
    later = T0 + int(REPLY_TIMEOUT_S * 1000) + 1
    out = o.tick(w.board(), cands, {orch.peer_id}, {quiet, other}, 2.0, later)
    assert [a.body["nodes"] for a in out] == [[other]] and out[0].body["epoch"] == 1


def test_one_orchestrator_is_responsible_for_each_task() -> None:
    orchs = [bytes([i]) * 32 for i in range(5)]
    picks = {responsible(f"{k:064x}", orchs) for k in range(50)}
    assert len(picks) > 1 and picks <= set(orchs)  # spread, and every replica picks the same one
    assert responsible("a" * 64, orchs) == responsible("a" * 64, list(reversed(orchs)))


async def test_a_worker_declines_what_its_node_refuses_and_bad_diloco_specs_are_refused() -> None:
    from pynode.runtime.task_runner import run_of

    w = World()
    poster, orch = await Identity.generate(), await Identity.generate()
    me = Candidate(b"m" * 32, frozenset({"research"}), 4096, 1.0)
    w.orchestrators.add(orch.peer_id)
    await w.add(poster, "task", task_body(slots=1), T0)
    key = w.tasks[0].key
    await w.add(orch, "assignment", {"task": key, "epoch": 0, "nodes": [me.peer]}, T0)
    worker = Worker(me, refuse=lambda task: "already in a DiLoCo run" if task["kind"] == "diloco" else None)
    [reply] = worker.tick(w.board(), T0)
    assert reply.body == {"task": key, "epoch": 0, "accept": False, "reason": "already in a DiLoCo run"}
    assert run_of(json.dumps({"run": "ab" * 16, "task": "x"})) == bytes.fromhex("ab" * 16)
    for bad in ("[]", '{"run": 5}', '{"run": "zz"}', '{"run": "' + "zz" * 16 + '"}', "{"):
        with pytest.raises(ValueError):
            run_of(bad)
