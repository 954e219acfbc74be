// bench/train_profile.py's tab side: a module worker that runs one train graph in onnxruntime-web (wasm, one
// thread, the session options of pynode/platform/browser.py): a warm-up, then with the runtime's profiler on for
// `seconds` (at most `most` runs, after `skip`), and ends the profile (onnxruntime-web prints it on the console, where the bench reads it).
// Then, without the profiler, the step's time (`plain_ms`: the fastest of `plain` = [windows, seconds]).
// With `windows` instead (bench/train_graphs.py): no profiler, `seconds` split into that many windows, and the
// fastest window's time per run, on `threads` threads (default 1; the reply says how many ran: onnxruntime-web
// runs one where the page is not cross-origin isolated).
import * as ort from './ort/ort.wasm.min.mjs';

const TYPED = { float32: Float32Array, int64: BigInt64Array };
const WARMUP_WINDOW_S = 0.5;
const WARMUP_PATIENCE = 3; // windows in a row without a run faster by WARMUP_GAIN end the warm-up
const WARMUP_GAIN = 1.05;
const bytes = async (name) => (await fetch(`./input/${name}`)).arrayBuffer();

self.onmessage = async ({ data: { max_warmup_s: maxWarmupS, seconds, skip, most, plain: plainWindows, windows, threads = 1 } }) => {
  try {
    ort.env.wasm.wasmPaths = new URL('./ort/', import.meta.url).href;
    ort.env.wasm.numThreads = threads;
    ort.env.wasm.proxy = false;
    const feeds = {};
    for (const [name, [dtype, shape]] of Object.entries(await (await fetch('./input/feeds.json')).json())) {
      feeds[name] = new ort.Tensor(dtype, new TYPED[dtype](await bytes(`${name}.bin`)), shape);
    }
    const graph = new Uint8Array(await bytes('graph.onnx'));
    const options = { executionProviders: ['wasm'], graphOptimizationLevel: 'basic', executionMode: 'sequential', logSeverityLevel: 3 };
    const runFor = async (session, s, most = Infinity) => {
      let runs = 0;
      for (const end = performance.now() + 1000 * s; performance.now() < end && runs < most; runs++) await session.run(feeds);
      return runs;
    };
    // V8 first runs the wasm through its baseline compiler and tiers hot functions up in the background, later
    // on a loaded machine: a session without the profiler runs until a run stops getting faster (as
    // pynode/train/speed.py's warm-up), then the profiled one measures (its first runs left out)
    const plain = await ort.InferenceSession.create(graph, options);
    let warmup = 0;
    for (let best = Infinity, calm = 0, end = performance.now() + 1000 * maxWarmupS; calm < WARMUP_PATIENCE && performance.now() < end;) {
      const t0 = performance.now();
      const runs = await runFor(plain, WARMUP_WINDOW_S);
      const perRun = (performance.now() - t0) / runs;
      calm = perRun * WARMUP_GAIN < best ? 0 : calm + 1;
      best = Math.min(best, perRun);
      warmup += runs;
    }
    const fastestWindowMs = async (n, s) => { // the plain session's time per run in the fastest of n windows in s
      let bestMs = Infinity;
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        const runs = await runFor(plain, s / n);
        bestMs = Math.min(bestMs, (performance.now() - t0) / runs);
      }
      return bestMs;
    };
    if (windows) {
      const bestMs = await fastestWindowMs(windows, seconds);
      await plain.release();
      self.postMessage({ warmup_runs: warmup, best_ms: bestMs, threads: ort.env.wasm.numThreads });
      return;
    }
    const session = await ort.InferenceSession.create(graph, { ...options, enableProfiling: true });
    const skipped = await runFor(session, Infinity, skip);
    const measured = await runFor(session, seconds, most);
    session.endProfiling();
    // the step without the profiler, after the profiled runs (V8 has tiered the wasm up by then)
    const plainMs = await fastestWindowMs(...plainWindows);
    await plain.release();
    self.postMessage({ warmup_runs: warmup, skipped_runs: skipped, runs: measured, plain_ms: plainMs });
  } catch (e) {
    self.postMessage({ error: String(e && e.message ? e.message : e) });
  }
};
