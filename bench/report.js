'use strict';

// The markdown report of a bench/results.json (bench/run.js prints it at the end).
//
//   node bench/report.js [results.json]               prints it again
//   node bench/report.js --summary [results.json]     the README's table: each receive
//                                                     path's × MC per size, worker → main

const fs = require('node:fs');
const path = require('node:path');
const { formatSize, formatRate, formatMB, formatNs, formatRatio } = require('./js/format');
const { SHORT, cppTime, evaluate } = require('./js/targets');

const DIRECTIONS = { w2m: 'worker → main thread', m2w: 'main thread → worker' };
const MIB = 2 ** 20;

function render(results) {
  return [
    results.throughput && throughputTables(results.throughput),
    results.receiveCost && receiveCostTable(results.receiveCost),
    results.latency && latencyTable(results.latency),
    results.rss && soakTable(results.rss),
    results.broadcast && fanoutTable(results.broadcast),
    results.callgrind && callgrindTable(results.callgrind),
    results.cpp && cppTable(results.cpp),
    targetsTable(evaluate(results)),
  ]
    .filter(Boolean)
    .join('\n');
}

function fanoutTable(b) {
  if (!b.cases) return `### Broadcast fan-out\n\nNot measured: ${b.skipped}.\n`;
  const out = [`### Broadcast fan-out, main thread → receiver workers (${machine(b)})`, ''];
  out.push('| size | receivers | ringport Broadcast, msg/s per receiver | MessageChannel (a port each), msg/s per receiver | × MC | missed (lagged) |');
  out.push('|---:|---:|---:|---:|---:|---:|');
  for (const c of b.cases.filter((x) => x.name === 'ringport')) {
    const mc = b.cases.find((x) => x.name !== 'ringport' && x.size === c.size && x.receivers === c.receivers);
    const missed = c.delivered + c.missed ? `${((100 * c.missed) / (c.delivered + c.missed)).toFixed(1)}%` : '';
    out.push(`| ${formatSize(c.size)} | ${c.receivers} | ${c.perReceiver ? formatRate(c.perReceiver) : 'failed'} | ${mc?.perReceiver ? formatRate(mc.perReceiver) : 'failed'} | ${c.vsMc ? formatRatio(c.vsMc) : ''} | ${missed} |`);
  }
  out.push('', `Median of ${b.options.runs} runs × ${b.options.seconds} s. The broadcast sender never waits: receivers read with \`batches()\` (64 B) or \`iterate({ autoRelease: true })\` and, when they fall ${formatSize(4 << 20)} behind, skip ahead (missed). MessageChannel: the sender posts each message to every port, with at most min(64 MiB, 4096 messages) in flight per receiver. Every receiver reads one byte per 64-byte line of each message.`, '');
  return out.join('\n');
}

function throughputTables(t) {
  const out = [];
  const limits = t.cases.filter((c) => c.library === 'limit');
  for (const direction of Object.keys(DIRECTIONS)) {
    const cases = t.cases.filter((c) => c.direction === direction);
    if (!cases.length) continue;
    out.push(`### Throughput, ${DIRECTIONS[direction]} (${machine(t)})`, '');
    out.push('| size | transport | messages/s | MB/s | × MC | × MC, no window | × best peer | × limit | spread | peak RSS | fallbacks |');
    out.push('|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|');
    for (const size of [...new Set(cases.map((c) => c.size))]) {
      const rows = [...limits.filter((c) => c.size === size), ...cases.filter((c) => c.size === size)];
      rows.forEach((c, i) => out.push(`| ${i === 0 ? formatSize(size) : ''} | ${transport(c)} | ${throughputCells(c).join(' | ')} |`));
    }
    out.push('');
  }
  if (!out.length && limits.length) {
    out.push(`### Native limit (${machine(t)})`, '', '| size | transport | messages/s | MB/s | spread |', '|---:|---|---:|---:|---:|');
    for (const c of limits) out.push(`| ${formatSize(c.size)} | ${transport(c)} | ${throughputCells(c).filter((cell, i) => [0, 1, 6].includes(i)).join(' | ')} |`);
    out.push('');
  }
  out.push(
    ...[
      `Median of ${t.options.runs} runs × ${t.seconds} s (after a 0.2 s warm-up), each in a fresh process and worker; MB = 10⁶ bytes.`,
      'Every sender produces each message from a source buffer and every receiver reads one byte of each 64-byte line of it (docs/performance.md, "How we measure").',
      '× MC: over the better of MessageChannel clone and transfer (same size, direction and run), each with at most min(64 MiB, 4096 messages) in flight; × MC, no window: over the better of the two posting freely; × best peer: over the fastest peer (in parentheses); × limit: the fraction of the native limit at that size (C++, two spinning threads: copy in, read every line; the best of three ring sizes).',
      `Buffering: ${formatSize(t.capacity)} for ringport, the rings and thread-stream.${t.limit ? ` Native limit not measured: ${t.limit}.` : ''}`,
      'spread: (max − min) / median of the runs. peak RSS: the whole process (both threads), median of the runs. fallbacks: pool misses (heap blocks), most of any run.',
      load(t),
    ].map((n) => `- ${n}`),
    '',
  );
  return out.join('\n');
}

