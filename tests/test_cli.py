"""The `hyperspace` command: helpful --help, one clear line for user errors, never a traceback."""

import os
import subprocess
import sys

import pytest

COMMANDS = [
    [],
    ["relay"],
    ["node"],
    ["demo"],
    ["research"],
    ["reproduce"],
    ["train"],
    ["diloco"],
    ["bench"],
    ["bench", "gossip"],
    ["bench", "browser"],
    ["bench", "state"],
    ["bench", "diloco"],
    ["bench", "research"],
    ["bench", "vrf"],
    ["tasks"],
    ["tasks", "post"],
    ["tasks", "list"],
    ["storage"],
    ["storage", "put"],
    ["storage", "get"],
    ["storage", "holders"],
]


def hyperspace(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pynode.cli", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "top")
def test_every_command_has_a_help(command):
    result = hyperspace(*command, "--help")
    assert result.returncode == 0
    assert "usage: hyperspace" in result.stdout and len(result.stdout.splitlines()) > 3


@pytest.mark.parametrize(
    "args, expected",
    [
        (["relay", "--port", "99999"], "a port is 1..65535"),
        (["node", "--relay", "ws://127.0.0.1:1/p2p", "--direct-peers", "-1"], "must be ≥ 0"),
        (["node"], "the following arguments are required: --relay"),
        (["frobnicate"], "invalid choice"),
        (["node", "--relay", "ws://127.0.0.1:1/p2p", "--only-peers", "not-a-peer-id"], "a peer id is 52"),
    ],
)
def test_bad_flags_get_one_usage_error(args, expected):
    result = hyperspace(*args)
    assert result.returncode == 2
    assert expected in result.stderr and "Traceback" not in result.stderr


def test_a_task_whose_spec_is_not_json_is_refused_in_one_line(tmp_path):
    args = [
        "tasks",
        "post",
        "--relay",
        "ws://127.0.0.1:9/p2p",
        "--data-dir",
        str(tmp_path),
        "--kind",
        "diloco",
    ]
    result = hyperspace(*args, "--title", "t", "--spec", "{not json")
    assert result.returncode == 1
    assert result.stderr.startswith("hyperspace: --spec is not JSON") and "Traceback" not in result.stderr


def test_a_relay_url_that_is_not_a_websocket_is_refused_in_one_line(tmp_path):
    result = hyperspace("node", "--relay", "http://example.org", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert (
        result.stderr.strip() == "hyperspace: --relay must be a ws:// or wss:// URL, got 'http://example.org'"
    )


def test_an_unreachable_relay_is_one_clear_line(tmp_path):
    result = hyperspace("node", "--relay", "ws://127.0.0.1:9/p2p", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hyperspace: cannot reach relay ws://127.0.0.1:9/p2p")


def test_a_key_file_readable_by_others_is_refused_in_one_line(tmp_path):
    (tmp_path / "identity.key").write_bytes(b"k" * 32)
    (tmp_path / "identity.key").chmod(0o644)
    result = hyperspace("node", "--relay", "ws://127.0.0.1:9/p2p", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert "chmod 600" in result.stderr and "Traceback" not in result.stderr


def test_a_relay_on_a_busy_port_is_one_clear_line(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = hyperspace("relay", "--port", str(port), "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert f"cannot start the relay on 127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr


def test_diloco_init_that_is_no_run_of_the_task_is_one_clear_line(tmp_path):
    relay = ("--relay", "ws://127.0.0.1:9/p2p", "--data-dir", str(tmp_path / "node"))
    result = hyperspace("diloco", *relay, "--init", str(tmp_path / "missing"))
    assert result.returncode == 1 and result.stderr.startswith(f"hyperspace: cannot start from {tmp_path}")
    trained = tmp_path / "digits"
    made = hyperspace(
        "train", "--task", "digits-mlp", "--steps", "4", "--checkpoint-every", "2", "--out", str(trained)
    )
    assert made.returncode == 0, made.stderr
    result = hyperspace("diloco", *relay, "--task", "charlm-tiny", "--init", str(trained))
    assert result.returncode == 1
    assert result.stderr.strip() == f"hyperspace: {trained} trained digits-mlp, not charlm-tiny"


@pytest.mark.parametrize(
    ("arg", "says"),
    [
        (("--config", "200,int9,1,0"), "codec 'int9' is none of"),
        (("--config", "200,int8,x,0"), "want a whole H ≥ 1 and numbers LR and MU"),
        (("--config", "200,int8,1,1"), "want 0 < LR ≤ 10 and 0 ≤ MU < 1"),
        (("--config", "200,int8"), "want H,CODEC,LR,MU"),
        (("--dataset", "digits"), "no dataset 'digits' for charlm-tiny; one of charlm, cranfield"),
        (("--lr", "0"), "'0': want 0 < LR ≤ 1"),
        (("--sync-lr", "fast"), "'fast' is not a number"),
        (
            ("--steps", "100", "--config", "200,int8,1,0"),
            "H=200 is more than the 100 inner steps a worker takes",
        ),
    ],
)
def test_bench_diloco_rejects_a_bad_config_or_dataset_in_one_line(arg, says):
    result = hyperspace("bench", "diloco", *arg)
    assert result.returncode in (1, 2) and says in result.stderr and "Traceback" not in result.stderr


def test_benchmarks_find_the_repositorys_helpers_from_an_installed_script_run_anywhere(tmp_path):
    # `hyperspace bench state` from outside the repository once lost its tab: wasm_build is not installed
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = "import bench.state_tab, wasm_build.web, tests.browser_util"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
