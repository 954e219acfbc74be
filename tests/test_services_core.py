"""The services framework's sans-IO parts: codec, limits before parsing, quotas, streams, peer choice,
receipts and the profile schema."""

from __future__ import annotations

import random

import pytest

from pynode.services import codec
from pynode.services.choose import Picker
from pynode.services.codec import ServiceError
from pynode.services.limits import STREAM_BUFFER_BYTES, STREAM_IDLE_S
from pynode.services.profile import offers, with_services
from pynode.services.receipts import EPOCH_MS, ReceiptTally, merge
from pynode.services.server import Begin, Next, ServiceServer, Stopped
from pynode.services.spec import Method, ServiceSpec
from pynode.state.records import SCHEMAS, Record
from pynode.wire import cbor
from pynode.wire.errors import WireError

A, B, C = b"a" * 32, b"b" * 32, b"c" * 32


def _parse_echo(args: dict) -> str:
    text = args.get("text")
    if not isinstance(text, str) or len(text) > 100:
        raise ValueError("text must be at most 100 characters")
    return text


async def _run(ctx, text):  # never awaited here: the core only parses
    return text


METHODS = {"echo": Method(_parse_echo, _run), "count": Method(_parse_echo, _run, stream=True)}


def server(**limits) -> ServiceServer:
    return ServiceServer(ServiceSpec("echo", **limits), METHODS)


def call(method: str = "echo", **args) -> bytes:
    return codec.Call(method, args or {"text": "hi"}).encode()


def refused(s: ServiceServer, peer: bytes, data: bytes, now: float = 0.0) -> str:
    with pytest.raises(ServiceError) as e:
        s.receive(peer, data, now)
    return e.value.code


# ---- codec -----------------------------------------------------------------------------------------------


def test_messages_round_trip_and_answers_decode():
    assert codec.decode_request(call(text="x"), 1000) == codec.Call("echo", {"text": "x"})
    assert codec.decode_request(codec.Pull(7).encode(), 1000) == codec.Pull(7)
    assert codec.decode_request(codec.Stop(7).encode(), 1000) == codec.Stop(7)
    assert codec.decode_answer(codec.Result([1, "a"], 250).encode(), 1000) == codec.Result([1, "a"], 250)
    chunk = codec.Chunk(3, ["a", "b"], True, 0)
    assert codec.decode_answer(chunk.encode(), 1000) == chunk


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\x00",  # not CBOR
        cbor.encode([1, 2]),  # not a map
        cbor.encode({"op": "call", "m": "echo"}),  # no arguments
        cbor.encode({"op": "call", "m": "echo", "a": [1]}),  # arguments not a map
        cbor.encode({"op": "call", "m": "x" * 100, "a": {}}),  # method name too long
        cbor.encode({"op": "pull", "s": 0}),  # stream ids start at 1
        cbor.encode({"op": "fly", "s": 1}),
        cbor.encode({"op": "pull", "s": 1, "extra": 1}),
    ],
)
def test_malformed_requests_are_bad_requests(data):
    with pytest.raises(ServiceError) as e:
        codec.decode_request(data, 1000)
    assert e.value.code == codec.BAD_REQUEST and not e.value.retryable


def test_a_malformed_answer_is_that_servers_failure():
    with pytest.raises(ServiceError) as e:
        codec.decode_answer(cbor.encode({"s": 1, "items": "no", "end": True, "load": 0}), 1000)
    assert e.value.code == codec.FAILED and e.value.retryable


def test_refusal_reasons_parse_back_to_codes():
    assert ServiceError.from_reason("busy: full").code == codec.BUSY
    assert ServiceError.from_reason("bad_request: nope").retryable is False
    # a reason from the transport (the peer left) is a retryable failure of that peer
    assert ServiceError.from_reason("abc disconnected").code == codec.FAILED


# ---- limits before parsing ---------------------------------------------------------------------------------


def test_oversized_requests_are_refused_unread():
    s = server(max_bytes=64)
    assert refused(s, A, b"\xff" * 65) == codec.TOO_LARGE  # garbage, but never parsed
    assert s.tally.refused[codec.TOO_LARGE] == 1 and s.tally.refused_peers[A] == 1


