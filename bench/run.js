'use strict';

// ringport side by side with its peers, in one run. See docs/performance.md: its "How
// we measure" section is the rules every case here follows.
//
//   npm run bench                 throughput (every receive and send path, the peers and
//                                 the native limit), receive cost, round trip, RSS soak,
//                                 fan-out, callgrind counts, chart: ~12 min on this 2-core VM
//   npm run bench -- --quick      0.25 s windows, fewer main -> worker rows, a 200 k-message
//                                 soak, fewer rounds (~4 min)
//   npm run bench -- --cpp        also the C++ Google Benchmark suite (CMake build, ~3 min)
//   npm run bench:cpp             the C++ Google Benchmark suite only (builds it first)
//   npm run bench:chart           bench/chart.svg from bench/results.json
//
// Options:
//   --only=a,b        parts or cases by name (`--list` shows them): throughput and latency
//                     cases, `limit`, `receive-cost`, `rss`, `broadcast`, `callgrind`
//   --sizes=64,4k,1m  message sizes (default 64,4k,64k,1m; 1k is optional)
//   --dir=w2m|m2w|both  directions of the throughput cases. Default: every case worker ->
//                     main, and the KEY_M2W cases main -> worker, to stay under 15 min
//                     (--quick: only the 'bytes' rows and thread-stream main -> worker)
//   --seconds=S       measured window per run (default 1; --quick 0.25)
//   --runs=N          runs per case, median reported (default 3, at least 3)
//   --soak=N          messages in the RSS soak (default 2,000,000; --quick 200,000)
//   --no-throughput --no-receive-cost --no-latency --no-rss --no-broadcast
//   --no-callgrind --no-chart   leave a part out
//   --cpp             also build and run the C++ suite; --no-js: nothing else
//
// Every run is a fresh process with a fresh worker; runs are interleaved (every case
// once, then every case again) so that a noisy moment does not hit one case only.
// Progress goes to stderr, the report (markdown) to stdout, the numbers to
// bench/results.json: each part that ran replaces its own section, parts that did not
// run keep theirs from the previous file (each section has its own date and load).

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { CASES } = require('./js/cases');
const { CASES: LATENCY_CASES } = require('./js/latency');
const { evaluate } = require('./js/targets');
const { render } = require('./report');
const { formatSize, formatRate } = require('./js/format');
const { buildProgram, BUILD_DIR } = require('./js/native');
const { instructionsPerMessage } = require('./js/callgrind');
const { addRatios, MC_WINDOWED, MC_UNWINDOWED } = require('./js/ratios');

const ROOT = path.join(__dirname, '..');
const RESULTS = path.join(__dirname, 'results.json');
const CPP_BENCH = path.join(BUILD_DIR, 'ringport_core_bench');
const DEFAULT_SIZES = [64, 4096, 65536, 1 << 20];
// Main -> worker by default: the paths users reach first, the 'bytes' rows that
// thread-stream (main -> worker only) is compared with, and every peer.
const KEY_M2W = ['for-await', 'autorelease', 'batches', 'reserve-commit', 'bytes', 'bytes-try', ...MC_WINDOWED, ...MC_UNWINDOWED, 'sab-ring', 'ringbuf-js', 'thread-stream'];
// The soak: the quick start's loop at 64 KiB with a receiver that drops each buffer
// (the memory target), and autoRelease's small copied messages.
const SOAK = [
  ['for-await', 65536],
  ['autorelease', 64],
];
// --quick: main -> worker only what a target needs (thread-stream has no other direction).
const QUICK_M2W = ['bytes', 'bytes-try', 'thread-stream'];
const RECEIVE_COST_SIZES = [64, 4096];
// callgrind: the channel layer's push+pop (bench/cpp/callgrind_counts.cc).
const CALLGRIND_SIZES = [8, 64];

