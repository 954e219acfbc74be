"""`hyperspace points` (the ledger; `--verify` recomputes it from the certificates and compares it with the points
records the leaders published), and the presence options that `node` and `demo` share."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pynode.cli.common import DEFAULT_DATA, CliError, add_json_flag, peer_ids, positive, relay_url, run
from pynode.cli.research import DEFAULT_RELAY


def add_presence_options(p: argparse.ArgumentParser) -> None:
    """--no-presence, --presence-interval and --operator-key, for `node` and `demo`."""
    g = p.add_argument_group("presence (every node takes part in pulse rounds unless --no-presence)")
    g.add_argument(
        "--no-presence", action="store_true", help="take no part in pulse rounds (earns no points)"
    )
    g.add_argument(
        "--presence-interval",
        type=positive,
        default=90,
        help="seconds between pulse rounds; every node of a network must use the same (default 90)",
    )
    g.add_argument(
        "--operator-key",
        type=Path,
        default=None,
        metavar="FILE",
        help="declare this node's operator: a key file (made on first use, 0600) shared by one operator's nodes",
    )


async def pulse_runtime(node: Any, replica: Any, args: argparse.Namespace, caps: Sequence[str]) -> Any:
    """The pulse runtime `node`/`demo` run beside their replica, or None with --no-presence."""
    from pynode.presence import membership
    from pynode.presence.params import Timing
    from pynode.runtime.pulse import PulseConfig, PulseRuntime

    if args.no_presence:
        return None
    operator = None
    if args.operator_key is not None:
        from pynode.identity import Identity

        try:
            key = await Identity.load_or_create(args.operator_key)
        except (OSError, ValueError) as e:
            raise CliError(f"operator key: {e}") from None
        operator = await membership.declare(key.signer, node.peer_id)
    timing = Timing(interval_ms=int(args.presence_interval * 1000))
    try:
        timing.check()
    except ValueError as e:
        raise CliError(f"--presence-interval: {e}") from None
    return PulseRuntime(node, replica, PulseConfig(timing=timing, operator=operator, caps=tuple(caps)))


def presence_part(runtimes: Sequence[Any]) -> str:
    """The status line's presence part: the last certified round and our points."""
    live = [r.status() for r in runtimes if r is not None]
    if not live:
        return ""
    last = max((s["last_round"] for s in live if s["last_round"] is not None), default=None)
    counted = sum(s["last_counted_us"] for s in live)
    points = "/".join(s["points"] for s in live)
    return f" · round {last if last is not None else '—'} ({counted}/{len(live)} counted), points {points}"


# ---- hyperspace points --------------------------------------------------------------------------------------


def add_points(sub: Any) -> None:
    p = sub.add_parser(
        "points",
        help="the points ledger; --verify recomputes it from the archived certificates",
        description="Show the points ledger, computed from the round certificates (docs/POINTS.md). The "
        "records come from an archive (--archive: a relay's archive repository) or from the network (--relay: "
        "sync the state first). --verify checks every proof and signature and compares each round's awards "
        "with the points records its leader published; the exit status is 1 if they differ.",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--archive", type=Path, help="a relay's archive repository (reads its snapshots/)")
    src.add_argument("--relay", default=None, help=f"sync from this relay (default {DEFAULT_RELAY})")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA / "points", help="identity for --relay")
    p.add_argument("--verify", action="store_true", help="recompute and compare with the published records")
    p.add_argument("--top", type=positive, default=20, help="rows shown (default 20)")
    p.add_argument(
        "--trust-relay",
        type=peer_ids,
        default=frozenset(),
        metavar="ID[,ID...]",
        help="relays whose origin attestations count (default: relays that attested nodes and took part in rounds)",
    )
    p.add_argument("--sync-timeout", type=float, default=20.0, help="seconds to wait for the state to sync")
    add_json_flag(p)
    p.set_defaults(func=cmd_points)


def cmd_points(args: argparse.Namespace) -> int:
    if args.archive is None:
        relay_url(args.relay or DEFAULT_RELAY)
    return run(_points_main(args))


