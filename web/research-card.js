// The "Research" card: what this tab's research agent does (task, hypothesis, seeds done), the newest research
// results on the network (mean ± 95% CI, n, p against the parent, held-out score, lineage) and their papers,
// rendered by paper-view.js. pynode/browser/research.py puts it all in `status.research`.
//
// Everything shown comes from the network: rendered with textContent and attributes only, never as HTML.

import { avatar, formatNumber, shortPeer } from './ui-common.js';
import { renderPaper } from './paper-view.js';

const $ = (id) => document.getElementById(id);

const STATE_LABEL = {
  off: 'Off', waiting: 'Reading the boards', running: 'Researching', paused: 'Paused', error: 'Unavailable',
};
const STATE_HELP = {
  off: 'This tab does no research (the page asked for none, or the node is not running)',
  waiting: 'Fetching the current boards first, so that this tab does not repeat what peers already ran',
  running: 'Proposing hypotheses, running them on several seeds and publishing signed results with papers',
  paused: 'Research is paused in this tab; results already published stay on the boards',
  error: 'Research could not start in this tab',
};

let node = null;                 // the started node (node-host.js), for commands
let asking = false;              // a pause/resume or paper request in flight
let openPaperKey = '';
let revokeFigures = () => {};

function el(tag, className, text) {
  const n = document.createElement(tag);
  if (className) n.className = className;
  if (text !== undefined) n.textContent = text;
  return n;
}

const str = (x) => (x === null || x === undefined ? '' : String(x));

function resultItem(r) {
  const li = el('li', 'research-result');
  li.dataset.key = str(r.key);
  li.dataset.author = str(r.author);
  li.dataset.paper = str(r.paper);
  if (r.improvement === true) li.dataset.improvement = 'true';

  const head = el('div', 'research-result-head');
  head.append(el('span', 'chip board-domain', str(r.domain)), el('span', 'research-result-task', str(r.task)));
  if (r.mine) head.append(el('span', 'board-me', 'You'));
  if (r.improvement === true) {
    const badge = el('span', 'research-improved', '✓ improvement');
    badge.title = 'Better than the best on the board: p < 0.05 and the 95% CI excludes the best\'s mean';
    head.append(badge);
  }

  const nums = el('div', 'research-numbers');
  const value = el('span', 'research-value', str(r.value));
  value.title = `${str(r.metric)} (${r.direction === 'min' ? 'lower' : 'higher'} is better)`;
  nums.append(el('span', 'research-metric', str(r.metric)), value);
  if (r.ci95 !== null && r.ci95 !== undefined) {
    const ci = el('span', 'research-ci', `± ${str(r.ci95)}`);
    ci.title = '95% confidence interval (Student t), half-width';
    nums.append(ci);
  }
  nums.append(el('span', 'research-unit', str(r.unit)), el('span', 'research-n', `n = ${formatNumber(r.seeds)}`));
  if (r.p_value !== null && r.p_value !== undefined) {
    const p = el('span', 'research-p', `p = ${str(r.p_value)}`);
    p.title = 't-test against the parent result';
    nums.append(p);
  }
  if (r.heldout !== null && r.heldout !== undefined) {
    const h = el('span', 'research-heldout', `held-out ${str(r.heldout)}`);
    h.title = 'The metric on data never used for selection';
    nums.append(h);
  }

  const foot = el('div', 'research-result-foot');
  const who = el('span', 'research-author');
  who.append(avatar(str(r.author), 'avatar board-avatar'), el('span', '', shortPeer(str(r.author))));
  who.title = str(r.author);
  foot.append(who);
  if (r.inspired_by) {
    const parent = el('span', 'research-parent', `↳ ${str(r.inspired_by).slice(0, 8)}`);
    parent.dataset.parent = str(r.inspired_by);
    parent.title = `inspired by result ${str(r.inspired_by)}`;
    foot.append(parent);
  }
  if (r.paper) {
    const b = el('button', 'btn btn-small research-paper', 'Paper');
    b.type = 'button';
    b.dataset.paper = str(r.paper);
    b.setAttribute('aria-label', `Read the paper on ${str(r.task)} result ${str(r.key).slice(0, 8)}`);
    foot.append(b);
  }
  li.append(head, nums);
  if (r.hypothesis) li.append(el('p', 'research-result-hypothesis', str(r.hypothesis)));
  li.append(foot);
  return li;
}

function metaLine(r) {
  const parts = [];
  const domains = Array.isArray(r.domains) ? r.domains.map(String) : [];
  parts.push(domains.length ? `Domains: ${domains.join(', ')}` : 'No domains');
  parts.push(`CPU share ${Math.round((Number(r.cpu_share) || 0) * 100)}%`);
  const seeds = r.seed_s && typeof r.seed_s === 'object' ? Object.entries(r.seed_s) : [];
  for (const [d, t] of seeds) parts.push(`a ${d} seed holds this tab up to ${Number(t.max).toFixed(1)} s`);
  return parts.join(' · ');
}

