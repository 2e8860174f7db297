'use strict';

// The performance targets of issue 5, checked against a results.json (bench/run.js).
// Each row: { target, measured (text), ratio (the figure the goal applies to; for
// several directions or sizes, the worst), goal, met (true/false, null: not measured) }.

const { formatSize: sizeName, formatRatio: x } = require('./format');

// Short names of the peers (throughput and latency cases).
const SHORT = {
  'mc-clone': 'MC clone',
  'mc-transfer': 'MC transfer',
  'sab-ring': 'SAB ring',
  'ringbuf-js': 'ringbuf.js',
  'thread-stream': 'thread-stream',
  mc: 'MessagePort',
  'sab-ring-spin': 'SAB ring, spinning',
};
const MIB = 2 ** 20;

function evaluate({ throughput, latency, rss, cpp }) {
  const cell = (name, size, direction) => throughput?.cases.find((c) => c.name === name && c.size === size && c.direction === direction && c.msgPerSec);
  // `pick(direction)` -> [ratio, text] | undefined, for each direction that was measured.
  const perDirection = (target, goal, pick) => {
    const found = ['w2m', 'm2w'].map((d) => [d, pick(d)]).filter(([, p]) => p);
    if (!found.length) return { target, goal, measured: 'not measured', ratio: null, met: null };
    const ratio = Math.min(...found.map(([, [r]]) => r));
    return { target, goal, measured: found.map(([d, [, text]]) => `${d} ${text}`).join(' · '), ratio, met: ratio >= goal };
  };
  const vsMc = (name, size) => (d) => {
    const c = cell(name, size, d);
    return c?.vsMc && [c.vsMc, x(c.vsMc)];
  };

  const rows = [
    // The peers write without a promise per message (thread-stream's write()/'drain',
    // the rings' push loops); so does the counted case, `trySend` until full, then
    // `await ready()`. `await send()` per message is shown beside it.
    perDirection('64 B `batches()` ≥ 1.5× best peer msg/s', 1.5, (d) => {
      const c = cell('batches-try', 64, d);
      const awaiting = cell('batches', 64, d)?.vsBest;
      const also = awaiting ? `; \`await send()\` sender ${x(awaiting)}` : '';
      return c?.vsBest && [c.vsBest, `${x(c.vsBest)} (sender \`trySend\`/\`ready()\`; best: ${SHORT[c.bestPeer]}${also})`];
    }),
    bytesVsThreadStream(),
    perDirection('64 B `for await` ≥ 5× MessageChannel', 5, vsMc('for-await', 64)),
    perDirection('4 KiB `for await` ≥ 5× MessageChannel', 5, vsMc('for-await', 4096)),
    perDirection('1 MiB `send` (receiver: autoRelease) ≥ 2.5× MessageChannel MB/s', 2.5, (d) => {
      const [ratio, text] = vsMc('autorelease', MIB)(d) || [];
      const plain = cell('for-await', MIB, d)?.vsMc;
      return ratio && [ratio, plain ? `${text} (plain \`for await\`: ${x(plain)})` : text];
    }),
    perDirection('1 MiB `reserve/commit` ≥ 4× MessageChannel', 4, vsMc('reserve-commit', MIB)),
    ...latencyRows(latency),
    soakRow(rss),
    ...cppRows(cpp),
  ];
  return rows;

  // Only main -> worker: thread-stream has no other direction. Counted: `trySend`/
  // `ready()` writes, as thread-stream's write()/'drain' (see the batches() row);
  // `await send()` per write is shown beside it.
  function bytesVsThreadStream() {
    const target = "`framing: 'bytes'` 64 B … 1 MiB ≥ 2× thread-stream MB/s";
    const ratios = (name) =>
      (throughput?.cases ?? [])
        .filter((c) => c.name === name && c.direction === 'm2w' && c.msgPerSec)
        .map((c) => [c.size, c.bytesPerSec / cell('thread-stream', c.size, 'm2w')?.bytesPerSec])
        .filter(([, r]) => r > 0);
    const list = (pairs) => pairs.map(([s, r]) => `${sizeName(s)} ${x(r)}`).join(', ');
    const pairs = ratios('bytes-try');
    if (!pairs.length) return { target, goal: 2, measured: 'not measured', ratio: null, met: null };
    const ratio = Math.min(...pairs.map(([, r]) => r));
    const awaiting = ratios('bytes');
    const measured = `m2w, \`trySend\`/\`ready()\`: ${list(pairs)}` + (awaiting.length ? ` · \`await send()\`: ${list(awaiting)}` : '');
    return { target, goal: 2, measured, ratio, met: ratio >= 2 };
  }
}

