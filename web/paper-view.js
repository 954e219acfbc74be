// Papers from the network, rendered safely: a tiny Markdown renderer that builds DOM nodes itself (headings,
// paragraphs, lists, tables, fenced code, emphasis, inline code, images) and never parses HTML — a `<script>` in a
// paper is shown as the text it is. Figures are the paper's own SVG texts, shown as <img> from a Blob URL of type
// image/svg+xml: as an image an SVG cannot run script or fetch anything, whatever a hostile peer put in it. An
// image that names anything but one of the paper's figures (`figure-N.svg`) is shown as its alt text.

const MAX_DEPTH = 4;              // emphasis nested deeper than this is shown as plain text
const FIGURE_RE = /^figure-([1-9][0-9]?)\.svg$/;
const HEADING_RE = /^(#{1,6})\s+(.*)$/;
const RULE_RE = /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/;
const LIST_RE = /^\s*([-*]|\d{1,3}\.)\s+(.*)$/;
const IMAGE_RE = /^!\[([^\]\n]*)\]\(([^()\s]*)\)/;
const LINK_RE = /^\[([^\]\n]*)\]\(([^()\s]*)\)/;
const ESCAPABLE = '\\`*_|[]()!#-.+{}<>';

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Figures as Blob URLs, made on first use; `revoke()` frees them when the paper is closed. */
class Figures {
  constructor(svgs) {
    this.svgs = Array.isArray(svgs) ? svgs : [];
    this.urls = new Map();
  }

  url(name) {
    const m = FIGURE_RE.exec(String(name));
    if (!m) return null;
    const i = Number(m[1]) - 1;
    const svg = this.svgs[i];
    if (typeof svg !== 'string') return null;
    if (!this.urls.has(i)) this.urls.set(i, URL.createObjectURL(new Blob([svg], { type: 'image/svg+xml' })));
    return this.urls.get(i);
  }

  revoke() {
    for (const url of this.urls.values()) URL.revokeObjectURL(url);
    this.urls.clear();
  }
}

function image(alt, src, figures) {
  const url = figures.url(src);
  if (!url) return el('span', 'paper-noimage', `[image: ${alt || src}]`);
  const img = el('img', 'paper-figure');
  img.alt = alt;
  img.decoding = 'async';
  img.src = url;
  return img;
}

// The closing delimiter of an emphasis opened at `from`, or -1.
function closing(text, delim, from) {
  for (let j = text.indexOf(delim, from); j >= 0; j = text.indexOf(delim, j + 1)) {
    if (text[j - 1] !== '\\' && text[j - 1] !== ' ') return j;
  }
  return -1;
}

/** Inline Markdown as an array of DOM nodes (text nodes for everything that is not markup). */
function inline(text, figures, depth = 0) {
  const out = [];
  let buf = '';
  const flush = () => { if (buf) { out.push(document.createTextNode(buf)); buf = ''; } };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const rest = text.slice(i, i + 400);
    if (c === '\\' && i + 1 < text.length && ESCAPABLE.includes(text[i + 1])) {
      buf += text[i + 1]; i += 2; continue;
    }
    if (c === '`') {
      const j = text.indexOf('`', i + 1);
      if (j > i) { flush(); out.push(el('code', '', text.slice(i + 1, j))); i = j + 1; continue; }
    }
    if (c === '!' && text[i + 1] === '[') {
      const m = IMAGE_RE.exec(rest);
      if (m) { flush(); out.push(image(m[1], m[2], figures)); i += m[0].length; continue; }
    }
    if (c === '[') {                           // links show their text only: a paper sends nobody anywhere
      const m = LINK_RE.exec(rest);
      if (m) {
        flush();
        const span = el('span', 'paper-link');
        span.title = m[2];
        span.append(...inline(m[1], figures, depth + 1));
        out.push(span);
        i += m[0].length;
        continue;
      }
    }
    if ((c === '*' || c === '_') && depth < MAX_DEPTH && text[i + 1] !== ' ') {
      const strong = text[i + 1] === c;
      const delim = strong ? c + c : c;
      const wordy = c === '_' && /\w/.test(text[i - 1] || '');    // snake_case is not emphasis
      const j = wordy ? -1 : closing(text, delim, i + delim.length);
      if (j > i + delim.length - 1 && !(c === '_' && /\w/.test(text[j + delim.length] || ''))) {
        flush();
        const node = el(strong ? 'strong' : 'em');
        node.append(...inline(text.slice(i + delim.length, j), figures, depth + 1));
        out.push(node);
        i = j + delim.length;
        continue;
      }
    }
    buf += c;
    i += 1;
  }
  flush();
  return out;
}

