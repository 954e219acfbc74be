"""`hyperspace research` (a bounded run with a progress bar and a summary table), `hyperspace reproduce KEY`,
and the research options that `node` and `demo` share."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pynode.cli.common import DEFAULT_DATA, CliError, positive, relay_url, run

DOMAINS = ("search", "causes", "finance", "skills", "ml")
LLM_TIMEOUT_S = 60.0
DEFAULT_RELAY = "ws://127.0.0.1:8787/p2p"


def domains(text: str) -> tuple[str, ...]:
    names = tuple(d.strip() for d in text.split(",") if d.strip())
    unknown = [d for d in names if d not in DOMAINS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"domains are {', '.join(DOMAINS)} (got {text!r})")
    return names


def share(text: str) -> float:
    value = float(text)
    if not 0.05 <= value <= 1.0:
        raise argparse.ArgumentTypeError("a CPU share is between 0.05 and 1")
    return value


def add_research_options(p: argparse.ArgumentParser, cpu_default: float) -> None:
    """--research / --no-research and friends, for `node` and `demo`."""
    g = p.add_argument_group("research (every node runs the autonomous research loop unless --no-research)")
    g.add_argument(
        "--research", type=domains, default=DOMAINS, metavar="D[,D...]", help="domains to research"
    )
    g.add_argument("--no-research", action="store_true", help="run no research agent")
    g.add_argument(
        "--research-cpu",
        type=share,
        default=cpu_default,
        help=f"CPU share of experiments (default {cpu_default})",
    )
    add_llm_options(g)


def add_llm_options(g: Any) -> None:
    g.add_argument(
        "--llm-url", help="an OpenAI-compatible endpoint (…/v1) that proposes hypotheses (optional)"
    )
    g.add_argument("--llm-model", default="gpt-4o-mini", help="the model to ask at --llm-url")
    g.add_argument("--llm-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key")


def research_store(peer_id: bytes) -> Any:
    """A replica's store that refuses research results contradicting their task (pynode.research.policy)."""
    from pynode.platform import current
    from pynode.research.policy import check_result
    from pynode.state.store import Store

    return Store(peer_id, current(), policy=check_result)


def research_agent(replica: Any, args: argparse.Namespace, data_dir: Path, seed: int | None = None) -> Any:
    """The research agent `node`/`demo` run beside their replica, or None with --no-research."""
    from pynode.runtime.research import ResearchAgent, ResearchConfig

    if args.no_research:
        return None
    data_dir.mkdir(parents=True, exist_ok=True)
    config = ResearchConfig(
        domains=args.research,
        cpu_share=args.research_cpu,
        state_file=data_dir / "research-plan.json",
        seed=seed,
        proposer=llm_proposer(args),
    )
    return ResearchAgent(replica, config)


def ml_team(node: Any, agent: Any, hosted: Any) -> Any:
    """The research agent's DiLoCo side (pynode/runtime/research_diloco.py) when it researches an ml task: its
    experiments train with the peers on the task, and it helps theirs. None otherwise."""
    if agent is None:
        return None
    tasks = [a.task.id for a in agent.agents if a.task.domain == "ml"]
    if not tasks:
        return None
    from pynode.pace import CpuBudget
    from pynode.runtime.diloco import DilocoPeer
    from pynode.runtime.research_diloco import MlTeam

    if hosted.runner is not None:
        peer = hosted.runner.peer()  # one DiLoCo peer per node: the task board's runs and research share it
    else:
        budget = CpuBudget(agent.config.cpu_share)
        peer = DilocoPeer(node, storage=hosted.storage, pace=budget.pace_blocking)
    team = MlTeam(peer, agent.replica.store, tasks, lambda: {*node.connected_peers(), *node.relay.peers})
    agent.config.team = team
    return team


