"""The CPython model runner: onnxruntime (CPU, or CUDA when asked and present), state kept in OrtValues.

Only this module imports onnxruntime and numpy. Reproducibility settings are fixed here: the thread count
(one by default), sequential execution and one graph optimisation level; with those and one ORT version a
run repeats bit for bit (PLATFORM_NOTES, training graphs).
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import onnxruntime as ort

from pynode.platform.model import Batch, GraphLoader, Hyper, Tensor, TrainState, stack

OPT_LEVEL = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC  # fusions beyond basic differ between builds
_DTYPES = {"float32": np.float32, "int64": np.int64}


def _np(t: Tensor) -> np.ndarray:
    return np.frombuffer(t.data, dtype=_DTYPES[t.dtype]).reshape(t.shape)


_SCALARS_KEPT = 4096  # 0-d inputs kept (steps, learning rates): ~1 MB; past it the cache starts again
_scalars: dict[float | str, ort.OrtValue] = {}


def _scalar(x: float) -> ort.OrtValue:
    """A 0-d float32 input, made once per value: a training step binds six (step, lr, betas, eps, decay),
    mostly the same values as the step before or the run before. Graph inputs are never written to."""
    key = x if x else repr(x)  # 0.0 == -0.0, but their float32 bits differ
    v = _scalars.get(key)
    if v is None:
        if len(_scalars) >= _SCALARS_KEPT:
            _scalars.clear()
        # a 0-d value built directly: np.ascontiguousarray would turn it into shape [1] and break binding
        v = _scalars[key] = ort.OrtValue.ortvalue_from_numpy(np.array(x, dtype=np.float32))
    return v


def _vector(v: ort.OrtValue) -> array:
    # .numpy() may alias memory ORT frees later: copy into a Python array at once
    return array("f", np.ascontiguousarray(v.numpy(), dtype=np.float32).tobytes())


SESSIONS_KEPT = 12  # training-graph sessions kept (≤ ~15 MB each): a research task's variants × (train, eval)
_training_sessions: OrderedDict[tuple[bytes, int, tuple[str, ...]], ort.InferenceSession] = OrderedDict()


def training_options(threads: int) -> ort.SessionOptions:
    """A training graph's session options: the thread count, optimisation level and sequential execution
    fixed, as a run reproduces bit for bit only at those."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = OPT_LEVEL
    opts.log_severity_level = 3
    return opts


def _training_session(graph: bytes, threads: int, providers: list[str]) -> ort.InferenceSession:
    """A session for a training graph, shared by the runners of that graph (least recently used dropped first):
    it holds no state between runs, the runner keeps θ, m and v, and making one costs as much as ~30 steps
    of a small model, which a research task's many short runs would pay over and over."""
    key = (graph, threads, tuple(providers))
    s = _training_sessions.pop(key, None)
    if s is None:
        s = ort.InferenceSession(graph, training_options(threads), providers=providers)
    _training_sessions[key] = s
    while len(_training_sessions) > SESSIONS_KEPT:
        _training_sessions.popitem(last=False)
    return s


