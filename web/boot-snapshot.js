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

export async function storeSnapshot(key, bytes) {
  const cache = await caches.open(CACHE);
  for (const old of await cache.keys()) if (old.url !== key) await cache.delete(old); // other builds' snapshots
  await cache.put(key, new Response(bytes, { headers: { 'Content-Type': 'application/octet-stream' } }));
}

export async function dropSnapshot(key) {
  try {
    await (await caches.open(CACHE)).delete(key);
  } catch {
    // nothing stored, or no Cache Storage: nothing to drop
  }
}