function main() {
  const o = parseOptions(process.argv.slice(2));
  const previous = readResults();
  const results = { ...previous, version: 3 };
  const started = Date.now();
  if (o.throughput) results.throughput = section(o, runThroughput);
  if (o.receiveCost) results.receiveCost = section(o, runReceiveCost);
  if (o.latency) results.latency = section(o, runLatency);
  if (o.rss) results.rss = section(o, runSoak);
  if (o.broadcast) results.broadcast = section(o, runBroadcast);
  if (o.callgrind) results.callgrind = section(o, runCallgrind);
  if (o.cpp) results.cpp = section(o, runCpp);
  results.targets = evaluate(results);
  writeJson(RESULTS, results);
  console.log(render(results));
  progress(`results written to ${path.relative(process.cwd(), RESULTS)} (${Math.round((Date.now() - started) / 1000)} s)`);
  if (o.chart) {
    const r = spawnSync(process.execPath, [path.join(__dirname, 'chart.mjs')], { stdio: ['ignore', process.stderr, process.stderr] });
    if (r.status !== 0) process.exitCode = 1;
  }
}

// Parts that are not throughput or latency cases, selectable with --only.
const PARTS = ['limit', 'receive-cost', 'rss', 'broadcast', 'callgrind'];

function parseOptions(argv) {
  const flags = new Set(argv.filter((a) => !a.includes('=')));
  const values = Object.fromEntries(argv.filter((a) => a.includes('=')).map((a) => a.split(/=(.*)/s).slice(0, 2)));
  const known = ['--quick', '--cpp', '--no-js', '--no-throughput', '--no-receive-cost', '--no-latency', '--no-rss', '--no-broadcast', '--no-callgrind', '--no-chart', '--list'];
  const knownValues = ['--only', '--sizes', '--dir', '--seconds', '--runs', '--soak'];
  const unknown = [...flags].filter((f) => !known.includes(f)).concat(Object.keys(values).filter((k) => !knownValues.includes(k)));
  if (unknown.length) fail(`unknown option ${unknown.join(', ')} (see the top of bench/run.js)`);
  if (flags.has('--list')) {
    console.log(`throughput: ${Object.keys(CASES).join(', ')}\nlatency: ${Object.keys(LATENCY_CASES).join(', ')}\nother parts: ${PARTS.join(', ')}`);
    process.exit(0);
  }
  const quick = flags.has('--quick');
  const only = values['--only']?.split(',');
  const all = [...Object.keys(CASES), ...Object.keys(LATENCY_CASES), ...PARTS];
  if (only?.some((n) => !all.includes(n))) fail(`--only: unknown case (known: ${all.join(', ')})`);
  const picked = (names) => names.filter((n) => !only || only.includes(n));
  const js = !flags.has('--no-js');
  const part = (name, flag) => js && !flags.has(flag) && (!only || only.includes(name));
  const dir = values['--dir'];
  if (dir && !['w2m', 'm2w', 'both'].includes(dir)) fail('--dir is w2m, m2w or both');
  const o = {
    quick,
    seconds: Number(values['--seconds'] ?? (quick ? 0.25 : 1)),
    runs: Number(values['--runs'] ?? 3),
    sizes: values['--sizes']?.split(',').map(parseSize) ?? DEFAULT_SIZES,
    // [direction, case names] pairs
    directions: dir === 'w2m' || dir === 'm2w' ? [[dir, null]] : [['w2m', null], ['m2w', dir === 'both' ? null : quick ? QUICK_M2W : KEY_M2W]],
    soak: Number(values['--soak'] ?? (quick ? 200_000 : 2_000_000)),
    receiveCostRounds: quick ? 40 : 160,
    throughputCases: picked(Object.keys(CASES)),
    latencyCases: picked(Object.keys(LATENCY_CASES)),
    limit: part('limit', '--no-throughput'),
    cpp: flags.has('--cpp'),
    js,
  };
  o.throughput = js && !flags.has('--no-throughput') && (o.throughputCases.length > 0 || o.limit);
  o.receiveCost = part('receive-cost', '--no-receive-cost');
  o.latency = js && !flags.has('--no-latency') && o.latencyCases.length > 0;
  o.rss = part('rss', '--no-rss');
  o.broadcast = part('broadcast', '--no-broadcast');
  o.callgrind = part('callgrind', '--no-callgrind');
  o.chart = js && !flags.has('--no-chart');
  if (!(o.seconds > 0) || !(o.runs >= 3) || !(o.soak > 0) || o.sizes.some((s) => !(s > 0))) fail('bad --seconds, --runs (≥ 3), --soak or --sizes');
  return o;
}

