// The node's home: a module Web Worker that boots Pyodide, installs our wheels from our own lock file, and hands
// every message from the page to pynode.browser.app. JS here is only what Python cannot reach
// directly: IndexedDB as promises (hsStore) and the message queue that covers Pyodide's boot.
import { loadPyodide } from './pyodide/pyodide.mjs';
import {
  dropSnapshot, fetchManifest, findSnapshot, readSnapshot, snapshotFiles, snapshotKey, withStoredPyodide,
} from './boot-snapshot.js';
import { installFiles, unpackStart, unpackWheelsAside } from './wheels.js';
import './store.js'; // self.hsStore: IndexedDB as promises

// Boot phases as epoch milliseconds (performance.timeOrigin + now): the page and the benchmark set them against
// navigation start. Python adds its own (pynode/browser/app.py, status.boot.at).
const epochMs = () => performance.timeOrigin + performance.now();
const marks = { worker: epochMs() };

const early = [];
let deliver = (msg) => early.push(msg);
self.onmessage = (e) => {
  if (e.data && e.data.type === 'start') openRelayEarly(String(e.data.config.relay));
  deliver(e.data);
};

// The relay's WebSocket, opened when the page says where (its start message) rather than once Python has started
// the node: the connection and the relay's challenge are there when the node asks. Python takes it once, with
// the events it had meanwhile (browser.py BrowserRelayLink); one older than EARLY_SOCKET_MS is closed instead,
// as the relay would soon close it for want of a hello (its default wait is 10 s).
const EARLY_SOCKET_MS = 8000;
let earlySocket;
function openRelayEarly(url) {
  if (earlySocket !== undefined) return; // the first start only: later joins connect as usual
  earlySocket = null;
  try {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    const events = [];
    ws.onopen = ws.onmessage = ws.onclose = (e) => events.push(e);
    earlySocket = { url, ws, events, at: performance.now() };
  } catch {
    // not a WebSocket URL: the node reports it when it connects
  }
}
// the early socket to `url`, or undefined (None in Python)
self.hsTakeRelaySocket = (url) => {
  const taken = earlySocket;
  earlySocket = null;
  if (!taken) return undefined;
  if (taken.url === url && taken.ws.readyState <= WebSocket.OPEN && performance.now() - taken.at < EARLY_SOCKET_MS) {
    return taken;
  }
  taken.ws.onopen = taken.ws.onmessage = taken.ws.onclose = null;
  taken.ws.close();
  return undefined;
};

// A timer as a promise: Python's paced work loops wait on it through JSPI (browser.sleep_blocking)
self.hsSleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// onnxruntime-web for the model runner (pynode/platform/browser.py), imported on first use so that a tab that
// never trains does not pay for it. One thread and a fixed wasm build: a run then repeats bit for bit.
let ortLoading = null;
self.hsLoadOrt = () => (ortLoading ||= import('./ort/ort.wasm.min.mjs').then((ort) => {
  ort.env.wasm.wasmPaths = new URL('./ort/', import.meta.url).href;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  self.ort = ort;
  return ort;
}));

// onnxruntime-web's WebGPU build, for inference only (training stays on the WASM build above: other platforms
// re-execute its steps bit for bit). Imported only when the browser offers a WebGPU adapter; undefined otherwise.
let ortWebgpuLoading = null;
self.hsLoadOrtWebgpu = () => (ortWebgpuLoading ||= (async () => {
  const adapter = self.navigator.gpu ? await self.navigator.gpu.requestAdapter().catch(() => null) : null;
  if (!adapter) return undefined;
  const ort = await import('./ort/ort.webgpu.min.mjs');
  ort.env.wasm.wasmPaths = new URL('./ort/', import.meta.url).href;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.webgpu.adapter = adapter;
  return ort;
})());

// loro-crdt for the replicated state (pynode/platform/browser_loro.py), fetched and compiled when the node first
// asks, once joined: Python awaits `hsLoadLoro()` (platform crdt_ready). Not beside Pyodide's boot: on two cores
// its compile slowed the boot, and the replica came later than loading it after the join (bench browser).
let loroLoading = null;
self.hsLoadLoro = () => {
  if (!loroLoading) {
    loroLoading = import('./loro/index.js').then(async (loro) => {
      await loro.default({ module_or_path: new URL('./loro/loro_wasm_bg.wasm', import.meta.url) });
      self.loro = loro;
      return loro;
    });
    // a failure surfaces where Python awaits it, not as an unhandled rejection
    loroLoading.then(() => { marks.loro = epochMs(); }, () => {});
  }
  return loroLoading;
};

