// Starts a Hyperspace node for this page: the Python node runs in a module worker (worker.js); this module
// owns what a worker cannot have — RTCPeerConnection — and bridges data channels to it. Data crosses as
// transferable ArrayBuffers, never copied twice.
//
//   const node = startNode({relay, caps, topics, cpuShare, research, researchCpu, onStatus, onEvent});
//   research: domain names to research (null or absent: the tab's default set; []: none);
//   researchCpu: the share of one CPU research may use (default cpuShare).
//   node.leave(); node.join(); node.publish(topic, text); node.terminate();

const CHANNEL = 'hyperspace/1';
const HIGH_WATER = 1 << 20; // pause sending while this much is queued in the SCTP buffer
// The boot snapshot's maker is a second Pyodide boot: it waits out the node's first busy seconds online
const SNAPSHOT_DELAY_MS = 10000;

function defaultRelay() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/p2p`;
}

class RtcBridge {
  constructor(worker) {
    this.worker = worker;
    this.sessions = new Map(); // id -> {pc, dc, queue}
  }

  reply(call, ok, extra = {}) {
    this.worker.postMessage({ type: 'rtc-reply', call, ok, ...extra });
  }

  event(id, event, data) {
    if (data) this.worker.postMessage({ type: 'rtc-event', id, event, data }, [data]);
    else this.worker.postMessage({ type: 'rtc-event', id, event });
  }

  session(id) {
    let s = this.sessions.get(id);
    if (!s) {
      const pc = new RTCPeerConnection({ iceServers: [] });
      s = { pc, dc: null, queue: [] };
      pc.ondatachannel = (e) => (e.channel.label === CHANNEL && !s.dc ? this.bind(id, s, e.channel) : e.channel.close());
      pc.onconnectionstatechange = () => {
        if (['failed', 'closed'].includes(pc.connectionState)) this.close(id, true);
      };
      this.sessions.set(id, s);
    }
    return s;
  }

  bind(id, s, dc) {
    s.dc = dc;
    dc.binaryType = 'arraybuffer';
    dc.bufferedAmountLowThreshold = HIGH_WATER / 2;
    dc.onopen = () => this.event(id, 'open');
    dc.onmessage = (e) => (e.data instanceof ArrayBuffer ? this.event(id, 'message', e.data) : this.close(id, true));
    dc.onclose = () => this.close(id, true);
    dc.onbufferedamountlow = () => this.flush(s);
    if (dc.readyState === 'open') this.event(id, 'open');
  }

  flush(s) {
    while (s.queue.length && s.dc && s.dc.readyState === 'open' && s.dc.bufferedAmount < HIGH_WATER) {
      s.dc.send(s.queue.shift());
    }
  }

  async gathered(pc) {
    // non-trickle ICE: the SDP we hand over carries every candidate
    if (pc.iceGatheringState === 'complete') return;
    await new Promise((resolve) => {
      const done = () => pc.iceGatheringState === 'complete' && resolve();
      pc.addEventListener('icegatheringstatechange', done);
      setTimeout(resolve, 5000);
    });
  }

  async handle(msg) {
    if (msg.type === 'rtc-send') {
      const s = this.sessions.get(msg.id);
      if (s) {
        s.queue.push(msg.data);
        this.flush(s);
      }
      return;
    }
    if (msg.type === 'rtc-close') {
      this.close(msg.id, false);
      return;
    }
    try {
      const s = this.session(msg.id);
      if (msg.op === 'offer') {
        this.bind(msg.id, s, s.pc.createDataChannel(CHANNEL, { ordered: true }));
        await s.pc.setLocalDescription(await s.pc.createOffer());
        await this.gathered(s.pc);
        this.reply(msg.call, true, { sdp: s.pc.localDescription.sdp });
      } else if (msg.op === 'answer') {
        await s.pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
        await s.pc.setLocalDescription(await s.pc.createAnswer());
        await this.gathered(s.pc);
        this.reply(msg.call, true, { sdp: s.pc.localDescription.sdp });
      } else if (msg.op === 'accept') {
        await s.pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp });
        this.reply(msg.call, true);
      } else {
        this.reply(msg.call, false, { error: `unknown op ${msg.op}` });
      }
    } catch (e) {
      this.reply(msg.call, false, { error: String(e && e.message ? e.message : e) });
    }
  }

  close(id, notify) {
    const s = this.sessions.get(id);
    if (!s) return;
    this.sessions.delete(id);
    try { s.dc && s.dc.close(); } catch (_) { /* already closed */ }
    try { s.pc.close(); } catch (_) { /* already closed */ }
    if (notify) this.event(id, 'close');
  }

  closeAll() {
    for (const id of [...this.sessions.keys()]) this.close(id, false);
  }

  get openChannels() {
    return [...this.sessions.values()].filter((s) => s.dc && s.dc.readyState === 'open').length;
  }
}

const DOMAIN_RE = /^[a-z]{1,16}$/;
const share = (x, fallback) => Math.min(1, Math.max(0.05, Number.isFinite(Number(x)) ? Number(x) : fallback));

// The boot snapshot for the next visit, made in a worker of its own (snapshot-worker.js, boot-snapshot.js).
function makeSnapshot() {
  return new Promise((resolve) => {
    const maker = new Worker(new URL('./snapshot-worker.js', import.meta.url), { type: 'module' });
    maker.onmessage = (e) => { maker.terminate(); resolve(e.data); };
    maker.onerror = (e) => { maker.terminate(); resolve({ ok: false, error: e.message || 'the snapshot worker failed' }); };
  });
}

// The worker the page started before its modules loaded (index.html), if it runs this very script; taken once.
function takeEarlyWorker(url) {
  const early = globalThis.hsEarlyWorker;
  if (!early || early.url !== url) return null;
  delete globalThis.hsEarlyWorker;
  return early;
}

export function startNode(options = {}) {
  const cpuShare = share(options.cpuShare ?? 1, 1);
  const config = {
    relay: options.relay || defaultRelay(),
    caps: options.caps || ['browser'],
    topics: options.topics || ['hs/1/demo/pulse'],
    cpuShare,
    research: Array.isArray(options.research) ? options.research.filter((d) => DOMAIN_RE.test(d)).slice(0, 8) : null,
    researchCpu: share(options.researchCpu ?? cpuShare, cpuShare),
    directPeers: options.directPeers ?? 4,
    presenceInterval: Number(options.presenceInterval) || 90,  // seconds between pulse rounds (the network's)
  };
  const workerUrl = new URL('./worker.js', import.meta.url).href;
  const early = takeEarlyWorker(workerUrl);
  const worker = early ? early.worker : new Worker(workerUrl, { type: 'module' });
  const rtc = new RtcBridge(worker);
  const handlers = { onStatus: options.onStatus || (() => {}), onEvent: options.onEvent || (() => {}) };
  const listeners = new Map();
  let sawStatus = false;
  const makeSnapshots = options.snapshot !== false; // off: no second boot for the next visit (tests, kiosks)
  let snapshotStarted = false;
  let snapshotTimer = null;
  let snapshotDone = () => {};
  const snapshot = new Promise((resolve) => { snapshotDone = resolve; });
  if (!makeSnapshots) snapshotDone({ ok: false, error: 'snapshots are off' });
  worker.onmessage = (e) => {
    const msg = e.data;
    if (msg.type === 'status') {
      sawStatus = true;
      if (!snapshotStarted && makeSnapshots && msg.status.state === 'online' && msg.status.boot) {
        // booted without a snapshot: make one for this profile's next visit, now that the node is on the network
        snapshotStarted = true;
        if (msg.status.boot.snapshot) snapshotDone({ ok: true, restored: true });
        else snapshotTimer = setTimeout(() => makeSnapshot().then(snapshotDone), SNAPSHOT_DELAY_MS);
      }
      handlers.onStatus(msg.status);
    }
    else if (msg.type === 'event') handlers.onEvent(msg.event);
    else if (msg.type === 'rtc' || msg.type === 'rtc-send' || msg.type === 'rtc-close') rtc.handle(msg);
    else if (listeners.has(msg.type)) listeners.get(msg.type)(msg);
  };
  worker.onerror = (e) => {
    const text = `worker error: ${e.message || 'the worker script failed to load'}`;
    handlers.onEvent({ kind: 'error', ts: Date.now(), text });
    // a worker that dies before its first status would leave the page waiting forever
    if (!sawStatus) handlers.onStatus({ state: 'error', error: text, peer: '', caps: config.caps, peers: [], mesh: {} });
  };
  // what the early worker posted (or how it failed) before these handlers were set, in order
  for (const e of early ? early.held.splice(0) : []) (e.type === 'message' ? worker.onmessage : worker.onerror)(e);
  worker.postMessage({ type: 'start', config });
  return {
    config,
    leave() { worker.postMessage({ type: 'leave' }); },
    join() { worker.postMessage({ type: 'join' }); },
    publish(topic, text) { worker.postMessage({ type: 'publish', topic, text }); },
    terminate() { clearTimeout(snapshotTimer); rtc.closeAll(); worker.terminate(); },
    get openChannels() { return rtc.openChannels; },
    // settles once this visit restored the boot snapshot or made one for the next ({ok, restored | bytes | error})
    snapshot,
    // test and diagnostics hook: send a command to the worker and await its reply of type `replyType`
    ask(message, replyType) {
      return new Promise((resolve) => {
        listeners.set(replyType, (msg) => { listeners.delete(replyType); resolve(msg); });
        worker.postMessage(message);
      });
    },
  };
}
