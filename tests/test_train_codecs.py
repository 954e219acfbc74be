"""Datasets, codecs and aggregation: plain Python that every platform must compute identically."""

import math
import struct
from array import array

import pytest

from pynode.train import aggregate as agg
from pynode.train import rng
from pynode.train.compress import INT4_LEVELS, INT8_CHUNK, Codec
from pynode.train.data import load_dataset
from pynode.train.rng import Stream, mix, splitmix64
from pynode.train.zoo import get_model, init_theta
from pynode.wire.errors import WireError


def vec(n, seed, scale=1.0):
    return Stream(mix(seed)).uniforms(n, scale)


def test_batches_are_pure_functions_of_seed_shard_and_step():
    spec = get_model("charlm-tiny")
    data = load_dataset("charlm")
    a = data.batch(spec, seed=1, step=7, shard=2, shards=4)
    assert a == data.batch(spec, seed=1, step=7, shard=2, shards=4)
    assert a != data.batch(spec, seed=1, step=8, shard=2, shards=4)
    assert list(a.x.data[1:32]) == list(a.y.data[:31])  # targets are the inputs shifted by one
    digits = load_dataset("digits")
    assert (len(digits.train), len(digits.val)) == (1797 - 256, 256)
    assert len(digits.hash) == 64


def test_batched_draws_are_splitmix64_of_key_and_counter_past_the_kept_counters(monkeypatch):
    monkeypatch.setattr(rng, "_COUNTERS_KEPT", 5)  # draws 5.. are computed, not looked up
    key = mix(9)
    expected = [splitmix64(key ^ splitmix64(n)) for n in range(1, 12)]
    s = Stream(key)
    assert [s.next_u64()] + s.belows(2**64, 4) + [s.next_u64()] + s.belows(2**64, 5) == expected
    bound = 0.25
    u = Stream(key).uniforms(11, bound)
    assert list(u) == list(array("f", [(x >> 11) * (2 * bound / 2**53) - bound for x in expected]))


def test_theta0_is_a_fresh_array_each_time():
    spec = get_model("digits-mlp")
    a = init_theta(spec, 4)
    first = a[0]
    a[0] = 123.0
    assert init_theta(spec, 4)[0] == first != 123.0


def test_int8_roundtrip_error_is_within_half_a_step_of_each_chunks_scale():
    delta = vec(3 * INT8_CHUNK + 17, 1, 0.01)
    delta[5] = 0.5  # an outlier only coarsens its own chunk
    codec = Codec("int8", len(delta))
    payload = codec.encode(delta)
    assert len(payload) == codec.max_payload() < 4 * len(delta) // 3
    out = codec.decode(payload)
    for c in range(0, len(delta), INT8_CHUNK):
        scale = max(abs(x) for x in delta[c : c + INT8_CHUNK]) / 127
        assert (
            max(abs(a - b) for a, b in zip(delta[c : c + INT8_CHUNK], out[c : c + INT8_CHUNK], strict=True))
            <= scale * 0.51
        )
    assert abs(out[INT8_CHUNK + 3] - delta[INT8_CHUNK + 3]) < 0.01 / 127


@pytest.mark.parametrize("n", [3 * INT8_CHUNK + 17, 2 * INT8_CHUNK])  # odd: the last byte is half padding
def test_int4_roundtrip_error_is_within_half_a_step_of_each_chunks_scale(n):
    delta = vec(n, 2, 0.01)
    delta[5] = 0.5
    codec = Codec("int4", n)
    payload = codec.encode(delta)
    assert len(payload) == codec.max_payload() == (n + 1) // 2 + 4 * -(-n // INT8_CHUNK)
    out = codec.decode(payload)
    assert len(out) == n
    for c in range(0, n, INT8_CHUNK):
        scale = max(abs(x) for x in delta[c : c + INT8_CHUNK]) / INT4_LEVELS
        assert (
            max(abs(a - b) for a, b in zip(delta[c : c + INT8_CHUNK], out[c : c + INT8_CHUNK], strict=True))
            <= scale * 0.51
        )
    assert out[5] == pytest.approx(0.5)  # a chunk's largest value is exact (up to float32)


@pytest.mark.parametrize("name", ["int4", "topk"])
def test_error_feedback_eventually_sends_everything_it_dropped(name):
    n = 1000
    codec = Codec(name, n, topk_fraction=0.05)
    deltas = [vec(n, s) for s in range(5)]
    sent = [codec.decode(codec.encode(d)) for d in deltas]
    for i in range(n):  # what was sent plus what is still owed equals what was given
        given = math.fsum(d[i] for d in deltas)
        assert math.fsum(s[i] for s in sent) + codec.residual[i] == pytest.approx(given, abs=1e-5)
    if name == "topk":
        assert all(sum(1 for x in s if x) == 50 for s in sent)
    else:  # int4 rounds away less than half a step: the carry stays below 1/14 of what was sent
        assert max(map(abs, codec.residual)) <= max(map(abs, sent[-1])) / (2 * INT4_LEVELS) * 1.01


