// A module worker that fetches, checks and inflates our wheels (wheels.js) on a thread of its own, so that the
// node's worker keeps its thread for Pyodide's boot: sharing it, the unpacking took seconds and often ended after
// the boot. Asked once with {lockUrl, root}; posts {files} (their buffers transferred) or {error}, then closes.
import { unpackWheels } from './wheels.js';

self.onmessage = async ({ data: { lockUrl, root } }) => {
  try {
    const files = await unpackWheels(lockUrl, root, true);
    self.postMessage({ files }, [...new Set(files.map(([, data]) => data.buffer))]);
  } catch (e) {
    self.postMessage({ error: String(e && e.message ? e.message : e) });
  }
  self.close();
};