def test_rate_limit_refuses_before_parsing_and_refills():
    s = server(per_min=60, burst=2, concurrent=10)
    for _ in range(2):
        order = s.receive(A, call(), 0.0)
        s.finished(A, True, 1)
        assert isinstance(order, Begin)
    assert refused(s, A, b"\xff garbage", 0.5) == codec.RATE_LIMITED  # refused unread
    assert isinstance(s.receive(B, call(), 0.5), Begin)  # another requester has its own bucket
    assert isinstance(s.receive(A, call(), 1.6), Begin)  # one token back after a second


def test_arguments_are_validated_by_the_method():
    s = server()
    assert refused(s, A, call(text="x" * 101)) == codec.BAD_REQUEST
    assert refused(s, A, call("nope")) == codec.UNKNOWN_METHOD


def test_concurrency_per_requester_and_in_total():
    s = server(concurrent=1, capacity=2, burst=10)
    s.receive(A, call(), 0)
    assert refused(s, A, call()) == codec.BUSY
    s.receive(B, call(), 0)
    assert refused(s, C, call()) == codec.BUSY  # capacity 2 is full
    assert s.load() == 1000
    s.finished(A, True, 3)
    assert isinstance(s.receive(C, call(), 0), Begin)
    assert s.tally.served == 1 and s.tally.units == 3 and s.tally.by_peer[A] == 1


# ---- streams -----------------------------------------------------------------------------------------------


def open_stream(s: ServiceServer, peer: bytes = A, now: float = 0.0) -> int:
    order = s.receive(peer, call("count"), now)
    assert isinstance(order, Begin) and order.sid > 0
    return order.sid


def chunk(data: bytes) -> codec.Chunk:
    answer = codec.decode_answer(data, 1 << 20)
    assert isinstance(answer, codec.Chunk)
    return answer


def test_a_stream_buffers_items_between_pulls_and_ends():
    s = server()
    sid = open_stream(s)
    assert s.take(sid) is None  # nothing yet: the runtime waits
    for i in range(3):
        assert s.push(sid, f"t{i}")
    assert chunk(s.take(sid)).items == ["t0", "t1", "t2"]
    s.push(sid, "t3")
    s.close(sid, None, units=4)
    last = chunk(s.take(sid))
    assert last.items == ["t3"] and last.end
    assert not s.alive(sid) and s.tally.served == 1 and s.tally.units == 4
    assert s.quotas.total_open == 0


def test_a_stream_pauses_its_producer_when_the_puller_lags():
    s = server()
    sid = open_stream(s)
    item = "x" * 1000
    while s.room(sid):
        s.push(sid, item)
    assert s._streams[sid].buffered >= STREAM_BUFFER_BYTES
    s.take(sid)
    assert s.room(sid)


def test_a_failing_producer_delivers_its_items_then_the_error():
    s = server()
    sid = open_stream(s)
    s.push(sid, "a")
    s.close(sid, ServiceError(codec.FAILED, "model crashed"), 1)
    assert chunk(s.take(sid)).items == ["a"]
    with pytest.raises(ServiceError, match="model crashed"):
        s.take(sid)
    assert s.tally.served == 0 and s.quotas.total_open == 0


def test_only_the_opener_may_pull_or_stop_a_stream():
    s = server()
    sid = open_stream(s, A)
    assert refused(s, B, codec.Pull(sid).encode()) == codec.NO_STREAM
    assert s.receive(B, codec.Stop(sid).encode(), 0) == Stopped(B, sid) and s.alive(sid)  # B cannot stop it
    assert s.receive(A, codec.Pull(sid).encode(), 1.0) == Next(A, sid)
    assert s.receive(A, codec.Stop(sid).encode(), 1.0) == Stopped(A, sid)
    assert chunk(s.ended(sid)) == codec.Chunk(sid, [], True, 0)
    assert not s.alive(sid) and s.quotas.total_open == 0


def test_streams_of_a_departed_or_idle_requester_are_cancelled():
    s = server(concurrent=2)
    gone, idle, kept = open_stream(s, A), open_stream(s, B), open_stream(s, C)
    s.receive(B, codec.Pull(idle).encode(), 1.0)
    s.receive(C, codec.Pull(kept).encode(), STREAM_IDLE_S)
    cancelled = s.tick(STREAM_IDLE_S + 2.0, connected={B, C})
    assert sorted(cancelled) == sorted([gone, idle])
    assert s.alive(kept) and not s.alive(gone) and s.tally.refused[codec.CANCELLED] == 2
    assert s.tally.cancelled == {"left": 1, "idle": 1}


