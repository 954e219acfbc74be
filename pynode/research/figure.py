"""SVG figures in pure Python (no plotting library exists in a tab): per-seed values of a few configs.

Each group is a column of dots (one per seed) with its mean as a bar and its 95% CI as a whisker, so a reader
sees at once whether the new config's seeds sit apart from the parent's. Output is small, self-contained SVG
with no script and no external reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from pynode.research import stats

WIDTH, HEIGHT = 480, 300
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 30, 50
COLOURS = ("#2b6cb0", "#c05621", "#2f855a", "#6b46c1")


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    step = (hi - lo) / (n - 1)
    return [lo + i * step for i in range(n)]


def seeds_plot(title: str, unit: str, groups: Sequence[tuple[str, Sequence[float]]]) -> str:
    """Dots per seed, mean bar and CI whisker for each (label, samples) group."""
    values = [v for _, vs in groups for v in vs]
    lo, hi = min(values), max(values)
    for _, vs in groups:
        if len(vs) > 1:
            summary = stats.summarize(vs)
            lo, hi = min(lo, summary.ci_low), max(hi, summary.ci_high)
    pad = (hi - lo) * 0.1 or abs(hi) * 0.05 or 1.0
    lo, hi = lo - pad, hi + pad
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def y(v: float) -> float:
        return TOP + plot_h * (hi - v) / (hi - lo)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
        f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" font-size="13">{escape(title[:80])}</text>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#333"/>',
        f'<text x="14" y="{TOP + plot_h / 2}" transform="rotate(-90 14 {TOP + plot_h / 2})" '
        f'text-anchor="middle">{escape(unit[:24])}</text>',
    ]
    for t in _ticks(lo, hi):
        parts.append(
            f'<line x1="{LEFT - 4}" y1="{y(t):.1f}" x2="{LEFT + plot_w}" y2="{y(t):.1f}" stroke="#eee"/>'
        )
        parts.append(f'<text x="{LEFT - 6}" y="{y(t) + 4:.1f}" text-anchor="end">{t:.4g}</text>')
    slot = plot_w / max(1, len(groups))
    for i, (label, vs) in enumerate(groups):
        cx, colour = LEFT + slot * (i + 0.5), COLOURS[i % len(COLOURS)]
        for j, v in enumerate(vs):
            dx = (j - (len(vs) - 1) / 2) * min(8.0, slot / (2 * max(1, len(vs))))
            parts.append(
                f'<circle cx="{cx + dx:.1f}" cy="{y(v):.1f}" r="3.5" fill="{colour}" opacity="0.75"/>'
            )
        if len(vs) > 1:
            summary = stats.summarize(vs)
            m, h = summary.mean, summary.ci_high - summary.mean
            parts.append(
                f'<line x1="{cx + 18:.1f}" y1="{y(m - h):.1f}" x2="{cx + 18:.1f}" y2="{y(m + h):.1f}" '
                f'stroke="{colour}" stroke-width="2"/>'
            )
            parts.append(
                f'<line x1="{cx - 22:.1f}" y1="{y(m):.1f}" x2="{cx + 22:.1f}" y2="{y(m):.1f}" '
                f'stroke="{colour}" stroke-width="2"/>'
            )
        parts.append(
            f'<text x="{cx:.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">{escape(label[:28])}</text>'
        )
        parts.append(f'<text x="{cx:.1f}" y="{TOP + plot_h + 32}" text-anchor="middle">n={len(vs)}</text>')
    parts.append("</svg>")
    return "".join(parts)
