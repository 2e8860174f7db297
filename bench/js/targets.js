'use strict';

// The performance targets of issue 14, checked against a results.json (bench/run.js).
// Each row: { target, measured (text), ratio (the figure the goal applies to: the
// worst of the sizes and directions measured), goal, met (true/false; null: not
// measured), lowerIsBetter? }. Every throughput ratio is over the better of
// MessageChannel clone and transfer with its memory window (bench/js/ratios.js), as
// the issue sets them; the report shows the unwindowed ratios beside.

const { formatSize: sizeName, formatRatio: x } = require('./format');

// Short names of the peers (throughput and latency cases).
const SHORT = {
  'mc-clone': 'MC clone',
  'mc-transfer': 'MC transfer',
  'mc-clone-free': 'MC clone, no window',
  'mc-transfer-free': 'MC transfer, no window',
  'sab-ring': 'SAB ring',
  'ringbuf-js': 'ringbuf.js',
  'thread-stream': 'thread-stream',
  mc: 'MessagePort',
  'sab-ring-spin': 'SAB ring, spinning',
};
const MIB = 2 ** 20;
const ALL_SIZES = [64, 4096, 65536, MIB];
const LARGE = [65536, MIB];

// Every receive path but the plain loop, and the zero-copy send path with each receiver.
const OTHER_PATHS = {
  autorelease: '`iterate({ autoRelease: true })`',
  copying: '`receiver({ zeroCopy: false })`',
  batches: '`batches()`',
  'recv-batch': '`recvBatch(1024)`',
  chunks: '`chunks(16)`',
  readable: '`readable()` through `pipeline`',
  'readable-stream': '`readableStream()`',
  'reserve-commit': '`reserve`/`commit` → plain `for await`',
  'reserve-commit-autorelease': '`reserve`/`commit` → autoRelease',
};

// The channel layer's push+pop in instructions per message under callgrind, as last
// measured before issue 14 (200,000 messages): it must not grow.
const PUSH_POP_INSTRUCTIONS = { 8: 187.1, 64: 211.2 };

const unmeasured = (target, goal, extra = {}) => ({ target, goal, measured: 'not measured', ratio: null, met: null, ...extra });

function evaluate({ throughput, receiveCost, latency, rss, callgrind, cpp }) {
  const cases = throughput?.cases ?? [];

  // `name`'s ratio over windowed MessageChannel at each of `sizes`, every direction
  // measured: met when the worst is ≥ goal.
  const versusMc = (target, goal, name, sizes) => {
    const found = cases.filter((c) => c.name === name && sizes.includes(c.size) && c.vsMc);
    if (!found.length) return unmeasured(target, goal);
    const directions = ['w2m', 'm2w'].filter((d) => found.some((c) => c.direction === d));
    const measured = directions
      .map((d) => `${d} ${found.filter((c) => c.direction === d).map((c) => `${sizeName(c.size)} ${x(c.vsMc)}`).join(', ')}`)
      .join(' · ');
    const missing = sizes.filter((s) => !found.some((c) => c.size === s));
    const ratio = Math.min(...found.map((c) => c.vsMc));
    return { target, goal, measured: missing.length ? `${measured} (not measured: ${missing.map(sizeName).join(', ')})` : measured, ratio, met: ratio >= goal };
  };

  return [
    versusMc('plain `for await` ≥ 1.5× MessageChannel, 64 B … 1 MiB', 1.5, 'for-await', ALL_SIZES),
    ...Object.entries(OTHER_PATHS).map(([name, label]) => versusMc(`${label} ≥ 1× MessageChannel, 64 B … 1 MiB`, 1, name, ALL_SIZES)),
    versusMc('`iterate({ autoRelease: true })` ≥ 2× MessageChannel at 64 KiB and 1 MiB', 2, 'autorelease', LARGE),
    versusMc('`readable()` through `pipeline` ≥ 1.5× MessageChannel from 64 KiB up', 1.5, 'readable', LARGE),
    versusMc('`batches()` at 64 B ≥ 20× MessageChannel', 20, 'batches', [64]),
    bytesVsThreadStream(cases),
    ...latencyRows(latency),
    soakRow(rss),
    receiveCostRow(receiveCost),
    rawRingRow(cpp),
    callgrindRow(callgrind),
  ];
}

// Only main -> worker: thread-stream has no other direction. Counted: `trySend`/
// `ready()` writes, as thread-stream's write()/'drain'; `await send()` per write is
// shown beside it.
function bytesVsThreadStream(cases) {
  const target = "`framing: 'bytes'` ≥ 2× thread-stream MB/s, every size";
  const threadStream = (size) => cases.find((c) => c.name === 'thread-stream' && c.size === size && c.msgPerSec);
  const ratios = (name) =>
    cases
      .filter((c) => c.name === name && c.direction === 'm2w' && c.msgPerSec && threadStream(c.size))
      .map((c) => [c.size, c.bytesPerSec / threadStream(c.size).bytesPerSec]);
  const list = (pairs) => pairs.map(([s, r]) => `${sizeName(s)} ${x(r)}`).join(', ');
  const pairs = ratios('bytes-try');
  if (!pairs.length) return unmeasured(target, 2);
  const ratio = Math.min(...pairs.map(([, r]) => r));
  const awaiting = ratios('bytes');
  const measured = `m2w, \`trySend\`/\`ready()\`: ${list(pairs)}` + (awaiting.length ? ` · \`await send()\`: ${list(awaiting)}` : '');
  return { target, goal: 2, measured, ratio, met: ratio >= 2 };
}

