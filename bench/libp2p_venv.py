"""Create (once) a private venv holding py-libp2p for the GossipSub comparison benchmark.

py-libp2p is trio-based, pulls ~69 packages and installs a stray top-level ``examples`` package, so it lives in
its own venv instead of the project's. Usage: ``python bench/libp2p_venv.py [PATH]`` prints the venv's python.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

LIBP2P_VERSION = "0.8.1"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VENV = REPO_ROOT / ".bench-venv-libp2p"
MARKER = ".libp2p-version"


def _log(msg: str) -> None:
    print(f"[libp2p-venv] {msg}", file=sys.stderr, flush=True)


def venv_python(path: Path) -> Path:
    """Return the python executable inside the venv at ``path``."""
    return path / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def is_ready(path: Path = DEFAULT_VENV) -> bool:
    """True when the venv at ``path`` exists and holds the pinned libp2p version."""
    marker = path / MARKER
    return venv_python(path).exists() and marker.exists() and marker.read_text().strip() == LIBP2P_VERSION


def ensure_venv(path: Path = DEFAULT_VENV) -> Path:
    """Create the venv at ``path`` with ``libp2p==LIBP2P_VERSION`` if needed; return its python path."""
    path = Path(path)
    python = venv_python(path)
    if is_ready(path):
        _log(f"up to date: {path} (libp2p {LIBP2P_VERSION})")
        return python
    if not python.exists():
        _log(f"creating venv at {path}")
        venv.EnvBuilder(with_pip=True, clear=path.exists()).create(path)
    (path / MARKER).unlink(missing_ok=True)
    _log(f"installing libp2p=={LIBP2P_VERSION} (this takes a minute)")
    cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check", f"libp2p=={LIBP2P_VERSION}"]
    proc = subprocess.run(cmd, stdout=sys.stderr, stderr=sys.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"pip install libp2p=={LIBP2P_VERSION} failed (exit {proc.returncode})")
    check = subprocess.run([str(python), "-c", "import libp2p, trio"], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"libp2p installed but does not import: {check.stderr.strip()}")
    (path / MARKER).write_text(LIBP2P_VERSION + "\n")
    _log("ready")
    return python


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python bench/libp2p_venv.py",
        description="Create (once) the private venv holding py-libp2p, the gossip benchmark's comparison "
        "anchor, and print its python's path.",
    )
    parser.add_argument("venv", nargs="?", type=Path, default=DEFAULT_VENV, help=f"default {DEFAULT_VENV}")
    args = parser.parse_args(argv)
    try:
        python = ensure_venv(args.venv)
    except (RuntimeError, OSError) as exc:
        _log(f"error: {exc}")
        return 1
    print(python)
    return 0


if __name__ == "__main__":
    sys.exit(main())