const LOCK_URL = new URL('./py/pyodide-lock.json', import.meta.url).href;
const MANIFEST_URL = new URL('./manifest.json', import.meta.url).href; // the build's files and their sha256
const manifest = fetchManifest(MANIFEST_URL);
// this profile's boot snapshot, if an earlier visit made one for these very wheels (boot-snapshot.js)
const snapshot = manifest.then(async (bytes) => {
  const key = await snapshotKey(MANIFEST_URL, bytes);
  const hit = await findSnapshot(key);
  if (!hit) return { key, hit };
  // the memory first, then what is stored beside it (boot-snapshot.js readSnapshot)
  const memory = readSnapshot(hit);
  const after = memory.catch(() => null);
  return { key, hit, bytes: memory, files: after.then(() => snapshotFiles(key)) };
}, () => ({}));
snapshot.then(({ hit }) => {
  if (hit) marks.snapshot_found = epochMs();
});
// Our wheels' files (pynode and what it depends on): `now`, written before the start, and `later()`, the rest,
// written when Python first needs them (pynode/platform/browser_files.py) or once the node is online. A restore
// needs none before its start (its snapshot holds the start's modules) and has them all stored with it. A first
// visit fetches only the start's files while Pyodide boots (their zip, wheels.js unpackStart), and the wheels
// once asked (fetched, checked and unpacked on another thread): beside the boot, the wheels' ~12 MB slowed it.
// A failure surfaces where the boot awaits them. `stored`: the files stored with a snapshot; `ours`: the top-level
// names the wheels install (the manifest's), whose imports wait for the pending files.
const wheelFiles = snapshot.then(async ({ files }) => {
  const build = JSON.parse(new TextDecoder().decode(await manifest));
  const ours = Object.values(build.packages).flatMap((p) => p.imports);
  const stored = await files;
  if (stored) return { stored, ours };
  const now = await unpackStart(new URL(build.start, MANIFEST_URL).href, build.files[build.start]);
  const written = new Set(now.map(([path]) => path));
  const later = async () => (await unpackWheelsAside(LOCK_URL, 'pynode')).filter(([path]) => !written.has(path));
  return { now, later, ours };
});
wheelFiles.then(() => { marks.unpacked = epochMs(); }, () => {});

// Pyodide restored from the snapshot, with pynode.browser.app imported already; null when there is none or it
// does not restore (then it is dropped, and the boot goes the usual way).
async function restore(options) {
  const { key, hit, bytes } = await snapshot;
  if (!hit) return null;
  try {
    // the bytes as a promise: Pyodide loads its script and fetches its wasm meanwhile (it compiles it after)
    bytes.then(() => { marks.snapshot_read = epochMs(); }, () => {});
    const pyodide = await withStoredPyodide(key, options.indexURL, () => loadPyodide({ ...options, _loadSnapshot: bytes }));
    pyodide.runPython('import random; random.seed()'); // not the generator state every restore would share
    return pyodide;
  } catch (e) {
    console.warn('boot snapshot not restored:', e);
    await dropSnapshot(key);
    return null;
  }
}

// Run `work` once the node is online (the first status the worker posts saying so), or after ONLINE_WAIT_MS.
const ONLINE_WAIT_MS = 30000;
function whenOnline(work) {
  const post = self.postMessage.bind(self);
  let done = false;
  const run = () => {
    if (done) return;
    done = true;
    self.postMessage = post;
    work();
  };
  self.postMessage = (msg, transfer) => {
    post(msg, transfer);
    if (msg && msg.type === 'status' && msg.status && msg.status.state === 'online') setTimeout(run, 0);
  };
  setTimeout(run, ONLINE_WAIT_MS);
}

function fail(message) {
  self.postMessage({ type: 'status', status: { state: 'error', error: message, peer: '', caps: [], peers: [], mesh: {} } });
  self.postMessage({ type: 'event', event: { kind: 'error', ts: Date.now(), text: message } });
}

try {
  const t0 = performance.now();
  const options = { indexURL: new URL('./pyodide/', import.meta.url).href, lockFileURL: LOCK_URL };
  let pyodide = await restore(options);
  const restored = pyodide !== null;
  pyodide ||= await loadPyodide(options);
  const pyodideS = (performance.now() - t0) / 1000;
  marks.pyodide = epochMs();
  const t1 = performance.now();
  try {
    const { stored, ours, ...first } = await wheelFiles;
    // a restore writes none of the files stored with its snapshot before its start; a snapshot that did not
    // restore (dropped: the boot went the usual way) has them all written now
    const now = stored ? (restored ? [] : stored) : first.now;
    const later = stored ? async () => (restored ? stored : []) : first.later;
    if (now.length) installFiles(pyodide, now);
    // the rest, held until Python asks for them (pynode/platform/browser_files.py) or the node is online
    let loading = null;
    let arrived = null;
    self.hsPendingFiles = () => (loading ||= later().then((files) => { arrived = files; }));
    self.hsPendingArrived = () => arrived !== null;
    self.hsWritePending = () => {
      installFiles(pyodide, arrived);
      arrived = [];
    };
    const held = pyodide.pyimport('pynode.platform.browser_files');
    held.hold(ours);
    // (a failure is reported where Python awaits them: app.py)
    whenOnline(() => self.hsPendingFiles().then(() => held.write_pending(), () => {}));
  } catch (e) {
    throw new Error(`loading pynode failed: ${e && e.message ? e.message : e}`);
  }
  const packagesS = (performance.now() - t1) / 1000;
  marks.packages = epochMs();
  // the dataclasses' methods the build compiled (pynode/browser/dataclass_code.py), before any of them is made
  pyodide.pyimport('pynode.browser.dataclass_code').install();
  const main = pyodide.pyimport('pynode.browser.app');
  marks.imported = epochMs();
  deliver = (msg) => {
    if (msg && msg.type === 'start') Object.assign(msg, { pyodide_s: pyodideS, packages_s: packagesS, marks, snapshot: restored });
    main.on_message(msg);
  };
  for (const msg of early.splice(0)) deliver(msg);
} catch (e) {
  fail(`the node could not boot: ${e && e.message ? e.message : e}`);
}
