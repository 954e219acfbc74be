// A tiny promise-based key/value store on IndexedDB, as `self.hsStore` (pynode/platform/browser.py: the node's key
// seed, the tab's replicated state). Imported by the node's worker and by bench/state_tab.py's worker.
const DB = 'hyperspace';
const STORE = 'kv';
function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}
async function tx(mode, fn) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const t = db.transaction(STORE, mode);
    const req = fn(t.objectStore(STORE));
    t.oncomplete = () => { db.close(); resolve(req.result); };
    t.onerror = (e) => { db.close(); reject(e.target.error || t.error); };
  });
}
self.hsStore = {
  get: (key) => tx('readonly', (s) => s.get(key)),
  add: (key, value) => tx('readwrite', (s) => s.add(value, key)), // never overwrites: rejects when the key exists
  // the tab's own replicated state (pynode/browser/state.py): several keys in one transaction, all or none
  getMany: (keys) => tx('readonly', (s) => { const reqs = keys.map((k) => s.get(k)); return { get result() { return reqs.map((r) => r.result); } }; }),
  putMany: (entries) => tx('readwrite', (s) => { let req = null; for (const [k, v] of entries) req = s.put(v, k); return req || {}; }),
};