def llm_proposer(args: argparse.Namespace) -> Any:
    """An async proposer asking --llm-url (None without one). Failures fall back to the built-in strategy."""
    if not args.llm_url:
        return None
    from pynode.research import llm

    url = args.llm_url.rstrip("/") + "/chat/completions"
    key = os.environ.get(args.llm_key_env, "")

    def ask(body: bytes) -> str:
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
        request = urllib.request.Request(url, body, headers, method="POST")
        with urllib.request.urlopen(request, timeout=LLM_TIMEOUT_S) as response:
            return json.loads(response.read(1 << 20))["choices"][0]["message"]["content"]

    async def propose(domain: Any, task: str, board: Sequence[Any]) -> Any:
        body = json.dumps({"model": args.llm_model, "messages": llm.messages(domain, task, board)}).encode()
        try:
            reply = await asyncio.to_thread(ask, body)
        except (OSError, urllib.error.URLError, ValueError, KeyError, IndexError, TypeError) as e:
            print(f"hyperspace: the LLM at {url} failed ({e}); using the built-in strategy", file=sys.stderr)
            return None
        return llm.proposal(domain, task, board, str(reply))

    return propose


def research_part(agents: Sequence[Any]) -> str:
    """The status line's research part: experiments done and what runs now."""
    live = [a for a in agents if a is not None]
    if not live:
        return ""
    done = sum(a.experiments for a in live)
    current = [a.progress for a in live if a.progress.task and a.progress.seeds_done < a.progress.seeds]
    now = f", running {current[0].task} {current[0].seeds_done}/{current[0].seeds}" if current else ""
    return f" · research {done} experiments{now}"


# ---- hyperspace research ----------------------------------------------------------------------------


def add_research(sub: Any) -> None:
    r = sub.add_parser(
        "research",
        help="run the research loop for N experiments and print a summary",
        description="Run the autonomous research loop (hypothesis → experiment on several seeds → statistics "
        "→ paper → signed result) for a bounded number of experiments. Without --relay the results stay "
        "in --data-dir (a later `hyperspace node` with the same data dir publishes them); with --relay they "
        "go to the network as they are made.",
    )
    r.add_argument(
        "--domain", type=domains, default=("search",), metavar="D[,D...]", help="domains (default search)"
    )
    r.add_argument("--task", action="append", default=None, help="restrict to these task ids (repeatable)")
    r.add_argument("--experiments", type=positive, default=20, help="how many experiments (default 20)")
    r.add_argument("--strategy", choices=("bandit", "random"), default="bandit", help="hypothesis strategy")
    r.add_argument("--cpu", type=share, default=1.0, help="CPU share of experiments (default 1)")
    r.add_argument("--relay", default=None, help="also publish to this relay (ws://HOST:PORT/p2p)")
    r.add_argument("--data-dir", type=Path, default=DEFAULT_DATA / "node", help="identity and results")
    add_llm_options(r.add_argument_group("LLM"))
    r.set_defaults(func=cmd_research)

    p = sub.add_parser(
        "reproduce",
        help="re-run a published result and say whether it agrees",
        description="Fetch a result by its record key (from --data-dir's saved state, else from an archive "
        "checkout given with --archive, else from the network through --relay), re-run its config on the same "
        "seeds, and print agree/disagree per seed. With --archive the run file the result names as its "
        "artifacts must hold that very result. Exit status 0 when it agrees, 1 when it does not.",
    )
    p.add_argument("key", help="the result's record key (64 hex digits)")
    p.add_argument("--relay", default=DEFAULT_RELAY, help=f"relay to fetch from (default {DEFAULT_RELAY})")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA / "node", help="look here first")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the result to arrive")
    p.add_argument(
        "--archive",
        type=Path,
        default=None,
        help="a checkout of the Git archive: the result and its artifacts",
    )
    p.set_defaults(func=cmd_reproduce)


def cmd_research(args: argparse.Namespace) -> int:
    if args.relay:
        relay_url(args.relay)
    return run(_research_main(args))


