// The Hyperspace dashboard: starts a node in this tab (web/node-host.js) and shows what it does.
//
// Everything received from the network is rendered with textContent / attributes, never as HTML.
// Query parameters (optional): ?relay=ws(s)://host/p2p  ?topics=a,b  ?caps=browser,inference
//   ?research=search,causes (domains this tab researches; `off` for none; default: the ones cheap in a tab)
//   ?cpu=0.5 (the share of one CPU research may use in this tab; default 0.5)
//   ?rounds=90 (seconds between pulse rounds: the network's; default 90)
//   ?snapshot=off (make no boot snapshot for this profile's next visit: it costs a second Pyodide boot)

import { avatar, formatDuration, formatNumber, shortPeer, CAP_RE, TOPIC_RE } from './ui-common.js';
import { renderReplica } from './state-card.js';
import { renderPresence } from './presence-card.js';
import { renderServices } from './services-card.js';
import { renderResearch, wireResearch } from './research-card.js';
import { renderReview } from './review-card.js';

const FEED_MAX = 200;          // events kept in the feed (newest first)
const PEERS_SHOWN = 100;       // rows rendered in the peers card
const SPARK_POINTS = 60;       // seconds of throughput history

const $ = (id) => document.getElementById(id);
const SVG_NS = 'http://www.w3.org/2000/svg';

const STATE_LABEL = {
  booting: 'Starting', joining: 'Joining', online: 'Online',
  reconnecting: 'Reconnecting', left: 'Offline', error: 'Error',
};

const ICONS = {
  message: 'M4 6.5A2.5 2.5 0 0 1 6.5 4h11A2.5 2.5 0 0 1 20 6.5v7a2.5 2.5 0 0 1-2.5 2.5H10l-4 4v-4h0a2 2 0 0 1-2-2z',
  peer: 'M8 12h8M5 12a3 3 0 1 1 0-.01M19 12a3 3 0 1 1 0-.01',
  info: 'M12 8v.01M12 11v5M12 3a9 9 0 1 1 0 18 9 9 0 0 1 0-18z',
  error: 'M12 7v6M12 16.5v.01M12 3a9 9 0 1 1 0 18 9 9 0 0 1 0-18z',
  direct: 'M4 12h16M14 6l6 6-6 6',
  relayed: 'M4 17l5-8 5 6 6-9',
  train: 'M4 19V9M10 19V5M16 19v-7M22 19H2',
};

function icon(name) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', ICONS[name] || ICONS.info);
  path.setAttribute('fill', 'none');
  path.setAttribute('stroke', 'currentColor');
  path.setAttribute('stroke-width', '2');
  path.setAttribute('stroke-linecap', 'round');
  path.setAttribute('stroke-linejoin', 'round');
  svg.append(path);
  return svg;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function chips(caps, max = Infinity) {
  const list = el('ul', 'chips');
  const shown = caps.slice(0, max);
  for (const cap of shown) list.append(el('li', 'chip', String(cap)));
  if (caps.length > shown.length) {
    const more = el('li', 'chip chip-more', `+${caps.length - shown.length}`);
    more.title = caps.slice(max).join(', ');
    list.append(more);
  }
  return list;
}

function listParam(params, name, fallback, re) {
  const raw = params.get(name);
  if (!raw) return fallback;
  const items = raw.split(/[\s,]+/).filter((x) => re.test(x));
  return items.length ? items : fallback;
}

