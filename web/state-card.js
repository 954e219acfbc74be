// The "Leaderboards" card: what this tab's replica of the shared state holds (records, sync state) and the
// current leaderboard of every (domain, task, metric) — computed in the tab from records whose signatures it
// verified itself (pynode/browser/state.py puts them in `status.replica`).
//
// Everything shown comes from the network: rendered with textContent and attributes only, never as HTML.

import { avatar, formatNumber, shortPeer } from './ui-common.js';

const ROWS_SHOWN = 5;            // per board; the status carries up to 10
const $ = (id) => document.getElementById(id);

const SYNC_LABEL = {
  off: 'Starting', cold: 'Waiting for a peer', syncing: 'Syncing', synced: 'Synced',
  offline: 'Offline', error: 'Unavailable',
};
const SYNC_HELP = {
  off: 'The replicated state starts with the node',
  cold: 'Asking a peer for the current state (a snapshot, then updates)',
  syncing: 'Merging records from peers; every signature is checked first',
  synced: 'Up to date with the last peer asked; new records arrive as they are published',
  offline: 'Not connected: showing the records this tab already holds',
  error: 'The replicated state could not start in this tab',
};

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function boardKey(b) {
  return [b.domain, b.task, b.metric, b.unit, b.direction].map(String).join('/');
}

// A row's lineage: its 95% CI beside the value, and the result it built on (`inspired_by`) with its author.
function lineageLine(info) {
  const line = el('div', 'board-lineage');
  if (info.inspired_by) {
    const parent = el('span', 'board-parent', `↳ ${String(info.inspired_by).slice(0, 8)}`);
    parent.dataset.parent = String(info.inspired_by);
    parent.title = `builds on result ${String(info.inspired_by)}`
      + (info.parent_author ? ` by ${String(info.parent_author)}` : '');
    line.append(parent);
    if (info.parent_author) line.append(el('span', 'board-parent-author', `by ${shortPeer(String(info.parent_author))}`));
  } else {
    line.append(el('span', 'board-parent board-root', 'baseline / no parent'));
  }
  if (info.heldout !== undefined) line.append(el('span', 'board-heldout', `held-out ${String(info.heldout)}`));
  return line;
}

function boardItem(b, me, lineage) {
  const item = el('article', 'board');
  item.dataset.board = boardKey(b);
  const head = el('div', 'board-head');
  const better = b.direction === 'min' ? 'lower is better' : 'higher is better';
  const metric = el('span', 'board-metric', `${b.metric} · ${b.unit} · ${better}`);
  head.append(el('span', 'chip board-domain', String(b.domain)), el('span', 'board-task', String(b.task)), metric);
  const rows = Array.isArray(b.rows) ? b.rows : [];
  const list = el('ol', 'board-rows');
  list.setAttribute('aria-label', `${b.domain} ${b.task}: ${b.metric} (${b.unit}), ${better}`);
  for (const r of rows.slice(0, ROWS_SHOWN)) {
    const li = el('li', 'board-row');
    li.dataset.rank = String(r.rank);
    li.dataset.author = String(r.author);
    li.dataset.key = String(r.key);
    const who = el('span', 'board-author', shortPeer(String(r.author)));
    who.title = String(r.author);
    const value = el('span', 'board-value', String(r.value));
    value.title = `record ${String(r.key).slice(0, 16)}… · ${new Date(Number(r.ts)).toLocaleString()}`;
    li.append(el('span', 'board-rank', String(r.rank)), avatar(String(r.author), 'avatar board-avatar'), who);
    if (me && r.author === me) li.append(el('span', 'board-me', 'You'));
    const info = Object.hasOwn(lineage, r.key) ? lineage[r.key] : null;
    const score = el('span', 'board-score');
    score.append(value);
    if (info && info.ci95 !== undefined) {
      const ci = el('span', 'board-ci', `± ${String(info.ci95)}`);
      ci.title = '95% confidence interval (half-width)';
      score.append(ci);
    }
    li.append(score, el('span', 'board-seeds', `${formatNumber(r.seeds)} seed${Number(r.seeds) === 1 ? '' : 's'}`));
    if (info) li.append(lineageLine(info));
    list.append(li);
  }
  item.append(head, list);
  const total = Number(b.total) || rows.length;
  if (total > ROWS_SHOWN) item.append(el('div', 'board-more', `and ${formatNumber(total - ROWS_SHOWN)} more`));
  return item;
}

export function renderReplica(s) {
  const card = $('card-state');
  if (!card) return;
  const r = s.replica && typeof s.replica === 'object' ? s.replica : { sync: 'off', records: 0, leaderboards: [] };
  const sync = SYNC_LABEL[r.sync] ? r.sync : 'off';
  const boards = Array.isArray(r.leaderboards) ? r.leaderboards : [];
  const records = Number(r.records) || 0;
  const badge = $('replica');
  badge.dataset.sync = sync;
  badge.dataset.records = String(records);
  badge.title = r.error ? String(r.error) : SYNC_HELP[sync];
  $('replica-records').textContent = `${formatNumber(records)} record${records === 1 ? '' : 's'}`;
  $('replica-sync').textContent = SYNC_LABEL[sync];
  $('board-count').textContent = String(boards.length);
  const list = $('boards');
  list.dataset.count = String(boards.length);
  const empty = $('boards-empty');
  empty.hidden = boards.length > 0;
  empty.textContent = sync === 'error' ? 'Leaderboards are unavailable: the replicated state did not start in this tab.'
    : sync === 'cold' || sync === 'off' ? 'Fetching the current leaderboards from a peer…'
      : 'No results published yet. Leaderboards appear here as soon as a peer publishes one; '
        + 'this tab checks every record\'s signature before it counts.';
  const lineage = r.lineage && typeof r.lineage === 'object' ? r.lineage : {};
  const key = JSON.stringify([boards, lineage, s.peer]);
  if (list.dataset.key === key) return;
  list.dataset.key = key;
  list.replaceChildren(...boards.map((b) => boardItem(b, s.peer, lineage)));
}
