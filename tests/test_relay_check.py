"""`hyperspace relay --check`: each problem is found and said plainly; a sound configuration passes."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys

import pytest

from relay_server.check import check_relay
from relay_server.config import RelayConfig
from tests.netutil import relay_on


def _cert(tmp, name: str) -> tuple[str, str]:
    cert, key = tmp / f"{name}.pem", tmp / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


def _by_what(findings) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in findings:
        out.setdefault(f.what, []).append(f)
    return out


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_a_sound_configuration_passes_every_check(tmp_path):
    peer = await relay_on(tmp_path / "peer", archive=False)
    bare = tmp_path / "archive.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    cert, key = _cert(tmp_path, "good")
    try:
        config = RelayConfig(
            port=0, data_dir=tmp_path / "relay", ssl_certfile=cert, ssl_keyfile=key,
            peer_relays=(peer.url,), archive_remote=str(bare),
        )  # fmt: skip
        findings = await check_relay(config)
    finally:
        await peer.stop()
    assert all(f.ok for f in findings), [f.line() for f in findings]
    assert peer.relay.identity.text in _by_what(findings)["peer relay"][0].detail


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_each_problem_is_found_with_a_sentence_that_says_what_to_fix(tmp_path):
    cert, _ = _cert(tmp_path, "a")
    _, other_key = _cert(tmp_path, "b")
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        dead = socket.create_server(("127.0.0.1", 0))
        dead_port = dead.getsockname()[1]
        dead.close()
        config = RelayConfig(
            port=port, data_dir=tmp_path / "relay", ssl_certfile=cert, ssl_keyfile=other_key,
            peer_relays=(f"ws://127.0.0.1:{dead_port}/p2p",), archive_remote=str(tmp_path / "no-such.git"),
        )  # fmt: skip
        found = _by_what(await check_relay(config))
    assert not found["TLS"][0].ok and "do not load as a pair" in found["TLS"][0].detail
    assert not found["port"][0].ok and f"127.0.0.1:{port}" in found["port"][0].detail
    assert not found["peer relay"][0].ok and str(dead_port) in found["peer relay"][0].detail
    assert not found["archive remote"][0].ok and "would refuse a push" in found["archive remote"][0].detail
    assert found["data dir"][0].ok


def test_the_command_exits_1_and_prints_each_finding(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pynode.cli", "relay", "--check", "--port", "0", "--data-dir", str(tmp_path),
         "--ssl-certfile", str(tmp_path / "missing.pem"), "--ssl-keyfile", str(tmp_path / "missing.key"),
         "--no-archive"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert f"FAIL  TLS: cannot read {tmp_path / 'missing.pem'}: no such file" in result.stdout
    assert "ok    port" in result.stdout and "1 problem(s) found" in result.stderr


def test_peer_relays_come_from_the_flag_and_a_bootstrap_file_and_each_is_checked(tmp_path):
    listing = tmp_path / "peers.txt"
    listing.write_text("# the federation's bootstrap relays\nws://127.0.0.1:9/p2p  # down\n\nnot-a-url\n")
    result = subprocess.run(
        [sys.executable, "-m", "pynode.cli", "relay", "--check", "--port", "0", "--data-dir", str(tmp_path),
         "--no-archive", "--peer-relay", "ws://127.0.0.1:9/p2p", "--peer-relays", str(listing)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "not-a-url" in result.stderr and "ws:// or wss://" in result.stderr  # refused before any check
    listing.write_text("# the federation's bootstrap relays\nws://127.0.0.1:9/p2p  # down\n")
    result = subprocess.run(
        [sys.executable, "-m", "pynode.cli", "relay", "--check", "--port", "0", "--data-dir", str(tmp_path),
         "--no-archive", "--peer-relay", "ws://127.0.0.1:9/p2p", "--peer-relays", str(listing)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout.count("FAIL  peer relay: ws://127.0.0.1:9/p2p") == 1  # listed twice, checked once
