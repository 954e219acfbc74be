"""The request/response multiplexer (pynode/net/reqresp.py) driven with values and a virtual clock."""

from __future__ import annotations

from collections import Counter

import pytest

from pynode.net.limits import MAX_INFLIGHT_PER_PEER, MAX_REASON_BYTES
from pynode.net.reqresp import Answered, Failed, Reply, ReqResp, Request, Response, Serve, parse
from pynode.wire import cbor
from pynode.wire.errors import WireError
from pynode.wire.limits import MAX_FRAME_BYTES

A, B = b"\x0a" * 32, b"\x0b" * 32
SERVICES = {"test/echo"}


def req(id: int, proto: str = "test/echo", data: bytes = b"") -> dict:
    return cbor.decode(Request(id, proto, data).encode())


def resp(id: int, ok: bool = True, data: bytes = b"") -> dict:
    return cbor.decode(Response(id, ok, data).encode())


def refusal_reason(out: Reply) -> str:
    r = parse(cbor.decode(out.frame))
    assert isinstance(r, Response) and not r.ok
    return r.data.decode()


def test_a_request_is_matched_by_its_response():
    rr = ReqResp(Counter())
    id1, frame = rr.request(B, "test/echo", b"abc", now=0.0, timeout=10)
    id2, _ = rr.request(B, "test/echo", b"def", now=0.0, timeout=10)
    assert id1 != id2 and parse(cbor.decode(frame)) == Request(id1, "test/echo", b"abc")
    assert rr.receive(B, resp(id2, True, b"fed"), SERVICES) == [Answered(B, id2, True, b"fed")]
    assert rr.receive(B, resp(id1, False, b"no"), SERVICES) == [Answered(B, id1, False, b"no")]
    assert rr.next_deadline() is None


def test_a_response_nobody_waits_for_is_counted_and_dropped():
    rejections: Counter[str] = Counter()
    rr = ReqResp(rejections)
    id, _ = rr.request(B, "test/echo", b"", now=0.0, timeout=10)
    assert rr.receive(A, resp(id), SERVICES) == []  # right id, wrong peer
    assert rr.receive(B, resp(id + 1), SERVICES) == []
    assert rejections["unexpected_response"] == 2


def test_requests_time_out_by_the_clock_they_are_given():
    rejections: Counter[str] = Counter()
    rr = ReqResp(rejections)
    early, _ = rr.request(B, "test/echo", b"", now=100.0, timeout=1.0)
    late, _ = rr.request(B, "test/echo", b"", now=100.0, timeout=5.0)
    assert rr.next_deadline() == 101.0
    assert rr.tick(100.9) == []
    assert rr.tick(101.0) == [Failed(B, early, "timed out", timed_out=True)]
    assert rr.next_deadline() == 105.0
    # the answer that arrives after the deadline finds nobody waiting
    assert rr.receive(B, resp(early), SERVICES) == []
    assert rejections["unexpected_response"] == 1
    assert rr.receive(B, resp(late), SERVICES) == [Answered(B, late, True, b"")]


def test_a_peer_that_leaves_fails_its_pending_requests_and_only_those():
    rr = ReqResp(Counter())
    b1, _ = rr.request(B, "test/echo", b"", now=0.0, timeout=10)
    a1, _ = rr.request(A, "test/echo", b"", now=0.0, timeout=10)
    b2, _ = rr.request(B, "test/echo", b"", now=0.0, timeout=10)
    failed = rr.peer_gone(B)
    assert {f.id for f in failed} == {b1, b2} and all(
        isinstance(f, Failed) and not f.timed_out for f in failed
    )
    assert "disconnected" in failed[0].reason
    assert rr.receive(A, resp(a1), SERVICES) == [Answered(A, a1, True, b"")]


def test_a_cancelled_request_is_no_longer_awaited():
    rr = ReqResp(Counter())
    id, _ = rr.request(B, "test/echo", b"", now=0.0, timeout=10)
    rr.cancel(B, id)
    assert rr.tick(100.0) == [] and rr.next_deadline() is None


def test_a_request_for_an_unknown_protocol_is_refused():
    rr = ReqResp(Counter())
    (out,) = rr.receive(A, req(7, "test/nothing"), SERVICES)
    assert isinstance(out, Reply) and out.peer == A
    assert refusal_reason(out) == "unknown protocol test/nothing"


def test_a_peer_cannot_have_more_than_the_inflight_limit_served():
    rejections: Counter[str] = Counter()
    rr = ReqResp(rejections)
    for i in range(MAX_INFLIGHT_PER_PEER):
        assert rr.receive(A, req(i), SERVICES) == [Serve(A, Request(i, "test/echo", b""))]
    (busy,) = rr.receive(A, req(99), SERVICES)
    assert isinstance(busy, Reply) and refusal_reason(busy) == "busy"
    assert rejections["requests_over_limit"] == 1
    # another peer has its own allowance
    assert isinstance(rr.receive(B, req(1), SERVICES)[0], Serve)
    # one finishes: one more may start; the limit holds across a reconnection of the same peer
    rr.served(A, 0, True, b"")
    rr.peer_gone(A)
    assert isinstance(rr.receive(A, req(100), SERVICES)[0], Serve)
    assert rr.serving(A) == MAX_INFLIGHT_PER_PEER


def test_what_a_service_returns_becomes_the_response():
    rr = ReqResp(Counter())
    rr.receive(A, req(1), SERVICES)
    ok = rr.served(A, 1, True, b"cba")
    assert parse(cbor.decode(ok.frame)) == Response(1, True, b"cba") and rr.serving(A) == 0
    rr.receive(A, req(2), SERVICES)
    long_reason = ("x" * 1000).encode()
    refused = rr.served(A, 2, False, long_reason)
    assert refusal_reason(refused) == "x" * MAX_REASON_BYTES
    rr.receive(A, req(3), SERVICES)
    too_big = rr.served(A, 3, True, b"y" * MAX_FRAME_BYTES)
    assert refusal_reason(too_big) == "response too large"


@pytest.mark.parametrize(
    "value",
    [
        {"t": "req", "id": 1, "proto": "test/echo"},  # no data
        {"t": "req", "id": -1, "proto": "test/echo", "data": b""},
        {"t": "req", "id": 1, "proto": "", "data": b""},
        {"t": "req", "id": 1, "proto": "p" * 65, "data": b""},
        {"t": "req", "id": 1, "proto": "test/echo", "data": b"", "x": 1},
        {"t": "resp", "id": 1, "ok": 1, "data": b""},
        {"t": "resp", "id": 1, "ok": False, "data": b"r" * (MAX_REASON_BYTES + 1)},
        {"t": "resp", "id": 1, "ok": True, "data": "text"},
    ],
)
def test_malformed_frames_raise_wire_error(value):
    with pytest.raises(WireError):
        ReqResp(Counter()).receive(A, value, SERVICES)
