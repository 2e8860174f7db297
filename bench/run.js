'use strict';

// ringport side by side with its peers, in one run. See docs/performance.md.
//
//   npm run bench                 throughput, round-trip latency, RSS soak, chart: 338 runs of
//                                 ~1.4 s, ~8-9 min on this 2-core machine (11 min while others built)
//   npm run bench -- --quick      the same, shorter windows and a shorter soak (about half)
//   npm run bench:cpp             the C++ Google Benchmark suite only (builds it first)
//   npm run bench:chart           bench/chart.svg from bench/results.json
//
// Options:
//   --only=a,b        throughput and latency cases by name (`--list` shows them); `rss`
//                     selects the soak, `broadcast` the fan-out
//   --sizes=64,4k,1m  message sizes (default 64,1k,4k,64k,1m)
//   --dir=w2m|m2w     one direction only (worker -> main / main -> worker)
//   --seconds=S       measured window per run (default 1; --quick 0.25)
//   --runs=N          runs per case, median reported (default 3, at least 3)
//   --soak=N          messages in the RSS soak (default 2,000,000; --quick 200,000)
//   --no-throughput --no-latency --no-rss --no-broadcast --no-chart   leave a part out
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

const ROOT = path.join(__dirname, '..');
const RESULTS = path.join(__dirname, 'results.json');
const BUILD_DIR = path.join(ROOT, 'build-bench');
const CPP_BENCH = path.join(BUILD_DIR, 'ringport_core_bench');
const DEFAULT_SIZES = [64, 1024, 4096, 65536, 1 << 20];
const RSS_SIZES = [64, 65536]; // copied small messages, pool-backed large ones
const MC = 'mc-clone';

