"""A task's lineage as an SVG tree, in pure Python (no plotting library exists in a tab).

One row per result in depth-first order, indented by generation, with an elbow from each parent; a dot is
green where the child beats its parent, orange where it does not, blue for a root. Every text is escaped and
the only links are the ones the caller makes from record keys, so a peer's data cannot put markup in it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from html import escape

from pynode.research.board import LineageNode

ROW_H = 22
INDENT = 18
MAX_INDENT = 30  # generations drawn indented; deeper rows stay at this indent and say their generation
LEFT, TOP = 14, 16
LABEL_W = 420  # room for "value ± ci · author · key"
COLOURS = {True: "#2f855a", False: "#c05621", None: "#2b6cb0"}


def tree_svg(
    nodes: Sequence[LineageNode],
    labels: Mapping[str, str],
    href: Callable[[str], str] | None = None,
    best: str | None = None,
) -> str:
    """The forest `nodes` describes; `labels[key]` is each row's text, `href(key)` its link, `best` ringed."""
    depth_shown = min(max((n.depth for n in nodes), default=0), MAX_INDENT)
    width = LEFT * 2 + depth_shown * INDENT + LABEL_W
    height = TOP + max(1, len(nodes)) * ROW_H
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12" role="img">',
    ]
    if not nodes:
        parts.append(f'<text x="{LEFT}" y="{TOP + 4}" fill="#666">no results yet</text>')
    last_row_at: dict[int, int] = {}  # depth → the row of the latest node at that depth (a child's parent)
    edges, dots = [], []
    for row, n in enumerate(nodes):
        x, y = _x(n.depth), TOP + row * ROW_H
        last_row_at[n.depth] = row
        if n.depth > 0 and n.depth - 1 in last_row_at:
            px, py = _x(n.depth - 1), TOP + last_row_at[n.depth - 1] * ROW_H
            edges.append(f'<path d="M{px} {py + 5}V{y}H{x - 5}" fill="none" stroke="#999"/>')
        colour = COLOURS[n.better]
        dash = ' stroke-dasharray="2 2"' if n.orphan else ""
        ring = (
            f'<circle cx="{x}" cy="{y}" r="8" fill="none" stroke="#b7791f" stroke-width="2"/>'
            if n.key == best
            else ""
        )
        generation = f" · gen {n.depth}" if n.depth > MAX_INDENT else ""
        orphan = " · parent not shown" if n.orphan else ""
        text = escape(labels.get(n.key, n.key[:12]) + generation + orphan)
        dot = (
            f"<title>{escape(n.key)}</title>{ring}"
            f'<circle cx="{x}" cy="{y}" r="5" fill="{colour}" stroke="#333"{dash}/>'
            f'<text x="{x + 12}" y="{y + 4}">{text}</text>'
        )
        if href is not None:
            dot = f'<a href="{escape(href(n.key))}">{dot}</a>'
        dots.append(f"<g>{dot}</g>")
    parts += edges + dots
    parts.append("</svg>")
    return "".join(parts)


def _x(depth: int) -> int:
    return LEFT + min(depth, MAX_INDENT) * INDENT
