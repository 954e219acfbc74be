// Compiles Python modules to bytecode with the Pyodide the web app ships (run by wasm_build/bytecode.py):
//   node compile_pyc.mjs <pyodide dir> <job.json>
// job.json: {"root": <dir>, "files": [[<source, relative to root>, <.pyc to write, relative to root>], ...],
//            "installed": <where the sources live in the tab; default site-packages>}.
// Each .pyc names the module's installed path in the tab, so tracebacks there show its source.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [, , pyodideDir, jobPath] = process.argv;
const { loadPyodide } = await import(pathToFileURL(`${pyodideDir}/pyodide.mjs`).href);
const job = JSON.parse(readFileSync(jobPath, 'utf8'));
const py = await loadPyodide({ indexURL: `${pyodideDir}/` });
py.FS.mkdirTree('/job');
py.FS.mount(py.FS.filesystems.NODEFS, { root: job.root }, '/job');
py.globals.set('files', py.toPy(job.files));
py.globals.set('installed', job.installed || null);
py.runPython(`
import os, py_compile, site
installed = installed or site.getsitepackages()[0]
for src, pyc in files:
    os.makedirs(os.path.dirname('/job/' + pyc), exist_ok=True)
    py_compile.compile('/job/' + src, cfile='/job/' + pyc, dfile=installed + '/' + src, doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
`);
