// The "Review" card (docs/REVIEW.md): this tab's own review queue (what its VRF drew it to re-execute, what it
// is re-executing, its recent verdicts), the Breakthroughs list, and the newest reviewed results, each with its
// reviews — verdict, score, sub-scores, reviewer, and ✓ when the reviewer's VRF ticket verified and was drawn.
// The worker's pynode/browser/review.py puts it in `status.review`.
//
// Everything shown comes from the network: rendered with textContent and attributes only, never as HTML.

import { avatar, shortPeer } from './ui-common.js';

const $ = (id) => document.getElementById(id);

const STATE_LABEL = { off: 'Off', viewing: 'Viewing', validating: 'Validating' };
const VERDICT_LABEL = { reproduced: 'reproduced', not_reproduced: 'not reproduced', unavailable: 'unavailable' };

function el(tag, className, text) {
  const n = document.createElement(tag);
  if (className) n.className = className;
  if (text !== undefined) n.textContent = text;
  return n;
}

const str = (x) => (x === null || x === undefined ? '' : String(x));
const short = (key) => str(key).slice(0, 12);

function verdictChip(verdict) {
  const v = str(verdict);
  const chip = el('span', 'chip review-verdict', VERDICT_LABEL[v] || v || 'no verdict');
  chip.dataset.verdict = v;
  return chip;
}

function reviewRow(r, me) {
  const li = el('li', 'review-row');
  li.dataset.reviewer = str(r.reviewer);
  li.dataset.verified = String(r.proof_verified === true);
  li.dataset.counted = String(r.counted === true);
  const who = el('span', 'board-author', shortPeer(str(r.reviewer)));
  who.title = str(r.reviewer) + (r.weight ? ` · weight ${str(r.weight)}` : '');
  const proof = el('span', 'review-proof', r.proof_verified === true ? '✓' : '✗');
  proof.title = r.proof_verified === true
    ? `VRF ticket verified: drawn for epoch ${str(r.epoch)}`
    : `Not counted: ${str(r.why_not) || 'ticket not verified'}`;
  li.append(avatar(str(r.reviewer), 'avatar board-avatar'), who);
  if (me && r.reviewer === me) li.append(el('span', 'board-me', 'You'));
  li.append(verdictChip(r.verdict), el('span', 'review-score', `${str(r.score)}/10`), proof);
  const subs = r.subscores && typeof r.subscores === 'object' ? r.subscores : {};
  const parts = Object.entries(subs).map(([k, v]) => `${k} ${str(v)}`);
  const measured = r.measured !== null && r.measured !== undefined ? `measured ${str(r.measured)} ± ${str(r.tolerance)}` : '';
  li.title = [measured, parts.join(' · '), r.copy_of ? `copy of ${short(r.copy_of)}` : '']
    .filter(Boolean).join(' — ');
  return li;
}

function standingItem(s, me) {
  const li = el('li', 'review-result');
  li.dataset.key = str(s.result);
  li.dataset.consensus = str(s.consensus);
  li.dataset.breakthrough = String(s.breakthrough === true);
  const head = el('div', 'review-result-head');
  head.append(el('span', 'research-result-task', str(s.task)), el('span', 'research-value', `${str(s.value)} ${str(s.unit)}`));
  const sum = el('span', 'muted', `median ${s.median === null || s.median === undefined ? '—' : str(s.median)}`
    + ` · ${str(s.reproduced)}/${str(s.counted)} reproduced · ${str(s.consensus)}`);
  head.append(sum);
  if (s.breakthrough === true) head.append(el('span', 'research-improved', s.final ? '★ breakthrough' : '★ breakthrough (under review)'));
  const key = el('code', 'review-key', short(s.result));
  key.title = `result ${str(s.result)} by ${str(s.author)}`;
  head.append(key);
  const rows = el('ul', 'review-rows');
  rows.append(...(Array.isArray(s.reviews) ? s.reviews : []).map((r) => reviewRow(r, me)));
  li.append(head, rows);
  return li;
}

function breakthroughItem(s) {
  const li = el('li', 'board-row review-breakthrough');
  li.dataset.key = str(s.result);
  const who = el('span', 'board-author', shortPeer(str(s.author)));
  who.title = str(s.author);
  const p = s.p_vs_best !== null && s.p_vs_best !== undefined ? ` · p ${str(s.p_vs_best)} vs best` : '';
  const value = el('span', 'board-value', `${str(s.value)} ${str(s.unit)}`);
  value.title = `${str(s.task)} · median ${str(s.median)} · ${str(s.reproduced)} reproduced${p}${s.final ? '' : ' · window still open'}`;
  li.append(el('span', 'board-rank', '★'), avatar(str(s.author), 'avatar board-avatar'), who, el('span', 'board-task', str(s.task)), value);
  return li;
}

function queueItem(q, current) {
  const li = el('li', 'review-queued');
  li.dataset.key = str(q.result);
  li.dataset.current = String(q.result === current);
  li.append(el('span', 'research-result-task', str(q.task)), el('code', 'review-key', short(q.result)),
    el('span', 'muted', `${q.result === current ? 're-executing' : 'queued'} · claims ${str(q.claimed)} · epoch ${str(q.epoch)}`));
  return li;
}

function recentItem(r) {
  const li = el('li', 'review-mine');
  li.dataset.key = str(r.result);
  li.append(el('span', 'research-result-task', str(r.task)), verdictChip(r.verdict),
    el('span', 'review-score', `${str(r.score)}/10`),
    el('span', 'muted', `claimed ${str(r.claimed)} · measured ${r.measured === null || r.measured === undefined ? '—' : str(r.measured)}`));
  return li;
}

function fill(listId, emptyId, items, make, key) {
  const list = $(listId);
  if (list.dataset.key === key) return;
  list.dataset.key = key;
  list.replaceChildren(...items.map(make));
  $(emptyId).hidden = items.length > 0;
}

export function renderReview(s) {
  const card = $('card-review');
  if (!card) return;
  const r = s.review && typeof s.review === 'object' ? s.review : { state: 'off' };
  const state = STATE_LABEL[r.state] ? r.state : 'off';
  card.dataset.state = state;
  const pill = $('review-state');
  pill.dataset.state = state;
  pill.textContent = STATE_LABEL[state];
  const domains = Array.isArray(r.domains) ? r.domains.map(String) : [];
  $('review-note').textContent = state === 'validating'
    ? `Re-executing ${domains.join(', ')} results this tab is drawn for · ${str(r.reviewed)} reviewed, ${str(r.drawn)} drawn, ${str(r.declined)} declined, ${str(r.late)} late`
    : state === 'viewing' ? 'This tab researches nothing, so it validates nothing: the network\'s reviews are shown.'
      : (r.error ? str(r.error) : 'No reviews in this tab.');
  const me = str(s.peer);
  const queued = Array.isArray(r.queued) ? r.queued : [];
  fill('review-queue', 'review-queue-empty', queued, (q) => queueItem(q, r.current), JSON.stringify([queued, r.current]));
  const recent = Array.isArray(r.recent) ? r.recent : [];
  fill('review-recent', 'review-recent-empty', recent, recentItem, JSON.stringify(recent));
  const broke = Array.isArray(r.breakthroughs) ? r.breakthroughs : [];
  $('review-breakthrough-count').textContent = String(broke.length);
  fill('review-breakthroughs', 'review-breakthroughs-empty', broke, breakthroughItem, JSON.stringify(broke));
  const results = Array.isArray(r.results) ? r.results : [];
  fill('review-results', 'review-results-empty', results, (x) => standingItem(x, me), JSON.stringify([results, me]));
}
