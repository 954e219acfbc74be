"""`hyperspace bench train --against DIR`: this build's train graphs against another set, in both runtimes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pynode.train.assets import GRAPHS_DIR
from tests.test_cli import hyperspace


def test_a_missing_folder_or_graph_is_one_clear_line(tmp_path: Path):
    run = hyperspace("bench", "train", "--against", str(tmp_path / "nowhere"))
    assert run.returncode != 0 and "not a folder" in run.stderr and "Traceback" not in run.stderr
    run = hyperspace("bench", "train", "--against", str(tmp_path), "--model", "charlm-tiny")
    assert (
        run.returncode != 0
        and "no train graph for charlm-tiny" in run.stderr
        and "Traceback" not in run.stderr
    )
    run = hyperspace("bench", "train", "--against", str(tmp_path), "--profile")
    assert run.returncode != 0 and "choose one" in run.stderr


@pytest.mark.slow
def test_both_sets_run_in_turn_on_both_sides(tmp_path: Path):
    from bench.train_graphs import run_against

    shutil.copyfile(
        GRAPHS_DIR / "digits-mlp-gelu.train.onnx", tmp_path / "digits-mlp.train.onnx"
    )  # another graph
    r = run_against(tmp_path, ["digits-mlp"], seconds=0.2, rounds=1)
    m = r["models"]["digits-mlp"]
    for name in ("ours", "against"):
        assert len(m[name]["by_round"]["cpython_ms"]) == 1 and len(m[name]["by_round"]["tab_ms"]) == 1
        assert m[name]["tab_ms"] == min(m[name]["by_round"]["tab_ms"]) > 0
        assert m["ratio"][name] == m[name]["cpython_ms"] / m[name]["tab_ms"]
    assert m["tab_ours_over_against"] == m["ours"]["tab_ms"] / m["against"]["tab_ms"]


@pytest.mark.slow
def test_threads_run_on_both_sides(tmp_path: Path):
    """--threads 2: the tab's onnxruntime-web really runs two (the page is cross-origin isolated; the bench
    fails where it would fall back to one), and the JSON says so."""
    from bench.train_graphs import run_against

    shutil.copyfile(GRAPHS_DIR / "digits-mlp.train.onnx", tmp_path / "digits-mlp.train.onnx")
    r = run_against(tmp_path, ["digits-mlp"], seconds=0.2, rounds=1, threads=2)
    assert r["threads"] == {"cpython": 2, "tab": 2}
    assert r["models"]["digits-mlp"]["ours"]["tab_ms"] > 0


def test_threads_are_for_against_only():
    run = hyperspace("bench", "train", "--threads", "2", "--quick")
    assert (
        run.returncode != 0 and "--threads is for --against" in run.stderr and "Traceback" not in run.stderr
    )
