// The embed badge's page (embed.html, loaded in an iframe by embed.js): runs the node and shows
// "Hyperspace node · N peers" with a stop / start control.
// Query parameters (set by embed.js): caps=a,b  cpu=0.25  research=off|a,b  topics=a,b  theme=light|dark

import { CAP_RE, TOPIC_RE, shortPeer } from './ui-common.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

function list(name, re, max) {
  const out = [];
  for (const x of (params.get(name) || '').split(/[\s,]+/)) {
    if (x && re.test(x) && !out.includes(x) && out.length < max) out.push(x);
  }
  return out;
}

const caps = ['browser', ...list('caps', CAP_RE, 9).filter((c) => c !== 'browser')];
const cpuRaw = parseFloat(params.get('cpu'));
const cpuShare = Number.isFinite(cpuRaw) && cpuRaw > 0 ? Math.min(1, Math.max(0.05, cpuRaw)) : 0.25;
const topicsParam = list('topics', TOPIC_RE, 8);
// research runs at the page's CPU share; null: the domains cheap in a tab, []: none
const research = params.get('research') === 'off' ? [] : params.has('research') ? list('research', /^[a-z]{1,16}$/, 5) : null;
const topics = topicsParam.length ? topicsParam : ['hs/1/demo/pulse'];
const theme = params.get('theme');
if (theme === 'light' || theme === 'dark') document.documentElement.dataset.theme = theme;

const DETAIL = { booting: 'starting', joining: 'joining', reconnecting: 'reconnecting', left: 'stopped', error: 'error' };
let node = null;
let state = 'booting';
let pending = false;
let lastPosted = '';

function post(status) {
  if (window.parent === window) return;
  const message = {
    type: 'hyperspace:status',
    state,
    peers: Array.isArray(status.peers) ? status.peers.length : 0,
    peer: typeof status.peer === 'string' ? status.peer : '',
  };
  const key = JSON.stringify(message);
  if (key === lastPosted) return;
  lastPosted = key;
  // Nothing secret: the embedding page learns the state it can already see on the badge.
  window.parent.postMessage(message, '*');
}

function render(status) {
  state = ['booting', 'joining', 'online', 'reconnecting', 'left', 'error'].includes(status.state) ? status.state : 'error';
  const peers = Array.isArray(status.peers) ? status.peers.length : 0;
  const badge = $('badge');
  document.body.dataset.state = state;
  badge.dataset.state = state;
  badge.dataset.peers = String(peers);
  $('detail').textContent = state === 'online' ? `${peers} peer${peers === 1 ? '' : 's'}` : DETAIL[state];

  const running = state === 'joining' || state === 'online' || state === 'reconnecting';
  const stopped = state === 'left' || (state === 'error' && node);
  if ((pending === 'leave' && !running) || (pending === 'join' && !stopped)) pending = false;
  const toggle = $('toggle');
  toggle.dataset.action = stopped ? 'join' : 'leave';
  const label = stopped ? 'Start the node' : 'Stop the node';
  toggle.setAttribute('aria-label', label);
  toggle.title = label;
  toggle.disabled = !node || Boolean(pending) || !(running || stopped);

  const lines = [
    state === 'online' ? `Hyperspace: this page runs a peer-to-peer research node, connected to ${peers} peer${peers === 1 ? '' : 's'}.`
      : state === 'left' ? 'Hyperspace: the node is stopped. Click ▶ to start it again.'
        : state === 'error' ? `Hyperspace: the node stopped with an error${status.error ? `: ${status.error}` : '.'}`
          : 'Hyperspace: starting a peer-to-peer research node in the background.',
    `Capabilities: ${caps.join(', ')} · CPU share ${Math.round(cpuShare * 100)}%`,
  ];
  if (status.peer) lines.push(`Peer ${shortPeer(status.peer, 10, 6)}`);
  if (running) lines.push('Click ■ to stop it.');
  badge.title = lines.join('\n');
  post(status);
}

$('toggle').addEventListener('click', () => {
  if (!node || $('toggle').disabled) return;
  pending = $('toggle').dataset.action;
  $('toggle').disabled = true;
  try {
    if (pending === 'leave') node.leave(); else node.join();
  } catch (err) {
    pending = false;
    render({ state: 'error', error: String(err && err.message ? err.message : err) });
  }
});

async function start() {
  if (!window.isSecureContext) {
    render({ state: 'error', error: 'this page is not served over HTTPS, so the browser withholds WebCrypto' });
    $('detail').textContent = 'needs HTTPS';
    return;
  }
  let host;
  try {
    host = await import('./node-host.js');
  } catch (err) {
    render({ state: 'error', error: `could not load the node (${err && err.message ? err.message : err})` });
    return;
  }
  try {
    node = host.startNode({
      relay: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/p2p`,
      caps, topics, cpuShare, research, researchCpu: cpuShare,
      onStatus: render,
      onEvent: () => {},
    });
  } catch (err) {
    render({ state: 'error', error: String(err && err.message ? err.message : err) });
    return;
  }
  window.hyperspace = { node, caps, cpuShare, topics };
  render({ state: 'booting' });
}

start();