function slowLine(r) {
  const slow = r.slow_in_tab && typeof r.slow_in_tab === 'object' ? Object.entries(r.slow_in_tab) : [];
  if (!slow.length) return '';
  return `Not researched here by default (add ?research=… to the address): ${
    slow.map(([d, why]) => `${d} — ${why}`).join('; ')}.`;
}

export function renderResearch(s) {
  const card = $('card-research');
  if (!card) return;
  const r = s.research && typeof s.research === 'object' ? s.research : { state: 'off', results: [] };
  const state = STATE_LABEL[r.state] ? r.state : 'off';
  const badge = $('research-state');
  badge.dataset.state = state;
  badge.textContent = STATE_LABEL[state];
  badge.title = r.error ? str(r.error) : STATE_HELP[state];
  $('research-count').textContent = formatNumber(r.experiments);
  $('research-count').title = 'experiments this tab published';
  $('research-meta').textContent = metaLine(r);
  $('research-slow').textContent = slowLine(r);

  const toggle = $('research-toggle');
  const paused = state === 'paused';
  toggle.dataset.action = paused ? 'resume' : 'pause';
  toggle.textContent = paused ? 'Resume' : 'Pause';
  toggle.setAttribute('aria-pressed', String(paused));
  toggle.disabled = !node || asking || !(state === 'running' || state === 'waiting' || state === 'paused');

  const cur = r.current && typeof r.current === 'object' && state === 'running' ? r.current : null;
  const box = $('research-current');
  box.hidden = !cur;
  if (cur) {
    const done = Number(cur.seeds_done) || 0;
    const total = Math.max(1, Number(cur.seeds) || 1);
    box.dataset.task = str(cur.task);
    $('research-task').textContent = str(cur.task);
    $('research-op').textContent = str(cur.operator);
    $('research-hypothesis').textContent = str(cur.hypothesis);
    const progress = $('research-progress');
    progress.dataset.done = String(done);
    progress.dataset.seeds = String(total);
    progress.textContent = `seed ${formatNumber(done)} of ${formatNumber(total)} done`;
    $('research-progress-bar').style.width = `${Math.min(100, (done / total) * 100)}%`;
  }

  const results = Array.isArray(r.results) ? r.results : [];
  const list = $('research-results');
  list.dataset.count = String(results.length);
  const empty = $('research-empty');
  empty.hidden = results.length > 0;
  empty.textContent = state === 'off' ? 'Research results published on the network appear here.'
    : 'No research results yet: the first experiment runs the task\'s baseline on several seeds.';
  const key = JSON.stringify(results);
  if (list.dataset.key === key) return;
  list.dataset.key = key;
  list.replaceChildren(...results.map(resultItem));
}

async function ask(message) {
  if (!node || asking) return null;
  asking = true;
  try {
    return await node.ask(message, message.type);
  } catch (err) {
    return { error: err && err.message ? err.message : String(err) };
  } finally {
    asking = false;
  }
}

function closePaper() {
  revokeFigures();
  revokeFigures = () => {};
  openPaperKey = '';
  const view = $('paper');
  view.hidden = true;
  view.dataset.key = '';
  $('paper-body').replaceChildren();
}

export async function openPaper(key) {
  if (!key || key === openPaperKey) return;
  const reply = await ask({ type: 'research-paper', key });
  const view = $('paper');
  if (!reply || reply.error || !reply.paper) {
    $('paper-meta').textContent = `The paper could not be opened: ${reply ? str(reply.error) : 'busy'}`;
    view.hidden = false;
    return;
  }
  closePaper();
  const p = reply.paper;
  const { node: body, revoke } = renderPaper(p.markdown, p.figures);
  revokeFigures = revoke;
  openPaperKey = str(p.key);
  view.dataset.key = openPaperKey;
  view.dataset.author = str(p.author);
  $('paper-meta').textContent = `Paper ${openPaperKey.slice(0, 8)} · ${shortPeer(str(p.author))} · ${
    new Date(Number(p.ts)).toLocaleString()}`;
  $('paper-meta').title = `by ${str(p.author)}`;
  $('paper-body').replaceChildren(body);
  view.hidden = false;
  view.scrollIntoView({ block: 'nearest' });
}

export function wireResearch(started) {
  node = started;
  $('research-toggle').addEventListener('click', async () => {
    const button = $('research-toggle');
    if (button.disabled) return;
    button.disabled = true;
    await ask({ type: button.dataset.action === 'resume' ? 'research-resume' : 'research-pause' });
  });
  $('research-results').addEventListener('click', (ev) => {
    const button = ev.target.closest('.research-paper');
    if (button) openPaper(button.dataset.paper);
  });
  $('paper-close').addEventListener('click', closePaper);
}