function defaultRelay() {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/p2p`;
}

// ---------------------------------------------------------------------------------------------------------------

const params = new URLSearchParams(location.search);
const relayParam = params.get('relay');
const researchParam = params.get('research');
const cpuParam = parseFloat(params.get('cpu'));
const roundsParam = parseFloat(params.get('rounds'));  // seconds between pulse rounds: the network's (default 90)
const config = {
  relay: relayParam && /^wss?:\/\//.test(relayParam) ? relayParam : defaultRelay(),
  caps: listParam(params, 'caps', ['browser'], CAP_RE),
  topics: listParam(params, 'topics', ['hs/1/demo/pulse'], TOPIC_RE),
  research: researchParam === null ? null
    : researchParam === 'off' ? [] : listParam(params, 'research', [], /^[a-z]{1,16}$/),
  researchCpu: Number.isFinite(cpuParam) && cpuParam > 0 ? Math.min(1, Math.max(0.05, cpuParam)) : 0.5,
  presenceInterval: Number.isFinite(roundsParam) && roundsParam >= 20 && roundsParam <= 86400 ? roundsParam : 90,
  snapshot: params.get('snapshot') !== 'off',
};

let node = null;
let last = null;                 // last status
let pending = null;              // action in flight: 'leave' | 'join'
let feedPaused = false;
const feedQueue = [];            // events waiting for the next animation frame (or for un-pausing)
let feedFlushScheduled = false;
let feedTotal = 0;
const sparkHistory = [];
const recentSends = new Map();   // `${topic}\n${text}` → time, to avoid showing our own publish twice

// ---- status ----------------------------------------------------------------------------------------------------

function renderState(state) {
  document.body.dataset.state = state;
  const pill = $('state-pill');
  if (pill.dataset.state !== state) {
    pill.dataset.state = state;
    pill.querySelector('.pill-text').textContent = STATE_LABEL[state] || state;
  }
  const button = $('leave-join');
  const canLeave = state === 'joining' || state === 'online' || state === 'reconnecting';
  const canJoin = state === 'left' || state === 'error';
  if (pending === 'leave' && !canLeave) pending = null;
  if (pending === 'join' && !canJoin) pending = null;
  const action = canJoin ? 'join' : 'leave';
  button.dataset.action = action;
  const verb = pending === 'leave' ? 'Leaving' : pending === 'join' ? 'Joining' : action === 'join' ? 'Join' : 'Leave';
  const label = `${verb}${pending ? '…' : ' network'}`;
  if (button.getAttribute('aria-label') !== label) {
    button.setAttribute('aria-label', label);
    button.replaceChildren(document.createTextNode(verb), el('span', 'btn-extra', pending ? '…' : ' network'));
  }
  button.classList.toggle('btn-primary', action === 'join');
  button.disabled = !node || pending !== null || !(canLeave || canJoin);
  $('publish-send').disabled = state !== 'online';
}

function renderIdentity(s) {
  const peerEl = $('peer-id');
  if (s.peer && peerEl.dataset.peer !== s.peer) {
    peerEl.dataset.peer = s.peer;
    peerEl.textContent = shortPeer(s.peer, 10, 6);
    peerEl.title = s.peer;
    $('peer-avatar').replaceChildren(avatar(s.peer, 'avatar-fill'));
    $('copy-peer').disabled = false;
  }
  const caps = Array.isArray(s.caps) ? s.caps : [];
  const capsEl = $('caps');
  if (capsEl.dataset.caps !== caps.join(',')) {
    capsEl.dataset.caps = caps.join(',');
    capsEl.replaceChildren(...chips(caps).children);
  }
  const relay = $('relay-url');
  relay.dataset.connected = String(Boolean(s.relay_connected));
  relay.title = s.relay_connected ? 'Connected to the relay' : 'Not connected to the relay';
  $('relay-text').textContent = s.relay ? s.relay.replace(/^wss?:\/\//, '').replace(/\/p2p$/, '') : '—';
  const uptime = $('uptime');
  uptime.dataset.value = String(s.uptime_s || 0);
  uptime.textContent = s.state === 'online' || s.state === 'reconnecting' ? `up ${formatDuration(s.uptime_s || 0)}` : '';
}

function renderStats(s) {
  const rate = Number(s.messages_per_s) || 0;
  const t = $('throughput');
  t.dataset.value = String(rate);
  t.textContent = rate >= 100 ? formatNumber(Math.round(rate)) : rate.toFixed(1);
  const delivered = $('delivered');
  delivered.dataset.value = String(s.delivered_total || 0);
  delivered.textContent = formatNumber(s.delivered_total || 0);
  const known = $('known-peers');
  known.dataset.value = String(s.known_peers || 0);
  known.textContent = formatNumber(s.known_peers || 0);
  const rejections = s.rejections && typeof s.rejections === 'object' ? s.rejections : {};
  const total = Object.values(rejections).reduce((a, b) => a + (Number(b) || 0), 0);
  const rej = $('rejections');
  rej.dataset.value = String(total);
  rej.textContent = formatNumber(total);
  rej.title = total
    ? 'Refused by validation: ' + Object.entries(rejections).map(([k, v]) => `${k.replace(/_/g, ' ')} ${v}`).join(', ')
    : 'No messages refused by validation';

  if (!sparkHistory.length) sparkHistory.push(...new Array(SPARK_POINTS - 1).fill(0));
  sparkHistory.push(rate);
  if (sparkHistory.length > SPARK_POINTS) sparkHistory.shift();
  drawSparkline();
}

function drawSparkline() {
  const svg = $('sparkline');
  const n = SPARK_POINTS;
  const max = Math.max(1, ...sparkHistory) * 1.15;
  const offset = n - sparkHistory.length;
  const pts = sparkHistory.map((v, i) => [((offset + i) / (n - 1)) * 120, 31 - (v / max) * 29]);
  if (pts.length < 2) {
    svg.querySelector('.spark-line').setAttribute('d', '');
    svg.querySelector('.spark-area').setAttribute('d', '');
    return;
  }
  const line = pts.map(([x, y], i) => `${i ? 'L' : 'M'}${x.toFixed(1)} ${y.toFixed(1)}`).join('');
  svg.querySelector('.spark-line').setAttribute('d', line);
  svg.querySelector('.spark-area').setAttribute('d', `${line}L120 32L${pts[0][0].toFixed(1)} 32Z`);
}

function renderPeers(s) {
  const peers = Array.isArray(s.peers) ? s.peers.slice() : [];
  peers.sort((a, b) => (a.kind === b.kind ? String(a.peer).localeCompare(String(b.peer)) : a.kind === 'direct' ? -1 : 1));
  const direct = peers.filter((p) => p.kind === 'direct').length;
  const relayed = peers.length - direct;
  const list = $('peers');
  const key = peers.map((p) => `${p.peer}/${p.kind}/${(p.caps || []).join(',')}`).join(';');
  list.dataset.count = String(peers.length);
  list.dataset.direct = String(direct);
  list.dataset.relayed = String(relayed);
  $('peer-count').textContent = String(peers.length);
  $('peer-kinds').textContent = peers.length ? `${direct} direct · ${relayed} relayed` : '';
  const empty = $('peers-empty');
  empty.hidden = peers.length > 0;
  empty.textContent = s.state === 'left' ? 'Not connected. Join the network to find peers.'
    : s.state === 'error' ? 'No peers: the node is not running.' : 'Looking for peers…';
  if (list.dataset.key === key) return;
  list.dataset.key = key;
  const rows = peers.slice(0, PEERS_SHOWN).map((p) => {
    const li = el('li', 'peer');
    li.dataset.peer = String(p.peer);
    li.dataset.kind = p.kind === 'direct' ? 'direct' : 'relayed';
    li.title = String(p.peer);
    const body = el('div', 'peer-body');
    body.append(el('div', 'peer-id', shortPeer(String(p.peer))));
    const caps = Array.isArray(p.caps) ? p.caps : [];
    if (caps.length) body.append(chips(caps, 3));
    const badge = el('span', `badge badge-${li.dataset.kind}`);
    badge.append(icon(li.dataset.kind), document.createTextNode(li.dataset.kind === 'direct' ? 'Direct' : 'Relayed'));
    badge.title = li.dataset.kind === 'direct' ? 'Direct WebRTC data channel' : 'Through the relay (circuit)';
    li.append(avatar(String(p.peer), 'avatar'), body, badge);
    return li;
  });
  if (peers.length > PEERS_SHOWN) rows.push(el('li', 'peers-more', `and ${peers.length - PEERS_SHOWN} more`));
  list.replaceChildren(...rows);
}

function renderTopics(s) {
  const mesh = s.mesh && typeof s.mesh === 'object' ? s.mesh : {};
  const entries = Object.entries(mesh).sort(([a], [b]) => a.localeCompare(b));
  const list = $('topics');
  list.dataset.count = String(entries.length);
  $('topics-empty').hidden = entries.length > 0;
  const key = entries.map(([t, n]) => `${t}=${n}`).join(';');
  if (list.dataset.key !== key) {
    list.dataset.key = key;
    list.replaceChildren(...entries.map(([topic, size]) => {
      const n = Number(size) || 0;
      const li = el('li', 'topic');
      li.dataset.topic = topic;
      li.dataset.mesh = String(n);
      const meshBox = el('span', 'mesh');
      meshBox.title = `${n} peer${n === 1 ? '' : 's'} in this topic's mesh (target 6)`;
      const bar = el('span', 'mesh-bar');
      const fill = el('span');
      fill.style.width = `${Math.min(100, (n / 6) * 100)}%`;
      bar.append(fill);
      meshBox.append(bar, el('span', 'mesh-n', String(n)));
      li.append(el('span', 'topic-name', topic), meshBox);
      return li;
    }));
  }
  const datalist = $('topic-list');
  const opts = entries.map(([t]) => t).join('\n');
  if (datalist.dataset.key !== opts) {
    datalist.dataset.key = opts;
    datalist.replaceChildren(...entries.map(([t]) => { const o = el('option'); o.value = t; return o; }));
  }
}

