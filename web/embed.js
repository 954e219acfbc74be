/*!
 * Hyperspace embed — run a Hyperspace node in the background of any page:
 *
 *   <script src="https://RELAY/embed.js" data-capabilities="inference" data-cpu="0.25" async></script>
 *
 * Optional attributes: data-capabilities (comma or space separated), data-cpu (0 < x <= 1, default 0.25: the share
 * of one CPU the node's work loops, research included, may use), data-research (off, or the research domains to run,
 * e.g. "finance causes"; default: those cheap in a tab), data-topics, data-position (bottom-right | bottom-left |
 * top-right | top-left), data-theme (auto | light | dark).
 *
 * The node does not run in this page: the script adds a small badge holding an iframe of RELAY/embed.html, served
 * from the relay's own origin, so Pyodide, WebCrypto and the worker run there (this page's CSS and scripts cannot
 * reach it, and it cannot reach this page: the iframe is sandboxed without top navigation or popups).
 * The page must itself be a secure context (https:// or localhost) for the node to get WebCrypto; a page with a CSP
 * must allow RELAY in script-src and frame-src.
 *
 * The badge element is `#hyperspace-badge` (data-state, data-peers, data-peer follow the node); the script element
 * receives `hyperspace:status` events ({detail: {state, peers, peer}}). window.HyperspaceEmbed.remove() takes it away.
 */
(function () {
  'use strict';
  var w = window;
  var d = document;
  var CAP_RE = /^[a-z][a-z0-9_-]{0,31}$/;
  var TOPIC_RE = /^[A-Za-z0-9][A-Za-z0-9._\-/]{0,127}$/;
  var WIDTH = 220;
  var HEIGHT = 40;

  if (w.HyperspaceEmbed) {
    if (w.console) console.warn('[hyperspace] embed.js is included more than once; only the first one runs a node');
    return;
  }

  // The tag that loaded us: document.currentScript while this (classic) script first runs, else the last
  // embed.js tag on the page that has not been claimed yet.
  function findScript() {
    var current = d.currentScript;
    if (current && current.src) return current;
    var all = d.querySelectorAll('script[src]');
    for (var i = all.length - 1; i >= 0; i--) {
      if (/\/embed\.js(?:[?#]|$)/.test(all[i].src) && !all[i].hasAttribute('data-hyperspace-mounted')) return all[i];
    }
    return null;
  }

  function list(value, re, max) {
    var out = [];
    String(value || '').split(/[\s,]+/).forEach(function (x) {
      if (x && re.test(x) && out.indexOf(x) < 0 && out.length < max) out.push(x);
    });
    return out;
  }

  function important(el, styles) {
    for (var k in styles) el.style.setProperty(k, styles[k], 'important');
  }

  var script = findScript();
  if (!script) return;
  script.setAttribute('data-hyperspace-mounted', '');

  var src;
  try { src = new URL(script.src, d.baseURI); } catch (e) { return; }
  if (src.protocol !== 'https:' && src.protocol !== 'http:') return;
  var relayOrigin = src.origin;

  var data = script.dataset;
  var caps = list(data.capabilities || data.caps, CAP_RE, 9);
  var cpu = parseFloat(data.cpu);
  cpu = isFinite(cpu) && cpu > 0 ? Math.min(1, Math.max(0.05, cpu)) : 0.25;
  var topics = list(data.topics, TOPIC_RE, 8);
  var research = data.research === 'off' ? 'off' : list(data.research, /^[a-z]{1,16}$/, 5).join(',');
  var position = /^(top|bottom)-(left|right)$/.test(data.position || '') ? data.position : 'bottom-right';
  var theme = /^(light|dark)$/.test(data.theme || '') ? data.theme : 'auto';

  // embed.html sits next to embed.js (so a relay mounted under a path prefix works too).
  var frameUrl = new URL('embed.html', src);
  frameUrl.search = '';
  frameUrl.hash = '';
  if (caps.length) frameUrl.searchParams.set('caps', caps.join(','));
  frameUrl.searchParams.set('cpu', String(cpu));
  if (topics.length) frameUrl.searchParams.set('topics', topics.join(','));
  if (research) frameUrl.searchParams.set('research', research);
  if (theme !== 'auto') frameUrl.searchParams.set('theme', theme);

  var host = d.createElement('div');
  host.id = 'hyperspace-badge';
  host.setAttribute('data-state', 'booting');
  host.setAttribute('data-peers', '0');
  host.setAttribute('data-relay', relayOrigin);
  var vertical = position.split('-')[0];
  var horizontal = position.split('-')[1];
  var hostStyle = {
    all: 'initial', position: 'fixed', 'z-index': '2147483000', display: 'block',
    width: WIDTH + 'px', height: HEIGHT + 'px', margin: '0', padding: '0',
    'border-radius': HEIGHT / 2 + 'px', overflow: 'hidden',
    'box-shadow': '0 4px 14px rgba(15, 23, 42, 0.18), 0 1px 3px rgba(15, 23, 42, 0.12)',
    'color-scheme': 'normal', 'pointer-events': 'auto',
  };
  hostStyle[vertical] = '16px';
  hostStyle[horizontal] = '16px';
  important(host, hostStyle);

  var frame = d.createElement('iframe');
  frame.src = frameUrl.href;
  frame.title = 'Hyperspace node — a peer-to-peer research node running in the background';
  frame.setAttribute('width', String(WIDTH));
  frame.setAttribute('height', String(HEIGHT));
  frame.setAttribute('loading', 'eager');
  frame.setAttribute('scrolling', 'no');
  frame.setAttribute('referrerpolicy', 'origin');
  frame.setAttribute('sandbox', 'allow-scripts allow-same-origin');
  important(frame, {
    all: 'initial', display: 'block', width: '100%', height: '100%', border: '0', margin: '0', padding: '0',
    'background-color': 'transparent', 'color-scheme': 'normal',
  });

  // Shadow DOM keeps the page's CSS (e.g. `iframe { width: 100% }`) away from the badge.
  var root = host.attachShadow ? host.attachShadow({ mode: 'open' }) : host;
  root.appendChild(frame);

  function onMessage(event) {
    if (event.origin !== relayOrigin || event.source !== frame.contentWindow) return;
    var m = event.data;
    if (!m || typeof m !== 'object' || m.type !== 'hyperspace:status') return;
    var state = /^[a-z]{1,16}$/.test(m.state) ? m.state : 'error';
    var peers = Math.max(0, Math.min(1e6, parseInt(m.peers, 10) || 0));
    var peer = /^[a-z2-7]{1,64}$/.test(m.peer || '') ? m.peer : '';
    host.setAttribute('data-state', state);
    host.setAttribute('data-peers', String(peers));
    if (peer) host.setAttribute('data-peer', peer);
    var detail = { state: state, peers: peers, peer: peer };
    try {
      script.dispatchEvent(new CustomEvent('hyperspace:status', { detail: detail }));
    } catch (e) { /* very old browsers: no CustomEvent constructor */ }
  }
  w.addEventListener('message', onMessage);

  function mount() {
    (d.body || d.documentElement).appendChild(host);
  }
  if (d.body) mount();
  else d.addEventListener('DOMContentLoaded', mount, { once: true });

  w.HyperspaceEmbed = {
    relay: relayOrigin,
    element: host,
    frame: frame,
    remove: function () {
      w.removeEventListener('message', onMessage);
      if (host.parentNode) host.parentNode.removeChild(host);   // unloading the iframe stops its node
      w.HyperspaceEmbed = undefined;
    },
  };
})();
