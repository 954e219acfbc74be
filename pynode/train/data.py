"""Datasets shipped with the package, and batches as pure functions of (seed, shard, step).

A validator re-executing step s of someone's run must feed it exactly that run's batch s, on any platform,
without replaying the run: so a batch is drawn from a counter-based PRNG keyed by (seed, shard, step), and
the train/validation split is fixed by the dataset, never by the run.
"""

from __future__ import annotations

from array import array
from functools import cache, lru_cache

from pynode.platform.model import Batch, Tensor
from pynode.train.assets import TEXT_INDEX, data_bytes, data_hash
from pynode.train.rng import Stream, mix
from pynode.train.zoo import ModelSpec

SPLIT_SEED = 20240601  # fixed: every run of every node sees the same validation set
DIGITS_VAL = 256  # images held out (4 batches of 64)
TEXT_VAL_FRACTION = 0.1
EVAL_BATCHES = 4
CRANFIELD_EVAL_BATCHES = 32  # 16k characters of the 140k-character validation text: a steadier loss estimate
PICKS_KEPT = 4096  # batches whose draws are kept (~2.5 MB): 3 seeds × 600 steps of a research task, with room


class Digits:
    """8×8 handwritten digits (UCI optdigits via scikit-learn): 1,797 images, pixels 0..16, 10 classes."""

    file = "digits.bin"

    def __init__(self) -> None:
        raw = data_bytes(self.file)
        rows = [raw[i : i + 65] for i in range(0, len(raw), 65)]
        order = Stream(mix(SPLIT_SEED)).permutation(len(rows))
        self.val = [rows[i] for i in order[:DIGITS_VAL]]
        self.train = [rows[i] for i in order[DIGITS_VAL:]]
        self.hash = data_hash(self.file)
        # each training row's pixels as float32 bytes (v / 16) and its label, made once: a batch joins 64
        self._pixels = [_pixels(r) for r in self.train]
        self._labels = [r[64] for r in self.train]

    @staticmethod
    def _batch(pixels: list[bytes], labels: list[int]) -> Batch:
        x, y = array("f", b"".join(pixels)), array("q", labels)
        return Batch(Tensor("float32", (len(labels), 64), x), Tensor("int64", (len(labels),), y))

    def batch(self, spec: ModelSpec, seed: int, step: int, shard: int = 0, shards: int = 1) -> Batch:
        pixels, labels = self._pixels[shard::shards], self._labels[shard::shards]
        picks = _picks(seed, shard, step, len(pixels), spec.batch_size)
        return self._batch([pixels[i] for i in picks], [labels[i] for i in picks])

    def eval_batches(self, spec: ModelSpec) -> list[Batch]:
        b = spec.batch_size
        rows = [self.val[i : i + b] for i in range(0, len(self.val) - b + 1, b)]
        return [self._batch([_pixels(r) for r in batch], [r[64] for r in batch]) for batch in rows]


def _pixels(row: bytes) -> bytes:
    """A digits row's 64 pixels (0..16) as float32 bytes of v / 16."""
    return array("f", [v / 16.0 for v in row[:64]]).tobytes()


class CharText:
    """A text over the 32-symbol alphabet; the last 10% is the validation text.

    `charlm.txt` is a generated English-like corpus (DiLoCo's runs and benchmarks); `cranfield.txt` holds the
    Cranfield abstracts (scripts/cranfield_charlm_text.py), the real text the ml research task trains on.
    """

    def __init__(self, file: str = "charlm.txt", eval_batches: int = EVAL_BATCHES) -> None:
        self.file = file
        self.n_eval = eval_batches
        text = data_bytes(self.file).decode("ascii")
        foreign = set(text) - TEXT_INDEX.keys()
        if foreign:
            # a symbol the model cannot embed is a target whose loss has no floor: training drives it negative
            raise ValueError(f"{file} holds symbols outside the alphabet: {sorted(foreign)}")
        ids = array("q", [TEXT_INDEX[c] for c in text])
        cut = int(len(ids) * (1 - TEXT_VAL_FRACTION))
        self.train, self.val = ids[:cut], ids[cut:]
        self.hash = data_hash(self.file)

    @staticmethod
    def _batch(ids: array, starts: list[int], block: int) -> Batch:
        x, y = array("q"), array("q")
        for s in starts:
            x.extend(ids[s : s + block])
            y.extend(ids[s + 1 : s + block + 1])
        shape = (len(starts), block)
        return Batch(Tensor("int64", shape, x), Tensor("int64", shape, y))

    def batch(self, spec: ModelSpec, seed: int, step: int, shard: int = 0, shards: int = 1) -> Batch:
        # shards are contiguous stretches of the training text
        n = len(self.train)
        lo, hi = shard * n // shards, (shard + 1) * n // shards
        starts = [lo + d for d in _picks(seed, shard, step, hi - lo - spec.block - 1, spec.batch_size)]
        return self._batch(self.train, starts, spec.block)

    def eval_batches(self, spec: ModelSpec) -> list[Batch]:
        span = len(self.val) - spec.block - 1
        count = self.n_eval * spec.batch_size
        starts = [i * span // count for i in range(count)]
        b = spec.batch_size
        return [self._batch(self.val, starts[i : i + b], spec.block) for i in range(0, count, b)]


Dataset = Digits | CharText


@lru_cache(maxsize=PICKS_KEPT)
def _picks(seed: int, shard: int, step: int, n: int, count: int) -> array:
    """The draws of batch (seed, shard, step): `count` numbers below `n`. Kept, because every config of a
    research task trains on the same seeds, so the same batches come back run after run."""
    return array("q", Stream(mix(seed, shard, step)).belows(n, count))


@cache
def load_dataset(name: str) -> Dataset:
    if name == "digits":
        return Digits()
    if name == "charlm":
        return CharText()
    if name == "cranfield":
        return CharText("cranfield.txt", CRANFIELD_EVAL_BATCHES)
    raise KeyError(f"no dataset {name!r}")
