// Our wheels (pynode and the pure-Python packages it depends on), unpacked by JS while Pyodide boots and written
// into site-packages once it has: Pyodide's loadPackage unpacks in Python after the boot (importing zipfile,
// tarfile, shutil, tempfile and importlib.metadata first), which took seconds of the tab's start on top of the boot.
// Integrity as loadPackage enforces it: each wheel's sha256 must equal the one in our lock file.

const EOCD_SIG = 0x06054b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const EOCD_MIN = 22;
const EOCD_SEARCH = EOCD_MIN + 0xffff; // the end record sits within its maximal comment length of the end
const STORED = 0;
const DEFLATED = 8;

// The files of every wheel `root` needs, as [path inside site-packages, bytes]: fetched, checked, inflated.
// `concurrent`: inflate a wheel's files all at once (on a thread of its own), not one at a time.
export async function unpackWheels(lockUrl, root, concurrent = false) {
  const lock = await (await fetch(lockUrl)).json();
  const top = lock.packages[root];
  if (!top) throw new Error(`${root} is not in ${lockUrl}`);
  const entries = [top, ...top.depends.map((d) => lock.packages[d])];
  const wheels = await Promise.all(entries.map(async (entry) => {
    const bytes = await fetchChecked(new URL(entry.file_name, lockUrl), entry.sha256, entry.file_name, 'the lock file');
    return unzip(bytes, entry.file_name, concurrent);
  }));
  return wheels.flat();
}

// The files the tab's start reads, as [path inside site-packages, bytes]: the build's stored zip of them (its
// manifest's `start`, wasm_build/start_files.py), fetched and checked against the sha256 the manifest gives it.
// Small enough for the thread Pyodide boots on: a first visit fetches the wheels themselves once it is online.
export async function unpackStart(url, sha256) {
  return unzip(await fetchChecked(url, sha256, url, 'the manifest'), url, true);
}

// The bytes at `url`, which must hash to `sha256` (as `source` says: named in the error, with `name`).
async function fetchChecked(url, sha256, name, source) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const digest = await sha256Hex(bytes);
  if (digest !== sha256) throw new Error(`${name}: sha256 ${digest}, ${source} says ${sha256}`);
  return bytes;
}

// unpackWheels on a thread of its own (unpack-worker.js), or on this one where a worker cannot start workers or
// that one does not load. A wheel that fails its check fails this as it fails unpackWheels.
export function unpackWheelsAside(lockUrl, root) {
  if (typeof Worker === 'undefined') return unpackWheels(lockUrl, root);
  return new Promise((resolve, reject) => {
    const aside = new Worker(new URL('./unpack-worker.js', import.meta.url), { type: 'module' });
    aside.onmessage = ({ data }) => {
      aside.terminate();
      if (data.error) reject(new Error(data.error));
      else resolve(data.files);
    };
    aside.onerror = () => {
      aside.terminate();
      resolve(unpackWheels(lockUrl, root));
    };
    aside.postMessage({ lockUrl, root });
  });
}

// Write unpacked files under Pyodide's site-packages and make the importer see them.
export function installFiles(pyodide, files) {
  const site = sitePackages(pyodide);
  const dirs = new Set(files.map(([path]) => `${site}/${path}`.replace(/\/[^/]*$/, '')));
  for (const dir of dirs) pyodide.FS.mkdirTree(dir);
  writeFiles(pyodide, site, files);
  // Forget the directory listing the importer cached for site-packages. Not importlib.invalidate_caches(): it also
  // drops the stdlib zip's index, which then takes a quarter of a second to read again. Python's objects called
  // through proxies, not runPython: that compiles its source first, slow in a freshly restored interpreter.
  const cached = pyodide.pyimport('sys').path_importer_cache;
  if (cached.has(site)) cached.delete(site);
  cached.destroy();
}

function sitePackages(pyodide) {
  const dirs = pyodide.pyimport('site').getsitepackages();
  try {
    return dirs.get(0);
  } finally {
    dirs.destroy();
  }
}