def int4_payload(scales, nibbles):
    """An int4 payload from chunk scales and raw nibbles (low first)."""
    body = bytes(a | b << 4 for a, b in zip(nibbles[0::2], nibbles[1::2], strict=True))
    return array("f", scales).tobytes() + body


@pytest.mark.parametrize(
    "codec, payload",
    [
        ("int4", int4_payload([1.0], [8, 8, 8, 8])[:-1]),  # wrong length
        ("int4", int4_payload([1.0], [8, 0, 8, 8])),  # nibble 0 (-8) is no value
        ("int4", int4_payload([-1.0], [8, 8, 8, 8])),  # negative scale
        ("int4", int4_payload([float("nan")], [8, 8, 8, 8])),
        ("int4", int4_payload([3e38], [15, 8, 8, 8])),  # finite scale, 7 × it is inf
        ("int4", int4_payload([1.0], [8, 8, 8, 9])),  # 3 values: the padding nibble must be the value 0
        ("fp32", b"\x00" * 12),  # wrong length
        ("fp32", array("f", [0.0, float("nan"), 0.0, 0.0]).tobytes()),
        ("int8", array("f", [-1.0]).tobytes() + b"\x00" * 4),  # negative scale
        ("int8", array("f", [3e38]).tobytes() + bytes([127, 0, 0, 0])),  # finite scale, 127 × it is inf
        ("topk", struct.pack("<I", 1) + array("I", [9]).tobytes() + array("f", [1.0]).tobytes()),  # index ≥ n
        ("topk", struct.pack("<I", 2) + array("I", [2, 1]).tobytes() + array("f", [1.0, 1.0]).tobytes()),
    ],
)
def test_hostile_payloads_are_refused_before_use(codec, payload):
    n = 3 if payload[-1:] == bytes([8 | 9 << 4]) else 4
    c = Codec(codec, n, topk_fraction=0.25 if payload[:4] == struct.pack("<I", 1) else 0.5)
    with pytest.raises(WireError):
        c.decode(payload)


def test_robust_aggregation_bounds_a_scaled_outlier_that_the_mean_follows():
    honest = [vec(500, s, 0.01) for s in range(3)]
    evil = array("f", [-100 * x for x in honest[0]])
    deltas = [*honest, evil]
    w = [1.0] * 4
    mean = agg.aggregate("mean", deltas, w)
    robust = agg.aggregate("robust", deltas, w)
    assert agg.norm(mean) > 10 * agg.norm(honest[0])
    assert agg.norm(robust) <= max(agg.norm(h) for h in honest)


def test_weighted_mean_weighs_by_samples():
    out = agg.aggregate("mean", [array("f", [1.0]), array("f", [4.0])], [3.0, 1.0])
    assert out[0] == pytest.approx(1.75)


def test_nesterov_step_follows_torch_sgd_nesterov():
    theta, buf = array("f", [1.0]), array("f", [0.5])
    new, buf2 = agg.nesterov_step(theta, buf, array("f", [0.2]), lr=0.7, mu=0.9)
    # b = 0.9·0.5 + 0.2 = 0.65 ; θ = 1 − 0.7·(0.2 + 0.9·0.65)
    assert buf2[0] == pytest.approx(0.65) and new[0] == pytest.approx(1 - 0.7 * (0.2 + 0.585))


def test_aggregation_refuses_non_finite_deltas_rather_than_sorting_them():
    finite = [vec(8, s, 0.01) for s in range(4)]
    for bad in (float("nan"), float("inf"), -float("inf")):
        poisoned = array("f", finite[0])
        poisoned[3] = bad
        for method in agg.AGGREGATORS:
            with pytest.raises(ValueError, match="non-finite"):
                agg.aggregate(method, [*finite[1:], poisoned], [1.0] * 4)


@pytest.mark.parametrize("n, trim", [(2, 0), (3, 1), (4, 1), (5, 2), (6, 2), (7, 3), (9, 3), (10, 4)])
def test_robust_aggregation_trims_a_third_of_the_deltas_at_each_end(n, trim):
    assert agg.robust_trim(n) == trim


def test_robust_aggregation_holds_against_a_colluding_pair_of_five():
    honest = [vec(500, s, 0.01) for s in range(3)]
    evil = array("f", [-100 * x for x in honest[0]])
    robust = agg.aggregate("robust", [*honest, evil, array("f", evil)], [1.0] * 5)
    # each coordinate keeps its median: an honest value, whatever the pair sent
    for i, x in enumerate(robust):
        assert min(h[i] for h in honest) <= x <= max(h[i] for h in honest)
