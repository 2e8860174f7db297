'use strict';

// Side-by-side throughput of ringport and MessageChannel, worker -> main thread.
//
//   npm run bench                    JS cases (and the C++ benchmark if already built)
//   node bench/run.js --cpp          also build and run the C++ Google Benchmark suite
//   node bench/run.js --no-cpp       JS cases only
//   node bench/run.js --no-js        C++ only
//
// Environment: RINGPORT_BENCH_SECONDS (per run, default 2), RINGPORT_BENCH_RUNS (median
// of, default 3), RINGPORT_BENCH_SIZES (comma-separated bytes), RINGPORT_BENCH_CAPACITY.
//
// Every run of every case is a fresh process with a fresh worker; runs are interleaved
// (all cases once, then all again) so that a noisy moment does not hit one case only.
// Progress goes to stderr; the markdown table to stdout; everything to bench/results.json.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const THROUGHPUT = path.join(__dirname, 'js', 'throughput.js');
const RESULTS = path.join(__dirname, 'results.json');
const BUILD_DIR = path.join(ROOT, 'build-bench');
const CPP_BENCH = path.join(BUILD_DIR, 'ringport_core_bench');

const SECONDS = Number(process.env.RINGPORT_BENCH_SECONDS) || 2;
const RUNS = Number(process.env.RINGPORT_BENCH_RUNS) || 3;
const SIZES = process.env.RINGPORT_BENCH_SIZES?.split(',').map(Number) ?? [64, 4096, 65536, 1 << 20];
const CAPACITY = Number(process.env.RINGPORT_BENCH_CAPACITY) || 4 << 20;

const CASES = [
  ['ringport', 'ringport `for await`'],
  ['ringport-autorelease', 'ringport `iterate({ autoRelease: true })`'],
  ['ringport-batches', 'ringport `batches()`'],
  ['mc-clone', 'MessageChannel, structured clone'],
  ['mc-transfer', 'MessageChannel, transfer list'],
];
const BASELINES = ['mc-clone', 'mc-transfer'];

function main() {
  const args = new Set(process.argv.slice(2));
  const results = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: os.cpus()[0]?.model.trim(),
    cores: os.availableParallelism?.() ?? os.cpus().length,
    seconds: SECONDS,
    runs: RUNS,
    capacity: CAPACITY,
    loadBefore: os.loadavg()[0], // 1-minute load average before any case ran: others' work
    js: args.has('--no-js') ? null : runJs(),
    cpp: args.has('--no-cpp') ? null : runCpp(args.has('--cpp')),
  };

  writeJson(RESULTS, results);
  if (results.js) console.log(jsTable(results));
  if (results.cpp?.benchmarks) console.log(cppTable(results.cpp));
  else if (results.cpp) console.log(`C++ benchmark skipped: ${results.cpp.skipped}\n`);
  console.error(`results written to ${path.relative(process.cwd(), RESULTS)}`);
}

// --- JS cases ---------------------------------------------------------------------------

function runJs() {
  const cases = SIZES.flatMap((size) => CASES.map(([name, label]) => ({ name, label, size, runs: [] })));
  const total = cases.length * RUNS;
  let done = 0;
  for (let run = 1; run <= RUNS; run++) {
    for (const c of cases) {
      progress(`[${++done}/${total}] run ${run}/${RUNS}  ${formatSize(c.size).padStart(6)}  ${c.label} ...`);
      c.runs.push(runCase(c));
      const last = c.runs.at(-1);
      progress(last.error ? `  failed: ${last.error}` : `  ${formatRate(last.msgPerSec)} msg/s`, true);
    }
  }
  for (const c of cases) {
    const ok = c.runs.filter((r) => !r.error).map((r) => r.msgPerSec);
    c.msgPerSec = ok.length ? median(ok) : null;
    c.bytesPerSec = c.msgPerSec && c.msgPerSec * c.size;
    c.spread = ok.length > 1 ? (Math.max(...ok) - Math.min(...ok)) / c.msgPerSec : 0;
  }
  for (const c of cases) {
    c.ratios = {};
    for (const base of BASELINES) {
      const b = cases.find((x) => x.name === base && x.size === c.size);
      c.ratios[base] = c.msgPerSec && b?.msgPerSec ? c.msgPerSec / b.msgPerSec : null;
    }
  }
  return cases;
}

function runCase({ name, size }) {
  const child = spawnSync(process.execPath, [THROUGHPUT, name, String(size), String(SECONDS)], {
    encoding: 'utf8',
    env: { ...process.env, RINGPORT_BENCH_CAPACITY: String(CAPACITY) },
    timeout: (SECONDS * 10 + 30) * 1000,
  });
  if (child.status === 0) {
    try {
      return JSON.parse(child.stdout.trim().split('\n').at(-1));
    } catch {}
  }
  const lines = child.stderr.trim().split('\n');
  const why = child.error?.message || lines.find((l) => /Error/.test(l)) || lines.at(-1);
  return { error: why || `exit code ${child.status}, signal ${child.signal}` };
}