function renderBoot(s) {
  const boot = s.boot || {};
  const b = $('boot');
  if (typeof boot.pyodide_s === 'number' && boot.pyodide_s > 0) {
    b.dataset.pyodideS = String(boot.pyodide_s);
    $('boot-pyodide').textContent = `${boot.pyodide_s.toFixed(2)} s`;
  }
  if (typeof boot.node_s === 'number' && boot.node_s > 0) {
    b.dataset.nodeS = String(boot.node_s);
    $('boot-node').textContent = `${boot.node_s.toFixed(2)} s`;
  }
  if (s.state === 'booting' || s.state === 'joining') {
    $('boot-title').textContent = s.state === 'joining' ? 'Joining the network…' : 'Starting your node…';
  }
}

function showError(message, { title, help } = {}) {
  $('error-panel').hidden = false;
  $('error-title').textContent = title || 'Your node stopped';
  $('error-help').textContent = help
    || 'Something went wrong while running the node in this tab. Reloading the page usually fixes it; your identity is kept.';
  $('error-message').textContent = message || 'No details were given.';
  $('error-retry').hidden = !node;
}

function render(s) {
  if (!s || typeof s !== 'object') return;
  last = s;
  const state = STATE_LABEL[s.state] ? s.state : 'error';
  renderState(state);
  renderIdentity(s);
  renderStats(s);
  renderPeers(s);
  renderTopics(s);
  renderTraining(s);
  renderReplica(s);
  renderResearch(s);
  renderPresence(s);
  renderServices(s);
  renderReview(s);
  renderBoot(s);
  if (state === 'error') showError(s.error);
  else $('error-panel').hidden = true;
  const n = Array.isArray(s.peers) ? s.peers.length : 0;
  document.title = state === 'online' ? `Hyperspace · ${n} peer${n === 1 ? '' : 's'}` : `Hyperspace · ${STATE_LABEL[state]}`;
}

