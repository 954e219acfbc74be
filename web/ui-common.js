// Small helpers shared by the dashboard (app.js) and the embed badge (embed-frame.js).

export const CAP_RE = /^[a-z][a-z0-9_-]{0,31}$/;
export const TOPIC_RE = /^[A-Za-z0-9][A-Za-z0-9._\-/]{0,127}$/;

/** `abcdef…wxyz`: enough of a 52-character peer id to tell peers apart at a glance. */
export function shortPeer(id, head = 6, tail = 4) {
  const s = String(id || '');
  return s.length > head + tail + 1 ? `${s.slice(0, head)}…${s.slice(-tail)}` : s;
}

export function formatNumber(n) {
  return Number(n || 0).toLocaleString('en-US');
}

export function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

function hash32(text) {                    // FNV-1a: only for picking colours, not for anything secure
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) { h ^= text.charCodeAt(i); h = Math.imul(h, 0x01000193); }
  return h >>> 0;
}

/** A deterministic 5×5 mirrored identicon for a peer id, as an inline SVG element. */
export function avatar(id, className = '') {
  const ns = 'http://www.w3.org/2000/svg';
  const span = document.createElement('span');
  span.className = className || 'avatar';
  span.setAttribute('aria-hidden', 'true');
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 5 5');
  svg.setAttribute('shape-rendering', 'crispEdges');
  const text = String(id || '');
  let h = hash32(text);
  const h2 = hash32(text + '#');
  const hue = h % 360;
  const bg = document.createElementNS(ns, 'rect');
  bg.setAttribute('width', '5'); bg.setAttribute('height', '5');
  bg.setAttribute('fill', `hsl(${hue} 70% 92%)`);
  svg.append(bg);
  const fg = `hsl(${hue} 62% 42%)`;
  let bits = h2;
  for (let y = 0; y < 5; y++) {
    for (let x = 0; x < 3; x++) {
      const on = bits & 1; bits = (bits >>> 1) || (h = Math.imul(h, 2654435761) >>> 0);
      if (!on) continue;
      for (const xx of x === 2 ? [2] : [x, 4 - x]) {
        const r = document.createElementNS(ns, 'rect');
        r.setAttribute('x', String(xx)); r.setAttribute('y', String(y));
        r.setAttribute('width', '1'); r.setAttribute('height', '1');
        r.setAttribute('fill', fg);
        svg.append(r);
      }
    }
  }
  span.append(svg);
  return span;
}
