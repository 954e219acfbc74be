"""Peers' Markdown (papers) to HTML that cannot carry markup of theirs.

A small renderer for what papers use: ATX headings, paragraphs, pipe tables, fenced code, flat lists, rules,
and inline code, emphasis, links and images. Every character of the source reaches the page escaped; the only
tags are the ones written here, and the only URLs are `http(s)` links and the images `image_src` vouches
for (a paper's own figures). Raw HTML, `javascript:` links and remote images are shown as text.

Every scan is bounded (MARKDOWN_MAX_SPAN, MARKDOWN_MAX_DEPTH), so hostile input costs linear time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape

from relay_server.limits import MARKDOWN_MAX_DEPTH, MARKDOWN_MAX_SPAN

Resolve = Callable[[str], str | None]  # a link target or code text → a URL we vouch for, or None

ESCAPABLE = frozenset("\\`*_{}[]()#+-.!|<>~")
LINK = re.compile(r"\[([^\[\]\n]{0,500})\]\(([^()\s]{0,500})\)")
IMAGE = re.compile(r"!\[([^\[\]\n]{0,500})\]\(([^()\s]{0,500})\)")
WEB_URL = re.compile(r"https?://[A-Za-z0-9._~:/?#@!$&'*+,;=%-]+")
FENCE = re.compile(r"(`{3,}|~{3,})")
BULLET = re.compile(r" {0,3}[-*+][ \t]+(.*)")
ORDERED = re.compile(r" {0,3}\d{1,9}[.)][ \t]+(.*)")
SEPARATOR_CELL = re.compile(r":?-+:?")


def _none(_target: str) -> str | None:
    return None


class Renderer:
    def __init__(self, image_src: Resolve = _none, code_href: Resolve = _none) -> None:
        """`image_src`: the URL for an image target (else the image shows as its alt text); `code_href`: a
        link for an inline code span (e.g. a record key), or None."""
        self.image_src = image_src
        self.code_href = code_href

    # ---- blocks -----------------------------------------------------------------------------------

    def render(self, markdown: str) -> str:
        lines = markdown.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        out: list[str] = []
        i = 0
        while i < len(lines):
            line = lines[i]
            stripped = line.strip()
            if not stripped:
                i += 1
            elif fence := FENCE.match(stripped):
                i = self._code(lines, i, fence.group(1), out)
            elif heading := _heading(stripped):
                level, text = heading
                out.append(f"<h{level}>{self.inline(text)}</h{level}>")
                i += 1
            elif _is_rule(stripped):
                out.append("<hr>")
                i += 1
            elif _table_starts(lines, i):
                i = self._table(lines, i, out)
            elif BULLET.fullmatch(line) or ORDERED.fullmatch(line):
                i = self._list(lines, i, out)
            else:
                i = self._paragraph(lines, i, out)
        return "\n".join(out)

    def _code(self, lines: list[str], i: int, fence: str, out: list[str]) -> int:
        body = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i])
            i += 1
        out.append(f"<pre><code>{escape(chr(10).join(body))}</code></pre>")
        return i + 1

    def _table(self, lines: list[str], i: int, out: list[str]) -> int:
        header = _cells(lines[i])
        aligns = _separator(lines[i + 1]) or []
        i += 2
        rows = []
        while i < len(lines) and "|" in lines[i] and lines[i].strip():
            rows.append(_cells(lines[i]))
            i += 1

        def cell(tag: str, n: int, text: str) -> str:
            align = aligns[n] if n < len(aligns) else ""
            cls = f' class="{align}"' if align else ""
            return f"<{tag}{cls}>{self.inline(text)}</{tag}>"

        html = ["<table>", "<thead><tr>", *(cell("th", n, c) for n, c in enumerate(header)), "</tr></thead>"]
        html.append("<tbody>")
        for r in rows:
            padded = (r + [""] * len(header))[: len(header)]
            html += ["<tr>", *(cell("td", n, c) for n, c in enumerate(padded)), "</tr>"]
        html += ["</tbody>", "</table>"]
        out.append("".join(html))
        return i

    def _list(self, lines: list[str], i: int, out: list[str]) -> int:
        ordered = ORDERED.fullmatch(lines[i]) is not None
        pattern = ORDERED if ordered else BULLET
        items = []
        while i < len(lines) and (m := pattern.fullmatch(lines[i])):
            items.append(f"<li>{self.inline(m.group(1))}</li>")
            i += 1
        tag = "ol" if ordered else "ul"
        out.append(f"<{tag}>{''.join(items)}</{tag}>")
        return i

    def _paragraph(self, lines: list[str], i: int, out: list[str]) -> int:
        text = []
        while i < len(lines):
            line = lines[i]
            stripped = line.strip()
            if not stripped or FENCE.match(stripped) or _heading(stripped) or _is_rule(stripped):
                break
            if text and (BULLET.fullmatch(line) or ORDERED.fullmatch(line) or _table_starts(lines, i)):
                break
            text.append(stripped)
            i += 1
        out.append(f"<p>{self.inline(chr(10).join(text))}</p>")
        return i

    # ---- inline -----------------------------------------------------------------------------------

    def inline(self, text: str, depth: int = 0) -> str:
        if depth > MARKDOWN_MAX_DEPTH:
            return escape(text)
        out: list[str] = []
        plain: list[str] = []  # characters waiting to be escaped as one run
        i, n = 0, len(text)

        def flush() -> None:
            if plain:
                out.append(escape("".join(plain)))
                plain.clear()

        while i < n:
            c = text[i]
            made: tuple[str, int] | None = None
            if c == "\\" and i + 1 < n and text[i + 1] in ESCAPABLE:
                plain.append(text[i + 1])
                i += 2
                continue
            if c == "`":
                made = self._code_span(text, i)
            elif c == "!" and text.startswith("![", i):
                made = self._image(text, i)
            elif c == "[":
                made = self._link(text, i, depth)
            elif c in "*_":
                made = self._emphasis(text, i, depth)
            if made is None:
                plain.append(c)
                i += 1
            else:
                flush()
                out.append(made[0])
                i = made[1]
        flush()
        return "".join(out)

    def _code_span(self, text: str, i: int) -> tuple[str, int]:
        run = 1
        while i + run < len(text) and text[i + run] == "`":
            run += 1
        ticks = "`" * run
        end = text.find(ticks, i + run, i + run + MARKDOWN_MAX_SPAN)
        if end < 0:
            return escape(ticks), i + run  # an unmatched run is literal, all of it (not rescanned per tick)
        code = text[i + run : end]
        if len(code) > 1 and code[0] == " " and code[-1] == " ":
            code = code[1:-1]
        html = f"<code>{escape(code)}</code>"
        href = self.code_href(code)
        if href is not None:
            html = f'<a href="{escape(href)}">{html}</a>'
        return html, end + run

    def _image(self, text: str, i: int) -> tuple[str, int] | None:
        m = IMAGE.match(text, i)
        if m is None:
            return None
        alt, target = m.group(1), m.group(2)
        src = self.image_src(target)
        if src is None:
            return f"[{escape(alt or 'image')}]", m.end()
        return f'<img src="{escape(src)}" alt="{escape(alt)}">', m.end()

    def _link(self, text: str, i: int, depth: int) -> tuple[str, int] | None:
        m = LINK.match(text, i)
        if m is None:
            return None
        label, target = self.inline(m.group(1), depth + 1), m.group(2)
        if WEB_URL.fullmatch(target):
            return f'<a href="{escape(target)}" rel="nofollow noopener noreferrer">{label}</a>', m.end()
        return label, m.end()  # any other scheme (javascript:, data:, relative) keeps only its text

    def _emphasis(self, text: str, i: int, depth: int) -> tuple[str, int] | None:
        c = text[i]
        if c == "_" and i > 0 and text[i - 1].isalnum():
            return None  # snake_case, not emphasis
        marker = c * 2 if text.startswith(c * 2, i) else c
        start = i + len(marker)
        end = text.find(marker, start, start + MARKDOWN_MAX_SPAN)
        if end <= start or text[start].isspace() or text[end - 1].isspace():
            return None
        after = end + len(marker)
        if c == "_" and after < len(text) and text[after].isalnum():
            return None
        tag = "strong" if len(marker) == 2 else "em"
        return f"<{tag}>{self.inline(text[start:end], depth + 1)}</{tag}>", after


def render(markdown: str, image_src: Resolve = _none, code_href: Resolve = _none) -> str:
    return Renderer(image_src, code_href).render(markdown)


def _heading(line: str) -> tuple[int, str] | None:
    level = len(line) - len(line.lstrip("#"))
    if not 1 <= level <= 6 or (len(line) > level and line[level] not in " \t"):
        return None
    text = line[level:].strip()
    closed = text.rstrip("#")
    if closed != text and (not closed or closed[-1] in " \t"):
        text = closed.rstrip()  # an optional closing run of #s
    return level, text


def _table_starts(lines: list[str], i: int) -> bool:
    """A header row followed by a separator row with as many columns."""
    if "|" not in lines[i] or i + 1 >= len(lines):
        return False
    aligns = _separator(lines[i + 1])
    return aligns is not None and len(aligns) == len(_cells(lines[i]))


def _is_rule(line: str) -> bool:
    compact = line.replace(" ", "").replace("\t", "")
    return len(compact) >= 3 and compact[0] in "-*_" and compact == compact[0] * len(compact)


def _cells(line: str) -> list[str]:
    """A table row's cells; `\\|` is a literal bar inside a cell (as GitHub reads it)."""
    s = line.strip()
    s = s.removeprefix("|")
    if s.endswith("|") and not s.endswith("\\|"):
        s = s[:-1]
    cells, cur, i = [], [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s) and s[i + 1] == "|":
            cur.append("|")
            i += 2
            continue
        if s[i] == "|":
            cells.append("".join(cur).strip())
            cur = []
        else:
            cur.append(s[i])
        i += 1
    cells.append("".join(cur).strip())
    return cells


def _separator(line: str) -> list[str] | None:
    """The column alignments ("", "l", "c", "r") if `line` is a table's separator row, else None."""
    if "-" not in line:
        return None
    s = line.strip().removeprefix("|").removesuffix("|")
    aligns = []
    for cell in s.split("|"):
        cell = cell.strip()
        if not SEPARATOR_CELL.fullmatch(cell):
            return None
        left, right = cell.startswith(":"), cell.endswith(":")
        aligns.append("c" if left and right else "r" if right else "l" if left else "")
    return aligns