// ---- training --------------------------------------------------------------------------------------------------

let joiningRun = null;           // run id whose join request is in flight

function formatBytes(n) {
  const b = Number(n) || 0;
  if (b < 1024) return `${b} B`;
  if (b < 1024 * 1024) return `${(b / 1024).toFixed(1)} kB`;
  return `${(b / 1024 / 1024).toFixed(b < 10 * 1024 * 1024 ? 2 : 1)} MB`;
}

function lossSparkline(values) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('class', 'sparkline run-spark');
  svg.setAttribute('viewBox', '0 0 120 32');
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('aria-hidden', 'true');
  const area = document.createElementNS(SVG_NS, 'path');
  area.setAttribute('class', 'spark-area');
  const line = document.createElementNS(SVG_NS, 'path');
  line.setAttribute('class', 'spark-line');
  svg.append(area, line);
  const ys = values.filter((v) => typeof v === 'number' && Number.isFinite(v));
  if (ys.length >= 2) {
    const lo = Math.min(...ys);
    const span = Math.max(1e-9, Math.max(...ys) - lo);
    const pts = ys.map((v, i) => [(i / (ys.length - 1)) * 120, 4 + (1 - (v - lo) / span) * 25]);
    const d = pts.map(([x, y], i) => `${i ? 'L' : 'M'}${x.toFixed(1)} ${y.toFixed(1)}`).join('');
    line.setAttribute('d', d);
    area.setAttribute('d', `${d}L120 32L0 32Z`);
  }
  return svg;
}

