"""The committed ONNX graphs: hashes, portable ops, agreement with the PyTorch definitions they came from."""

import math
from array import array

import pytest

from pynode.train.assets import GRAPHS_DIR, TEXT_ALPHABET, AssetError, _read_checked, graph_bytes
from pynode.train.data import load_dataset
from pynode.train.diloco import DATASETS
from pynode.train.runner import TrainState, evaluate, open_runner
from pynode.train.zoo import MODELS, get_model, init_theta
from tests.prereq import require_module

KINDS = ("train", "grad", "adamw", "eval", "infer", "train_loop")
# ops with scatter-add semantics race across threads in ORT CPU and wasm (PLATFORM_NOTES); and the browser
# runtime has no contrib ops
FORBIDDEN_OPS = {"ScatterND", "ScatterElements", "GatherElements", "LogSoftmax"}


def test_every_model_ships_all_six_graphs_matching_the_manifest():
    for name in MODELS:
        for kind in KINDS:
            assert graph_bytes(name, kind)  # raises AssetError when missing or altered


def test_a_graph_whose_bytes_differ_from_the_manifest_is_refused(tmp_path):
    (tmp_path / "manifest.json").write_text('{"graphs": {"x.onnx": "%s"}}' % ("0" * 64))
    (tmp_path / "x.onnx").write_bytes(b"not the graph")
    with pytest.raises(AssetError, match="does not match"):
        _read_checked(tmp_path, "x.onnx")


def test_graphs_use_only_standard_ops_without_scatter():
    onnx = require_module("onnx")
    paths = sorted(GRAPHS_DIR.glob("*.onnx"))
    assert len(paths) == len(MODELS) * len(KINDS), (
        f"expected every model's {len(KINDS)} graphs in {GRAPHS_DIR}"
    )
    for path in paths:
        model = onnx.load(path)
        ops = {n.op_type for n in model.graph.node}
        assert not ops & FORBIDDEN_OPS, (path.name, ops & FORBIDDEN_OPS)
        assert {n.domain for n in model.graph.node} <= {"", "ai.onnx"}, path.name


def test_init_is_deterministic_and_fills_the_layout():
    for spec in MODELS.values():
        theta = init_theta(spec, 7)
        assert len(theta) == spec.n_params
        assert theta == init_theta(spec, 7)
    assert init_theta(get_model("digits-mlp"), 1) != init_theta(get_model("digits-mlp"), 2)


@pytest.mark.parametrize("name", list(MODELS))
def test_every_variant_starts_near_chance_and_its_graphs_run(name):
    spec = get_model(name)
    data = load_dataset(spec.dataset)
    runner = open_runner(spec)
    runner.set_state(TrainState.fresh(init_theta(spec, 0)))
    classes = 10 if spec.family == "mlp" else spec.vocab
    loss0, _ = evaluate(runner, data.eval_batches(spec)[:1])
    assert abs(loss0 - math.log(classes)) < 0.3  # small init: near-uniform predictions
    batch = data.batch(spec, 0, 0)
    losses = [runner.train_step(batch, spec.hyper) for _ in range(3)]
    assert losses[2] < losses[0]  # three steps on one batch must fit it better
    logits = runner.infer(batch.x)
    assert len(logits) == spec.batch_size * classes * (spec.block if spec.family == "gpt" else 1)


@pytest.mark.parametrize("name", ["digits-mlp", "charlm-tiny"])
def test_fused_step_equals_gradient_then_adamw(name):
    spec = get_model(name)
    data = load_dataset(spec.dataset)
    a, b = open_runner(spec), open_runner(spec)
    for r in (a, b):
        r.set_state(TrainState.fresh(init_theta(spec, 0)))
    for step in range(3):
        batch = data.batch(spec, 0, step)
        loss_a = a.train_step(batch, spec.hyper)
        loss_b, g = b.grad(batch)
        b.apply_grad(g, spec.hyper)
        assert loss_a == pytest.approx(loss_b, rel=1e-6)
    diff = max(abs(x - y) for x, y in zip(a.theta(), b.theta(), strict=True))
    assert diff < 1e-6
    assert a.state().step == b.state().step == 3


@pytest.mark.parametrize("name", list(MODELS))
def test_k_steps_in_one_loop_call_equal_k_single_steps_bit_for_bit(name):
    """The train_loop graph runs the train graph's own nodes, so its state must be the very same bytes."""
    spec = get_model(name)
    data = load_dataset(spec.dataset)
    one, loop = open_runner(spec), open_runner(spec)
    for r in (one, loop):
        r.set_state(TrainState.fresh(init_theta(spec, 0)))
    batches = [data.batch(spec, 0, step) for step in range(5)]
    losses = [one.train_step(b, spec.hyper) for b in batches]
    assert loop.train_steps(batches[:2], spec.hyper) + loop.train_steps(batches[2:], spec.hyper) == losses
    assert loop.state().digest() == one.state().digest()
    assert loop.state().step == 5