function latencyRows(latency) {
  const p50 = (name) => latency?.cases.find((c) => c.name === name)?.vsMc;
  const plain = p50('ringport');
  const spin = p50('ringport-spin-200');
  const sleeping = p50('ringport-spin-0');
  return [
    {
      target: 'round trip 8 B p50 ≤ 0.5× MessagePort',
      goal: 0.5,
      measured: plain ? `${x(plain)}${sleeping ? ` (\`spin: 0\`, sleeping at once: ${x(sleeping)})` : ''}` : 'not measured',
      ratio: plain ?? null,
      met: plain ? plain <= 0.5 : null,
      lowerIsBetter: true,
    },
    {
      target: 'round trip 8 B p50 with a spin option ≤ 0.1× MessagePort',
      goal: 0.1,
      measured: spin ? `\`spin: 200\` ${x(spin)}` : 'not measured',
      ratio: spin ?? null,
      met: spin ? spin <= 0.1 : null,
      lowerIsBetter: true,
    },
  ];
}

function soakRow(rss) {
  const target = '2 M messages with autoRelease: RSS growth ≤ 32 MiB, 0 fallbacks';
  const ok = rss?.cases.filter((c) => !c.error) ?? [];
  if (!ok.length) return { target, goal: 32, measured: 'not measured', ratio: null, met: null };
  const growth = Math.max(...ok.map((c) => c.rssGrowth)) / MIB;
  const fallbacks = Math.max(...ok.map((c) => c.fallbacks));
  const full = ok.every((c) => c.messages >= 2_000_000);
  const measured =
    ok.map((c) => `${sizeName(c.size)}: +${(c.rssGrowth / MIB).toFixed(1)} MiB, ${c.fallbacks.toLocaleString('en-US')} fallbacks`).join(' · ') +
    (full ? '' : ` (soak of ${ok[0].messages.toLocaleString('en-US')} messages only)`);
  return { target, goal: 32, measured, ratio: growth, met: full ? growth <= 32 && fallbacks === 0 : null, lowerIsBetter: true };
}

// C++: ringport_queue (the channel as the binding uses it) against the faster of
// Boost.Lockfree spsc_queue and moodycamel ReaderWriterQueue, case by case.
function cppRows(cpp) {
  const list = cpp?.benchmarks ?? [];
  // Time per iteration: CPU time on one thread (what the code costs, whoever else
  // runs), wall-clock time for two threads (real_time cases).
  const ns = (name) => {
    const b = list.find((b) => (b.run_name ?? b.name.replace(/_median$/, '')) === name && !b.error_occurred);
    return b && cppTime(b);
  };
  const cases = ['push_pop/8', 'push_pop/64', 'batch1000/8', 'batch1000/64', 'two_threads/8/real_time', 'two_threads/64/real_time'];
  const versus = cases
    .map((c) => {
      const ours = ns(`ringport_queue/${c}`);
      const peers = ['boost_spsc', 'moodycamel_rwq'].map((p) => ns(`${p}/${c}`)).filter(Boolean);
      return ours && peers.length ? [c.replace('/real_time', ''), Math.min(...peers) / ours] : null;
    })
    .filter(Boolean);
  const pushPop = [8, 64].map((n) => [n, ns(`ringport_queue/push_pop/${n}`)]).filter(([, t]) => t);
  const perRecord = [8, 64].map((n) => [n, ns(`ringport_queue/batch1000/${n}`) / 1000]).filter(([, t]) => t);
  const none = (target, goal) => ({ target, goal, measured: 'not measured', ratio: null, met: null });
  const worst = (pairs) => Math.max(...pairs.map(([, t]) => t));
  return [
    versus.length
      ? {
          target: 'C++ queue vs the faster of Boost / moodycamel ≥ 1× (8 B and 64 B)',
          goal: 1,
          measured: versus.map(([c, r]) => `${c} ${r.toFixed(2)}×`).join(', '),
          ratio: Math.min(...versus.map(([, r]) => r)),
          met: Math.min(...versus.map(([, r]) => r)) >= 1,
        }
      : none('C++ queue vs the faster of Boost / moodycamel ≥ 1× (8 B and 64 B)', 1),
    pushPop.length
      ? { target: 'C++ queue push+pop ≤ 20 ns', goal: 20, measured: pushPop.map(([n, t]) => `${n} B ${t.toFixed(1)} ns`).join(', '), ratio: worst(pushPop), met: worst(pushPop) <= 20, lowerIsBetter: true }
      : none('C++ queue push+pop ≤ 20 ns', 20),
    perRecord.length
      ? { target: 'C++ queue batches ≤ 5 ns/record', goal: 5, measured: perRecord.map(([n, t]) => `${n} B ${t.toFixed(1)} ns`).join(', '), ratio: worst(perRecord), met: worst(perRecord) <= 5, lowerIsBetter: true }
      : none('C++ queue batches ≤ 5 ns/record', 5),
  ];
}

/** A Google Benchmark entry's time per iteration in ns: CPU time, or wall-clock for real_time cases. */
function cppTime(b) {
  const scale = { ns: 1, us: 1e3, ms: 1e6, s: 1e9 }[b.time_unit];
  return (/real_time/.test(b.run_name ?? b.name) ? b.real_time : b.cpu_time) * scale;
}

module.exports = { evaluate, cppTime, SHORT };