// A section of results.json: what ran, on what, under which load, then the numbers.
function section(o, run) {
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: os.cpus()[0]?.model.trim(),
    cores: os.availableParallelism?.() ?? os.cpus().length,
    loadBefore: os.loadavg()[0], // others' work on this machine before the part ran
    options: { seconds: o.seconds, runs: o.runs, quick: o.quick },
  };
  const before = cpuTicks();
  const data = run(o);
  const after = cpuTicks();
  // Cores kept busy by other processes while this part ran (ours excluded).
  const others = after && before && (after.busy - before.busy - (after.ours - before.ours)) / ((after.at - before.at) / 1000) / after.hz;
  return { ...meta, othersCores: others ?? null, ...data };
}

// Busy CPU time of the whole machine and of this process's finished children, in
// clock ticks (Linux /proc; null elsewhere).
function cpuTicks() {
  try {
    const [, user, nice, system, , , irq, softirq, steal] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
    const self = fs.readFileSync('/proc/self/stat', 'utf8');
    const fields = self.slice(self.lastIndexOf(')') + 2).split(' ').map(Number); // fields from 3 (state) on
    const ours = fields[11] + fields[12] + fields[13] + fields[14]; // utime stime cutime cstime
    return { busy: user + nice + system + irq + softirq + steal, ours, at: Date.now(), hz: 100 };
  } catch {
    return null;
  }
}

// --- throughput -------------------------------------------------------------------------

// Every case at every size in each direction, and the native limit at every size (one
// row for both directions: it has no main thread), interleaved run by run.
function runThroughput(o) {
  const cells = [];
  const limit = o.limit ? buildProgram('limit') : null;
  for (const size of o.sizes) {
    if (limit?.binary) cells.push({ name: 'limit', label: 'native limit: C++ copy in, read 1 B per 64 B line', library: 'limit', size, direction: null, runs: [] });
    for (const [direction, names] of o.directions) {
      for (const name of o.throughputCases) {
        if (!CASES[name].directions.includes(direction) || (names && !names.includes(name))) continue;
        cells.push({ name, label: CASES[name].label, library: CASES[name].library, size, direction, runs: [] });
      }
    }
  }
  const schedule = [];
  for (let run = 1; run <= o.runs; run++) for (const cell of cells) schedule.push([run, cell]);
  const eta = etaClock(schedule.length);
  const timeout = (o.seconds * 10 + 60) * 1000;
  schedule.forEach(([run, cell], i) => {
    progress(`[${i + 1}/${schedule.length}] run ${run}/${o.runs}  ${cell.direction ?? 'C++'}  ${formatSize(cell.size).padStart(6)}  ${cell.label} ... `, false);
    const r = cell.library === 'limit' ? runJson(limit.binary, [cell.size, o.seconds], timeout) : runScript('throughput.js', [cell.name, cell.size, cell.direction, o.seconds], timeout);
    cell.runs.push(r);
    progress(`${r.error ? `failed: ${r.error}` : `${formatRate(r.msgPerSec)} msg/s`}  ${eta(i + 1)}`);
  });
  for (const cell of cells) summarize(cell);
  addRatios(cells);
  return { seconds: o.seconds, capacity: 4 << 20, limit: limit?.skipped ?? null, cases: cells };
}