function main() {
  const o = parseOptions(process.argv.slice(2));
  const previous = readResults();
  const results = { ...previous, version: 2 };
  const started = Date.now();
  if (o.throughput) results.throughput = section(o, runThroughput);
  if (o.latency) results.latency = section(o, runLatency);
  if (o.rss) results.rss = section(o, runSoak);
  if (o.broadcast) results.broadcast = section(o, runBroadcast);
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

function parseOptions(argv) {
  const flags = new Set(argv.filter((a) => !a.includes('=')));
  const values = Object.fromEntries(argv.filter((a) => a.includes('=')).map((a) => a.split(/=(.*)/s).slice(0, 2)));
  const known = ['--quick', '--cpp', '--no-js', '--no-throughput', '--no-latency', '--no-rss', '--no-broadcast', '--no-chart', '--list'];
  const knownValues = ['--only', '--sizes', '--dir', '--seconds', '--runs', '--soak'];
  const unknown = [...flags].filter((f) => !known.includes(f)).concat(Object.keys(values).filter((k) => !knownValues.includes(k)));
  if (unknown.length) fail(`unknown option ${unknown.join(', ')} (see the top of bench/run.js)`);
  if (flags.has('--list')) {
    console.log(`throughput: ${Object.keys(CASES).join(', ')}\nlatency: ${Object.keys(LATENCY_CASES).join(', ')}\nsoak: rss\nbroadcast fan-out: broadcast`);
    process.exit(0);
  }
  const quick = flags.has('--quick');
  const only = values['--only']?.split(',');
  const all = [...Object.keys(CASES), ...Object.keys(LATENCY_CASES), 'rss', 'broadcast'];
  if (only?.some((n) => !all.includes(n))) fail(`--only: unknown case (known: ${all.join(', ')})`);
  const picked = (names) => names.filter((n) => !only || only.includes(n));
  const js = !flags.has('--no-js');
  const o = {
    quick,
    seconds: Number(values['--seconds'] ?? (quick ? 0.25 : 1)),
    runs: Number(values['--runs'] ?? 3),
    sizes: values['--sizes']?.split(',').map(parseSize) ?? DEFAULT_SIZES,
    directions: values['--dir'] ? [values['--dir']] : ['w2m', 'm2w'],
    soak: Number(values['--soak'] ?? (quick ? 200_000 : 2_000_000)),
    throughputCases: picked(Object.keys(CASES)),
    latencyCases: picked(Object.keys(LATENCY_CASES)),
    cpp: flags.has('--cpp'),
    js,
  };
  o.throughput = js && !flags.has('--no-throughput') && o.throughputCases.length > 0;
  o.latency = js && !flags.has('--no-latency') && o.latencyCases.length > 0;
  o.rss = js && !flags.has('--no-rss') && (!only || only.includes('rss'));
  o.broadcast = js && !flags.has('--no-broadcast') && (!only || only.includes('broadcast'));
  o.chart = js && !flags.has('--no-chart');
  if (!(o.seconds > 0) || !(o.runs >= 3) || !(o.soak > 0) || o.sizes.some((s) => !(s > 0))) fail('bad --seconds, --runs (≥ 3), --soak or --sizes');
  if (o.directions.some((d) => d !== 'w2m' && d !== 'm2w')) fail('--dir is w2m or m2w');
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

function runThroughput(o) {
  const cells = [];
  for (const size of o.sizes) {
    for (const direction of o.directions) {
      for (const name of o.throughputCases) {
        if (CASES[name].directions.includes(direction)) cells.push({ name, label: CASES[name].label, library: CASES[name].library, size, direction, runs: [] });
      }
    }
  }
  const schedule = [];
  for (let run = 1; run <= o.runs; run++) for (const cell of cells) schedule.push([run, cell]);
  const eta = etaClock(schedule.length);
  schedule.forEach(([run, cell], i) => {
    progress(`[${i + 1}/${schedule.length}] run ${run}/${o.runs}  ${cell.direction}  ${formatSize(cell.size).padStart(6)}  ${cell.label} ... `, false);
    const r = runScript('throughput.js', [cell.name, cell.size, cell.direction, o.seconds], (o.seconds * 10 + 60) * 1000);
    cell.runs.push(r);
    progress(`${r.error ? `failed: ${r.error}` : `${formatRate(r.msgPerSec)} msg/s`}  ${eta(i + 1)}`);
  });
  for (const cell of cells) summarize(cell);
  for (const cell of cells) addRatios(cell, cells);
  return { seconds: o.seconds, capacity: 4 << 20, cases: cells };
}

function summarize(cell) {
  const ok = cell.runs.filter((r) => !r.error);
  cell.failed = cell.runs.length - ok.length;
  if (ok.length === 0) return;
  const rates = ok.map((r) => r.msgPerSec);
  cell.msgPerSec = median(rates);
  cell.bytesPerSec = cell.msgPerSec * cell.size;
  cell.spread = (Math.max(...rates) - Math.min(...rates)) / cell.msgPerSec;
  cell.maxRss = median(ok.map((r) => r.maxRss));
  if (cell.library === 'ringport') cell.fallbacks = Math.max(...ok.map((r) => r.fallbacks));
}

// Against MessageChannel (structured clone) and the fastest peer of the same size,
// direction and run.
function addRatios(cell, cells) {
  if (!cell.msgPerSec) return;
  const same = cells.filter((c) => c.size === cell.size && c.direction === cell.direction && c.msgPerSec);
  const mc = same.find((c) => c.name === MC);
  const best = same.filter((c) => c.library === 'peer').sort((a, b) => b.msgPerSec - a.msgPerSec)[0];
  cell.vsMc = mc ? cell.msgPerSec / mc.msgPerSec : null;
  if (cell.library === 'ringport' && best) {
    cell.vsBest = cell.msgPerSec / best.msgPerSec;
    cell.bestPeer = best.name;
  }
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

// p50 over MessagePort's, and for ringport over the fastest peer's (lower is better).
function addLatencyRatios(cells) {
  const mc = cells.find((c) => c.name === 'mc');
  const best = cells.filter((c) => !c.name.startsWith('ringport') && c.p50).sort((a, b) => a.p50 - b.p50)[0];
  for (const cell of cells) {
    cell.vsMc = mc?.p50 && cell.p50 ? cell.p50 / mc.p50 : null;
    if (cell.name.startsWith('ringport') && best && cell.p50) {
      cell.vsBest = cell.p50 / best.p50;
      cell.bestPeer = best.name;
    }
  }
}

// --- RSS soak ---------------------------------------------------------------------------

// `soak` messages through iterate({ autoRelease: true }), worker -> main, once per size:
// the figures are peak RSS, its growth after the first message, and pool fallbacks.
function runSoak(o) {
  const cells = [];
  RSS_SIZES.forEach((size, i) => {
    progress(`[${i + 1}/${RSS_SIZES.length}] soak: ${o.soak.toLocaleString('en-US')} messages of ${formatSize(size)}, autoRelease ... `, false);
    const r = runScript('throughput.js', ['autorelease', size, 'w2m', `--messages=${o.soak}`], 600_000);
    progress(r.error ? `failed: ${r.error}` : `RSS +${(r.rssGrowth / 2 ** 20).toFixed(1)} MiB, ${r.fallbacks} fallbacks`);
    cells.push({ size, messages: o.soak, ...r });
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
      for (const name of ['ringport', MC]) cells.push({ name, receivers, size, runs: [] });
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
    const mc = cells.find((c) => c.name === MC && c.size === cell.size && c.receivers === cell.receivers);
    cell.vsMc = cell.perReceiver && mc?.perReceiver ? cell.perReceiver / mc.perReceiver : null;
  }
  return { receivers: FANOUT_RECEIVERS, cases: cells };
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

// One run in a fresh process: its last stdout line as JSON, or { error }.
function runScript(script, args, timeout) {
  const child = spawnSync(process.execPath, [path.join(__dirname, 'js', script), ...args.map(String)], { encoding: 'utf8', timeout });
  if (child.status === 0) {
    try {
      return JSON.parse(child.stdout.trim().split('\n').at(-1));
    } catch {}
  }
  const lines = (child.stderr ?? '').trim().split('\n');
  const why = child.error?.message || lines.find((l) => /Error/.test(l)) || lines.at(-1);
  return { error: why || `exit code ${child.status}, signal ${child.signal}` };
}

function readResults() {
  try {
    const r = JSON.parse(fs.readFileSync(RESULTS, 'utf8'));
    return r.version === 2 ? r : {};
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
