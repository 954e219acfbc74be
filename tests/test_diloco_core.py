"""The DiLoCo state machine, driven on the simulation kernel (pynode.sim.diloco): agreement, failover, hostility."""

import hashlib
from array import array
from dataclasses import replace

import pytest

from pynode.sim.diloco import DilocoSimulation
from pynode.train import aggregate as agg
from pynode.train.claims import max_displacement
from pynode.train.compress import INT8_CHUNK
from pynode.train.diloco import (
    INT4_CARRY,
    CertMessage,
    DeltaMessage,
    Diloco,
    FetchDelta,
    FetchState,
    OuterState,
    Publish,
    RoundDone,
    RunSpec,
    checkpoint_hash,
    parse_message,
)
from pynode.train.limits import DELTA_ASK_AGAIN_S
from pynode.train.zoo import init_theta
from pynode.wire import cbor
from pynode.wire.errors import WireError


def spec(**kw):
    return RunSpec(
        **{
            "task": "digits-mlp",
            "seed": 2,
            "H": 5,
            "codec": "int8",
            "deadline_s": 10.0,
            "cert_timeout_s": 5.0,
            **kw,
        }
    )


def test_every_worker_holds_the_same_state_after_every_round():
    local = DilocoSimulation(spec(), 4)
    for r in range(1, 4):
        local.rounds(r)
        assert len({w.core.state.digest() for w in local.workers}) == 1
        assert [len(d.contributors) for d in local.workers[0].core.history] == [4] * r
    first = local.workers[0].core.history[0]
    assert {d.issuer for d in [w.core.history[0] for w in local.workers]} == {first.issuer}


def test_fewer_inner_steps_weigh_less():
    local = DilocoSimulation(spec(), 4, inner_steps=[5, 5, 5, 2])
    local.rounds(1)
    samples = dict(local.workers[0].core.history[0].contributors)
    assert samples[local.workers[3].core.me] == 2 * 64 and samples[local.workers[0].core.me] == 5 * 64


def test_a_silent_aggregator_is_replaced_after_its_timeout():
    local = DilocoSimulation(spec(), 4)
    founder = local.workers[0].core.me  # round 0's aggregator
    local.silenced.add(founder)
    local.rounds(1)
    live = local.workers[1:]
    issuers = {w.core.history[0].issuer for w in live}
    assert len(issuers) == 1 and founder not in issuers
    assert len({w.core.state.digest() for w in live}) == 1
    assert len(live[0].core.history[0].contributors) == 3  # the founder's delta was lost with it


def test_a_late_joiner_fetches_the_certified_state_and_then_agrees():
    local = DilocoSimulation(spec(), 3)
    local.rounds(1)
    late = local.add_worker()
    assert late.core.state is None
    local.rounds(3)
    assert len({w.core.state.digest() for w in local.workers}) == 1
    assert late.core.history  # it took part once in sync


def test_hostile_run_messages_are_refused():
    run = spec()
    core = Diloco(b"\x01" * 32, run, b"\x01" * 32)
    limit = core.codec.max_payload()

    def delta(**kw):
        m = {"t": "delta", "run": run.run_id, "round": 0, "base": core.state.digest(), "samples": 64,
             "steps": 1, "digest": b"\x00" * 32, "part": 0, "parts": 1, "data": b"\x00" * 4}  # fmt: skip
        return cbor.encode({**m, **kw})

    for bad in [
        delta(parts=1000),  # more parts than the codec's largest payload needs
        delta(samples=10**6),  # weight inflation: more samples than its steps can have seen
        delta(steps=10**6),
        delta(run=b"\x02" * 16),  # another run's message
        delta(data=b"\x00" * (600 * 1024)),
        cbor.encode({"t": "bogus", "run": run.run_id, "round": 0}),
    ]:
        with pytest.raises(WireError):
            parse_message(bad, run, limit)
    core.start(0.0)
    core.receive(b"\x02" * 32, delta(base=b"\x09" * 32), 0.0)
    assert core.rejected == {"delta_wrong_base": 1}
    core.receive(b"\x03" * 32, delta(digest=hashlib.sha256(b"\x00" * 4).digest()), 0.0)
    assert "bad_delta" in core.rejected  # hash fine, but 4 bytes is no int8 delta of this model
    core.receive(b"\x03" * 32, delta(digest=b"\x05" * 32), 0.0)
    assert core.rejected.get("equivocation") == 1


