"""What crosses the model-runner seam: tensors and batches in, AdamW hyperparameters (graph inputs), the
training state, and the `Runner` protocol both runners implement.

CPython runs the graphs on onnxruntime (native_ort.py), the browser on onnxruntime-web (browser.py). A runner
keeps the training state (θ, AdamW's m and v, the step count) on its side between steps, because copying 3×P
floats across the boundary each step is what costs most in wasm. Everything crossing the seam is plain
Python: `array` vectors, `Batch`, floats. pynode.train re-exports these (train/runner.py, data.py, zoo.py);
they live here so that the platform imports no training code.
"""

from __future__ import annotations

import hashlib
import struct
import sys
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

assert sys.byteorder == "little", "θ bytes are little-endian float32; big-endian hosts are not supported"

GraphLoader = Callable[[str], bytes]  # graph kind ("train", "grad", "adamw", "eval", "infer") → ONNX bytes


@dataclass(frozen=True)
class Tensor:
    """A dense little-endian tensor: dtype "float32" over array('f') or "int64" over array('q')."""

    dtype: str
    shape: tuple[int, ...]
    data: array


@dataclass(frozen=True)
class Batch:
    """A batch of inputs and targets for one training or evaluation step."""

    x: Tensor
    y: Tensor


def stack(batches: Sequence[Batch]) -> Batch:
    """k batches as one, on a new leading axis: the `train_loop` graph's xs [k, *x] and ys [k, *y]."""
    if not batches:
        raise ValueError("no batches to stack")
    first = batches[0]
    x, y = array(first.x.data.typecode), array(first.y.data.typecode)
    for b in batches:
        if b.x.shape != first.x.shape or b.y.shape != first.y.shape:
            raise ValueError("batches to stack must have one shape")
        x.extend(b.x.data)
        y.extend(b.y.data)
    k = len(batches)
    return Batch(Tensor(first.x.dtype, (k, *first.x.shape), x), Tensor(first.y.dtype, (k, *first.y.shape), y))


@dataclass(frozen=True)
class Hyper:
    """AdamW hyperparameters; they are graph inputs, so changing them needs no re-export."""

    lr: float = 3e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0


def vector_hash(*vectors: array, step: int | None = None) -> str:
    """sha256 of float32 vectors' little-endian bytes (and a step count): names θ or a whole state."""
    h = hashlib.sha256()
    for v in vectors:
        h.update(v.tobytes())
    if step is not None:
        h.update(struct.pack("<q", step))
    return h.hexdigest()


@dataclass
class TrainState:
    """Flat parameters and AdamW moments between training steps."""

    theta: array
    m: array
    v: array
    step: int  # AdamW steps taken so far (bias correction uses step + 1 next)

    @classmethod
    def fresh(cls, theta: array) -> TrainState:
        zeros = array("f", bytes(4 * len(theta)))
        return cls(array("f", theta), zeros, array("f", zeros), 0)

    def digest(self) -> str:
        return vector_hash(self.theta, self.m, self.v, step=self.step)

    def to_bytes(self) -> bytes:
        return struct.pack("<qq", self.step, len(self.theta)) + b"".join(
            x.tobytes() for x in (self.theta, self.m, self.v)
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> TrainState:
        step, n = struct.unpack_from("<qq", data)
        if len(data) != 16 + 12 * n:
            raise ValueError("truncated training state")
        parts = [array("f", data[16 + 4 * n * i : 16 + 4 * n * (i + 1)]) for i in range(3)]
        return cls(parts[0], parts[1], parts[2], step)


class Runner(Protocol):
    """A model's graphs loaded in a runtime, with the training state kept there."""

    device: str  # where it runs, e.g. "cpu" or "cuda"

    def set_state(self, state: TrainState) -> None: ...

    def state(self) -> TrainState: ...

    def theta(self) -> array: ...

    def train_step(self, batch: Batch, hyper: Hyper) -> float:
        """One fused AdamW step on the kept state; returns the batch loss before the update."""
        ...

    def train_steps(self, batches: Sequence[Batch], hyper: Hyper) -> list[float]:
        """len(batches) steps in one graph call (the `train_loop` graph: one crossing of the runtime's
        boundary, θ, m and v copied in and out once); the same state, bit for bit, and the same losses as
        as many `train_step` calls."""
        ...

    def grad(self, batch: Batch) -> tuple[float, array]:
        """Loss and gradient at the kept θ (no update): synchronous data-parallel workers average these."""
        ...

    def apply_grad(self, grad: array, hyper: Hyper) -> None:
        """One AdamW update of the kept state with a given gradient."""
        ...

    def evaluate(self, batch: Batch) -> tuple[float, float]:
        """(mean loss, number of correct top-1 predictions) at the kept θ."""
        ...

    def infer(self, x: Tensor) -> array: ...


GraphSource = (
    bytes | str
)  # an inference graph's ONNX bytes, or where to read them: a path (CPython), a URL (tab)


class GraphSession(Protocol):
    """A loaded inference graph (no state kept between runs): named tensors in, named float32 tensors out."""

    device: str

    def run(self, feeds: dict[str, Tensor], outputs: list[str]) -> dict[str, Tensor]: ...


def check_graph(data: bytes, sha256: str) -> bytes:
    """The graph's bytes if their sha256 is the expected one (both platforms check before loading)."""
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ValueError("the graph's bytes do not match their sha256 (rebuild or restore it)")
    return data
