// The "Presence" card: this tab's part in pulse rounds (docs/POINTS.md) — points, rank, uptime factor, the last
// certified round and whether its certificate counted this node (its VRF proof checked ✓) — and the network's
// top nodes by points. The worker's pynode/browser/presence.py puts it in `status.presence`.
//
// Everything shown comes from the network: rendered with textContent and attributes only, never as HTML.

import { avatar, formatNumber, shortPeer } from './ui-common.js';

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function topItem(n, me) {
  const li = el('li', 'board-row');
  li.dataset.rank = String(n.rank);
  li.dataset.peer = String(n.peer);
  const who = el('span', 'board-author', shortPeer(String(n.peer)));
  who.title = String(n.peer);
  li.append(el('span', 'board-rank', String(n.rank)), avatar(String(n.peer), 'avatar board-avatar'), who);
  if (me && n.peer === me) li.append(el('span', 'board-me', 'You'));
  const pts = el('span', 'board-value', String(n.points));
  pts.title = `${formatNumber(Number(n.rounds) || 0)} certified rounds · uptime ×${String(n.uptime_factor)}`
    + (Number(n.strikes) ? ` · ${String(n.strikes)} strike(s)` : '');
  li.append(pts);
  return li;
}

export function renderPresence(s) {
  const card = $('card-presence');
  if (!card) return;
  const p = s.presence && typeof s.presence === 'object' ? s.presence : { state: 'off' };
  const on = p.state === 'on';
  card.dataset.state = on ? 'on' : 'off';
  $('presence-points').textContent = on ? String(p.points) : '—';
  $('presence-rank').textContent = on && p.rank ? `#${p.rank} of ${formatNumber(Number(p.nodes) || 0)}` : '—';
  $('presence-uptime').textContent = on ? `×${String(p.uptime_factor)}` : '—';
  const last = $('presence-last');
  const counted = on && p.last_counted_us === true;
  last.dataset.counted = String(counted);
  last.textContent = on && p.last_round !== null && p.last_round !== undefined
    ? `${String(p.last_round)} ${counted ? '✓' : '✗'}` : '—';
  last.title = counted ? 'The last certificate names this node: its VRF proof and compute checked out'
    : 'This node is not in the last certified round';
  const note = $('presence-note');
  note.textContent = !on ? (p.error ? String(p.error) : 'Not taking part in pulse rounds.')
    : `Rounds every ${formatNumber(Number(p.interval_s) || 0)} s · streak ${formatNumber(Number(p.streak) || 0)}`
      + (Number(p.strikes) ? ` · ${String(p.strikes)} strike(s)` : '')
      + (p.attested ? ' · origin attested by the relay' : ' · origin not attested yet');
  const top = Array.isArray(p.top) ? p.top : [];
  const list = $('presence-top');
  const key = JSON.stringify([top, s.peer]);
  if (list.dataset.key === key) return;
  list.dataset.key = key;
  list.replaceChildren(...top.map((n) => topItem(n, s.peer)));
  $('presence-top-empty').hidden = top.length > 0;
}
