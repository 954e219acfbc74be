"""`hyperspace review` (a validator: `--once` reviews what this node is drawn for now and prints the verdicts),
and the validation options that `node` and `demo` share."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pynode.cli.common import DEFAULT_DATA, CliError, relay_url, run
from pynode.cli.research import DEFAULT_RELAY, share

LLM_TIMEOUT_S = 60.0  # one critique request (the runtime also stops waiting before the review's deadline)
MAX_LLM_REPLY = 1 << 20  # bytes of the model's HTTP reply read before parsing


def add_review_options(p: argparse.ArgumentParser, cpu_default: float) -> None:
    """--no-review and --review-cpu, for `node` and `demo` (every node validates unless told not to)."""
    g = p.add_argument_group("validation (every node reviews the results it is drawn for unless --no-review)")
    g.add_argument("--no-review", action="store_true", help="do not validate (no profile, no reviews)")
    g.add_argument(
        "--review-cpu",
        type=share,
        default=cpu_default,
        help=f"CPU share of re-execution (default {cpu_default})",
    )
    g.add_argument(
        "--review-checkpoints-only",
        action="store_true",
        help="judge ml results by their checkpoints (fetched from storage, evaluated) without re-training "
        "them: cheaper, weaker (docs/REVIEW.md §2)",
    )


def node_store(peer_id: bytes) -> Any:
    """A replica's store refusing research results that contradict their task and reviews with forged tickets."""
    from pynode.platform import current
    from pynode.review.policy import check_record
    from pynode.state.store import Store

    return Store(peer_id, current(), policy=check_record)


def review_agent(replica: Any, identity: Any, args: argparse.Namespace, caps: Sequence[str] = ()) -> Any:
    """The validator `node`/`demo` run beside their replica, or None with --no-review."""
    from pynode.runtime.review import ReviewAgent, ReviewConfig

    if args.no_review:
        return None
    config = ReviewConfig(
        cpu_share=args.review_cpu, caps=tuple(caps), retrain=not args.review_checkpoints_only
    )
    return ReviewAgent(replica, identity, config)


def review_part(agents: Sequence[Any]) -> str:
    """The status line's review part: reviews published and what is being re-executed."""
    live = [a for a in agents if a is not None]
    if not live:
        return ""
    done = sum(a.core.counters.reviewed for a in live)
    busy = sum(a.current is not None for a in live)
    return f" · reviews {done}" + (f", {busy} re-executing" if busy else "")


# ---- hyperspace review --------------------------------------------------------------------------------------


def add_review(sub: Any) -> None:
    r = sub.add_parser(
        "review",
        help="validate: re-execute and score the results this node is drawn to review",
        description="Join the network as a validator: announce the validation capability, and for every "
        "result this node's VRF draws it to review, re-run the claim and publish a signed review scored on "
        "the published rubric (docs/REVIEW.md). With --once: sync, review what is due now, print the "
        "verdicts and exit.",
    )
    r.add_argument("--once", action="store_true", help="review what is due now, print the verdicts, exit")
    r.add_argument("--relay", default=DEFAULT_RELAY, help=f"relay to join (default {DEFAULT_RELAY})")
    r.add_argument("--data-dir", type=Path, default=DEFAULT_DATA / "node", help="identity and state")
    r.add_argument("--cpu", type=share, default=1.0, help="CPU share of re-execution (default 1)")
    r.add_argument("--sync-timeout", type=float, default=20.0, help="seconds to wait for the state to sync")
    r.add_argument(
        "--archive", type=Path, default=None, help="a Git archive checkout: read results' artifacts from it"
    )
    r.add_argument(
        "--llm-url",
        help="an OpenAI-compatible endpoint (…/v1) whose written critique joins each review's comment "
        "(optional; it never changes a score)",
    )
    r.add_argument("--llm-model", default="gpt-4o-mini", help="the model to ask at --llm-url")
    r.add_argument("--llm-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key")
    r.set_defaults(func=cmd_review)