async def _research_main(args: argparse.Namespace) -> int:
    from pynode.runtime.replica import LocalReplica, load_store, save_store
    from pynode.runtime.research import ResearchAgent, ResearchConfig

    identity = await _identity(args.data_dir)
    store = research_store(identity.peer_id)
    state_dir = args.data_dir / "state"
    await load_store(store, state_dir)
    node = replica = None
    if args.relay:
        node, replica = await _join(identity, store, args.relay)
    local = LocalReplica(identity.signer, store, state_dir)
    config = ResearchConfig(
        domains=args.domain,
        tasks=args.task,
        strategy=args.strategy,
        cpu_share=args.cpu,
        state_file=args.data_dir / "research-plan.json",
        proposer=llm_proposer(args),
    )
    try:
        agent = ResearchAgent(replica or local, config)
    except ValueError as e:
        raise CliError(str(e)) from None
    print(f"researching {', '.join(a.task.id for a in agent.agents)} as {identity.text}", file=sys.stderr)
    rows = []
    try:
        for i in range(args.experiments):
            run_task = asyncio.ensure_future(agent.run_once())
            while not run_task.done():
                _bar(i, args.experiments, agent)
                await asyncio.wait({run_task}, timeout=0.2)
            published = run_task.result()
            if published is None:
                print("\nnothing new to try on these tasks", file=sys.stderr)
                break
            rows.append(published)
            if replica is not None:  # published through the network: keep the directory current too
                save_store(store, state_dir)
        print(file=sys.stderr)
    finally:
        if node is not None:
            await replica.stop()
            await node.stop()
    _summary(rows)
    return 0


async def _identity(data_dir: Path) -> Any:
    from pynode.identity import Identity

    try:
        return await Identity.load_or_create(data_dir)
    except (OSError, ValueError) as e:
        raise CliError(str(e)) from None


async def _join(identity: Any, store: Any, url: str) -> tuple[Any, Any]:
    from pynode.net.relay_client import RelayUnreachable
    from pynode.node import Node, NodeConfig
    from pynode.platform import current
    from pynode.runtime.replica import StateReplica

    node = Node(identity, current().relay_link(url), NodeConfig(caps=["relay", "research"]))
    replica = StateReplica(node, store=store)
    await node.start()
    await replica.start()
    try:
        await node.relay.wait_connected(timeout=5)
    except RelayUnreachable as e:
        await replica.stop()
        await node.stop()
        raise CliError(str(e)) from None
    return node, replica


def _bar(i: int, n: int, agent: Any) -> None:
    p = agent.progress
    width = 24
    filled = int(width * (i + (p.seeds_done / p.seeds if p.seeds else 0)) / n)
    text = f"[{'#' * filled}{'.' * (width - filled)}] experiment {i + 1}/{n}"
    if p.task:
        text += f" · {p.task} seed {p.seeds_done}/{p.seeds} · {p.hypothesis[:60]}"
    print(f"\r\x1b[2K{text}" if sys.stderr.isatty() else "", end="", file=sys.stderr, flush=True)


def _summary(rows: list[Any]) -> None:
    if not rows:
        return
    print(
        f"{'task':<20} {'operator':<16} {'mean ± 95% CI':>24} {'n':>3} {'p':>8} {'held-out':>9}  result",
        file=sys.stderr,
    )
    for p in rows:
        f = p.finding
        pv = f"{f.vs_parent.p_value:.3g}" if f.vs_parent else "—"
        held = f"{f.heldout:.4g}" if f.heldout is not None else "—"
        mark = " ★" if f.improvement else ""
        print(
            f"{f.task.id:<20} {f.proposal.operator[:16]:<16} {f'{f.mean:.5g} ± {f.ci95:.2g}':>24} "
            f"{len(f.samples):>3} {pv:>8} {held:>9}  {p.result.key[:16]}{mark}",
            file=sys.stderr,
        )
    improvements = sum(p.finding.improvement for p in rows)
    print(
        f"{len(rows)} experiments, {improvements} significant improvement(s) on the best (★)", file=sys.stderr
    )


