"""A paper per experiment: Markdown with the hypothesis, method, results table, a figure, discussion and the
exact reproduction command. It is written from the `Finding` alone, so every number in it traces to the signed
result it cites."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pynode.research.agent import Finding, decimal_text
from pynode.research.figure import seeds_plot
from pynode.research.strategy import Prior

FIGURE = "figure-1.svg"  # the Markdown links figures by these names; the archive stores them beside it


def config_diff(parent: dict[str, Any], child: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(key, parent value, child value) for every top-level setting that differs."""
    keys = sorted(set(parent) | set(child))
    return [
        (k, _short(parent.get(k, "—")), _short(child.get(k, "—")))
        for k in keys
        if parent.get(k) != child.get(k)
    ]


def _short(v: Any) -> str:
    text = str(v)
    return text if len(text) <= 60 else text[:57] + "…"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _row(label: str, n: int, mean: float, ci: float | None, p: float | None, g: float | None) -> str:
    ci_text = f" ± {decimal_text(ci, 3)}" if ci is not None else ""
    p_text = decimal_text(p, 3) if p is not None else "—"
    g_text = decimal_text(g, 3) if g is not None else "—"
    return f"| {label} | {n} | {decimal_text(mean)}{ci_text} | {p_text} | {g_text} |"


def _cite(prior: Prior) -> str:
    return f"`{prior.key[:16]}` by `{prior.author[:12]}`"


@dataclass(frozen=True)
class Related:
    """Earlier work near this one by embedding similarity (the memory service), read from our own replica."""

    key: str
    kind: str  # "paper" or "result"
    title: str
    similarity: float


def write(
    finding: Finding, result_key: str, author: str, related: Sequence[Related] = ()
) -> tuple[str, str, list[str]]:
    """(title, markdown, [svg figure]) for the result `result_key` that `finding` became; `related` adds a
    Related work section."""
    t, p = finding.task, finding.proposal
    better = "lower" if t.direction == "min" else "higher"
    title = f"{t.id}: {p.operator} — {t.metric} {decimal_text(finding.mean, 4)} {t.unit}"[:200]
    verdict = _verdict(finding)
    groups: list[tuple[str, tuple[float, ...]]] = [("this work", finding.samples)]
    if p.parent is not None:
        groups.insert(0, (f"parent {p.parent.key[:8]}", p.parent.samples))
    figure = seeds_plot(f"{t.metric} per seed ({better} is better)", t.unit, groups)
    lines = [
        f"# {title}",
        "",
        f"*Author `{author}` · task `{t.id}` ({t.title}) · result `{result_key}`*",
        "",
        "## Abstract",
        "",
        f"We test whether {p.prediction.rstrip('.')}. Over n = {len(finding.samples)} seeds the configuration "
        f"reaches {t.metric} = {decimal_text(finding.mean)} ± {decimal_text(finding.ci95, 3)} {t.unit} "
        f"(95% CI; {better} is better){_heldout(finding)}. {verdict}",
        "",
        "## Hypothesis and prediction",
        "",
        f"{p.prediction.rstrip('.')}.",
        "",
        "## Method",
        "",
        *_method(finding),
        "",
        "## Results",
        "",
        "| configuration | n | mean ± 95% CI | p | effect (Hedges' g) |",
        "|---|---:|---:|---:|---:|",
        *_rows(finding),
        "",
        *_tests(finding),
        f"![{t.metric} per seed]({FIGURE})",
        "",
        "## Discussion",
        "",
        verdict,
        *_noise(finding),
        "",
        *_related(related),
        "## Reproduction",
        "",
        "```",
        f"hyperspace reproduce {result_key}",
        "```",
        "",
        "The command fetches this result from the network, re-runs its configuration on the same seeds and "
        "prints whether the values agree.",
        "",
    ]
    return title, "\n".join(lines), [figure]


def _related(related: Sequence[Related]) -> list[str]:
    if not related:
        return []
    lines = [
        "## Related work",
        "",
        "Nearest earlier work by sentence-embedding similarity (all-MiniLM-L6-v2):",
        "",
    ]
    lines += [f"- {r.kind} `{r.key[:16]}`: {_cell(r.title)} (cosine {r.similarity:.2f})" for r in related]
    return [*lines, ""]