def test_loop_graph_is_the_train_graph_wrapped():
    """Rebuilding train_loop from the committed train graph gives the committed bytes (nothing else in it)."""
    require_module("onnx")
    from wasm_build.loop_graph import loop_graph

    for name in MODELS:
        assert loop_graph(graph_bytes(name, "train")) == graph_bytes(name, "train_loop"), name


def _ort_outputs(data: bytes, inputs):
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    s = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    feed = {i.name: np.asarray(t.numpy()) for i, t in zip(s.get_inputs(), inputs, strict=True)}
    return s.run(None, feed)


@pytest.mark.parametrize("name", ["digits-mlp", "charlm-tiny"])
def test_reexported_graphs_compute_what_the_committed_ones_and_torch_compute(name):
    """Re-export from the PyTorch definitions; the fresh graph, the committed graph and torch eager agree."""
    require_module("torch")
    require_module("onnxscript")
    from wasm_build.export_graphs import example_inputs, export_graph, function_for

    spec = get_model(name)
    for kind in ("train", "eval"):
        inputs = example_inputs(spec, kind, seed=1)
        fresh = _ort_outputs(export_graph(spec, kind), inputs)
        committed = _ort_outputs(graph_bytes(name, kind), inputs)
        eager = [t.detach().numpy() for t in function_for(spec, kind)(*inputs)]
        for f, c, e in zip(fresh, committed, eager, strict=True):
            assert (f == c).all(), f"{name}.{kind}: re-export differs from the committed graph"
            assert abs(f - e).max() <= 1e-5 * max(1.0, abs(e).max()), f"{name}.{kind}: ORT vs torch"


def test_torch_definitions_consume_the_zoo_layout_exactly():
    torch = require_module("torch")
    from wasm_build.torch_models import unflatten

    for spec in MODELS.values():
        theta = torch.frombuffer(bytearray(init_theta(spec, 0).tobytes()), dtype=torch.float32)
        params = unflatten(spec, theta)
        assert [p.name for p in spec.params()] == list(params)
        assert sum(t.numel() for t in params.values()) == spec.n_params
        assert (
            array("f", params[spec.params()[0].name].flatten().tolist())
            == init_theta(spec, 0)[: spec.params()[0].size]
        )


def test_kept_hyperparameter_inputs_keep_the_sign_of_zero():
    """0.0 == -0.0 as dict keys, but their float32 bits differ: the cache of 0-d inputs must not merge them."""
    np = require_module("numpy")
    from pynode.platform.native_ort import _scalar

    for first, second in ((0.0, -0.0), (-0.0, 0.0)):
        a, b = _scalar(first), _scalar(second)
        assert bool(np.signbit(a.numpy())) == (math.copysign(1.0, first) < 0)
        assert bool(np.signbit(b.numpy())) == (math.copysign(1.0, second) < 0)
    assert _scalar(0.25) is _scalar(0.25) and float(_scalar(7).numpy()) == 7.0


def test_runners_of_one_graph_share_its_session_and_train_independently():
    """Sessions are kept and shared (they hold no state); two runners stepping in turn still get exactly the
    losses and θ of a runner alone."""
    spec = get_model("digits-mlp")
    data = load_dataset(spec.dataset)
    alone, a, b = open_runner(spec), open_runner(spec), open_runner(spec)
    alone.set_state(TrainState.fresh(init_theta(spec, 1)))
    a.set_state(TrainState.fresh(init_theta(spec, 1)))
    b.set_state(TrainState.fresh(init_theta(spec, 2)))
    batches = [data.batch(spec, 1, step) for step in range(4)]
    expected = [alone.train_step(x, spec.hyper) for x in batches]
    turns = []
    for x in batches:
        turns.append(a.train_step(x, spec.hyper))
        b.train_step(data.batch(spec, 2, 9), spec.hyper)
    assert a._session("train") is b._session("train") is alone._session("train")
    assert turns == expected and a.state().digest() == alone.state().digest()


def test_every_text_symbol_is_one_the_char_lms_embed_and_predict():
    # Cranfield's z's were id 32 of a 33-symbol alphabet against 32 embeddings: unreadable as input, and as a
    # target a loss with no floor (the logit picked is 0), which long DiLoCo runs drove to -0.6
    char_lms = [m for m in MODELS.values() if m.family == "gpt"]
    assert {m.vocab for m in char_lms} == {len(TEXT_ALPHABET)}
    for name in DATASETS["gpt"]:
        data = load_dataset(name)
        assert max(max(data.train), max(data.val)) < len(TEXT_ALPHABET), name