def llm_critic(args: argparse.Namespace) -> Any:
    """An async critic asking --llm-url for each review's critique (None without one)."""
    if not args.llm_url:
        return None
    import urllib.request

    url = args.llm_url.rstrip("/") + "/chat/completions"
    key = os.environ.get(args.llm_key_env, "")

    def ask(messages: list[dict[str, str]]) -> str:
        body = json.dumps({"model": args.llm_model, "messages": messages}).encode()
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
        request = urllib.request.Request(url, body, headers, method="POST")
        with urllib.request.urlopen(request, timeout=LLM_TIMEOUT_S) as response:
            return str(json.loads(response.read(MAX_LLM_REPLY))["choices"][0]["message"]["content"])

    async def critic(messages: list[dict[str, str]]) -> str:
        return await asyncio.to_thread(ask, messages)

    return critic


def cmd_review(args: argparse.Namespace) -> int:
    relay_url(args.relay)
    return run(_review_main(args))


async def _review_main(args: argparse.Namespace) -> int:
    from pynode.identity import Identity
    from pynode.net.relay_client import RelayUnreachable
    from pynode.node import Node, NodeConfig
    from pynode.platform import current
    from pynode.runtime.replica import StateReplica, load_store, save_store
    from pynode.runtime.review import ReviewAgent, ReviewConfig
    from pynode.runtime.services import ServicesRuntime
    from pynode.runtime.storage import StorageRuntime
    from pynode.services.storage.backend import MemoryBackend
    from pynode.services.storage.limits import TAB_CAPACITY_BYTES

    try:
        identity = await Identity.load_or_create(args.data_dir)
    except (OSError, ValueError) as e:
        raise CliError(str(e)) from None
    state_dir = args.data_dir / "state"
    store = node_store(identity.peer_id)
    await load_store(store, state_dir)
    node = Node(identity, current().relay_link(args.relay), NodeConfig(caps=["relay", "validation"]))
    replica = StateReplica(node, store=store)
    # ml checkpoints are fetched through storage; a short-lived validator keeps nobody's blobs
    services = ServicesRuntime(node, None)
    storage = StorageRuntime(node, services, MemoryBackend(), TAB_CAPACITY_BYTES, keeps_others=False)
    config = ReviewConfig(cpu_share=args.cpu, critic=llm_critic(args), storage=storage)
    if args.archive is not None:
        from pynode.runtime.research import archive_artifacts

        config.artifacts = archive_artifacts(args.archive)
    agent = ReviewAgent(replica, identity, config)
    await node.start()
    await replica.start()
    try:
        await node.relay.wait_connected(timeout=5)
        await services.start()
        await storage.start()
        await _synced(replica, args.sync_timeout)
        announced = await agent.ensure_profile()
        if args.once:
            return await _once(agent, announced is not None)
        print(f"validating as {identity.text} on {args.relay} · Ctrl-C to stop", file=sys.stderr)
        await agent.start()
        await asyncio.Event().wait()
        return 0
    except RelayUnreachable as e:
        raise CliError(str(e)) from None
    finally:
        await agent.stop()
        await storage.stop()
        await services.stop()
        save_store(store, state_dir)
        await replica.stop()
        await node.stop()


async def _synced(replica: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while replica.engine.cold and time.monotonic() < deadline:
        await asyncio.sleep(0.2)


async def _once(agent: Any, just_announced: bool) -> int:
    from pynode.identity import short_id

    reviews = await agent.run_once()
    for r in reviews:
        b = r.body
        target = next(x for x in agent.recent if x["review"] == r.key)
        print(
            f"{target['task']:<20} {b['target'][:16]}  claimed {target['claimed']:>12}  measured "
            f"{b.get('measured', '—'):>12}  {b['verdict']:<14} score {b['score']:>2}  epoch {b['epoch']}"
        )
    c = agent.core.counters
    print(
        f"{len(reviews)} review(s) published as {short_id(agent.identity.peer_id)} "
        f"({c.drawn} drawn, {c.declined} declined, {c.late} late)",
        file=sys.stderr,
    )
    if just_announced:
        print(
            "this node announced itself as a validator just now: it is drawn only for results published "
            "after the next sortition epoch starts (≤ 30 s); run again then",
            file=sys.stderr,
        )
    return 0
