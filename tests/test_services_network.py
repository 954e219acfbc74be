"""The services runtime between real nodes on a loopback relay: calls and streams through a peer, retry on
another peer when the serving one leaves mid-stream, and work cancelled when its requester leaves."""

from __future__ import annotations

import asyncio

import pytest

from pynode.identity import Identity
from pynode.net.reqresp import RequestFailed
from pynode.node import Node, NodeConfig
from pynode.platform import native
from pynode.runtime.services import ServicesRuntime
from pynode.services import codec
from pynode.services.codec import ServiceError
from pynode.services.spec import Context, Method, Service, ServiceSpec
from tests.netutil import eventually, relay_on

pytestmark = pytest.mark.slow


def _count_args(args: dict) -> tuple[int, int]:
    n, start = args.get("n"), args.get("start", 0)
    if not isinstance(n, int) or not 0 < n <= 1000 or not isinstance(start, int):
        raise ValueError("n must be 1..1000")
    return start, n


def _echo_args(args: dict) -> dict:
    if not isinstance(args.get("x"), int):
        raise ValueError("x must be an integer")
    return args


class Counter:
    """A test service: `count` streams the numbers start..n-1, slowly; `hold` streams nothing until cancelled."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.held = asyncio.Event()
        self.cancelled = asyncio.Event()

    def service(self) -> Service:
        return Service(
            ServiceSpec("counter", capacity=4),
            {
                "count": Method(_count_args, self.count, stream=True),
                "hold": Method(_count_args, self.hold, stream=True),
                "echo": Method(_echo_args, self.echo),
            },
        )

    async def echo(self, ctx: Context, args: dict) -> dict:
        ctx.units = 1
        return args

    async def count(self, ctx: Context, args: tuple[int, int]):
        start, n = args
        for i in range(start, n):
            await asyncio.sleep(self.delay)
            ctx.units += 1
            yield i

    async def hold(self, ctx: Context, args: tuple[int, int]):
        self.held.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        yield 0


async def _node(url: str, services: list[Service]) -> tuple[Node, ServicesRuntime]:
    node = Node(await Identity.generate(), native.relay_link(url), NodeConfig(direct_peers=0))
    runtime = ServicesRuntime(node, None, services)  # hosting announces the caps at the relay hello
    await node.start()
    await runtime.start()
    return node, runtime


@pytest.fixture
async def mesh(tmp_path):
    relay = await relay_on(tmp_path, embedded_node=False)
    made: list[tuple[Node, ServicesRuntime]] = []

    async def add(services: list[Service]) -> tuple[Node, ServicesRuntime]:
        made.append(await _node(relay.url, services))
        return made[-1]

    yield add
    for node, runtime in made:
        await runtime.stop()
        await node.stop()
    await relay.stop()


async def test_calls_and_streams_through_a_peer(mesh):
    counter = Counter(0.001)
    server, hosting = await mesh([counter.service()])
    client, asking = await mesh([])
    await eventually(lambda: asking.providers("counter") == [server.peer_id], 20, "discovery")
    assert await asking.call("counter", "echo", {"x": 1}) == {"x": 1}
    items = [i async for i in asking.stream("counter", "count", {"n": 50})]
    assert items == list(range(50))
    tally = hosting.servers["counter"].tally
    assert tally.served == 2 and tally.units == 51 and tally.by_peer[client.peer_id] == 2
    assert asking.served_us[(server.peer_id, "counter")] == 2
    with pytest.raises(ServiceError) as e:
        await asking.call("counter", "echo", {"x": "no"})  # invalid: refused, not retried elsewhere
    assert e.value.code == codec.BAD_REQUEST
    with pytest.raises(ServiceError) as e:
        await asking.call("nothing", "x", {})
    assert e.value.code == codec.UNAVAILABLE
    # a hostile requester speaking the wire directly: refused with a clear reason, the server carries on
    for data, reason in [
        (b"\xff\xfe garbage", "bad_request: "),
        (b"\xa0", "bad_request: "),  # an empty map: no op
        (b"x" * (64 * 1024 + 1), "too_large: request of 65537 bytes > 65536"),
        (codec.Pull(999).encode(), "no_stream: no open stream 999"),
    ]:
        with pytest.raises(RequestFailed, match=reason):
            await client.request(server.peer_id, codec.proto("counter"), data)
    assert await asking.call("counter", "echo", {"x": 2}) == {"x": 2}


async def test_a_stream_resumes_on_another_peer_when_its_server_leaves(mesh):
    first, _ = await mesh([Counter(0.02).service()])
    second, _ = await mesh([Counter(0.001).service()])
    client, asking = await mesh([])
    await eventually(lambda: len(asking.providers("counter")) == 2, 20, "two providers")
    asking.picker.started(second.peer_id, 0)  # make the slow one the first choice
    asking.picker.succeeded(second.peer_id, 5.0, 0, asyncio.get_running_loop().time())
    seen: list[int] = []

    def resume(args: dict, items: list) -> dict:
        return {**args, "start": args.get("start", 0) + len(items)}

    async for i in asking.stream("counter", "count", {"n": 100}, resume=resume):
        seen.append(i)
        if len(seen) == 10:
            await first.stop()  # the serving peer leaves mid-stream
    assert seen == list(range(100))
    assert asking.asked["retried"] == 1
    assert asking.served_us[(second.peer_id, "counter")] == 1


async def test_work_is_cancelled_when_its_requester_leaves(mesh):
    counter = Counter(0.001)
    server, hosting = await mesh([counter.service()])
    client, asking = await mesh([])
    await eventually(lambda: asking.providers("counter") == [server.peer_id], 20, "discovery")
    task = asyncio.ensure_future(anext(asking.stream("counter", "hold", {"n": 1}, timeout=30)))
    await asyncio.wait_for(counter.held.wait(), 20)
    assert hosting.servers["counter"].quotas.total_open == 1
    await client.stop()
    await asyncio.wait_for(counter.cancelled.wait(), 20)
    await eventually(lambda: hosting.servers["counter"].quotas.total_open == 0, 20, "slot freed")
    assert hosting.servers["counter"].tally.refused[codec.CANCELLED] == 1
    task.cancel()


async def test_peers_cap_lists_the_profiles_that_offer_it(tmp_path):
    import argparse

    from pynode.cli.peers import _rows
    from pynode.identity import peer_id_text
    from pynode.runtime.replica import StateReplica

    relay = await relay_on(tmp_path)  # its own node holds the state: ours learns its history from it
    node = Node(await Identity.generate(), native.relay_link(relay.url), NodeConfig(direct_peers=0))
    replica = StateReplica(node)
    runtime = ServicesRuntime(node, replica, [Counter(0.001).service()], name="counting")
    await node.start()
    await replica.start()
    await runtime.start()
    try:
        mine = lambda: [r for r in replica.store.all_records("identities") if r.author == node.peer_id]  # noqa: E731
        await eventually(lambda: bool(mine()), 30, "our profile")
        args = argparse.Namespace(
            relay=relay.url, cap="counter", data_dir=tmp_path / "cli", sync_timeout=10.0
        )
        rows = await _rows(args)
        ours = [r for r in rows if r["peer"] == peer_id_text(node.peer_id)]
        assert [(r["name"], r["online"]) for r in ours] == [("counting", True)] and len(rows) == 1
        assert ours[0]["service"]["capacity"] == 4 and "counter" in ours[0]["caps"]
        assert await _rows(argparse.Namespace(**{**vars(args), "cap": "storage"})) == []
    finally:
        await runtime.stop()
        await replica.stop()
        await node.stop()
        await relay.stop()


@pytest.fixture(scope="module")
def charlm():
    from pynode.services.inference_weights import committed

    return committed("charlm")


async def test_inference_through_a_peer_and_a_peer_leaving_mid_completion(mesh, charlm):
    from pynode.services.inference import Inference, resume_completion

    models = {"charlm": charlm}
    first, _ = await mesh([Inference(models).service()])
    second, _ = await mesh([Inference(models).service()])
    client, asking = await mesh([])
    await eventually(lambda: len(asking.providers("inference")) == 2, 20, "two inference providers")
    greedy = {"prompt": "the pressure ", "max_tokens": 300, "temperature_milli": 0}  # seconds of work
    local = "".join(
        [
            p
            async for p in Inference(models).complete(
                Context(b""), Inference(models)._parse_completion(greedy)
            )
        ]
    )
    remote = "".join(
        [p async for p in asking.stream("inference", "complete", greedy, resume=resume_completion)]
    )
    assert remote == local  # the same model through a peer gives the same greedy text
    served_by = next(p for (p, cap) in asking.served_us if cap == "inference")
    leaving = first if served_by == first.peer_id else second
    asking.picker.failed(
        second.peer_id if leaving is first else first.peer_id, asyncio.get_running_loop().time()
    )
    pieces: list[str] = []
    async for piece in asking.stream("inference", "complete", greedy, resume=resume_completion):
        pieces.append(piece)
        if len(pieces) == 5:
            await leaving.stop()  # the serving peer leaves mid-completion
    assert len(pieces) == 300 and asking.asked["retried"] == 1
    # greedy continuation of the same text: the resumed completion is the uninterrupted one
    assert "".join(pieces) == local


async def test_the_requester_signs_receipts_for_what_peers_served_it(tmp_path):
    from pynode.runtime.replica import StateReplica

    relay = await relay_on(tmp_path, embedded_node=False)
    made = []
    for services in ([Counter(0.001).service()], []):
        node = Node(await Identity.generate(), native.relay_link(relay.url), NodeConfig(direct_peers=0))
        replica = StateReplica(node)
        made.append((node, replica, ServicesRuntime(node, replica, services)))
    try:
        for node, replica, runtime in made:
            await node.start()
            await replica.start()
            await runtime.start()
        (server, _, _), (client, replica, asking) = made
        await eventually(lambda: asking.providers("counter") == [server.peer_id], 20, "discovery")
        for _ in range(3):
            await asking.call("counter", "echo", {"x": 1})
        assert [i async for i in asking.stream("counter", "count", {"n": 5})] == list(range(5))
        await asking.stop()  # the node stops: the running hour's receipts are signed now
        (receipt,) = replica.store.all_records("receipts")
        assert receipt.author == client.peer_id and receipt.kind == "receipt"
        assert receipt.body["server"] == server.peer_id and receipt.body["cap"] == "counter"
        assert receipt.body["count"] == 4 and receipt.body["units"] == 3 + 5
        again = ServicesRuntime(client, replica, [])  # a restart within the hour adds to that receipt
        again.receipts.served(server.peer_id, "counter", 2, receipt.body["epoch"] * 3_600_000 + 1)
        await again.stop()
        bodies = sorted((r.body["count"], r.body["units"]) for r in replica.store.all_records("receipts"))
        assert bodies == [(4, 8), (5, 10)]
    finally:
        for node, replica, runtime in made:
            await runtime.stop()
            await replica.stop()
            await node.stop()
        await relay.stop()
