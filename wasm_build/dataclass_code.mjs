// Records the code every dataclass of the tab's start compiles, with the Pyodide the web app ships (run by
// wasm_build/bytecode.py, add_dataclass_code):
//   node dataclass_code.mjs <pyodide dir> <job.json>
// job.json: {"src": <dir holding the pynode package>, "wheels": [<dependency wheel>, ...], "out": <file to write>}.
// Writes marshal((sys.version, {generated source: marshalled code})), which pynode/browser/dataclass_code.py reads
// (each code unmarshalled when its class is made: the tab's start makes about a third of them).
import { readFileSync } from 'node:fs';
import { dirname, basename } from 'node:path';
import { pathToFileURL } from 'node:url';

const [, , pyodideDir, jobPath] = process.argv;
const { loadPyodide } = await import(pathToFileURL(`${pyodideDir}/pyodide.mjs`).href);
const job = JSON.parse(readFileSync(jobPath, 'utf8'));
const py = await loadPyodide({ indexURL: `${pyodideDir}/` });
const site = py.runPython('import site; site.getsitepackages()[0]');
for (const wheel of job.wheels) py.unpackArchive(new Uint8Array(readFileSync(wheel)), 'wheel', { extractDir: site });
py.FS.mkdirTree('/src');
py.FS.mount(py.FS.filesystems.NODEFS, { root: job.src }, '/src');
py.FS.mkdirTree('/out');
py.FS.mount(py.FS.filesystems.NODEFS, { root: dirname(job.out) }, '/out');
py.globals.set('out', `/out/${basename(job.out)}`);
// the tab's start and all it loads once joined (pynode.browser.app.preload), as the boot snapshot holds it
py.runPython(`
import builtins, dataclasses, importlib, marshal, sys
sys.path.insert(0, '/src')
importlib.invalidate_caches()
codes = {}

def recording_exec(source, globals=None, locals=None, /):
    if isinstance(source, str):
        source = codes.setdefault(source, compile(source, '<string>', 'exec'))
    return builtins.exec(source, globals, locals)

dataclasses.exec = recording_exec
importlib.import_module('pynode.browser.app').preload()
with open(out, 'wb') as f:
    f.write(marshal.dumps((sys.version, {source: marshal.dumps(code) for source, code in codes.items()})))
`);