// Each file made with its bytes in one call (the file system keeps our array, which nothing writes to): under a
// third of what writeFile's open, write and close took for the ~770 files. writeFile where it exists already.
function writeFiles(pyodide, site, files) {
  const { FS } = pyodide;
  for (const [path, data] of files) {
    const at = path.lastIndexOf('/');
    const dir = at < 0 ? site : `${site}/${path.slice(0, at)}`;
    try {
      FS.createDataFile(dir, path.slice(at + 1), data, true, true, true);
    } catch {
      FS.writeFile(`${site}/${path}`, data);
    }
  }
}

async function sha256Hex(bytes) {
  const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(hash, (b) => b.toString(16).padStart(2, '0')).join('');
}

// A wheel is a zip: its central directory lists each file's name, method, sizes and where its local header is.
async function unzip(bytes, name, concurrent) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let end = -1;
  for (let i = bytes.length - EOCD_MIN; i >= Math.max(0, bytes.length - EOCD_SEARCH); i--) {
    if (view.getUint32(i, true) === EOCD_SIG) { end = i; break; }
  }
  if (end < 0) throw new Error(`${name}: not a zip file`);
  const count = view.getUint16(end + 10, true);
  let at = view.getUint32(end + 16, true);
  const text = new TextDecoder('utf-8', { fatal: true });
  const files = [];
  for (let n = 0; n < count; n++) {
    if (at + 46 > bytes.length || view.getUint32(at, true) !== CENTRAL_SIG) throw new Error(`${name}: bad central directory`);
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    const packed = view.getUint32(at + 20, true);
    const size = view.getUint32(at + 24, true);
    const nameLen = view.getUint16(at + 28, true);
    const local = view.getUint32(at + 42, true);
    const path = text.decode(bytes.subarray(at + 46, at + 46 + nameLen));
    at += 46 + nameLen + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
    if (path.endsWith('/')) continue; // a directory: mkdirTree makes it
    if (flags & 1) throw new Error(`${name}: ${path} is encrypted`);
    if (path.startsWith('/') || path.split('/').some((p) => p === '..' || p === '')) throw new Error(`${name}: bad path ${path}`);
    if (/^[^/]+\.data\//.test(path)) throw new Error(`${name}: ${path}: wheel data directories are not supported`);
    if (local + 30 > bytes.length || view.getUint32(local, true) !== LOCAL_SIG) throw new Error(`${name}: bad local header for ${path}`);
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    if (start + packed > bytes.length) throw new Error(`${name}: ${path} runs past the end`);
    const data = inflate(bytes.subarray(start, start + packed), method, size, `${name}: ${path}`);
    data.catch(() => {}); // awaited below
    // one at a time where Pyodide boots on this thread (its steps come between), all at once on a thread of their
    // own (a third less time in Node)
    files.push([path, concurrent ? data : await data]);
  }
  return Promise.all(files.map(async ([path, data]) => [path, await data]));
}

async function inflate(packed, method, size, what) {
  if (method === STORED) {
    if (packed.length !== size) throw new Error(`${what}: ${packed.length} bytes, the zip says ${size}`);
    return packed;
  }
  if (method !== DEFLATED) throw new Error(`${what}: compression method ${method} is not supported`);
  // straight into the stream and out into a buffer of the promised size (a Blob per file costs a round trip
  // to the browser process each)
  const stream = new DecompressionStream('deflate-raw');
  const writer = stream.writable.getWriter();
  writer.write(packed).catch(() => {}); // a corrupt stream fails the read below
  writer.close().catch(() => {});
  const data = new Uint8Array(size);
  let filled = 0;
  const reader = stream.readable.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (filled + value.length > size) throw new Error(`${what}: more than the ${size} bytes the zip says`);
    data.set(value, filled);
    filled += value.length;
  }
  if (filled !== size) throw new Error(`${what}: ${filled} bytes, the zip says ${size}`);
  return data;
}