function runFact(label, value, title) {
  const box = el('div', 'run-fact');
  if (title) box.title = title;
  box.append(el('div', 'label', label), el('div', 'run-value', value));
  return box;
}

function runItem(r, joined, canJoin) {
  const li = el('li', 'run');
  li.dataset.run = String(r.id);
  li.dataset.joined = String(Boolean(joined));
  const head = el('div', 'run-head');
  const name = el('div', 'run-name');
  const iconBox = el('span', 'run-icon');
  iconBox.append(icon('train'));
  name.append(iconBox, el('span', 'run-task', String(r.task)));
  head.append(name, chips([`H ${r.H}`, String(r.codec), String(r.aggregation)]));
  if (joined) {
    const badge = el('span', `badge ${joined.syncing ? 'badge-relayed' : 'badge-direct'} run-badge`,
      joined.syncing ? 'Syncing' : 'Training');
    badge.title = joined.syncing ? 'Fetching the current state from a peer' : 'This tab trains in this run';
    head.append(badge);
  } else {
    const button = el('button', 'btn btn-small btn-primary run-join', joiningRun === r.id ? 'Joining…' : 'Join run');
    button.type = 'button';
    button.dataset.run = String(r.id);
    button.disabled = !canJoin || joiningRun !== null;
    button.title = canJoin ? `Train ${r.task} in this tab with the run's other participants`
      : 'This tab already takes part in a run';
    head.append(button);
  }
  const facts = el('div', 'run-facts');
  if (joined) {
    const losses = Array.isArray(joined.val_loss) ? joined.val_loss : [];
    const lastLoss = [...losses].reverse().find((v) => typeof v === 'number');
    facts.append(
      runFact('Round', formatNumber(joined.round)),
      runFact('Participants', formatNumber(joined.participants), `${joined.members} members heard`),
      runFact('Exchanged', formatBytes((joined.bytes_sent || 0) + (joined.bytes_received || 0)),
        `${formatBytes(joined.bytes_sent)} sent · ${formatBytes(joined.bytes_received)} received`),
    );
    const curve = el('div', 'run-fact run-curve');
    curve.title = 'Validation loss after each round';
    curve.append(el('div', 'label', 'Val loss'),
      el('div', 'run-value', lastLoss === undefined ? '—' : lastLoss.toFixed(3)), lossSparkline(losses));
    facts.append(curve);
  } else {
    facts.append(
      runFact('Round', formatNumber(r.round)),
      runFact('Started by', String(r.founder)),
    );
  }
  li.append(head, facts);
  return li;
}

function renderTraining(s) {
  const t = s.training && typeof s.training === 'object' ? s.training : { runs: [], joined: null };
  const runs = Array.isArray(t.runs) ? t.runs : [];
  const joined = t.joined && typeof t.joined === 'object' ? t.joined : null;
  if (joined && joiningRun === joined.id) joiningRun = null;
  const list = $('runs');
  list.dataset.count = String(runs.length);
  list.dataset.joined = joined ? String(joined.id) : '';
  $('run-count').textContent = String(runs.length);
  $('runs-empty').hidden = runs.length > 0;
  const online = s.state === 'online';
  const key = JSON.stringify([runs, joined, joiningRun, online]);
  if (list.dataset.key === key) return;
  list.dataset.key = key;
  list.replaceChildren(...runs.map((r) => runItem(r, joined && joined.id === r.id ? joined : null, online && !joined)));
}

async function joinRun(id) {
  if (!node || joiningRun) return;
  joiningRun = id;
  if (last) renderTraining(last);
  let reply;
  try {
    reply = await node.ask({ type: 'diloco-join', run: id, timeout_s: 20 }, 'diloco-join');
  } catch (err) {
    reply = { error: err && err.message ? err.message : String(err) };
  }
  if (reply && reply.error) {
    joiningRun = null;                            // the worker reported the failure in the feed already
  } else {
    onEvent({ kind: 'info', ts: Date.now(), text: 'Joined the training run: this tab now trains with its peers' });
  }
  if (last) renderTraining(last);
}