def _heldout(f: Finding) -> str:
    if f.heldout is None:
        return ""
    return f"; on data never used for selection it scores {decimal_text(f.heldout)} {f.task.unit}"


def _tests(f: Finding) -> list[str]:
    used = sorted({c.test for c in (f.vs_parent, f.vs_best) if c is not None})
    if not used:
        return []
    names = {
        "paired": "paired t-test (seed i is the same resample or initialisation for every config)",
        "welch": "Welch's t-test",
    }
    return [f"p: two-sided {' and '.join(names[u] for u in used)}.", ""]


def _method(f: Finding) -> list[str]:
    p = f.proposal
    out = [f"Strategy arm: `{p.operator}`. Seeds: {', '.join(str(i) for i in range(len(f.samples)))}."]
    out += _training(f)
    if p.parent is None:
        return [*out, "", "The task's baseline configuration, run as is."]
    out += ["", f"Parent: {_cite(p.parent)}."]
    if p.other is not None:
        out.append(f"Crossed with: {_cite(p.other)}.")
    diff = config_diff(p.parent.config, p.config)
    if diff:
        out += ["", "| setting | parent | this work |", "|---|---|---|"]
        out += [f"| `{_cell(k)}` | {_cell(a)} | {_cell(b)} |" for k, a, b in diff]
    return out


def _training(f: Finding) -> list[str]:
    """How an ml experiment trained its seeds with peers (the result's `training`), with what a reader must know
    comparing it to results trained otherwise; nothing for a solo experiment."""
    runs = [d.get("diloco") for d in f.details]
    if not runs or any(r is None for r in runs):
        return []
    first = runs[0]
    peers = sorted({bytes(p).hex()[:12] for named in first["rounds"] for p, _ in named})
    spec = first["run"]
    return [
        "",
        f"Trained with peers: each seed is one DiLoCo run of {len(peers)} peers ({', '.join(peers)}), "
        f"{len(first['rounds'])} rounds of H = {spec['H']} inner steps each, `{spec['codec']}` deltas, outer "
        f"Nesterov lr {spec['outer_lr_e6'] / 1e6:g}; a seed's value is its run's final θ. Its p-value and "
        "any improvement are against results trained the same way only: a seed of a run of several peers used "
        "their compute, so results trained solo (or with another number of peers) are not compared with it.",
    ]


def _rows(f: Finding) -> list[str]:
    vp = f.vs_parent
    rows = [
        _row(
            "this work", len(f.samples), f.mean, f.ci95, vp.p_value if vp else None, vp.effect if vp else None
        )
    ]
    parent = f.proposal.parent
    if parent is not None:
        rows.append(_row(f"parent `{parent.key[:12]}`", len(parent.samples), parent.mean, None, None, None))
    vb = f.vs_best
    if vb is not None and (parent is None or vb.key != parent.key):
        rows.append(
            _row(f"best `{vb.key[:12]}` (p, g of this work vs it)", 0, vb.mean, None, vb.p_value, vb.effect)
        )
    return rows


def _verdict(f: Finding) -> str:
    if f.proposal.parent is None:
        return "This is the task's baseline; it sets the noise floor for later work."
    held = "The prediction held" if f.confirmed else "The prediction did not hold"
    vp = f.vs_parent
    against = f" (p = {decimal_text(vp.p_value, 3)} against the parent)" if vp else ""
    if f.improvement:
        return f"{held}{against}, and the result improves on the best known result with p < 0.05."
    return f"{held}{against}; it is not a significant improvement on the best known result."


def _noise(f: Finding) -> list[str]:
    if f.noise_floor is None or f.vs_parent is None:
        return []
    change = abs(f.mean - f.vs_parent.mean)
    ratio = change / f.noise_floor if f.noise_floor > 0 else float("inf")
    return [
        "",
        f"The task's noise floor (seed-to-seed sd of the baseline) is {decimal_text(f.noise_floor, 3)}; the "
        f"change against the parent is {decimal_text(change, 3)}, {decimal_text(ratio, 3)}× that floor.",
    ]
