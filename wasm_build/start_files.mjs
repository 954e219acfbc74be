// Lists the files of our wheels that a tab's start reads, with the Pyodide the web app ships (run by
// wasm_build/start_files.py):
//   node start_files.mjs <pyodide dir> <job.json>
// job.json: {"wheels": [<built wheel>, ...], "modules": [<module the start imports>, ...], "out": <file to write>}.
// Installs the wheels, does what web/worker.js does before the join (the recorded dataclass code installed, then
// each of `modules` imported) and writes the paths, relative to site-packages, of every file that took: each
// imported module's source and bytecode (the importer finds a module by its source, then reads the bytecode) and
// every other file opened under site-packages meanwhile.
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [, , pyodideDir, jobPath] = process.argv;
const { loadPyodide } = await import(pathToFileURL(`${pyodideDir}/pyodide.mjs`).href);
const job = JSON.parse(readFileSync(jobPath, 'utf8'));
const py = await loadPyodide({ indexURL: `${pyodideDir}/` });
const site = py.runPython('import site; site.getsitepackages()[0]');
for (const wheel of job.wheels) py.unpackArchive(new Uint8Array(readFileSync(wheel)), 'wheel', { extractDir: site });
const opened = new Set();
const open = py.FS.open;
py.FS.open = (path, ...rest) => {
  if (typeof path === 'string' && path.startsWith(`${site}/`)) opened.add(path);
  return open(path, ...rest);
};
py.globals.set('modules', py.toPy(job.modules));
const imported = py.runPython(`
import importlib, json, sys
importlib.invalidate_caches()
importlib.import_module('pynode.browser.dataclass_code').install()
for name in modules:
    importlib.import_module(name)
json.dumps([f for m in list(sys.modules.values()) for f in (getattr(m, '__file__', None), getattr(m, '__cached__', None)) if f])
`);
py.FS.open = open;
const isFile = (f) => f.startsWith(`${site}/`) && py.FS.isFile(py.FS.stat(f).mode); // directories are opened too
const files = new Set([...JSON.parse(imported), ...opened].filter(isFile));
writeFileSync(job.out, JSON.stringify([...files].map((f) => f.slice(site.length + 1)).sort()));
