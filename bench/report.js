'use strict';

// The markdown report of a bench/results.json (bench/run.js prints it at the end).
//
//   node bench/report.js [results.json]     prints it again

const fs = require('node:fs');
const path = require('node:path');
const { formatSize, formatRate, formatMB, formatNs, formatRatio } = require('./js/format');
const { SHORT, cppTime, evaluate } = require('./js/targets');

const DIRECTIONS = { w2m: 'worker → main thread', m2w: 'main thread → worker' };
const MIB = 2 ** 20;

function render(results) {
  return [
    results.throughput && throughputTables(results.throughput),
    results.latency && latencyTable(results.latency),
    results.rss && soakTable(results.rss),
    results.broadcast && fanoutTable(results.broadcast),
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
  out.push('', `Median of ${b.options.runs} runs × ${b.options.seconds} s. The broadcast sender never waits: receivers read with \`batches()\` (64 B) or \`iterate({ autoRelease: true })\` and, when they fall ${formatSize(4 << 20)} behind, skip ahead (missed). MessageChannel: the sender posts each message to every port, with a ${formatSize(4 << 20)} credit window per receiver.`, '');
  return out.join('\n');
}

function throughputTables(t) {
  const out = [];
  for (const direction of Object.keys(DIRECTIONS)) {
    const cases = t.cases.filter((c) => c.direction === direction);
    if (!cases.length) continue;
    out.push(`### Throughput, ${DIRECTIONS[direction]} (${machine(t)})`, '');
    out.push('| size | transport | messages/s | MB/s | × MC | × best peer | spread | peak RSS | fallbacks |');
    out.push('|---:|---|---:|---:|---:|---|---:|---:|---:|');
    let size;
    for (const c of cases) {
      const first = c.size !== size;
      size = c.size;
      const ours = c.library === 'ringport';
      const cells = c.msgPerSec
        ? [
            formatRate(c.msgPerSec),
            formatMB(c.bytesPerSec),
            formatRatio(c.vsMc),
            ours && c.vsBest ? `${formatRatio(c.vsBest)} (${SHORT[c.bestPeer]})` : '',
            `${Math.round(c.spread * 100)}%`,
            `${Math.round(c.maxRss / MIB)} MiB`,
            ours ? c.fallbacks.toLocaleString('en-US') : '',
          ]
        : ['failed', '', '', '', '', '', ''];
      out.push(`| ${first ? formatSize(c.size) : ''} | ${ours ? `**${c.label}**` : c.label} | ${cells.join(' | ')} |`);
    }
    out.push('');
  }
  out.push(
    ...[
      `Median of ${t.options.runs} runs × ${t.seconds} s (after a 0.2 s warm-up), each in a fresh process and worker; MB = 10⁶ bytes.`,
      '× MC: over MessageChannel with structured clone; × best peer: over the fastest peer of the same size and direction (in parentheses), same run.',
      `Flow control: ${formatSize(t.capacity)} for everyone (ringport capacity, ring sizes, thread-stream bufferSize, MessageChannel's credit window).`,
      'spread: (max − min) / median of the runs. peak RSS: the whole process (both threads), median of the runs. fallbacks: pool misses (heap blocks), most of any run.',
      load(t),
    ].map((n) => `- ${n}`),
    '',
  );
  return out.join('\n');
}

function latencyTable(l) {
  const lines = [
    `### Round trip, ${l.size} B, main thread ↔ worker (${machine(l)})`,
    '',
    '| transport | p50 | p99 | p50 × MessagePort | p50 × best peer |',
    '|---|---:|---:|---:|---|',
  ];
  for (const c of l.cases) {
    const best = c.vsBest ? `${formatRatio(c.vsBest)} (${SHORT[c.bestPeer]})` : '';
    const cells = c.p50 ? [`${c.p50.toFixed(1)} µs`, `${c.p99.toFixed(1)} µs`, formatRatio(c.vsMc), best] : ['failed', '', '', ''];
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
  const lines = [`### Soak: \`iterate({ autoRelease: true })\`, worker → main thread (${machine(r)})`, '', '| size | messages | messages/s | peak RSS | RSS growth | fallbacks |', '|---:|---:|---:|---:|---:|---:|'];
  for (const c of r.cases) {
    const cells = c.error
      ? [`failed: ${c.error}`, '', '', '', '']
      : [formatRate(c.msgPerSec), `${(c.maxRss / MIB).toFixed(0)} MiB`, `+${(c.rssGrowth / MIB).toFixed(1)} MiB`, c.fallbacks.toLocaleString('en-US')];
    lines.push(`| ${formatSize(c.size)} | ${c.messages.toLocaleString('en-US')} | ${cells.join(' | ')} |`);
  }
  lines.push('', '- One run per size. RSS growth: peak RSS of the process minus its RSS when the first message arrived.', `- ${load(r)}`, '');
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
  const lines = ['### Targets (issue 5)', '', '| target | measured | |', '|---|---|---|'];
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

if (require.main === module) {
  const file = process.argv[2] ?? path.join(__dirname, 'results.json');
  console.log(render(JSON.parse(fs.readFileSync(file, 'utf8'))));
}

module.exports = { render };