function transport(c) {
  if (c.library === 'limit') return `_${c.label}_`;
  return c.library === 'ringport' ? `**${c.label}**` : c.label;
}

function throughputCells(c) {
  if (!c.msgPerSec) return ['failed', '', '', '', '', '', '', '', ''];
  const ours = c.library === 'ringport';
  const peer = c.library === 'peer';
  return [
    formatRate(c.msgPerSec),
    formatMB(c.bytesPerSec),
    c.library === 'limit' ? '' : formatRatio(c.vsMc),
    c.library === 'limit' ? '' : formatRatio(c.vsMcFree),
    ours && c.vsBest ? `${formatRatio(c.vsBest)} (${SHORT[c.bestPeer]})` : '',
    ours || peer ? formatRatio(c.vsLimit) : '',
    `${Math.round(c.spread * 100)}%`,
    c.maxRss ? `${Math.round(c.maxRss / MIB)} MiB` : '',
    ours ? c.fallbacks.toLocaleString('en-US') : '',
  ];
}

function receiveCostTable(r) {
  const lines = [
    `### Receive cost per message, one thread (${machine(r)})`,
    '',
    '| size | plain `for await` | a loop that only allocates an ArrayBuffer | ratio | `batches()` |',
    '|---:|---:|---:|---:|---:|',
  ];
  for (const c of r.cases) {
    const cells = c.vsFloor ? [formatNs(c.forAwaitNs), formatNs(c.floorNs), formatRatio(c.vsFloor), formatNs(c.batchesNs)] : ['failed', '', '', ''];
    lines.push(`| ${formatSize(c.size)} | ${cells.join(' | ')} |`);
  }
  lines.push('', `- bench/js/receive-cost.js: a channel filled by \`trySend()\` (untimed), then drained; median ns per message of the last three quarters of ${r.rounds} rounds, median of ${r.options.runs} runs.`, `- ${load(r)}`, '');
  return lines.join('\n');
}

function latencyTable(l) {
  const lines = [
    `### Round trip, ${l.size} B, main thread ↔ worker (${machine(l)})`,
    '',
    '| transport | p50 | p99 | p50 × MessagePort | p99 × MessagePort | p50 × best peer |',
    '|---|---:|---:|---:|---:|---|',
  ];
  for (const c of l.cases) {
    const best = c.vsBest ? `${formatRatio(c.vsBest)} (${SHORT[c.bestPeer]})` : '';
    const cells = c.p50 ? [`${c.p50.toFixed(1)} µs`, `${c.p99.toFixed(1)} µs`, formatRatio(c.vsMc), formatRatio(c.p99VsMc), best] : ['failed', '', '', '', ''];
    lines.push(`| ${c.name.startsWith('ringport') ? `**${c.label}**` : c.label} | ${cells.join(' | ')} |`);
  }
  lines.push(
    '',
    `- Median over ${l.options.runs} runs of each run's percentiles; each run times every round trip for ${l.seconds} s after a 0.2 s warm-up. Ratios: lower is faster.`,
    '- ringport receivers poll up to `spin` µs before they sleep (default 50, backing off while polls catch nothing); `spin 0` sleeps at once. `recvSync`/`sendSync` poll up to 50 µs in native code, then sleep on a futex. The spinning plain-JS ring polls 2,000 times before it sleeps.',
    `- ${load(l)}`,
    '',
  );
  return lines.join('\n');
}

function soakTable(r) {
  const lines = [
    `### Soak, worker → main thread (${machine(r)})`,
    '',
    '| receiver | size | messages | messages/s | peak RSS | RSS growth after warm-up | fallbacks |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const c of r.cases) {
    const cells = c.error
      ? [`failed: ${c.error}`, '', '', '']
      : [formatRate(c.msgPerSec), `${(c.maxRss / MIB).toFixed(0)} MiB`, `+${(c.rssGrowthAfterWarmup / MIB).toFixed(1)} MiB`, c.fallbacks.toLocaleString('en-US')];
    lines.push(`| ${c.label} | ${formatSize(c.size)} | ${c.messages.toLocaleString('en-US')} | ${cells.join(' | ')} |`);
  }
  lines.push(
    '',
    '- One run per row; the receiver reads each message and drops it. RSS growth after warm-up: peak RSS of the process minus its RSS one second after the first message arrived.',
    `- ${load(r)}`,
    '',
  );
  return lines.join('\n');
}

