"""Regenerate the causes domain's data (and their manifest hashes) from the `causaldata` package's Stata files.

    python scripts/causes_data.py [--sdist path/to/causaldata-*.tar.gz]

Without --sdist it pip-downloads the pinned causaldata sdist into a temporary folder. The `.dta` files are read
by pandas in a throw-away virtual environment (pandas is no dependency of the node). Out come gzip'd CSVs:

- `nsw_dw.csv.gz`: the NSW job-training experiment, Dehejia-Wahba sample (185 treated, 260 randomised controls),
  `nsw_mixtape` (LaLonde 1986; Dehejia & Wahba 1999).
- `cps_controls.csv.gz`: the 15,992 CPS comparison units, `cps_mixtape`.
  Both with columns treat,age,educ,black,hisp,marr,nodegree,re74,re75,re78 (earnings in 1978 dollars; the
  source's float32 values written in their shortest round-tripping decimal form).
- `nhefs.csv.gz`: NHEFS (Hernán & Robins, Causal Inference: What If), the 1,566 people with a 1982 weight, with
  qsmk (quit smoking 1971-82), wt82_71 (weight gain, kg) and the covariates of the book's models.
"""

from __future__ import annotations

import argparse
import gzip
import subprocess
import sys
import tarfile
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pynode.research.assets import write_asset  # noqa: E402

CAUSALDATA = "causaldata==0.1.5"
PANDAS = "pandas==3.1.1"
NSW_COLUMNS = ["treat", "age", "educ", "black", "hisp", "marr", "nodegree", "re74", "re75", "re78"]
NHEFS_COLUMNS = [
    "qsmk", "wt82_71", "sex", "race", "age", "education", "smokeintensity", "smokeyrs", "exercise", "active",
    "wt71", "school", "marital", "asthma", "bronch", "hbp", "diabetes",
]  # fmt: skip

# Runs inside the throw-away venv: Stata file -> CSV on stdout. Labelled categories become their label's integer
# (NHEFS stores sex 0/1 as codes 1/2); floats get their shortest decimal in the column's own precision.
CONVERT = """
import sys, numpy as np, pandas as pd
path, columns, dropna = sys.argv[1], sys.argv[2].split(","), sys.argv[3] == "1"
d = pd.read_stata(path)[columns]
if dropna:
    d = d.dropna()
if d.isna().any().any():
    raise SystemExit(f"{path}: missing values in {list(d.columns[d.isna().any()])}")
def formatter(dtype):
    if isinstance(dtype, pd.CategoricalDtype):
        return lambda v: str(int(v))
    if np.issubdtype(dtype, np.floating):
        cast = np.dtype(dtype).type
        return lambda v: np.format_float_positional(cast(v), unique=True, trim="-")
    return lambda v: str(int(v))
formats = [formatter(d[c].dtype) for c in columns]
print(",".join(columns))
for row in d.itertuples(index=False):
    print(",".join(f(v) for f, v in zip(formats, row)))
"""


def _download_sdist(folder: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary=:all:", CAUSALDATA,
         "-d", str(folder)],
        check=True,
    )  # fmt: skip
    return next(folder.glob("causaldata-*.tar.gz"))


def _pandas_python(folder: Path) -> Path:
    venv.create(folder / "venv", with_pip=True)
    python = folder / "venv" / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", PANDAS], check=True)
    return python


def _convert(python: Path, dta: Path, columns: list[str], dropna: bool) -> bytes:
    args = [str(python), "-c", CONVERT, str(dta), ",".join(columns), "1" if dropna else "0"]
    return subprocess.run(args, check=True, capture_output=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sdist", type=Path, help="a causaldata sdist already downloaded")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with tarfile.open(args.sdist or _download_sdist(folder)) as sdist:
            sdist.extractall(folder / "src", filter="data")
        files = {p.stem: p for p in (folder / "src").glob("causaldata-*/causaldata/*/*.dta")}
        python = _pandas_python(folder)
        outputs = {
            "nsw_dw.csv.gz": _convert(python, files["nsw_mixtape"], NSW_COLUMNS, False),
            "cps_controls.csv.gz": _convert(python, files["cps_mixtape"], NSW_COLUMNS, False),
            "nhefs.csv.gz": _convert(python, files["nhefs"], NHEFS_COLUMNS, True),
        }
    for name, csv in outputs.items():
        digest = write_asset(name, gzip.compress(csv, mtime=0))
        print(f"{name}: {len(csv.splitlines()) - 1} rows, sha256 {digest}")


if __name__ == "__main__":
    main()