async def _points_main(args: argparse.Namespace) -> int:
    from pynode.identity import verify
    from pynode.identity.vrf import verify as vrf_verify
    from pynode.presence import ledger
    from pynode.state.records import DOMAINS

    store = await _load(args)
    relays = frozenset(args.trust_relay) or _attesting_relays(store)
    evidence = await ledger.gather(
        store.all_records("presence"),
        store.all_records("identities"),
        verify,
        vrf_verify,
        relays,
        [r for d in DOMAINS for r in store.all_records(f"results.{d}")],
        store.all_records("reviews"),
        full=args.verify,
        receipt_records=store.all_records("receipts"),
    )
    view = ledger.compute(evidence)
    check = ledger.verify_published(view, store.all_records("points")) if args.verify else None
    if args.json:
        print(json.dumps(_json(view, check, args.top)))
    _table(view, check, args.top)
    return 1 if check is not None and not check.equal else 0


async def _load(args: argparse.Namespace) -> Any:
    from pynode.platform import current
    from pynode.runtime.replica import load_store
    from pynode.state.store import Store

    if args.archive is not None:
        snapshots = args.archive / "snapshots"
        if not snapshots.is_dir():
            raise CliError(f"{snapshots} is not a directory: is {args.archive} a relay's archive repository?")
        store = Store(bytes(32), current())
        await load_store(store, snapshots)
        return store
    return await _sync(args)


async def _sync(args: argparse.Namespace) -> Any:
    from pynode.cli.review import _synced
    from pynode.identity import Identity
    from pynode.net.relay_client import RelayUnreachable
    from pynode.node import Node, NodeConfig
    from pynode.platform import current
    from pynode.runtime.replica import StateReplica
    from pynode.state.store import Store

    identity = await Identity.load_or_create(args.data_dir)
    node = Node(identity, current().relay_link(args.relay or DEFAULT_RELAY), NodeConfig(caps=["relay"]))
    replica = StateReplica(node, store=Store(identity.peer_id, current()))
    await node.start()
    await replica.start()
    try:
        await node.relay.wait_connected(timeout=5)
        await _synced(replica, args.sync_timeout)
    except RelayUnreachable as e:
        raise CliError(str(e)) from None
    finally:
        await replica.stop()
        await node.stop()
    return replica.store


def _attesting_relays(store: Any) -> frozenset[bytes]:
    """Relays named in profiles' origin fields whose own node took part in a round (as a relay's node does).
    A convenience, not a defence: anyone can run a node and attest; name the relays you trust when it matters."""
    named = {r.body["origin"][0] for r in store.all_records("identities") if "origin" in r.body}
    took_part = {p[0] for r in store.all_records("presence") for p in r.body["participants"]}
    return frozenset(named & took_part)


def _json(view: Any, check: Any, top: int) -> dict[str, Any]:
    from pynode.identity import peer_id_text

    out: dict[str, Any] = {
        "rounds": len(view.chain),
        "last_round": view.chain[-1].round if view.chain else None,
        "nodes": [
            {
                "peer": peer_id_text(s.peer),
                "rank": s.rank,
                "points": str(s.points),
                "rounds": s.rounds,
                "uptime_factor": str(round(s.uptime, 4)),
                "strikes": s.strikes,
                "group": peer_id_text(s.group),
            }  # fmt: skip
            for s in view.top(top)
        ],
    }
    if check is not None:
        out["verify"] = {"equal": check.equal, "rounds": check.rounds, "matching": len(check.matching),
                         "mismatched": check.mismatched, "unpublished": check.unpublished,
                         "pending": check.pending}  # fmt: skip
    return out


def _table(view: Any, check: Any, top: int) -> None:
    from pynode.identity import short_id

    last = view.chain[-1].round if view.chain else "—"
    lines = [
        f"points ledger: {len(view.chain)} certified round(s), last {last}, {len(view.standings)} node(s)"
    ]
    lines.append(f"{'rank':>4}  {'node':<10}{'points':>12}{'rounds':>8}{'uptime ×':>10}{'strikes':>9}  group")
    for s in view.top(top):
        lines.append(
            f"{s.rank:>4}  {short_id(s.peer):<10}{s.points:>12.3f}{s.rounds:>8}{s.uptime:>10.3f}{s.strikes:>9}"
            f"  {short_id(s.group) if s.group else '—'}"
        )
    if check is not None:
        verdict = "EQUAL" if check.equal else "DIFFERENT"
        lines.append(
            f"--verify: {verdict} — {len(check.matching)}/{check.rounds} round(s) match the leaders' points "
            f"records; mismatched {check.mismatched or 'none'}, unpublished {check.unpublished or 'none'}"
            + (f", the newest ({check.pending[0]}) not published yet" if check.pending else "")
        )
    print("\n".join(lines), file=sys.stderr)
