// The "Services" card: what this tab serves its peers (docs/SERVICES.md) — each capability with its requests
// served and refused, open work, load and the model backend that ran (onnxruntime-web: wasm or webgpu) — and
// which peers served this tab. The worker's pynode/browser/services.py puts it in `status.services`.
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

function refusedText(refused) {
  const entries = refused && typeof refused === 'object' ? Object.entries(refused) : [];
  const total = entries.reduce((sum, [, n]) => sum + (Number(n) || 0), 0);
  return { total, detail: entries.map(([code, n]) => `${String(code)} ${formatNumber(Number(n) || 0)}`).join(' · ') };
}

function servingRow(name, v, models) {
  const li = el('li', 'board-row service-row');
  li.dataset.service = String(name);
  const refused = refusedText(v.refused);
  li.append(el('span', 'board-author', String(name)));
  const served = el('span', 'board-value', `${formatNumber(Number(v.served) || 0)} served`);
  served.dataset.served = String(Number(v.served) || 0);
  const no = el('span', 'muted', `${formatNumber(refused.total)} refused`);
  no.dataset.refused = String(refused.total);
  no.title = refused.detail || 'Nothing refused';
  const limits = v.limits && typeof v.limits === 'object' ? v.limits : {};
  const backend = name === 'inference' && typeof limits.backend === 'string' ? limits.backend : '';
  const facts = el('span', 'muted', `${formatNumber(Number(v.open) || 0)} open · load ${Math.round((Number(v.load_permille) || 0) / 10)}%`
    + (backend ? ` · ${backend}` : ''));
  facts.title = `limits: ${formatNumber(Number(limits.per_min) || 0)} calls/min per requester, `
    + `${formatNumber(Number(limits.concurrent) || 0)} at once, ${formatNumber(Number(limits.capacity) || 0)} in total`
    + (name === 'inference' && models.length ? `\nmodels: ${models.map((m) => `${m.id} (${m.source})`).join(', ')}` : '');
  li.append(served, no, facts);
  return li;
}

function servedUsRow(row) {
  const li = el('li', 'board-row');
  const who = el('span', 'board-author', shortPeer(String(row.peer)));
  who.title = String(row.peer);
  li.dataset.peer = String(row.peer);
  li.append(avatar(String(row.peer), 'avatar board-avatar'), who, el('span', 'muted', String(row.cap)),
    el('span', 'board-value', `${formatNumber(Number(row.requests) || 0)}`));
  return li;
}

export function renderServices(s) {
  const card = $('card-services');
  if (!card) return;
  const v = s.services && typeof s.services === 'object' ? s.services : { state: 'off' };
  const on = v.state === 'on';
  card.dataset.state = on ? 'on' : 'off';
  const serving = on && v.serving && typeof v.serving === 'object' ? v.serving : {};
  const models = Array.isArray(v.models) ? v.models : [];
  const names = Object.keys(serving).sort();
  const note = $('services-note');
  note.textContent = !on ? (v.error ? String(v.error) : 'This tab serves nothing.')
    : v.loading ? 'Deriving the models\u2019 weights (the zoo baselines, trained here once)…'
      : names.length ? `Serving ${names.join(', ')} to peers.` : 'Serving nothing; asking peers only.';
  const list = $('services-serving');
  const key = JSON.stringify([serving, models]);
  if (list.dataset.key !== key) {
    list.dataset.key = key;
    list.replaceChildren(...names.map((n) => servingRow(n, serving[n], models)));
  }
  const us = on && Array.isArray(v.served_us) ? v.served_us : [];
  const usList = $('services-served-us');
  const usKey = JSON.stringify(us);
  if (usList.dataset.key !== usKey) {
    usList.dataset.key = usKey;
    usList.replaceChildren(...us.map(servedUsRow));
  }
  $('services-served-us-empty').hidden = us.length > 0;
}