// The default receiver (spin 50 µs) against MessagePort, p50 and p99.
function latencyRows(latency) {
  const ours = latency?.cases.find((c) => c.name === 'ringport' && c.p50);
  const row = (target, goal, ratio, text) =>
    ratio ? { target, goal, measured: text, ratio, met: ratio <= goal, lowerIsBetter: true } : unmeasured(target, goal, { lowerIsBetter: true });
  const mc = latency?.cases.find((c) => c.name === 'mc' && c.p50);
  return [
    row('round trip 8 B p50 ≤ 0.1× MessagePort', 0.1, ours?.vsMc, ours && mc && `${ours.p50.toFixed(1)} µs vs ${mc.p50.toFixed(1)} µs: ${x(ours.vsMc)}`),
    row("round trip 8 B p99 ≤ 0.2× MessagePort's p99", 0.2, ours?.p99VsMc, ours && mc && `${ours.p99.toFixed(1)} µs vs ${mc.p99.toFixed(1)} µs: ${x(ours.p99VsMc)}`),
  ];
}

function soakRow(rss) {
  const target = 'plain `for await`, 2 M messages of 64 KiB dropped by the receiver: RSS growth after warm-up ≤ 64 MiB';
  const c = rss?.cases?.find((s) => s.name === 'for-await' && s.size === 65536 && !s.error);
  if (!c) return unmeasured(target, 64, { lowerIsBetter: true });
  const growth = c.rssGrowthAfterWarmup / MIB;
  const full = c.messages >= 2_000_000;
  const measured = `+${growth.toFixed(1)} MiB (peak RSS ${(c.maxRss / MIB).toFixed(0)} MiB, ${c.fallbacks.toLocaleString('en-US')} fallbacks)${full ? '' : ` (soak of ${c.messages.toLocaleString('en-US')} messages only)`}`;
  return { target, goal: 64, measured, ratio: growth, met: full ? growth <= 64 : null, lowerIsBetter: true };
}

function receiveCostRow(receiveCost) {
  const target = 'plain `for await` cost per message ≤ 1.5× a loop that only allocates an ArrayBuffer, 64 B and 4 KiB';
  const found = receiveCost?.cases?.filter((c) => c.vsFloor) ?? [];
  if (!found.length) return unmeasured(target, 1.5, { lowerIsBetter: true });
  const ratio = Math.max(...found.map((c) => c.vsFloor));
  const measured = found.map((c) => `${sizeName(c.size)} ${c.forAwaitNs.toFixed(0)} / ${c.floorNs.toFixed(0)} ns: ${x(c.vsFloor)}`).join(', ');
  return { target, goal: 1.5, measured, ratio, met: ratio <= 1.5, lowerIsBetter: true };
}

// The raw record ring (ringport_ring) against the faster of Boost.Lockfree spsc_queue
// and moodycamel ReaderWriterQueue in the same binary, case by case.
function rawRingRow(cpp) {
  const target = 'C++ raw record ring ≥ the faster of Boost / moodycamel, same binary';
  const list = cpp?.benchmarks ?? [];
  const ns = (name) => {
    const b = list.find((b) => (b.run_name ?? b.name.replace(/_median$/, '')) === name && !b.error_occurred);
    return b && cppTime(b);
  };
  const versus = ['push_pop/8', 'push_pop/64', 'batch1000/8', 'batch1000/64', 'two_threads/8/real_time', 'two_threads/64/real_time']
    .map((c) => {
      const ours = ns(`ringport_ring/${c}`);
      const peers = ['boost_spsc', 'moodycamel_rwq'].map((p) => ns(`${p}/${c}`)).filter(Boolean);
      return ours && peers.length ? [c.replace('/real_time', ''), Math.min(...peers) / ours] : null;
    })
    .filter(Boolean);
  if (!versus.length) return unmeasured(target, 1);
  const ratio = Math.min(...versus.map(([, r]) => r));
  return { target, goal: 1, measured: versus.map(([c, r]) => `${c} ${x(r)}`).join(', '), ratio, met: ratio >= 1 };
}

function callgrindRow(callgrind) {
  const bounds = Object.entries(PUSH_POP_INSTRUCTIONS).map(([size, n]) => `${size} B ${n}`).join(', ');
  const target = `C++ channel push+pop, instructions per message under callgrind, must not grow (${bounds})`;
  const found = callgrind?.cases?.filter((c) => c.instructions && PUSH_POP_INSTRUCTIONS[c.size]) ?? [];
  if (!found.length) return unmeasured(target, 1, { lowerIsBetter: true });
  // The figure the goal applies to: the worst count over its bound (≤ 1 is met).
  const ratio = Math.max(...found.map((c) => c.instructions / PUSH_POP_INSTRUCTIONS[c.size]));
  const measured = found.map((c) => `${c.size} B ${c.instructions.toFixed(1)}`).join(', ');
  // Counts are rounded to a tenth, as the bounds were.
  const met = found.every((c) => Math.round(c.instructions * 10) <= Math.round(PUSH_POP_INSTRUCTIONS[c.size] * 10));
  return { target, goal: 1, measured, ratio, met, lowerIsBetter: true };
}

/** A Google Benchmark entry's time per iteration in ns: CPU time, or wall-clock for real_time cases. */
function cppTime(b) {
  const scale = { ns: 1, us: 1e3, ms: 1e6, s: 1e9 }[b.time_unit];
  return (/real_time/.test(b.run_name ?? b.name) ? b.real_time : b.cpu_time) * scale;
}

module.exports = { evaluate, cppTime, SHORT };