// ---- feed ------------------------------------------------------------------------------------------------------

function onEvent(e) {
  if (!e || typeof e !== 'object') return;
  if (e.kind === 'error' && /^worker error/.test(String(e.text)) && (!last || last.state === 'booting')) {
    renderState('error');                        // the worker died before it could report: it will not report now
    showError(String(e.text), { title: 'Your node could not start' });
  }
  if (e.kind === 'message' && !e.mine && last && e.from === last.peer && isEchoOfOwnSend(e)) return;
  feedQueue.push(e);
  if (feedQueue.length > FEED_MAX) feedQueue.splice(0, feedQueue.length - FEED_MAX);
  scheduleFlush();
}

// The host may confirm our own publish as a message event (possibly prefixed "you: " and truncated): we showed it
// already when the user pressed Publish, so drop the confirmation.
function isEchoOfOwnSend(e) {
  const text = String(e.text ?? '').replace(/^you:\s*/i, '').replace(/…$/, '');
  for (const key of recentSends.keys()) {
    const cut = key.indexOf('\n');
    const topic = key.slice(0, cut);
    const sent = key.slice(cut + 1);
    if (topic === e.topic && text && sent.startsWith(text)) {
      recentSends.delete(key);
      return true;
    }
  }
  return false;
}

function scheduleFlush() {
  if (feedFlushScheduled || feedPaused) return;
  feedFlushScheduled = true;
  requestAnimationFrame(flushFeed);
}

function feedItem(e) {
  const kind = ['message', 'peer', 'info', 'error'].includes(e.kind) ? e.kind : 'info';
  const li = el('li', 'ev fresh');
  li.dataset.kind = kind;
  if (e.topic) li.dataset.topic = String(e.topic);
  if (e.from) li.dataset.from = String(e.from);
  const ts = Number(e.ts) || Date.now();
  const time = el('time', 'ev-time', new Date(ts).toLocaleTimeString([], { hour12: false }));
  time.dateTime = new Date(ts).toISOString();
  const iconBox = el('span', 'ev-icon');
  iconBox.append(icon(kind));
  const body = el('div', 'ev-body');
  const meta = el('div', 'ev-meta');
  const mine = e.from && last && e.from === last.peer;
  if (mine || e.mine) meta.append(el('span', 'ev-from me', 'You'));
  else if (e.from) {
    const from = el('span', 'ev-from', shortPeer(String(e.from)));
    from.title = String(e.from);
    meta.append(from);
  } else meta.append(el('span', 'ev-kind', { message: 'Message', peer: 'Peer', info: 'Node', error: 'Problem' }[kind]));
  if (e.topic) meta.append(el('span', 'ev-topic', String(e.topic)));
  body.append(meta, el('div', 'ev-text', String(e.text ?? '')));
  li.append(time, iconBox, body);
  li.addEventListener('animationend', () => li.classList.remove('fresh'), { once: true });
  return li;
}

function flushFeed() {
  feedFlushScheduled = false;
  if (feedPaused || !feedQueue.length) return;
  const feed = $('feed');
  const frag = document.createDocumentFragment();
  for (let i = feedQueue.length - 1; i >= 0; i--) frag.append(feedItem(feedQueue[i]));   // newest first
  feedTotal += feedQueue.length;
  feedQueue.length = 0;
  feed.prepend(frag);
  while (feed.childElementCount > FEED_MAX) feed.lastElementChild.remove();
  feed.dataset.count = String(feed.childElementCount);
  $('feed-empty').hidden = true;
  $('feed-count').textContent = feedTotal > feed.childElementCount
    ? `latest ${feed.childElementCount} of ${formatNumber(feedTotal)}` : `${feedTotal} event${feedTotal === 1 ? '' : 's'}`;
}

// ---- controls --------------------------------------------------------------------------------------------------

