'use strict';

// Round-trip latency of an 8-byte message: the main thread sends a ping, a worker
// echoes it back, the main thread times each round trip.
//
//   node bench/js/latency.js <case> [seconds]
//
// Prints one JSON line: { case, rounds, p50, p99, mean } (microseconds). Rounds run
// back to back for a warm-up, then for `seconds`; the worker is fresh per process.

const { Worker, MessageChannel, isMainThread, workerData } = require('node:worker_threads');
const { performance } = require('node:perf_hooks');
const { Channel } = require('../..');
const { SabRing } = require('./peers/sab-ring');

const SIZE = 8;
const WARMUP_SECONDS = 0.2;
const MAX_SAMPLES = 4_000_000;

// setup() -> { remote, transferList, ping() -> Promise|void, done() } in the main
// thread; echo(remote) in the worker.
const CASES = {
  // Two channels, default options; both sides await (each receiver polls up to 50 µs,
  // backing off when its polls catch nothing, then the event loops wake each other).
  ringport: ringportCase('ringport `send` / `recv` (async)', undefined),
  // The receivers' `spin` option: 0 sleeps at once (each message is a wake through
  // the kernel); 200 polls longer, for a peer that answers within 200 µs.
  'ringport-spin-0': ringportCase('ringport (spin 0 µs)', 0),
  'ringport-spin-200': ringportCase('ringport (spin 200 µs)', 200),
  // The blocking calls: each thread polls up to 50 µs in native code, then sleeps on a futex.
  'ringport-sync': {
    label: 'ringport `sendSync` / `recvSync` (blocking)',
    setup() {
      const [there, back] = [new Channel(), new Channel()];
      const tx = there.sender();
      const rx = back.receiver();
      const ping = new Uint8Array(SIZE);
      return {
        remote: [there.handle, back.handle],
        ping: () => {
          tx.sendSync(ping);
          rx.recvSync();
        },
        done: () => tx.close(),
      };
    },
    echo([there, back]) {
      const rx = Channel.from(there).receiver();
      const tx = Channel.from(back).sender();
      for (let message; (message = rx.recvSync()) !== null; ) tx.sendSync(message);
      tx.close();
    },
  },
  mc: {
    label: 'MessagePort',
    setup() {
      const { port1, port2 } = new MessageChannel();
      const ping = new Uint8Array(SIZE);
      let resolve;
      port1.on('message', () => resolve());
      return {
        remote: port2,
        transferList: [port2],
        ping: () =>
          new Promise((r) => {
            resolve = r;
            port1.postMessage(ping);
          }),
        done: () => port1.close(),
      };
    },
    echo(port) {
      port.on('message', (message) => port.postMessage(message));
    },
  },
  'sab-ring': sabRingCase('plain-JS SAB ring (Atomics.wait)', undefined),
  // What spinning buys: the same ring polling 2,000 times (≈ 10-20 µs) before it sleeps.
  'sab-ring-spin': sabRingCase('plain-JS SAB ring, spinning', 2000),
};

// Two channels, `spin` µs on both receivers (undefined: the default); both sides await.
function ringportCase(label, spin) {
  return {
    label,
    setup() {
      const [there, back] = [new Channel(), new Channel()];
      const tx = there.sender();
      const rx = back.receiver({ spin });
      const ping = new Uint8Array(SIZE);
      return {
        remote: [there.handle, back.handle],
        ping: () => tx.send(ping).then(() => rx.recv()),
        done: () => tx.close(),
      };
    },
    async echo([there, back]) {
      const rx = Channel.from(there).receiver({ spin });
      const tx = Channel.from(back).sender();
      for await (const message of rx) await tx.send(message);
      tx.close();
    },
  };
}

// Two plain-JS rings; both sides block (poll `spin` times, then Atomics.wait).
function sabRingCase(label, spin) {
  return {
    label,
    setup() {
      const [there, back] = [SabRing.create(1 << 16), SabRing.create(1 << 16)];
      const tx = new SabRing(there, { spin });
      const rx = new SabRing(back, { spin });
      const ping = new Uint8Array(SIZE);
      return {
        remote: [there, back],
        ping: () => {
          tx.send(ping);
          rx.recv();
        },
        done: () => tx.close(),
      };
    },
    echo([there, back]) {
      const rx = new SabRing(there, { spin });
      const tx = new SabRing(back, { spin });
      for (let message; (message = rx.recv()) !== null; ) tx.send(message);
      tx.close();
    },
  };
}

async function measure(name, seconds) {
  const c = CASES[name];
  const { remote, transferList = [], ping, done } = c.setup();
  const worker = new Worker(__filename, { workerData: { name, remote }, transferList });
  const exited = new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', resolve);
  });
  const samples = new Float64Array(MAX_SAMPLES);
  let rounds = 0;
  const warmEnd = performance.now() + WARMUP_SECONDS * 1000;
  while (performance.now() < warmEnd) await ping();
  const end = performance.now() + seconds * 1000;
  for (let t = performance.now(); t < end && rounds < MAX_SAMPLES; ) {
    await ping();
    const now = performance.now();
    samples[rounds++] = now - t;
    t = now;
  }
  done();
  await exited;
  const sorted = samples.subarray(0, rounds).sort();
  const us = (ms) => ms * 1000;
  let total = 0;
  for (const ms of sorted) total += ms;
  return {
    case: name,
    rounds,
    p50: us(sorted[Math.floor(rounds * 0.5)]),
    p99: us(sorted[Math.floor(rounds * 0.99)]),
    mean: us(total / rounds),
  };
}

if (isMainThread && require.main === module) {
  const [name, seconds = process.env.RINGPORT_BENCH_SECONDS || 1] = process.argv.slice(2);
  if (!CASES[name] || !(Number(seconds) > 0)) {
    console.error(`usage: node ${__filename} <${Object.keys(CASES).join('|')}> [seconds]`);
    process.exit(2);
  }
  measure(name, Number(seconds)).then(
    (result) => console.log(JSON.stringify(result)),
    (error) => {
      console.error(error);
      process.exit(1); // a peer left waiting (a port, a ring) would keep the process alive
    },
  );
} else if (!isMainThread && workerData?.name in CASES) {
  CASES[workerData.name].echo(workerData.remote);
}

module.exports = { CASES };
