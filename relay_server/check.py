"""`hyperspace relay --check`: what would stop this relay from working, found before it starts.

Each check returns a `Finding`: what was checked, whether it passed, and a sentence an operator can act on. The
checks touch nothing they do not have to: the port is bound and released, peer relays are asked for their
challenge and left, and the archive remote is asked, by a dry-run push from a throwaway repository, whether it
would take a push with the configured token.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pynode.identity import peer_id_text
from pynode.net import relay_proto as rp
from pynode.platform import native
from pynode.platform.transport import ConnectionClosed
from pynode.wire.errors import WireError
from relay_server.config import RelayConfig
from relay_server.limits import CHECK_TIMEOUT_S, GIT_TIMEOUT_S

CHECK_BRANCH = "refs/heads/hyperspace-relay-check"  # the ref a dry-run push names (nothing is written)


@dataclass(frozen=True)
class Finding:
    ok: bool
    what: str
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.what}: {self.detail}"


async def check_relay(config: RelayConfig) -> list[Finding]:
    findings = [check_tls(config), check_port(config), check_data_dir(config.data_dir)]
    findings += await asyncio.gather(*(check_peer_relay(url) for url in config.peer_relays))
    findings.append(await check_archive(config))
    if config.public_url and not config.public_url.startswith("wss://") and config.ssl_certfile is None:
        findings.append(
            Finding(
                True,
                "public URL",
                f"{config.public_url} is not wss://: browsers on https pages cannot use it",
            )
        )
    return findings


def check_tls(config: RelayConfig) -> Finding:
    if config.ssl_certfile is None:
        return Finding(
            True, "TLS", "off (serve behind a TLS proxy, or give --ssl-certfile and --ssl-keyfile)"
        )
    for name in (config.ssl_certfile, config.ssl_keyfile):
        path = Path(str(name))
        if not path.is_file():
            return Finding(False, "TLS", f"cannot read {path}: no such file")
        if not os.access(path, os.R_OK):
            return Finding(False, "TLS", f"cannot read {path}: permission denied (run as the relay's user)")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(config.ssl_certfile, config.ssl_keyfile)
    except ssl.SSLError as e:
        return Finding(False, "TLS", f"certificate and key do not load as a pair: {e.reason or e}")
    return Finding(True, "TLS", f"{config.ssl_certfile} and its key load")


def check_port(config: RelayConfig) -> Finding:
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    where = f"{config.host}:{config.port}"
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
            s.bind((config.host, config.port))
    except PermissionError:
        return Finding(False, "port", f"{where}: permission denied (ports below 1024 need a capability)")
    except OSError as e:
        return Finding(False, "port", f"{where}: {e.strerror or e} (another relay or program holds it?)")
    return Finding(True, "port", f"{where} is free")


def check_data_dir(data_dir: Path) -> Finding:
    path = Path(data_dir)
    probe = path if path.exists() else next((p for p in path.parents if p.exists()), Path("/"))
    if not os.access(probe, os.W_OK | os.X_OK):
        return Finding(
            False, "data dir", f"{probe} is not writable: the relay keeps its key and archive there"
        )
    return Finding(True, "data dir", f"{path} is writable")


async def check_peer_relay(url: str) -> Finding:
    """The peer relay answers on its /p2p with a challenge (its identity) within CHECK_TIMEOUT_S."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            sock = await native.relay_link(url).connect()
            try:
                frame = rp.parse_relay_frame(await sock.recv(), from_relay=True)
            finally:
                await sock.close()
    except TimeoutError:
        return Finding(False, "peer relay", f"{url}: no answer within {CHECK_TIMEOUT_S:g} s")
    except (OSError, ConnectionClosed, WireError) as e:
        return Finding(False, "peer relay", f"{url}: {e}")
    if isinstance(frame, rp.Error):
        return Finding(False, "peer relay", f"{url} refused: {frame.code} {frame.msg}")
    if not isinstance(frame, rp.Challenge):
        return Finding(False, "peer relay", f"{url} did not start with a challenge: not a relay?")
    return Finding(True, "peer relay", f"{url} is relay {peer_id_text(frame.relay)}")


async def check_archive(config: RelayConfig) -> Finding:
    if not config.archive:
        return Finding(True, "archive", "off")
    if not config.archive_remote:
        return Finding(True, "archive", f"local commits only, under {config.archive_path()}")
    token = os.environ.get(config.archive_token_env) or None
    with tempfile.TemporaryDirectory(prefix="hyperspace-check-") as tmp:
        try:
            await _git(tmp, None, "init", "-q")
            await _git(tmp, None, "-c", "user.name=check", "-c", "user.email=check@localhost", "commit",
                       "-q", "--allow-empty", "-m", "hyperspace relay --check")  # fmt: skip
            await _git(
                tmp, token, "push", "--dry-run", "--porcelain", config.archive_remote, f"HEAD:{CHECK_BRANCH}"
            )
        except (OSError, RuntimeError, TimeoutError) as e:
            text = str(e).replace(token, "***") if token else str(e)
            hint = "" if token else f" (no token in ${config.archive_token_env})"
            return Finding(
                False, "archive remote", f"{config.archive_remote} would refuse a push{hint}: {text}"
            )
    return Finding(True, "archive remote", f"{config.archive_remote} would take a push")


async def _git(cwd: str, token: str | None, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_TERMINAL_PROMPT="0", GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
    if token is not None:  # as the archiver sends it (archive.py): a header per call, never stored
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="http.extraHeader",
                   GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}")  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        "git", *args, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with asyncio.timeout(min(GIT_TIMEOUT_S, 30.0)):
            _out, err = await proc.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        lines = err.decode(errors="replace").strip().splitlines()
        why = [line for line in lines if line.startswith(("fatal:", "error:", "remote:"))] or lines
        raise RuntimeError(why[0] if why else f"git {args[0]} exited {proc.returncode}")
