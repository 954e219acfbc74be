// DEV ONLY — never imported by a production page.
//
// A stand-in for web/node-host.js with the same API (startNode → {leave, join, publish, terminate}) that feeds
// realistic, made-up status and events, so the dashboard and the embed badge can be developed and screenshotted
// without Pyodide. Playwright swaps it in by routing requests for `node-host.js` to this file's contents.
//
// Page query parameters it understands: ?fake=error (fail during boot), ?fake=slow (long boot),
// ?fake=empty (no peers ever), ?fake=busy (many peers, fast feed).

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const params = new URLSearchParams(location.search);
const mode = params.get('fake') || '';

let seed = 0x2f6b1c3d;
function rand() {
  seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
  return ((seed >>> 0) % 1_000_000) / 1_000_000;
}
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const peerId = () => Array.from({ length: 52 }, () => pick(ALPHABET)).join('');

const CAPS = ['inference', 'research', 'proxy', 'storage', 'embedding', 'memory', 'orchestration', 'validation', 'relay'];
const TEXTS = [
  'pulse round 412: leader elected, 9 commitments',
  'result ml/char-lm: val_bpb 1.412 ± 0.008 (5 seeds) — new best',
  'hypothesis: warmup 200 → 400 steps lowers val_loss on tiny-gpt',
  'review 8/10 for paper "Cosine schedules at 116k params"',
  'DiLoCo round 37: 6 deltas aggregated (int8, trimmed mean)',
  'search/bm25-tuning: nDCG@10 0.662 (+0.011 vs best)',
  'pulse round 413: challenge revealed, 8/9 proofs valid',
];

export function startNode(options = {}) {
  const started = performance.now();
  const me = peerId();
  const caps = options.caps || ['browser'];
  const topics = options.topics || ['hs/1/demo/pulse'];
  const relay = options.relay || `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/p2p`;
  const nPeers = mode === 'empty' ? 0 : mode === 'busy' ? 28 : 6;
  const peers = Array.from({ length: nPeers }, (_, i) => ({
    peer: peerId(),
    kind: i % 3 === 2 ? 'relayed' : 'direct',
    caps: i === 0 ? ['relay', 'storage', 'validation'] : i % 4 === 1 ? ['browser'] : [pick(CAPS), pick(CAPS)].filter((c, j, a) => a.indexOf(c) === j),
  }));
  let state = 'booting';
  let visible = 0;           // peers connected so far (they arrive one by one)
  let delivered = 0;
  let recent = [];           // timestamps of delivered messages (for messages_per_s)
  let onlineSince = 0;
  const boot = { pyodide_s: 0, node_s: 0 };
  const timers = [];
  const emit = (e) => options.onEvent && options.onEvent({ ts: Date.now(), ...e });

  function status() {
    const now = performance.now();
    recent = recent.filter((t) => now - t < 1000 * 5);
    const live = state === 'online' || state === 'reconnecting';
    const shown = live ? peers.slice(0, visible) : [];
    const mesh = {};
    for (const t of topics) mesh[t] = live ? Math.min(shown.length, 6) : 0;
    const s = {
      state, peer: me, caps, relay,
      relay_connected: state === 'online',
      known_peers: live ? nPeers + 5 : 0,
      peers: shown, mesh,
      messages_per_s: live ? Math.round((recent.length / 5) * 10) / 10 : 0,
      delivered_total: delivered,
      rejections: delivered > 20 ? { invalid_signature: 2, too_large: 1 } : {},
      boot: { ...boot },
      uptime_s: onlineSince ? Math.round((now - onlineSince) / 1000) : 0,
    };
    if (state === 'error') s.error = 'WebAssembly.instantiate(): Out of memory: Cannot allocate Wasm memory for new instance';
    return s;
  }
  const report = () => options.onStatus && options.onStatus(status());

  function goOnline() {
    state = 'joining'; report();
    timers.push(setTimeout(() => {
      state = 'online'; onlineSince = onlineSince || performance.now(); report();
      emit({ kind: 'info', text: `joined relay ${relay}` });
    }, 600));
  }

  timers.push(setTimeout(() => {
    if (mode === 'error') { state = 'error'; report(); emit({ kind: 'error', text: 'node failed to boot' }); return; }
    boot.pyodide_s = 2.84; boot.node_s = 0.37;
    emit({ kind: 'info', text: 'Python runtime ready (Pyodide 314.0.7)' });
    goOnline();
  }, mode === 'slow' ? 8000 : 900));

  timers.push(setInterval(report, 1000));
  timers.push(setInterval(() => {
    if (state !== 'online' || visible >= peers.length) return;
    const p = peers[visible++];
    emit({ kind: 'peer', from: p.peer, text: `${p.kind === 'direct' ? 'direct WebRTC channel open' : 'relayed circuit open'} (${p.caps.join(', ')})` });
  }, mode === 'busy' ? 120 : 700));
  timers.push(setInterval(() => {
    if (state !== 'online' || visible === 0 || rand() < 0.25) return;
    delivered++; recent.push(performance.now());
    emit({ kind: 'message', topic: pick(topics), from: pick(peers.slice(0, visible)).peer, text: pick(TEXTS) });
    if (rand() < 0.03) emit({ kind: 'error', text: 'rejected a message from a peer: invalid signature (peer penalised)' });
  }, mode === 'busy' ? 150 : 650));

  return {
    leave() {
      state = 'left'; visible = 0; onlineSince = 0; report();
      emit({ kind: 'info', text: 'left the network: all channels closed' });
    },
    join() {
      if (state !== 'left' && state !== 'error') return;
      emit({ kind: 'info', text: 'joining again with the same identity' });
      goOnline();
    },
    publish(topic, text) {
      if (state !== 'online') throw new Error('not online');
      delivered++;
      emit({ kind: 'message', topic, from: me, text });
    },
    terminate() { timers.forEach((t) => { clearTimeout(t); clearInterval(t); }); state = 'left'; report(); },
  };
}