def test_run_spec_travels_and_pins_the_graph():
    run = spec(codec="topk", aggregation="robust", outer_lr=0.5)
    assert RunSpec.from_wire(run.to_wire()) == run
    wire = run.to_wire()
    wire["graph"] = b"\x00" * 32
    with pytest.raises(WireError, match="graph_mismatch"):
        RunSpec.from_wire(wire)


def test_existing_runs_keep_their_run_id():
    # pinned before the int4 codec was added: a new codec must not change how older runs are named
    assert spec().run_id.hex() == "ca45dfa81a764763a021caabfcc627e0"
    assert (
        spec(codec="topk", aggregation="robust", outer_lr=0.5).run_id.hex()
        == "6d0bc97530197e9537c6a9617915db58"
    )
    int4 = spec(codec="int4", outer_lr=1.0, momentum=0.0)
    assert RunSpec.from_wire(int4.to_wire()) == int4


def test_int4_deltas_with_error_feedback_pass_their_claims_and_every_worker_agrees():
    local = DilocoSimulation(spec(codec="int4", outer_lr=1.0, momentum=0.0), 3)
    local.rounds(3)
    assert len({w.core.state.digest() for w in local.workers}) == 1
    assert [len(d.contributors) for d in local.workers[0].core.history] == [3] * 3
    assert all(w.core.rejected == {} for w in local.workers)
    assert any(w.core.codec.residual[i] for w in local.workers for i in range(100))  # the carry is in use