function callgrindTable(c) {
  if (!c.cases) return `### C++ channel layer, instructions per message\n\nNot measured: ${c.skipped}\n`;
  const lines = [`### C++ channel layer, instructions per message under callgrind (${machine(c)})`, '', '| loop | size | instructions per message |', '|---|---:|---:|'];
  for (const k of c.cases) lines.push(`| \`${k.name}\` | ${formatSize(k.size)} | ${k.error ? `failed: ${k.error}` : k.instructions.toFixed(1)} |`);
  lines.push('', '- bench/cpp/callgrind_counts.cc, 200,000 messages, compiled with CMake\'s Release flags; counts repeat to the instruction from run to run.', '');
  return lines.join('\n');
}

function cppTable(cpp) {
  if (!cpp.benchmarks) return `### C++ core\n\nNot run: ${cpp.skipped}\n`;
  const lines = ['| benchmark | time | items/s | bytes/s | per record |', '|---|---:|---:|---:|---:|'];
  for (const b of cpp.benchmarks) {
    const name = `\`${b.run_name ?? b.name}\``;
    if (b.error_occurred) {
      lines.push(`| ${name} | error: ${b.error_message} | | | |`);
      continue;
    }
    const items = b.items_per_second ? formatRate(b.items_per_second) : '';
    const bytes = b.bytes_per_second ? `${formatMB(b.bytes_per_second)} MB/s` : '';
    const perRecord = b.per_record ? formatNs(b.per_record * 1e9) : '';
    lines.push(`| ${name} | ${formatNs(cppTime(b))} | ${items} | ${bytes} | ${perRecord} |`);
  }
  return [
    `### C++ core (Google Benchmark, median of ${cpp.options.runs}; ${machine(cpp)})`,
    '',
    ...lines,
    '',
    '- time: CPU time per iteration on one thread; wall-clock time for the two-thread cases (`real_time`), 64 Ki records per iteration.',
    `- ${load(cpp)}`, '- Reproduce: `npm run bench:cpp`', ''].join('\n');
}

function targetsTable(targets) {
  const mark = (t) => (t.met === null ? '—' : t.met ? 'met' : '**missed**');
  const lines = ['### Targets (issue 14)', '', '| target | measured | |', '|---|---|---|'];
  for (const t of targets) lines.push(`| ${t.target} | ${t.measured} | ${mark(t)} |`);
  return [...lines, ''].join('\n');
}

function machine(s) {
  return `${s.node}, ${s.cpu}, ${s.cores} cores`;
}

// Others' work on the machine: the load average before the part, and how many cores
// other processes kept busy while it ran (bench/run.js measures both).
function load(s) {
  const others = s.othersCores == null ? '' : `, other processes kept ${s.othersCores.toFixed(2)} of the ${s.cores} cores busy while it ran`;
  const busy = s.loadBefore > 0.5 || s.othersCores > 0.25;
  return `Load average ${s.loadBefore.toFixed(2)} before this part${others}${busy ? ': numbers are provisional' : ''} (${s.date.slice(0, 16).replace('T', ' ')} UTC).`;
}

// The README's table: one row per size, worker → main, a column per ringport path
// (× MC: over the better of MessageChannel clone and transfer, windowed), then the
// better MessageChannel's and the native limit's messages/s.
const SUMMARY = [
  ['for-await', 'plain `for await`'],
  ['autorelease', 'autoRelease'],
  ['copying', '`zeroCopy: false`'],
  ['batches', '`batches()`'],
  ['recv-batch', '`recvBatch`'],
  ['readable', '`readable()` → `pipeline`'],
  ['readable-stream', '`readableStream()`'],
  ['reserve-commit', '`reserve`/`commit` → `for await`'],
];

function summaryTable(t) {
  const cases = t.cases.filter((c) => c.direction === 'w2m');
  const sizes = [...new Set(cases.map((c) => c.size))];
  const cell = (name, size) => cases.find((c) => c.name === name && c.size === size);
  const out = [
    `| size | ${SUMMARY.map(([, label]) => label).join(' | ')} | MessageChannel (better of clone, transfer) | native limit |`,
    `|---:|${SUMMARY.map(() => '---:').join('|')}|---:|---:|`,
  ];
  for (const size of sizes) {
    const ratios = SUMMARY.map(([name]) => {
      const c = cell(name, size);
      return c?.vsMc ? formatRatio(c.vsMc) : '';
    });
    const mc = ['mc-clone', 'mc-transfer'].map((n) => cell(n, size)?.msgPerSec ?? 0);
    const limit = t.cases.find((c) => c.name === 'limit' && c.size === size)?.msgPerSec; // no direction
    out.push(`| ${formatSize(size)} | ${ratios.join(' | ')} | ${formatRate(Math.max(...mc))} msg/s | ${limit ? `${formatRate(limit)} msg/s` : ''} |`);
  }
  return out.join('\n');
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const summary = args[0] === '--summary';
  const file = args[summary ? 1 : 0] ?? path.join(__dirname, 'results.json');
  const results = JSON.parse(fs.readFileSync(file, 'utf8'));
  console.log(summary ? summaryTable(results.throughput) : render(results));
}

module.exports = { render, summaryTable };
