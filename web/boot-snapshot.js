// A memory snapshot of Pyodide with our wheels installed and pynode.browser.app imported, kept in Cache Storage:
// the next visit of this profile restores it (well under a second) instead of booting Pyodide and importing the
// node again (seconds). Pyodide's snapshot API is marked private (`_makeSnapshot`, `_loadSnapshot`), so every
// step may fail and a failure only means booting the usual way.
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

// The key of the snapshot matching the build whose manifest is at `manifestUrl` (the key itself is never fetched).
export async function snapshotKey(manifestUrl) {
  const response = await fetch(manifestUrl);
  if (!response.ok) throw new Error(`${manifestUrl}: HTTP ${response.status}`);
  const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', await response.arrayBuffer()));
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

// The files of the modules the snapshot holds imported (full paths; none when not stored): a restored tab writes
// them only once online (web/worker.js).
export async function snapshotImports(key) {
  try {
    const stored = await (await caches.open(CACHE)).match(importsKey(key));
    return new Set(stored ? await stored.json() : []);
  } catch {
    return new Set();
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

export async function storeSnapshot(key, bytes, imported, files) {
  const cache = await caches.open(CACHE);
  const ours = [key, importsKey(key), filesKey(key)];
  for (const old of await cache.keys()) if (!ours.includes(old.url)) await cache.delete(old); // other builds'
  await cache.put(ours[1], new Response(JSON.stringify(imported), { headers: { 'Content-Type': 'application/json' } }));
  await cache.put(ours[2], new Response(packFiles(files), { headers: { 'Content-Type': 'application/octet-stream' } }));
  await cache.put(key, new Response(bytes, { headers: { 'Content-Type': 'application/octet-stream' } }));
}

export async function dropSnapshot(key) {
  try {
    const cache = await caches.open(CACHE);
    for (const stored of [key, importsKey(key), filesKey(key)]) await cache.delete(stored);
  } catch {
    // nothing stored, or no Cache Storage: nothing to drop
  }
}

const importsKey = (key) => `${key}.imports.json`;
const filesKey = (key) => `${key}.files`;

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