function summarize(cell) {
  const ok = cell.runs.filter((r) => !r.error);
  cell.failed = cell.runs.length - ok.length;
  if (ok.length === 0) return;
  const rates = ok.map((r) => r.msgPerSec);
  cell.msgPerSec = median(rates);
  cell.bytesPerSec = cell.msgPerSec * cell.size;
  cell.spread = (Math.max(...rates) - Math.min(...rates)) / cell.msgPerSec;
  if (cell.library === 'limit') return;
  cell.maxRss = median(ok.map((r) => r.maxRss));
  if (cell.library === 'ringport') cell.fallbacks = Math.max(...ok.map((r) => r.fallbacks));
}

// --- receive cost -----------------------------------------------------------------------

// What a plain `for await` costs per message against a loop that only allocates an
// ArrayBuffer of that size (bench/js/receive-cost.js), median of the runs.
function runReceiveCost(o) {
  const cells = RECEIVE_COST_SIZES.map((size) => ({ size, runs: [] }));
  let done = 0;
  const total = cells.length * o.runs;
  for (let run = 1; run <= o.runs; run++) {
    for (const cell of cells) {
      progress(`[${++done}/${total}] run ${run}/${o.runs}  receive cost  ${formatSize(cell.size).padStart(6)} ... `, false);
      const r = runScript('receive-cost.js', [cell.size, `--rounds=${o.receiveCostRounds}`], 300_000);
      cell.runs.push(r);
      progress(r.error ? `failed: ${r.error}` : `for await ${r.forAwaitNs.toFixed(0)} ns, allocation loop ${r.floorNs.toFixed(0)} ns`);
    }
  }
  for (const cell of cells) {
    const ok = cell.runs.filter((r) => !r.error);
    cell.failed = cell.runs.length - ok.length;
    if (!ok.length) continue;
    for (const key of ['floorNs', 'forAwaitNs', 'batchesNs', 'vsFloor']) cell[key] = median(ok.map((r) => r[key]));
  }
  return { rounds: o.receiveCostRounds, cases: cells };
}

// --- latency ----------------------------------------------------------------------------

function runLatency(o) {
  const seconds = Math.max(o.seconds, 0.5); // enough round trips for a p99
  const cells = o.latencyCases.map((name) => ({ name, label: LATENCY_CASES[name].label, runs: [] }));
  const total = cells.length * o.runs;
  const eta = etaClock(total);
  let done = 0;
  for (let run = 1; run <= o.runs; run++) {
    for (const cell of cells) {
      progress(`[${++done}/${total}] run ${run}/${o.runs}  round trip 8 B  ${cell.label} ... `, false);
      const r = runScript('latency.js', [cell.name, seconds], (seconds * 10 + 60) * 1000);
      cell.runs.push(r);
      progress(`${r.error ? `failed: ${r.error}` : `p50 ${r.p50.toFixed(1)} µs, p99 ${r.p99.toFixed(1)} µs`}  ${eta(done)}`);
    }
  }
  for (const cell of cells) {
    const ok = cell.runs.filter((r) => !r.error);
    cell.failed = cell.runs.length - ok.length;
    if (ok.length) {
      cell.p50 = median(ok.map((r) => r.p50));
      cell.p99 = median(ok.map((r) => r.p99));
    }
  }
  addLatencyRatios(cells);
  return { seconds, size: 8, cases: cells };
}

// p50 and p99 over MessagePort's, and p50 for ringport over the fastest peer's (lower
// is better).
function addLatencyRatios(cells) {
  const mc = cells.find((c) => c.name === 'mc');
  const best = cells.filter((c) => !c.name.startsWith('ringport') && c.p50).sort((a, b) => a.p50 - b.p50)[0];
  for (const cell of cells) {
    cell.vsMc = mc?.p50 && cell.p50 ? cell.p50 / mc.p50 : null;
    cell.p99VsMc = mc?.p99 && cell.p99 ? cell.p99 / mc.p99 : null;
    if (cell.name.startsWith('ringport') && best && cell.p50) {
      cell.vsBest = cell.p50 / best.p50;
      cell.bestPeer = best.name;
    }
  }
}

