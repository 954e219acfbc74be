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
  let researchPaused = false;
  const resultKey = 'a3f1'.repeat(16);
  const parentKey = '9c0e'.repeat(16);
  const paperKey = '5be2'.repeat(16);

  function research(live) {
    const seedsDone = Math.floor((performance.now() - started) / 1500) % 4;
    return {
      state: !live ? 'off' : researchPaused ? 'paused' : 'running',
      domains: ['finance'], cpu_share: 0.5, experiments: 3, refused: 0,
      slow_in_tab: { search: 'ranking the 225 queries of one config held the tab 3–7 s' },
      seed_s: { finance: { last: 0.41, max: 0.69 } },
      current: { task: 'sp500-sharpe', operator: 'nudge', seeds_done: seedsDone, seeds: 5,
        hypothesis: 'raising the trend lookback from 100 to 150 days lowers turnover and raises the test Sharpe' },
      results: [{
        key: resultKey, author: me, ts: Date.now() - 60_000, paper: paperKey, domain: 'finance', task: 'sp500-sharpe',
        metric: 'sharpe', unit: 'sharpe', direction: 'max', value: '0.5123', ci95: '0.0412', seeds: 5,
        p_value: '0.013', heldout: '0.4871', inspired_by: parentKey, baseline: parentKey, mine: true, improvement: true,
        hypothesis: 'volatility targeting at 12% annualised lifts the Sharpe ratio after costs',
      }, {
        key: parentKey, author: peers[0] ? peers[0].peer : me, ts: Date.now() - 300_000, paper: null, domain: 'finance',
        task: 'sp500-sharpe', metric: 'sharpe', unit: 'sharpe', direction: 'max', value: '0.4410', ci95: '0.0377',
        seeds: 5, p_value: null, heldout: '0.4102', inspired_by: null, baseline: null, mine: false, improvement: null,
        hypothesis: 'the baseline sets the noise floor of sp500-sharpe',
      }],
    };
  }

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
      research: research(live),
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
    ask(message, replyType) {
      if (message.type === 'research-pause' || message.type === 'research-resume') {
        researchPaused = message.type === 'research-pause';
        report();
        return Promise.resolve({ type: replyType, research: research(true) });
      }
      if (message.type === 'research-paper') {
        const svg = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 80" width="400" height="160">'
          + '<rect width="200" height="80" fill="#f5f6fa"/><circle cx="60" cy="50" r="4" fill="#888"/>'
          + '<circle cx="140" cy="30" r="4" fill="#5b4ee6"/></svg>';
        const markdown = '# sp500-sharpe: nudge — sharpe 0.5123 sharpe\n\n*Author `me` · task `sp500-sharpe`*\n\n'
          + '## Results\n\n| configuration | n | mean ± 95% CI |\n|---|---:|---:|\n| this work | 5 | 0.5123 ± 0.041 |\n\n'
          + '![sharpe per seed](figure-1.svg)\n\n## Reproduction\n\n```\nhyperspace reproduce ' + resultKey + '\n```\n';
        return Promise.resolve({ type: replyType, paper: { key: paperKey, author: me, ts: Date.now(), markdown, figures: [svg] } });
      }
      return Promise.resolve({ type: replyType, error: 'the fake host does not do that' });
    },
    terminate() { timers.forEach((t) => { clearTimeout(t); clearInterval(t); }); state = 'left'; report(); },
  };
}