function jsTable({ js, seconds, runs, capacity, node, cpu, cores, loadBefore }) {
  const lines = [
    '| size | transport | messages/s | MB/s | × clone | × transfer | spread |',
    '|---:|---|---:|---:|---:|---:|---:|',
  ];
  let size;
  for (const c of js) {
    const first = c.size !== size;
    size = c.size;
    const ratio = (r) => (r == null ? '—' : `${r.toFixed(2)}×`);
    const cells = c.msgPerSec
      ? [formatRate(c.msgPerSec), formatMB(c.bytesPerSec), ratio(c.ratios['mc-clone']), ratio(c.ratios['mc-transfer'])]
      : ['failed', '', '', ''];
    const name = c.name.startsWith('ringport') ? `**${c.label}**` : c.label;
    lines.push(`| ${first ? formatSize(c.size) : ''} | ${name} | ${cells.join(' | ')} | ${Math.round(c.spread * 100)}% |`);
  }
  const notes = [
    `Median of ${runs} runs × ${seconds} s, each in a fresh process and worker; MB = 10⁶ bytes.`,
    `Every row is consumed with \`for await\` (MessageChannel through \`events.on(port, 'message')\`).`,
    `× clone / × transfer: messages/s of the row over MessageChannel's in the same run.`,
    `Flow control: ringport channel capacity ${formatSize(capacity)}; MessageChannel limited to the same bytes in flight.`,
    `spread: (max − min) / median of the runs.`,
  ];
  if (loadBefore > 0.5) notes.push(`⚠ Load average ${loadBefore.toFixed(2)} before the run: other processes were competing for the ${cores} cores.`);
  return [
    `### Throughput, worker → main thread (${node}, ${cpu}, ${cores} cores)`,
    '',
    ...lines,
    '',
    ...notes.map((n) => `- ${n}`),
    '- Reproduce: `npm run bench`',
    '',
  ].join('\n');
}

// --- C++ Google Benchmark suite -------------------------------------------------------

function runCpp(build) {
  if (build) {
    progress('building the C++ benchmark (cmake) ...', true);
    const steps = [
      ['-S', ROOT, '-B', BUILD_DIR, '-DRINGPORT_ADDON=OFF', '-DRINGPORT_BENCH=ON', '-DCMAKE_BUILD_TYPE=Release'],
      ['--build', BUILD_DIR, '-j2'],
    ];
    for (const step of steps) {
      const r = spawnSync('cmake', step, { stdio: ['ignore', process.stderr, process.stderr] });
      if (r.status !== 0) return { skipped: `\`cmake ${step.slice(0, 2).join(' ')}\` failed (${r.error?.message ?? `exit code ${r.status}`})` };
    }
  }
  if (!fs.existsSync(CPP_BENCH)) return build ? { skipped: `${CPP_BENCH} was not built` } : null;

  progress(`running ${path.relative(ROOT, CPP_BENCH)} ...`, true);
  const out = path.join(BUILD_DIR, 'core_bench.json');
  const r = spawnSync(
    CPP_BENCH,
    [`--benchmark_out=${out}`, '--benchmark_out_format=json', `--benchmark_repetitions=${RUNS}`, '--benchmark_report_aggregates_only=true'],
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

function cppTable({ benchmarks }) {
  const lines = ['| benchmark | time | items/s | bytes/s |', '|---|---:|---:|---:|'];
  const NS = { ns: 1, us: 1e3, ms: 1e6, s: 1e9 };
  for (const b of benchmarks) {
    const name = `\`${b.run_name ?? b.name}\``;
    if (b.error_occurred) {
      lines.push(`| ${name} | error: ${b.error_message} | | |`);
      continue;
    }
    const items = b.items_per_second ? formatRate(b.items_per_second) : '';
    const bytes = b.bytes_per_second ? `${formatMB(b.bytes_per_second)} MB/s` : '';
    lines.push(`| ${name} | ${formatNs(b.real_time * NS[b.time_unit])} | ${items} | ${bytes} |`);
  }
  return [`### C++ core (Google Benchmark, median of ${RUNS})`, '', ...lines, '', 'Reproduce: `node bench/run.js --cpp`', ''].join('\n');
}

// --- helpers ----------------------------------------------------------------------------

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function formatSize(bytes) {
  if (bytes >= 1 << 20 && bytes % (1 << 20) === 0) return `${bytes / (1 << 20)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

function formatRate(perSecond) {
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)} M`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(perSecond >= 1e5 ? 0 : 1)} k`;
  return perSecond.toFixed(0);
}

function formatNs(ns) {
  const [unit, scale] = ns >= 1e6 ? ['ms', 1e6] : ns >= 1e3 ? ['µs', 1e3] : ['ns', 1];
  return `${(ns / scale).toPrecision(3)} ${unit}`;
}

function formatMB(bytesPerSecond) {
  const mb = bytesPerSecond / 1e6;
  return mb >= 100 ? Math.round(mb).toLocaleString('en-US') : mb.toFixed(1);
}

// Progress on stderr: the step, then its result on the same line.
function progress(text, endLine = false) {
  process.stderr.write(endLine ? `${text}\n` : text);
}

function writeJson(file, value) {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  fs.renameSync(tmp, file);
}

main();