// --- RSS soak ---------------------------------------------------------------------------

// `soak` messages worker -> main, one run per SOAK case: peak RSS, its growth after
// the first second (warm-up: pools, JIT, heap sizing) and pool fallbacks. The
// receivers read each buffer and drop it.
function runSoak(o) {
  const cells = [];
  SOAK.forEach(([name, size], i) => {
    progress(`[${i + 1}/${SOAK.length}] soak: ${o.soak.toLocaleString('en-US')} messages of ${formatSize(size)}, ${CASES[name].label} ... `, false);
    const r = runScript('throughput.js', [name, size, 'w2m', `--messages=${o.soak}`], 900_000);
    progress(r.error ? `failed: ${r.error}` : `RSS +${(r.rssGrowthAfterWarmup / 2 ** 20).toFixed(1)} MiB after warm-up, ${r.fallbacks} fallbacks`);
    cells.push({ name, label: CASES[name].label, size, messages: o.soak, ...r });
  });
  return { cases: cells };
}

// --- broadcast fan-out ----------------------------------------------------------------------

// One sender in the main thread, 1, 2 and 4 receiver workers: messages/s each receiver
// gets, against MessageChannel with one port per receiver (bench/js/broadcast.js).
const FANOUT_RECEIVERS = [1, 2, 4];
const FANOUT_SIZES = [64, 65536];
function runBroadcast(o) {
  const cells = [];
  for (const size of FANOUT_SIZES) {
    for (const receivers of FANOUT_RECEIVERS) {
      for (const name of ['ringport', 'mc-clone']) cells.push({ name, receivers, size, runs: [] });
    }
  }
  let done = 0;
  const total = cells.length * o.runs;
  for (let run = 1; run <= o.runs; run++) {
    for (const cell of cells) {
      progress(`[${++done}/${total}] run ${run}/${o.runs}  fan-out ${cell.receivers}×  ${formatSize(cell.size).padStart(6)}  ${cell.name} ... `, false);
      const r = runScript('broadcast.js', [cell.name, cell.receivers, cell.size, o.seconds], (o.seconds * 10 + 60) * 1000);
      progress(r.error ? `failed: ${r.error}` : `${formatRate(r.perReceiver)} msg/s per receiver`);
      cell.runs.push(r);
    }
  }
  for (const cell of cells) {
    const ok = cell.runs.filter((r) => !r.error);
    cell.perReceiver = ok.length ? median(ok.map((r) => r.perReceiver)) : null;
    cell.missed = ok.reduce((n, r) => n + r.missed, 0);
    cell.delivered = ok.reduce((n, r) => n + r.delivered, 0);
  }
  for (const cell of cells) {
    const mc = cells.find((c) => c.name === 'mc-clone' && c.size === cell.size && c.receivers === cell.receivers);
    cell.vsMc = cell.perReceiver && mc?.perReceiver ? cell.perReceiver / mc.perReceiver : null;
  }
  return { receivers: FANOUT_RECEIVERS, cases: cells };
}

// --- callgrind -----------------------------------------------------------------------------

// Instructions per message of the channel layer's push+pop (bench/js/callgrind.js).
function runCallgrind() {
  progress('callgrind: building bench/cpp/callgrind_counts.cc ... ', false);
  const program = buildProgram('callgrind_counts');
  if (program.skipped) {
    progress(program.skipped);
    return { skipped: program.skipped };
  }
  const cases = CALLGRIND_SIZES.map((size) => ({ name: 'queue_push_pop', size, ...instructionsPerMessage(program.binary, 'queue_push_pop', size) }));
  progress(cases.map((c) => `${c.size} B: ${c.error ?? `${c.instructions.toFixed(1)} instructions`}`).join(', '));
  return { cases };
}

// --- C++ Google Benchmark suite -----------------------------------------------------------

