"""The samples the causes tasks estimate on, read from the shipped (hash-checked) CSVs.

NSW: the Dehejia-Wahba subsample of LaLonde's National Supported Work experiment (185 trainees, 260 randomised
controls). The experimental estimate of the training's effect on 1978 earnings is the difference of the two
groups' means, $1,794.34; the observational sample replaces the randomised controls by 15,992 CPS households,
whose earnings differ from the trainees' for reasons other than training. u74/u75 flag zero earnings.

NHEFS: 1,566 smokers of 1971 with a 1982 weight (Hernán & Robins, Causal Inference: What If, ch. 12-13).
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from functools import cache

from pynode.research.assets import read_asset
from pynode.research.causes.terms import Variables

NSW_VARIABLES = Variables(
    continuous=("age", "educ", "re74", "re75"),
    binary=("black", "hisp", "marr", "nodegree", "u74", "u75"),
)
NHEFS_VARIABLES = Variables(
    continuous=("age", "smokeintensity", "smokeyrs", "wt71", "school"),
    binary=("sex", "race", "asthma", "bronch", "diabetes"),
    categorical=("education", "exercise", "active", "marital", "hbp"),
)


@dataclass(frozen=True)
class Sample:
    treat: tuple[int, ...]  # 1 treated, 0 control
    outcome: tuple[float, ...]
    data: dict[str, tuple[float, ...]]  # covariates by name
    variables: Variables

    @property
    def size(self) -> int:
        return len(self.treat)


def _rows(name: str) -> list[dict[str, float]]:
    text = gzip.decompress(read_asset(name)).decode()
    return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(io.StringIO(text))]


def _sample(rows: list[dict[str, float]], treat: str, outcome: str, v: Variables) -> Sample:
    return Sample(
        treat=tuple(int(r[treat]) for r in rows),
        outcome=tuple(r[outcome] for r in rows),
        data={name: tuple(r[name] for r in rows) for name in v.all},
        variables=v,
    )


def _with_zero_flags(rows: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{**r, "u74": float(r["re74"] == 0), "u75": float(r["re75"] == 0)} for r in rows]


@cache
def nsw_experiment() -> Sample:
    return _sample(_with_zero_flags(_rows("nsw_dw.csv.gz")), "treat", "re78", NSW_VARIABLES)


@cache
def nsw_cps() -> Sample:
    """The NSW trainees with the CPS comparison group: the observational sample the task estimates on."""
    treated = [r for r in _rows("nsw_dw.csv.gz") if r["treat"] == 1]
    controls = _rows("cps_controls.csv.gz")
    if any(r["treat"] != 0 for r in controls):
        raise ValueError("the CPS comparison group holds a treated unit")
    return _sample(_with_zero_flags(treated + controls), "treat", "re78", NSW_VARIABLES)


def difference_in_means(s: Sample) -> float:
    y1 = [y for y, t in zip(s.outcome, s.treat, strict=True) if t]
    y0 = [y for y, t in zip(s.outcome, s.treat, strict=True) if not t]
    return sum(y1) / len(y1) - sum(y0) / len(y0)


@cache
def experimental_estimate() -> float:
    """The NSW experiment's answer: mean 1978 earnings of trainees minus randomised controls ($1,794.34)."""
    return difference_in_means(nsw_experiment())


@cache
def nhefs() -> Sample:
    return _sample(_rows("nhefs.csv.gz"), "qsmk", "wt82_71", NHEFS_VARIABLES)