def test_pulls_of_an_open_stream_go_on_when_the_call_bucket_is_empty():
    s = server(burst=1, per_min=1)
    sid = open_stream(s)
    assert refused(s, A, call()) == codec.RATE_LIMITED
    assert s.receive(A, codec.Pull(sid).encode(), 0.1) == Next(A, sid)


# ---- choosing a peer ---------------------------------------------------------------------------------------


def test_the_picker_prefers_fast_unloaded_peers_and_demotes_failures():
    p = Picker(random.Random(1))
    for peer, latency, load in ((A, 0.01, 0), (B, 0.01, 900), (C, 0.05, 0)):
        p.started(peer, 0)
        p.succeeded(peer, latency, load, 0)
    assert p.rank([A, B, C], 1) == [A, B, C]
    p.started(A, 1)
    p.failed(A, 1)
    assert p.rank([A, B, C], 2)[-1] == A  # cooling down after a failure
    assert p.rank([A, B, C], 100)[0] == A  # forgiven later


def test_unmeasured_peers_get_tried_before_slow_ones():
    p = Picker(random.Random(1))
    p.started(A, 0)
    p.succeeded(A, 2.0, 0, 0)
    assert p.rank([A, B], 1) == [B, A]


# ---- receipts ----------------------------------------------------------------------------------------------


def test_receipts_are_due_when_their_hour_ends_and_all_at_shutdown():
    t = ReceiptTally()
    hour = 500 * EPOCH_MS
    t.served(A, "inference", 10, hour + 5)
    t.served(A, "inference", 7, hour + 6)
    t.served(B, "inference", 1, hour + EPOCH_MS + 1)
    assert t.due(hour + EPOCH_MS - 1) == []
    due = t.due(hour + EPOCH_MS + 2)
    assert due == [{"cap": "inference", "server": A, "epoch": 500, "count": 2, "units": 17}]
    for body in due:
        SCHEMAS["receipt"](body)  # the state's schema accepts what we publish
    assert [b["server"] for b in t.flush()] == [B] and t.pending() == 0


def test_a_second_receipt_for_the_same_hour_adds_the_first():
    body = {"cap": "inference", "server": A, "epoch": 5, "count": 2, "units": 3}
    assert merge(body, None) == body
    assert merge(body, {**body, "count": 4, "units": 1}) == {**body, "count": 6, "units": 4}


# ---- the profile ---------------------------------------------------------------------------------------------


def profile(author: bytes, ts: int, body: dict) -> Record:
    SCHEMAS["profile"](body)
    return Record("profile", author, ts, body, b"s" * 64, cbor.encode([author, ts, body]))


def test_profiles_advertise_services_with_their_limits_and_old_profiles_still_count():
    entry = ServiceSpec("inference", info={"models": ["charlm-tiny"]}).profile_entry()
    body = with_services(None, "n1", [], {"inference": entry})
    assert body["caps"] == ["inference"] and body["services"]["inference"]["per_min"] == 120
    new = profile(A, 2, body)
    old = profile(B, 1, {"name": "old", "caps": ["inference"]})  # before services existed
    assert [(o.peer, o.entry.get("models")) for o in offers([old, new], "inference")] == [
        (A, ["charlm-tiny"]),
        (B, None),
    ]
    assert with_services(new, "n1", [], {"inference": entry}) is None  # already says so: nothing to publish
    kept = with_services(profile(A, 3, {**body, "origin": [A, b"o" * 16, 1, b"s" * 64]}), "n1", [], {})
    assert kept is None


@pytest.mark.parametrize(
    "services",
    [
        [],
        {"Bad Name": {}},
        {"inference": {"models": ["x" * 65]}},
        {"inference": {"Limit": 1}},
        {"inference": {"per_min": -1}},
        {"inference": {"per_min": 2**60}},
        {"inference": {f"f{i}": 1 for i in range(13)}},
        {f"s{i}": {} for i in range(17)},
    ],
)
def test_the_profile_schema_refuses_malformed_services(services):
    with pytest.raises(WireError):
        SCHEMAS["profile"]({"name": "n", "caps": [], "services": services})


def test_a_peer_that_failed_before_any_success_is_ranked_last_too():
    p = Picker(random.Random(1))
    p.started(A, 0)
    p.failed(A, 0)
    assert p.rank([A, B], 1) == [B, A]