# ---- hyperspace reproduce ---------------------------------------------------------------------------


def cmd_reproduce(args: argparse.Namespace) -> int:
    key = args.key.lower()
    if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise CliError("a record key is 64 hex digits")
    relay_url(args.relay)
    return run(_reproduce_main(args, key))


async def _reproduce_main(args: argparse.Namespace, key: str) -> int:
    from pynode.research.reproduce import reproduce
    from pynode.runtime.replica import load_store

    identity = await _identity(args.data_dir)
    store = research_store(identity.peer_id)
    await load_store(store, args.data_dir / "state")
    record = _find(store, key)
    if record is None and args.archive is not None:
        record = _from_archive(args.archive, key)
    if record is None:
        record = await _fetch(identity, store, args.relay, key, args.timeout)
    print(f"reproducing {record.body['task']} result {key[:16]} by {_author(record)} …", file=sys.stderr)
    if args.archive is not None:
        record = _with_artifacts(args.archive, record)
    try:
        verdict = await asyncio.to_thread(reproduce, record)
    except ValueError as e:
        raise CliError(str(e)) from None
    for i, (a, m) in enumerate(zip(verdict.claimed, verdict.measured, strict=True)):
        ok = abs(a - m) <= verdict.tolerance + 1e-9 * abs(a)
        print(
            f"  seed {i}: claimed {a:.10g}  measured {m:.10g}  {'agree' if ok else 'DISAGREE'}",
            file=sys.stderr,
        )
    print(
        ("agree" if verdict.agree else f"disagree: {verdict.reason}") + f" (tolerance {verdict.tolerance:g})"
    )
    return 0 if verdict.agree else 1


def _from_archive(root: Path, key: str) -> Any:
    """The result `key` as the archive holds it (results/<domain>/<task>/<key>.json), or None."""
    from pynode.research.artifacts import ArtifactError, read_run
    from pynode.runtime.research import read_capped

    for path in sorted(root.glob(f"results/*/*/{key}.json")):
        try:
            return read_run(read_capped(path), key).record
        except (ArtifactError, OSError) as e:
            raise CliError(f"{path}: {e}") from None
    return None


def _with_artifacts(root: Path, record: Any) -> Any:
    """Check the run file the result names as its artifacts: the same signed result, with its paper's path."""
    import dataclasses

    from pynode.research.artifacts import ArtifactError, read_run, run_config
    from pynode.runtime.research import read_capped

    path = record.body.get("artifacts")
    if path is None:
        return record
    try:
        run = read_run(read_capped(root / path), record.key)
    except OSError:
        print(f"artifacts: {path} is not in {root} (yet); re-running from the record", file=sys.stderr)
        return record
    except ArtifactError as e:
        raise CliError(f"artifacts {path}: {e}") from None
    print(
        f"artifacts: {path} holds this result; paper {run.links.get('paper', '(none yet)')}", file=sys.stderr
    )
    config = record.body.get("config") or run_config(run)
    return dataclasses.replace(record, body={**record.body, "config": config}) if config else record


def _find(store: Any, key: str) -> Any:
    for name in store.records:
        if key in store.records[name]:
            return store.records[name][key]
    return None


def _author(record: Any) -> str:
    from pynode.identity import short_id

    return short_id(record.author)


async def _fetch(identity: Any, store: Any, url: str, key: str, timeout: float) -> Any:
    node, replica = await _join(identity, store, url)
    try:
        deadline = time.monotonic() + timeout
        while (record := _find(store, key)) is None:
            if time.monotonic() > deadline:
                raise CliError(f"no result {key[:16]}… arrived from {url} within {timeout:g} s")
            await asyncio.sleep(0.2)
        return record
    finally:
        await replica.stop()
        await node.stop()