// Table cells: split on pipes that are not escaped (`\|` stays in the cell as `|`) and not inside code spans.
function cells(line) {
  let s = line.trim();
  if (s.startsWith('|')) s = s.slice(1);
  if (s.endsWith('|') && !s.endsWith('\\|')) s = s.slice(0, -1);
  const out = [];
  let cur = '';
  let code = false;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && s[i + 1] === '|') { cur += '\\|'; i++; continue; }
    if (s[i] === '`') code = !code;
    if (s[i] === '|' && !code) { out.push(cur.trim()); cur = ''; continue; }
    cur += s[i];
  }
  out.push(cur.trim());
  return out;
}

function table(lines, figures) {
  const aligns = cells(lines[1]).map((c) => (c.endsWith(':') ? (c.startsWith(':') ? 'center' : 'right') : 'left'));
  const wrap = el('div', 'paper-table');
  const t = el('table');
  const head = el('thead');
  const tr = el('tr');
  cells(lines[0]).forEach((c, i) => {
    const th = el('th');
    th.style.textAlign = aligns[i] || 'left';
    th.append(...inline(c, figures));
    tr.append(th);
  });
  head.append(tr);
  const body = el('tbody');
  for (const line of lines.slice(2)) {
    const row = el('tr');
    cells(line).forEach((c, i) => {
      const td = el('td');
      td.style.textAlign = aligns[i] || 'left';
      td.append(...inline(c, figures));
      row.append(td);
    });
    body.append(row);
  }
  t.append(head, body);
  wrap.append(t);
  return wrap;
}

/**
 * Render a paper's Markdown. `figures`: the paper's SVG texts (figure-1.svg is figures[0]).
 * Returns {node, revoke}: a DocumentFragment, and the function that frees the figures' Blob URLs.
 */
export function renderPaper(markdown, figureSvgs) {
  const figures = new Figures(figureSvgs);
  const frag = document.createDocumentFragment();
  const lines = String(markdown || '').replace(/\r\n?/g, '\n').split('\n');
  let para = [];
  let list = null;
  const endPara = () => {
    if (!para.length) return;
    const text = para.join(' ');
    const lone = IMAGE_RE.exec(text);
    if (lone && lone[0].length === text.length) {          // an image on its own line: a figure
      const fig = el('figure', 'paper-fig');
      fig.append(image(lone[1], lone[2], figures));
      if (lone[1]) fig.append(el('figcaption', '', lone[1]));
      frag.append(fig);
    } else {
      const p = el('p');
      p.append(...inline(text, figures));
      frag.append(p);
    }
    para = [];
  };
  const endList = () => { list = null; };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (/^\s*```/.test(line)) {
      endPara(); endList();
      const code = [];
      for (i++; i < lines.length && !/^\s*```/.test(lines[i]); i++) code.push(lines[i]);
      const pre = el('pre', 'paper-code');
      pre.append(el('code', '', code.join('\n')));
      frag.append(pre);
      continue;
    }
    const h = HEADING_RE.exec(line);
    if (h) {
      endPara(); endList();
      const level = Math.min(6, h[1].length + 2);           // the card's own heading is an h2
      const node = el(`h${level}`, `paper-h${h[1].length}`);
      node.append(...inline(h[2], figures));
      frag.append(node);
      continue;
    }
    if (line.trim().startsWith('|') && i + 1 < lines.length && RULE_RE.test(lines[i + 1])) {
      endPara(); endList();
      const rows = [line, lines[i + 1]];
      for (i += 2; i < lines.length && lines[i].trim().startsWith('|'); i++) rows.push(lines[i]);
      i--;
      frag.append(table(rows, figures));
      continue;
    }
    const item = LIST_RE.exec(line);
    if (item) {
      endPara();
      const ordered = /\d/.test(item[1]);
      if (!list || list.ordered !== ordered) {
        list = { ordered, node: el(ordered ? 'ol' : 'ul') };
        frag.append(list.node);
      }
      const li = el('li');
      li.append(...inline(item[2], figures));
      list.node.append(li);
      continue;
    }
    if (!line.trim()) { endPara(); endList(); continue; }
    endList();
    para.push(line.trim());
  }
  endPara();
  return { node: frag, revoke: () => figures.revoke() };
}