function runCpp(o) {
  progress('building the C++ benchmark (cmake) ...');
  const steps = [
    ['-S', ROOT, '-B', BUILD_DIR, '-DRINGPORT_ADDON=OFF', '-DRINGPORT_BENCH=ON', '-DCMAKE_BUILD_TYPE=Release'],
    ['--build', BUILD_DIR, '-j2'],
  ];
  for (const step of steps) {
    const r = spawnSync('cmake', step, { stdio: ['ignore', process.stderr, process.stderr] });
    if (r.status !== 0) return { skipped: `\`cmake ${step.slice(0, 2).join(' ')}\` failed (${r.error?.message ?? `exit code ${r.status}`})` };
  }
  progress(`running ${path.relative(ROOT, CPP_BENCH)} ...`);
  const out = path.join(BUILD_DIR, 'core_bench.json');
  const r = spawnSync(
    CPP_BENCH,
    [`--benchmark_out=${out}`, '--benchmark_out_format=json', `--benchmark_repetitions=${o.runs}`, '--benchmark_report_aggregates_only=true'],
    { stdio: ['ignore', process.stderr, process.stderr] }, // its console report doubles as progress
  );
  if (r.status !== 0) return { skipped: `the C++ benchmark failed (${r.error?.message ?? `exit code ${r.status}`})` };
  const report = JSON.parse(fs.readFileSync(out, 'utf8'));
  // Medians of the repetitions; a benchmark that failed has no aggregate, only its error.
  const errors = new Set();
  const benchmarks = report.benchmarks.filter((b) => {
    if (b.error_occurred) return !errors.has(b.name) && errors.add(b.name);
    return b.run_type !== 'aggregate' || b.aggregate_name === 'median';
  });
  return { context: report.context, benchmarks };
}

// --- helpers ----------------------------------------------------------------------------

// One run of a bench/js runner in a fresh process: its last stdout line as JSON, or { error }.
function runScript(script, args, timeout) {
  return runJson(process.execPath, [path.join(__dirname, 'js', script), ...args], timeout);
}

// The same for any program that prints its result as a JSON line.
function runJson(program, args, timeout) {
  const child = spawnSync(program, args.map(String), { encoding: 'utf8', timeout });
  if (child.status === 0) {
    try {
      return JSON.parse(child.stdout.trim().split('\n').at(-1));
    } catch {}
  }
  const lines = (child.stderr ?? '').trim().split('\n');
  const why = child.error?.message || lines.find((l) => /Error/.test(l)) || lines.at(-1);
  return { error: why || `exit code ${child.status}, signal ${child.signal}` };
}

// The previous results. Of a file from before the equal-work rules (version 2) only
// the C++ suite's section still holds: it is measured as it was.
function readResults() {
  try {
    const r = JSON.parse(fs.readFileSync(RESULTS, 'utf8'));
    if (r.version === 2 && r.cpp) return { cpp: r.cpp };
    return r.version === 3 ? r : {};
  } catch {
    return {};
  }
}

function parseSize(text) {
  const m = /^(\d+)([kKmM]?)$/.exec(text);
  if (!m) fail(`bad size ${text}`);
  return Number(m[1]) * { '': 1, k: 1024, m: 1 << 20 }[m[2].toLowerCase()];
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

// "eta 3m12s" after `done` of `total` steps, from the pace so far.
function etaClock(total) {
  const start = Date.now();
  return (done) => {
    const left = Math.round(((Date.now() - start) / done) * (total - done) / 1000);
    return done === total ? '' : `(eta ${Math.floor(left / 60)}m${String(left % 60).padStart(2, '0')}s)`;
  };
}

function progress(text, endLine = true) {
  process.stderr.write(endLine ? `${text}\n` : text);
}

function fail(message) {
  console.error(`bench/run.js: ${message}`);
  process.exit(2);
}

function writeJson(file, value) {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  fs.renameSync(tmp, file);
}

main();
