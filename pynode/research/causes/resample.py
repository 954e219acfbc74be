"""Bootstrap resamples of a sample, as distinct rows with counts (a row drawn twice weighs 2).

Treated and control units are resampled separately (a stratified bootstrap), so every resample keeps the
sample's 185 trainees and 15,992 controls. Seed s draws the same rows for every config, so two configs are
compared on the same resamples.
"""

from __future__ import annotations

from dataclasses import dataclass

from pynode.research.causes.samples import Sample
from pynode.train.rng import Stream, mix

_RESAMPLE_KEY = 0xCA05E5  # namespaces the bootstrap stream; with the seed it fixes which rows are drawn


@dataclass(frozen=True)
class Resample:
    rows: tuple[int, ...]  # distinct rows drawn, ascending
    counts: tuple[float, ...]  # how often each was drawn


def everyone(sample: Sample) -> Resample:
    return Resample(tuple(range(sample.size)), (1.0,) * sample.size)


def stratified_bootstrap(sample: Sample, seed: int) -> Resample:
    counts = [0] * sample.size
    for group in (1, 0):
        members = [i for i, t in enumerate(sample.treat) if t == group]
        stream = Stream(mix(_RESAMPLE_KEY, seed, group, len(members)))
        for _ in members:
            counts[members[stream.below(len(members))]] += 1
    rows = tuple(i for i, c in enumerate(counts) if c)
    return Resample(rows, tuple(float(counts[i]) for i in rows))
