// A memory snapshot of Pyodide with our wheels installed and pynode.browser.app imported, kept in Cache Storage:
// the next visit of this profile restores it (well under a second) instead of booting Pyodide and importing the
// node again (seconds), with Pyodide's wasm and stdlib zip from beside it rather than from the network. Pyodide's
// snapshot API is marked private (`_makeSnapshot`, `_loadSnapshot`), so every step may fail and a failure only
// means booting the usual way.
//
// Made by a throwaway worker (snapshot-worker.js) once the tab's own node is online: an instance loaded with
// `_makeSnapshot` wraps the JS globals in proxies that break objects constructed through them, so the node never
// runs in one. The cache key is the hash of the build's manifest.json, which names every file's sha256 (a
// snapshot holds what it read of them, such as the stdlib zip's index); Pyodide refuses a snapshot of another
// build of itself (its build id is inside), and the worker then boots as usual and drops the entry.
//
// A restored interpreter carries its maker's state: `random`'s generator (re-seeded after each restore, in
// worker.js) and the str hash secret (one per profile, like a long-running process's).

const CACHE = 'hyperspace-boot';

// The build's manifest.json (every file's sha256) at `url`, as bytes: the snapshot's key is their hash.
export async function fetchManifest(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

// The key of the snapshot matching the build whose manifest (`bytes`) is at `manifestUrl` (the key itself is
// never fetched).
export async function snapshotKey(manifestUrl, bytes) {
  const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  const hex = Array.from(hash, (b) => b.toString(16).padStart(2, '0')).join('');
  return new URL(`./boot-snapshot/${hex}.bin`, manifestUrl).href;
}

// The stored snapshot as a Response (its body not read yet), or null: none, or no Cache Storage here.
export async function findSnapshot(key) {
  try {
    return (await (await caches.open(CACHE)).match(key)) || null;
  } catch {
    return null;
  }
}

// Our wheels' files as the snapshot's maker unpacked them ([path, bytes], as unpackWheels gives them), or null
// when not stored. A restored tab takes them from here instead of fetching, checking and inflating the wheels
// again: that took its thread for seconds under load, beside the restore. They are the files of the wheels this
// build pins (the key is the build's manifest), stored by this origin like the snapshot itself.
export async function snapshotFiles(key) {
  try {
    const stored = await (await caches.open(CACHE)).match(filesKey(key));
    return stored ? unpackFiles(new Uint8Array(await stored.arrayBuffer())) : null;
  } catch {
    return null;
  }
}

// The stored snapshot's memory, as Pyodide restores it. Read before the files stored beside it (worker.js): read
// together, each arrived later, and the restore waits for the memory first.
export async function readSnapshot(hit) {
  return unpackPages(new Uint8Array(await hit.arrayBuffer()));
}

// `indexUrl`: Pyodide's folder, whose own large files (PYODIDE_FILES) are stored too.
export async function storeSnapshot(key, bytes, files, indexUrl) {
  const cache = await caches.open(CACHE);
  const ours = storedKeys(key);
  for (const old of await cache.keys()) if (!ours.includes(old.url)) await cache.delete(old); // other builds'
  for (const name of PYODIDE_FILES) {
    const response = await fetch(new URL(name, indexUrl));
    if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
    await cache.put(pyodideKey(key, name), response);
  }
  await cache.put(filesKey(key), new Response(packFiles(files), { headers: { 'Content-Type': 'application/octet-stream' } }));
  await cache.put(key, new Response(packPages(bytes), { headers: { 'Content-Type': 'application/octet-stream' } }));
}

// Run `load` (Pyodide's loader) with Pyodide's own large files served from those stored with the snapshot `key`
// (the same build's: the key covers their sha256), not from the network: the restore waited for them. Pyodide has
// no option to hand it its wasm, so its fetches go through this worker's `fetch`, for the loader's run only.
export async function withStoredPyodide(key, indexUrl, load) {
  const cache = await caches.open(CACHE);
  const stored = new Map(PYODIDE_FILES.map((name) => [new URL(name, indexUrl).href, pyodideKey(key, name)]));
  const network = self.fetch;
  self.fetch = (input, init) => {
    const name = stored.get(input instanceof Request ? input.url : new URL(String(input), indexUrl).href);
    return name ? cache.match(name).then((hit) => hit || network(input, init)) : network(input, init);
  };
  try {
    return await load();
  } finally {
    self.fetch = network;
  }
}

export async function dropSnapshot(key) {
  try {
    const cache = await caches.open(CACHE);
    for (const stored of storedKeys(key)) await cache.delete(stored);
  } catch {
    // nothing stored, or no Cache Storage: nothing to drop
  }
}

const filesKey = (key) => `${key}.files`;
const PYODIDE_FILES = ['pyodide.asm.wasm', 'python_stdlib.zip'];
const pyodideKey = (key, name) => `${key}.${name}`;
const storedKeys = (key) => [key, filesKey(key), ...PYODIDE_FILES.map((name) => pyodideKey(key, name))];

// The memory without its pages of zeros (about two fifths of it: the heap's free space), which a second visit
// then need not read back: a little-endian u32 page count, each kept page's number (u32), then those pages. The
// memory's length is in the header too (f64: wasm32 memory reaches 2^32 bytes), its last page may be short.
const PAGE = 4096;
const PAGES_HEAD = 12;

function packPages(bytes) {
  const kept = keptPages(bytes);
  const head = new Uint8Array(PAGES_HEAD + 4 * kept.length);
  const view = new DataView(head.buffer);
  view.setFloat64(0, bytes.length, true);
  view.setUint32(8, kept.length, true);
  kept.forEach((n, i) => view.setUint32(PAGES_HEAD + 4 * i, n, true));
  return new Blob([head, ...kept.map((n) => bytes.subarray(n * PAGE, (n + 1) * PAGE))]);
}

// The numbers of the pages holding a byte other than zero, scanned a word at a time.
function keptPages(bytes) {
  const whole = bytes.length - (bytes.length % 4);
  const words = new Uint32Array(bytes.slice(0, whole).buffer); // a copy: the memory's view may be unaligned
  const kept = [];
  for (let n = 0; n * PAGE < bytes.length; n++) {
    const end = Math.min((n + 1) * PAGE, bytes.length);
    let nonzero = false;
    for (let w = (n * PAGE) / 4; w < Math.min(end, whole) / 4 && !nonzero; w++) nonzero = words[w] !== 0;
    for (let b = Math.max(whole, n * PAGE); b < end && !nonzero; b++) nonzero = bytes[b] !== 0;
    if (nonzero) kept.push(n);
  }
  return kept;
}

function unpackPages(packed) {
  const view = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  const length = view.getFloat64(0, true);
  const count = view.getUint32(8, true);
  const memory = new Uint8Array(length);
  let at = PAGES_HEAD + 4 * count;
  for (let i = 0; i < count;) {
    // a run of consecutive pages in one copy
    const first = view.getUint32(PAGES_HEAD + 4 * i, true);
    let pages = 1;
    while (i + pages < count && view.getUint32(PAGES_HEAD + 4 * (i + pages), true) === first + pages) pages++;
    const start = first * PAGE;
    const size = Math.min(pages * PAGE, length - start);
    if (size <= (pages - 1) * PAGE || at + size > packed.length) throw new Error('the stored snapshot does not match its index');
    memory.set(packed.subarray(at, at + size), start);
    at += size;
    i += pages;
  }
  if (at !== packed.length) throw new Error('the stored snapshot does not match its index');
  return memory;
}

// Files as one blob: a little-endian u32 index length, the index (JSON [[path, size], ...]), then the bytes.
function packFiles(files) {
  const index = new TextEncoder().encode(JSON.stringify(files.map(([path, data]) => [path, data.length])));
  const head = new Uint8Array(4);
  new DataView(head.buffer).setUint32(0, index.length, true);
  return new Blob([head, index, ...files.map(([, data]) => data)]);
}

function unpackFiles(bytes) {
  const length = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  const index = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + length)));
  const files = [];
  let at = 4 + length;
  for (const [path, size] of index) {
    files.push([path, bytes.subarray(at, at + size)]);
    at += size;
  }
  if (at !== bytes.length) throw new Error('the stored files do not match their index');
  return files;
}
