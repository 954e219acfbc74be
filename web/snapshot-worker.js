// A throwaway module worker that makes the boot snapshot for this profile's next visit (boot-snapshot.js):
// Pyodide loaded with `_makeSnapshot`, our wheels installed, pynode.browser.app and all it loads imported, its
// memory stored in Cache Storage with our unpacked wheels and Pyodide's wasm and stdlib zip. Started by
// node-host.js once the tab's node is online; posts {ok, bytes | error} and closes.
import { loadPyodide } from './pyodide/pyodide.mjs';
import { fetchManifest, snapshotKey, storeSnapshot } from './boot-snapshot.js';
import { installFiles, unpackWheels } from './wheels.js';

const LOCK_URL = new URL('./py/pyodide-lock.json', import.meta.url).href;
const MANIFEST_URL = new URL('./manifest.json', import.meta.url).href; // the build's files and their sha256

try {
  const files = unpackWheels(LOCK_URL, 'pynode');
  const key = await snapshotKey(MANIFEST_URL, await fetchManifest(MANIFEST_URL));
  const indexURL = new URL('./pyodide/', import.meta.url).href;
  const pyodide = await loadPyodide({
    indexURL,
    lockFileURL: LOCK_URL,
    _makeSnapshot: true,
  });
  installFiles(pyodide, await files);
  pyodide.pyimport('pynode.browser.dataclass_code').install(); // as the tab's worker does (worker.js)
  const app = pyodide.pyimport('pynode.browser.app');
  app.preload(); // and what a tab loads once it joined
  const bytes = pyodide.makeMemorySnapshot();
  await storeSnapshot(key, bytes, await files, indexURL);
  self.postMessage({ ok: true, bytes: bytes.length });
} catch (e) {
  self.postMessage({ ok: false, error: String(e && e.message ? e.message : e) });
}
self.close();