class OrtRunner:
    def __init__(self, n_params: int, load_graph: GraphLoader, device: str, threads: int) -> None:
        available = ort.get_available_providers()
        if device == "auto":
            device = "cuda" if "CUDAExecutionProvider" in available else "cpu"
        if device == "cuda" and "CUDAExecutionProvider" not in available:
            raise RuntimeError("CUDA was asked for but this onnxruntime has no CUDA provider")
        if device not in ("cpu", "cuda"):
            raise ValueError(f"unknown device {device!r}")
        self.device = device
        self._providers = (
            ["CUDAExecutionProvider", "CPUExecutionProvider"]
            if device == "cuda"
            else ["CPUExecutionProvider"]
        )
        self._n = n_params
        self._load_graph = load_graph
        self._threads = threads
        self._sessions: dict[str, ort.InferenceSession] = {}
        self.set_state(TrainState.fresh(array("f", bytes(4 * n_params))))

    def _session(self, kind: str) -> ort.InferenceSession:
        s = self._sessions.get(kind)
        if s is None:
            s = self._sessions[kind] = _training_session(
                self._load_graph(kind), self._threads, self._providers
            )
        return s

    def _value(self, v: array) -> ort.OrtValue:
        if len(v) != self._n:
            raise ValueError(f"expected {self._n} floats, got {len(v)}")
        return ort.OrtValue.ortvalue_from_numpy(np.array(v, dtype=np.float32), self.device, 0)

    def set_state(self, state: TrainState) -> None:
        self._theta, self._m, self._v = (self._value(x) for x in (state.theta, state.m, state.v))
        self._step = state.step

    def state(self) -> TrainState:
        return TrainState(_vector(self._theta), _vector(self._m), _vector(self._v), self._step)

    def theta(self) -> array:
        return _vector(self._theta)

    def _run(self, kind: str, inputs: dict[str, ort.OrtValue | np.ndarray], outputs: list[str]):
        session = self._session(kind)
        binding = session.io_binding()
        for name, value in inputs.items():
            if isinstance(value, ort.OrtValue):
                binding.bind_ortvalue_input(name, value)
            else:
                binding.bind_cpu_input(name, value)
        for name in outputs:
            binding.bind_output(name, self.device)  # ORT allocates; the state stays on the device
        session.run_with_iobinding(binding)
        return binding.get_outputs()

    def _hyper(self, hyper: Hyper) -> dict[str, ort.OrtValue]:
        return {
            "step": _scalar(self._step + 1),
            "lr": _scalar(hyper.lr),
            "beta1": _scalar(hyper.beta1),
            "beta2": _scalar(hyper.beta2),
            "eps": _scalar(hyper.eps),
            "weight_decay": _scalar(hyper.weight_decay),
        }

    def train_step(self, batch: Batch, hyper: Hyper) -> float:
        inputs = {"theta": self._theta, "m": self._m, "v": self._v, **self._hyper(hyper)}
        inputs.update(x=_np(batch.x), y=_np(batch.y))
        loss, self._theta, self._m, self._v = self._run(
            "train", inputs, ["loss", "theta_out", "m_out", "v_out"]
        )
        self._step += 1
        return float(loss.numpy())

    def train_steps(self, batches: Sequence[Batch], hyper: Hyper) -> list[float]:
        both = stack(batches)
        inputs = {"theta": self._theta, "m": self._m, "v": self._v, **self._hyper(hyper)}
        inputs.update(xs=_np(both.x), ys=_np(both.y))
        losses, self._theta, self._m, self._v = self._run(
            "train_loop", inputs, ["losses", "theta_out", "m_out", "v_out"]
        )
        self._step += len(batches)
        return [float(x) for x in losses.numpy()]

    def grad(self, batch: Batch) -> tuple[float, array]:
        loss, g = self._run(
            "grad", {"theta": self._theta, "x": _np(batch.x), "y": _np(batch.y)}, ["loss", "grad"]
        )
        return float(loss.numpy()), _vector(g)

    def apply_grad(self, grad: array, hyper: Hyper) -> None:
        inputs = {
            "theta": self._theta,
            "m": self._m,
            "v": self._v,
            "grad": self._value(grad),
            **self._hyper(hyper),
        }
        self._theta, self._m, self._v = self._run("adamw", inputs, ["theta_out", "m_out", "v_out"])
        self._step += 1

    def evaluate(self, batch: Batch) -> tuple[float, float]:
        loss, correct = self._run(
            "eval", {"theta": self._theta, "x": _np(batch.x), "y": _np(batch.y)}, ["loss", "correct"]
        )
        return float(loss.numpy()), float(correct.numpy())

    def infer(self, x: Tensor) -> array:
        (out,) = self._run("infer", {"theta": self._theta, "x": _np(x)}, ["logits"])
        return _vector(out)


class OrtGraphSession:
    """An inference graph on onnxruntime's CPU provider (platform/model.py GraphSession). Full graph
    optimisation: unlike training graphs, inference outputs are compared with a tolerance, never hashed."""

    device = "cpu"

    def __init__(self, graph: bytes, threads: int) -> None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])

    def run(self, feeds: dict[str, Tensor], outputs: list[str]) -> dict[str, Tensor]:
        values = self._session.run(outputs, {name: _np(t) for name, t in feeds.items()})
        result: dict[str, Tensor] = {}
        for name, value in zip(outputs, values, strict=True):
            flat = np.ascontiguousarray(value, dtype=np.float32)
            result[name] = Tensor("float32", tuple(int(d) for d in value.shape), array("f", flat.tobytes()))
        return result
