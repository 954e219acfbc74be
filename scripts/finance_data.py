"""Regenerate the finance domain's data (and their manifest hashes) from the `arch` package's bundled files.

    python scripts/finance_data.py [--wheel path/to/arch-*.whl]

Without --wheel it pip-downloads the pinned arch wheel into a temporary folder (arch is never installed, and is
no dependency of the node). Two files come out of it:

- `sp500_daily.csv`: `date,close` — the S&P 500 index's daily close, 1999-01-04 .. 2018-12-31 (Yahoo Finance,
  `arch/data/sp500/sp500.csv.gz`; Adj Close equals Close for an index). The close keeps the source's text.
- `ff_factors_monthly.csv`: `month,mkt_rf,smb,hml,rf` — Fama-French monthly factors in percent, 1926-07 ..
  2018-11 (Ken French's data library, `arch/data/frenchdata/frenchdata.csv.gz`), also the source's text.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pynode.research.assets import write_asset  # noqa: E402

ARCH = "arch==8.0.0"
SP500 = "sp500_daily.csv"
FACTORS = "ff_factors_monthly.csv"


def download_wheel(folder: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", ARCH,
         "-d", str(folder)],
        check=True,
    )  # fmt: skip
    return next(folder.glob("arch-*.whl"))


def _rows(wheel: zipfile.ZipFile, member: str) -> list[dict[str, str]]:
    text = gzip.decompress(wheel.read(member)).decode()
    return list(csv.DictReader(io.StringIO(text)))


def sp500_csv(rows: list[dict[str, str]]) -> bytes:
    out = ["date,close"]
    for r in rows:
        month, day, year = (int(p) for p in r["Date"].split("/"))
        if r["Adj Close"] != r["Close"]:
            raise SystemExit(f"{r['Date']}: adjusted close differs from close; the index should not adjust")
        out.append(f"{year:04d}-{month:02d}-{day:02d},{r['Close']}")
    dates = [line.split(",")[0] for line in out[1:]]
    if dates != sorted(set(dates)):
        raise SystemExit("S&P 500 dates are not strictly increasing")
    return ("\n".join(out) + "\n").encode()


def factors_csv(rows: list[dict[str, str]]) -> bytes:
    out = ["month,mkt_rf,smb,hml,rf"]
    out += [f"{r['Date']},{r['Mkt-RF']},{r['SMB']},{r['HML']},{r['RF']}" for r in rows]
    months = [line.split(",")[0] for line in out[1:]]
    if months != sorted(set(months)):
        raise SystemExit("factor months are not strictly increasing")
    return ("\n".join(out) + "\n").encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="an arch wheel already downloaded")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.wheel or download_wheel(Path(tmp))
        with zipfile.ZipFile(path) as wheel:
            sp500 = sp500_csv(_rows(wheel, "arch/data/sp500/sp500.csv.gz"))
            factors = factors_csv(_rows(wheel, "arch/data/frenchdata/frenchdata.csv.gz"))
    for name, data in ((SP500, sp500), (FACTORS, factors)):
        print(f"{name}: {len(data.splitlines()) - 1} rows, sha256 {write_asset(name, data)}")


if __name__ == "__main__":
    main()