function wireControls() {
  $('leave-join').addEventListener('click', () => {
    const button = $('leave-join');
    if (!node || button.disabled) return;
    const action = button.dataset.action;
    pending = action;
    try {
      if (action === 'leave') node.leave(); else node.join();
    } catch (err) {
      pending = null;
      onEvent({ kind: 'error', ts: Date.now(), text: `${action} failed: ${err && err.message ? err.message : err}` });
    }
    renderState(last ? last.state : 'booting');
  });

  $('copy-peer').addEventListener('click', async () => {
    const id = $('peer-id').dataset.peer;
    if (!id) return;
    let ok = false;
    try {
      await navigator.clipboard.writeText(id);
      ok = true;
    } catch {
      const range = document.createRange();      // fallback: select the text so the user can copy it
      $('peer-id').textContent = id;
      range.selectNodeContents($('peer-id'));
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      ok = document.execCommand && document.execCommand('copy');
    }
    const status = $('copy-status');
    status.textContent = ok ? 'Copied' : 'Press Ctrl+C to copy';
    clearTimeout(status._t);
    status._t = setTimeout(() => {
      status.textContent = '';
      $('peer-id').textContent = shortPeer(id, 10, 6);
    }, 2000);
  });

  $('feed-pause').addEventListener('click', () => {
    feedPaused = !feedPaused;
    const b = $('feed-pause');
    b.setAttribute('aria-pressed', String(feedPaused));
    b.textContent = feedPaused ? 'Resume' : 'Pause';
    if (!feedPaused) scheduleFlush();
  });

  $('publish').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const topic = $('publish-topic').value.trim();
    const text = $('publish-text').value.trim();
    const status = $('publish-status');
    if (!TOPIC_RE.test(topic)) { status.textContent = 'Topics look like hs/1/demo/pulse'; $('publish-topic').focus(); return; }
    if (!text) { $('publish-text').focus(); return; }
    if (!node || !last || last.state !== 'online') { status.textContent = 'Join the network first'; return; }
    const key = `${topic}\n${text}`;
    recentSends.set(key, Date.now());             // before publish(): a host may echo it synchronously
    try {
      node.publish(topic, text);
    } catch (err) {
      recentSends.delete(key);
      status.textContent = `Not sent: ${err && err.message ? err.message : err}`;
      return;
    }
    setTimeout(() => recentSends.delete(key), 10_000);
    onEvent({ kind: 'message', ts: Date.now(), topic, text, from: last.peer, mine: true });
    $('publish-text').value = '';
    status.textContent = 'Published';
    clearTimeout(status._t);
    status._t = setTimeout(() => { status.textContent = ''; }, 2500);
  });

  $('publish-text').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) $('publish').requestSubmit();
  });
  $('runs').addEventListener('click', (ev) => {
    const button = ev.target.closest('.run-join');
    if (button && !button.disabled) joinRun(button.dataset.run);
  });
  $('error-reload').addEventListener('click', () => location.reload());
  $('error-retry').addEventListener('click', () => { if (node) { pending = 'join'; node.join(); renderState('error'); } });
}

// ---- start -----------------------------------------------------------------------------------------------------

async function start() {
  wireControls();
  renderState('booting');
  if (!window.isSecureContext) {
    renderState('error');
    showError(`This page was opened over ${location.protocol}//${location.host}, which is not a secure context.`, {
      title: 'This page needs a secure connection',
      help: 'Browsers only give cryptography to pages served over HTTPS (or from localhost). Open the relay through its https:// address.',
    });
    return;
  }
  let host;
  try {
    host = await import('./node-host.js');
  } catch (err) {
    renderState('error');
    showError(String(err && err.message ? err.message : err), {
      title: 'The node could not be loaded',
      help: 'The files that run the node in this tab did not load. Check your connection and reload the page.',
    });
    return;
  }
  try {
    node = host.startNode({ ...config, cpuShare: 1.0, onStatus: render, onEvent });
  } catch (err) {
    renderState('error');
    showError(String(err && err.message ? err.message : err), { title: 'Your node could not start' });
    return;
  }
  wireResearch(node);
  window.hyperspace = { node, config, get status() { return last; } };
  renderState('booting');
  setTimeout(() => {
    if (document.body.dataset.state !== 'booting') return;
    $('boot-detail').textContent = 'This is taking longer than usual — a slow connection or a busy device can delay '
      + 'the first start. It keeps going in the background.';
  }, 45_000);
}

start();