def test_an_int4_delta_beyond_its_steps_and_carry_is_refused():
    run = spec(codec="int4", aggregation="mean", min_peers=2)
    founder = _founder_with_its_own_delta(run)
    theta_max = max(map(abs, founder.state.theta))
    hyper = run.spec.hyper
    carry = max_displacement(hyper, 1, theta_max) + max_displacement(hyper, run.H, theta_max) * INT4_CARRY
    chunks = -(-founder.n // INT8_CHUNK)

    def one_value(v):  # value v at coordinate 0 (nibble 15 = 7 steps of its chunk's scale), zeros elsewhere
        nibbles = bytes([15] + [8] * (founder.n - 1) + [8] * (founder.n % 2))
        body = bytes(a | b << 4 for a, b in zip(nibbles[0::2], nibbles[1::2], strict=True))
        return array("f", [v / 7] + [0.0] * (chunks - 1)).tobytes() + body

    evil, honest = b"\x02" * 32, b"\x03" * 32
    founder.on_message(evil, _delta_message(run, founder, one_value(1.5 * carry), 1), 0, 0.0)
    assert founder.rejected == {"delta_exceeds_steps": 1}
    founder.on_message(honest, _delta_message(run, founder, one_value(0.9 * carry), 1), 0, 0.0)
    assert founder.rounds[0].deltas[honest].value is not None


def test_run_messages_parse_once_into_typed_values_that_a_peer_core_takes():
    run = spec(min_peers=2)
    a, b = b"\x01" * 32, b"\x02" * 32
    founder, peer = Diloco(a, run, a), Diloco(b, run, a)
    founder.start(0.0)
    peer.start(0.0)
    theta = founder.state.theta
    published = founder.trained(0, array("f", [x - 1e-3 for x in theta]), 5, 0.0)
    parsed = [peer.parse(p.data) for p in published if isinstance(p, Publish)]
    assert parsed and all(isinstance(m, DeltaMessage) for m in parsed)
    assert [m.encode(run.run_id) for m in parsed] == [p.data for p in published if isinstance(p, Publish)]
    for m, raw in zip(parsed, published, strict=True):
        peer.on_message(a, m, len(raw.data), 0.0)
    assert peer.rejected == {} and peer.rounds[0].deltas[a].value is not None  # decoded, ready to aggregate
    own = [
        o for o in peer.trained(0, array("f", [x + 1e-3 for x in theta]), 5, 0.0) if isinstance(o, Publish)
    ]
    replies = [o for p in own for o in founder.on_message(b, founder.parse(p.data), len(p.data), 0.0)]
    certs = [founder.parse(o.data) for o in replies if isinstance(o, Publish)]
    assert [type(m) for m in certs] == [CertMessage]  # round 0's aggregator heard both deltas and certified
    assert [e[0] for e in certs[0].entries] == sorted([a, b])


def _delta_message(run, core, payload, steps, author_round=0):
    tpb = run.spec.tokens_per_batch()
    digest = hashlib.sha256(payload).digest()
    return DeltaMessage(author_round, core.state.digest(), steps * tpb, steps, digest, 0, 1, payload)


def _founder_with_its_own_delta(run):
    a = b"\x01" * 32
    founder = Diloco(a, run, a)
    founder.start(0.0)
    theta = founder.state.theta
    founder.trained(0, array("f", [x - 1e-3 for x in theta]), run.H, 0.0)
    return founder


def test_an_int8_delta_whose_scale_decodes_to_inf_is_refused_and_theta_stays_finite():
    run = spec(codec="int8", aggregation="robust", min_peers=2)
    founder = _founder_with_its_own_delta(run)
    chunks = -(-founder.n // 256)
    payload = array("f", [3e38] * chunks).tobytes() + bytes([127]) * founder.n  # scales pass, values are inf
    evil = b"\x02" * 32
    founder.on_message(evil, _delta_message(run, founder, payload, run.H), len(payload), 0.0)
    assert founder.rejected == {"bad_delta": 1} and founder.rounds[0].deltas[evil].value is None
    founder.tick(run.deadline_s + 1)  # the deadline: certify what is complete
    assert founder.round == 1 and [a for a, _ in founder.history[0].contributors] == [founder.me]
    assert agg.all_finite(founder.state.theta) and agg.all_finite(founder.state.momentum)


def test_a_delta_that_moved_further_than_its_claimed_steps_allow_is_refused():
    run = spec(codec="fp32", aggregation="mean", min_peers=2)
    founder = _founder_with_its_own_delta(run)
    bound = max_displacement(run.spec.hyper, 1, max(map(abs, founder.state.theta)))
    # claims one step (so it may be small) but moved one coordinate twice as far as a step can
    value = array("f", bytes(4 * founder.n))
    value[7] = 2 * bound
    evil = b"\x02" * 32
    founder.on_message(evil, _delta_message(run, founder, value.tobytes(), 1), 4 * founder.n, 0.0)
    assert founder.rejected == {"delta_exceeds_steps": 1}
    value[7] = bound / 2  # inside the claim: accepted, and it weighs one step
    other = b"\x03" * 32
    founder.on_message(other, _delta_message(run, founder, value.tobytes(), 1), 4 * founder.n, 0.0)
    assert founder.rounds[0].deltas[other].value is not None


def test_claims_beyond_the_round_are_refused_at_parsing():
    run = spec()
    core = Diloco(b"\x01" * 32, run, b"\x01" * 32)
    tpb = run.spec.tokens_per_batch()
    base = {"t": "delta", "run": run.run_id, "round": 0, "base": core.state.digest(), "digest": b"\x00" * 32,
            "part": 0, "parts": 1, "data": b"\x00" * 4}  # fmt: skip
    for steps, samples in [(run.H + 1, (run.H + 1) * tpb), (run.H, run.H * tpb + 1), (1, run.H * tpb)]:
        with pytest.raises(WireError):
            parse_message(cbor.encode({**base, "steps": steps, "samples": samples}), run, 10**6)
    assert Diloco(b"\x01" * 32, run, b"\x01" * 32, inner_steps=10 * run.H).inner_steps == run.H


def test_a_step_that_would_overflow_is_never_certified_nor_applied():
    run = spec(codec="fp32", min_peers=1)
    founder = Diloco(b"\x01" * 32, run, b"\x01" * 32)
    n = founder.n
    # a state at the edge of float32, where any further step overflows
    founder.state = OuterState(0, array("f", [-3.3e38] * n), array("f", [3.3e38] * n))
    founder.start(0.0)
    out = founder.trained(0, array("f", [x + 1e-3 for x in founder.state.theta]), run.H, 0.0)
    assert not [o for o in out if isinstance(o, Publish) and b"cert" in o.data]
    assert founder.round == 0 and founder.rejected.get("step_non_finite", 0) >= 1
    assert agg.all_finite(founder.state.theta)


def test_a_run_starts_from_the_checkpoint_its_spec_names_and_no_other():
    checkpoint = init_theta(spec().spec, 9)  # θ₀ of another seed: a checkpoint, not the run's own θ₀
    run = spec(init=checkpoint_hash(checkpoint))
    assert RunSpec.from_wire(cbor.decode(cbor.encode(run.to_wire()))) == run
    assert run.run_id != spec().run_id
    local = DilocoSimulation(run, 3, theta0=checkpoint)
    assert all(w.core.state.theta == checkpoint for w in local.workers)
    local.workers[2].core.state = OuterState.initial(spec())  # a member that started from the seed's θ₀
    local.rounds(1)
    agreed = local.workers[:2]
    assert len({w.core.state.digest() for w in agreed}) == 1
    assert [len(w.core.history[0].contributors) for w in agreed] == [2, 2]
    assert all(w.core.rejected.get("delta_wrong_base", 0) >= 1 for w in agreed)
    other = array("f", checkpoint)
    other[0] += 1.0
    for theta0, refusal in ((None, "not given"), (other, "not checkpoint"), (checkpoint[:-1], "parameters")):
        with pytest.raises(ValueError, match=refusal):
            DilocoSimulation(run, 2, theta0=theta0)
    with pytest.raises(ValueError, match="names no checkpoint"):
        DilocoSimulation(spec(), 2, theta0=checkpoint)


def test_a_member_without_the_checkpoint_joins_late_and_agrees():
    checkpoint = init_theta(spec().spec, 9)
    local = DilocoSimulation(spec(init=checkpoint_hash(checkpoint)), 2, theta0=checkpoint)
    local.rounds(1)
    late = local.add_worker()  # have_initial=False: it fetches the state the next certificate names
    local.rounds(3)
    assert len({w.core.state.digest() for w in local.workers}) == 1 and late.core.history


def test_a_checkpoint_field_of_the_wrong_size_is_refused():
    wire = spec(init=bytes(32)).to_wire()
    wire["init"] = bytes(31)
    with pytest.raises(WireError):
        RunSpec.from_wire(wire)


def _deliver(src: Diloco, outputs: list, dst: Diloco) -> list:
    """`src`'s publications, as `dst` takes them; `dst`'s outputs."""
    return [
        o
        for p in outputs
        if isinstance(p, Publish)
        for o in dst.on_message(src.me, dst.parse(p.data), len(p.data), 0.0)
    ]


def _three_trained_round_zero() -> tuple[dict[bytes, list], Diloco, list[Diloco]]:
    """Three cores (min_peers=3) that heard each other join and trained round 0, nothing of it delivered yet:
    each one's delta publications, round 0's issuer, and the other two."""
    run = spec(min_peers=3)
    cores = [Diloco(bytes([i]) * 32, run, b"\x01" * 32) for i in (1, 2, 3)]
    started = {c.me: c.start(0.0) for c in cores}
    for src in cores:
        for dst in cores:
            if dst is not src:
                _deliver(src, started[src.me], dst)
    theta = cores[0].state.theta
    deltas = {c.me: c.trained(0, array("f", [x - 1e-3 * (i + 1) for x in theta]), run.H, 0.0)
              for i, c in enumerate(cores)}  # fmt: skip
    issuer = next(c for c in cores if c.me == cores[0].aggregator_order(0)[0])
    return deltas, issuer, [c for c in cores if c is not issuer]


@pytest.mark.parametrize("parts", [1, 2])
def test_a_delta_that_arrives_after_its_certificate_completes_the_round(parts):
    """A certificate can overtake a delta it names. The node asks the issuer for the delta, and the delta
    arrives by gossip meanwhile (here also in more parts than the certificate's placeholder holds): that
    applies the round, and the fetch's reply finds it over. The round used to wait for the fetch, whose reply
    then found the delta complete and did nothing: the node stalled until a later certificate."""
    deltas, issuer, (late, node) = _three_trained_round_zero()  # `node` hears `late`'s delta after the cert
    cert = _deliver(node, deltas[node.me], issuer) + _deliver(late, deltas[late.me], issuer)
    assert issuer.round == 1 and any(isinstance(o, Publish) for o in cert)
    _deliver(issuer, deltas[issuer.me], node)
    fetches = _deliver(issuer, cert, node)
    assert [(f.peer, f.author) for f in fetches if isinstance(f, FetchDelta)] == [(issuer.me, late.me)]
    (whole,) = [late.parse(p.data) for p in deltas[late.me] if isinstance(p, Publish)]
    cut = len(whole.data) // parts
    for i in range(parts):
        data = whole.data[i * cut : None if i == parts - 1 else (i + 1) * cut]
        done = node.on_message(late.me, replace(whole, part=i, parts=parts, data=data), len(data), 0.0)
    assert [d.round for d in done if isinstance(d, RoundDone)] == [0] and node.round == 1
    assert node.delta_fetched(0, late.me, issuer.delta_payload(0, late.me, whole.digest), 0.0) == []
    assert node.state.digest() == issuer.state.digest() and len(node.history) == 1
    assert node.rejected == {}


def test_a_delta_whose_fetch_failed_is_asked_for_again_from_its_author_then_the_issuer():
    """The issuer named a delta we lack and did not send it (it left, or the fetch timed out), nor did gossip
    bring it: the round asks again every DELTA_ASK_AGAIN_S, instead of waiting for the next certificate (which
    waits for our own delta until its deadline) and skipping the round."""
    deltas, issuer, (late, node) = _three_trained_round_zero()
    cert = _deliver(node, deltas[node.me], issuer) + _deliver(late, deltas[late.me], issuer)
    _deliver(issuer, deltas[issuer.me], node)
    assert [f.peer for f in _deliver(issuer, cert, node) if isinstance(f, FetchDelta)] == [issuer.me]
    assert node.tick(DELTA_ASK_AGAIN_S - 1) == []  # that fetch may still be under way
    asked = [(f.peer, f.round, f.author) for f in node.tick(DELTA_ASK_AGAIN_S) if isinstance(f, FetchDelta)]
    assert asked == [(late.me, 0, late.me)]
    assert [f.peer for f in node.tick(2 * DELTA_ASK_AGAIN_S) if isinstance(f, FetchDelta)] == [issuer.me]
    (whole,) = [late.parse(p.data) for p in deltas[late.me] if isinstance(p, Publish)]
    done = node.delta_fetched(0, late.me, late.delta_payload(0, late.me, whole.digest), 2 * DELTA_ASK_AGAIN_S)
    assert [d.round for d in done if isinstance(d, RoundDone)] == [0]
    assert node.state.digest() == issuer.state.digest()
    assert not [f for f in node.tick(4 * DELTA_ASK_AGAIN_S) if isinstance(f, FetchDelta)]


def test_a_delta_arriving_after_a_certificate_refused_midway_is_taken_without_applying_it():
    """The issuer's certificate claims a weight no delta can have for its second entry: it is refused there,
    after a placeholder was made for the first. That delta then arriving must not apply anything, nor fail."""
    deltas, issuer, others = _three_trained_round_zero()
    first, node = sorted(others, key=lambda c: c.me)
    (whole,) = [first.parse(p.data) for p in deltas[first.me] if isinstance(p, Publish)]
    entries = ((first.me, whole.digest, whole.samples), (issuer.me, b"\x00" * 32, 1))
    bad = CertMessage(0, 0, node.state.digest(), b"\x00" * 32, entries)
    assert node.on_message(issuer.me, bad, 100, 0.0) == [] and node.rejected == {"cert_bad_samples": 1}
    assert node.on_message(first.me, whole, len(whole.data), 0.0) == []
    assert node.round == 0 and node.rounds[0].deltas[first.me].value is not None


def _byzantine_round_zero(forge, crashes: bool = False) -> tuple[DilocoSimulation, bytes]:
    """Four workers whose round-0 aggregator publishes its certificate as `forge(cert, its id)` makes it (then
    crashes, if `crashes`); run to round 2."""
    local = DilocoSimulation(spec(), 4)
    byzantine = local.workers[0].core.aggregator_order(0)[0]

    def forged(cert: CertMessage) -> CertMessage:
        if crashes:
            local.crashed.add(byzantine)
        return forge(cert, byzantine)

    local.forgers[byzantine] = forged
    local.rounds(2)
    return local, byzantine


def _honest_agree_on_a_backups_round_zero(local: DilocoSimulation, byzantine: bytes, reason: str) -> None:
    honest = [w.core for w in local.workers if w.core.me != byzantine]
    assert len({c.state.digest() for c in honest}) == 1
    assert all(c.history[0].issuer != byzantine for c in honest)
    assert all(len(c.history[0].contributors) == 4 for c in honest)  # nobody's delta was lost to the forgery
    assert all(c.rejected.get(reason) == 1 for c in honest)


def test_a_refused_certificate_frees_its_round_for_a_backup_aggregator():
    """Round 0's aggregator is Byzantine: its certificate names a weight no delta can claim, so every honest
    node refuses it. First-seen-wins used to keep the refused certificate in the round: no backup ever issued
    one, and the whole run stalled in round 0. Now the round is freed, a backup certifies it, and the run goes
    on."""
    local, byzantine = _byzantine_round_zero(
        lambda cert, _: replace(cert, entries=tuple((p, d, 1) for p, d, _ in cert.entries))
    )
    _honest_agree_on_a_backups_round_zero(local, byzantine, "cert_bad_samples")


def test_a_certificate_naming_a_delta_nobody_has_is_dropped_after_its_asks():
    """Round 0's aggregator certifies a digest of its own delta that no delta has, then leaves. The honest nodes
    hold its real delta, set it aside for the certificate's and ask for that in vain; nobody else certifies, as
    the round is taken. The run used to stall there for good. After DELTA_GIVE_UP_ASKS asks the certificate is
    dropped, the real delta restored, and a backup's certificate (naming all four deltas) applied."""

    def forge(cert: CertMessage, byzantine: bytes) -> CertMessage:
        return replace(cert, entries=tuple((p, b"\xee" * 32 if p == byzantine else d, s)
                                           for p, d, s in cert.entries))  # fmt: skip

    local, byzantine = _byzantine_round_zero(forge, crashes=True)
    _honest_agree_on_a_backups_round_zero(local, byzantine, "cert_unfetchable")


def test_a_dropped_certificates_issuer_is_not_heard_again_in_that_round():
    """A refused issuer that sends its certificate again, or another one, is ignored for the round: it cannot
    take the round back, nor be counted against twice."""
    deltas, issuer, (a, node) = _three_trained_round_zero()
    for src in (issuer, a):
        _deliver(src, deltas[src.me], node)
    good = _deliver(a, deltas[a.me], issuer) + _deliver(node, deltas[node.me], issuer)
    (cert,) = [m for p in good if isinstance(p, Publish) and isinstance(m := node.parse(p.data), CertMessage)]
    bad = replace(cert, entries=tuple((p, d, 1) for p, d, _ in cert.entries))
    assert node.on_message(issuer.me, bad, 100, 0.0) == []
    assert node.on_message(issuer.me, bad, 100, 0.0) == [] and node.rejected == {"cert_bad_samples": 1}
    assert node.on_message(issuer.me, cert, 100, 0.0) == [] and node.round == 0
    assert node.rounds[0].certified is None and len(node.rounds[0].deltas) == 3


def _certify(cores: list[Diloco], published: dict[bytes, list], r: int) -> tuple[Diloco, list]:
    """Every core hears the others' deltas of round r (`published`, by author), then the round's certificate from
    its issuer: the issuer, and every output of that exchange (the certificate among them)."""
    issuer = next(c for c in cores if c.me == cores[0].aggregator_order(r)[0])  # before any core moves on
    out = [
        o for src in cores for dst in cores if dst is not src for o in _deliver(src, published[src.me], dst)
    ]
    for c in cores:
        if c is not issuer:
            _deliver(issuer, out, c)
    return issuer, out


def test_a_certificate_that_comes_while_a_state_is_fetched_is_taken_once_it_is_in():
    """A late joiner fetches the state round 0's certificate names; meanwhile round 1 is certified. Once the
    state is in, that certificate is taken (its deltas fetched, the round applied). It used to be dropped: the
    joiner then trained round 1 nobody would certify again, and the others' round 2 waited for its delta until
    the deadline (test_storage_diloco took 37-69 s instead of 7 s)."""
    deltas, issuer, others = _three_trained_round_zero()
    cores = [issuer, *others]
    _, cert0 = _certify(cores, deltas, 0)
    late = Diloco(b"\x09" * 32, issuer.run, b"\x01" * 32, have_initial=False)
    assert late.start(0.0) == []
    (fetch,) = _deliver(issuer, cert0, late)
    assert isinstance(fetch, FetchState) and late.state is None
    assert {c.round for c in cores} == {1}
    trained = {c.me: c.trained(1, array("f", [x - 1e-3 for x in c.state.theta]), c.run.H, 0.0) for c in cores}
    issuer1, cert1 = _certify(cores, trained, 1)
    assert {c.round for c in cores} == {2}
    assert _deliver(issuer1, cert1, late) == []  # held while the state is on its way
    out = late.state_fetched(issuer.state_blob(fetch.expect), fetch.expect, 0.0)
    asked = [o for o in out if isinstance(o, FetchDelta)]
    assert {(f.peer, f.round) for f in asked} == {(issuer1.me, 1)} and len(asked) == 3
    for f in asked:
        done = late.delta_fetched(1, f.author, issuer1.delta_payload(1, f.author, f.digest), 0.0)
    assert [d.round for d in done if isinstance(d, RoundDone)] == [1]
    assert late.state.digest() == issuer.state.digest() and late.rejected == {}
