'use strict';

// What one received message costs the receiving thread, without a second thread:
//   node bench/js/receive-cost.js [size=64] [--rounds=160] [--detail]
// Prints one JSON line (bench/run.js runs it at 64 B and 4 KiB for the receive-cost
// target): { size, rounds, floorNs, forAwaitNs, batchesNs, vsFloor } from 3 below.
// --detail first prints 1 and 3 as a table (1 takes tens of seconds at 4 KiB):
// 1. Making an ArrayBuffer of `size` bytes (the floor of a plain `for await`, which
//    hands out one per message), and a Uint8Array view into a shared buffer (the floor
//    of batches(), which hands out one per message), best of 7 rounds of 1 M. Reading
//    a view's byteLength, which V8 here calls as a getter (length it inlines).
// 2. A `for await` loop over an iterator that only makes a new ArrayBuffer(size) per
//    message: the floor of any receiver that hands out one buffer per message.
// 3. Receiving with `for await` and with `batches()` from a channel this thread filled
//    with trySend() (the sending time is not counted), ns per message (medians).
// Nothing here touches the bytes (bench/js/touch.js): the target compares the cost of
// handing out a buffer, and reading it would add the same to both sides.

const { Channel } = require('../..');

const args = process.argv.slice(2);
const size = Number(args.find((a) => !a.startsWith('--')) ?? 64);
const receivingRounds = Number(args.find((a) => a.startsWith('--rounds='))?.slice(9) ?? 160);
const detail = args.includes('--detail');
const ROUNDS = 7;
const N = 1_000_000;

function bestOf(f) {
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < N / 10; i++) f(i);
    const start = process.hrtime.bigint();
    for (let i = 0; i < N; i++) f(i);
    best = Math.min(best, Number(process.hrtime.bigint() - start) / N);
  }
  return best;
}

function allocation() {
  const source = new ArrayBuffer(1 << 20);
  const bytes = new Uint8Array(source);
  const at = (i) => ((i & 127) * size) % ((1 << 20) - size);
  return {
    'new ArrayBuffer(size)': bestOf(() => new ArrayBuffer(size)),
    'Uint8Array slice().buffer (ringport, up to 1 KiB)': bestOf((i) => bytes.slice(at(i), at(i) + size).buffer),
    'new ArrayBuffer + set()': bestOf((i) => {
      const b = new ArrayBuffer(size);
      new Uint8Array(b).set(new Uint8Array(source, at(i), size));
      return b;
    }),
    'new Uint8Array(buffer, offset, size) (a batches() view)': bestOf((i) => new Uint8Array(source, at(i), size)),
    'the same, then its .length': bestOf((i) => new Uint8Array(source, at(i), size).length),
    'the same, then its .byteLength': bestOf((i) => new Uint8Array(source, at(i), size).byteLength),
  };
}

// One round of each case in turn, `rounds` times, so that all of them meet the same
// heap and machine; per case the median ns per message of the last three quarters.
// The channel (1 MiB) is filled by trySend() before each receiving round, untimed.
async function receiving(rounds = 160) {
  const ch = new Channel({ capacity: 1 << 20 });
  const tx = ch.sender();
  const rx = ch.receiver();
  const payload = new Uint8Array(size);
  const fill = () => {
    let n = 0;
    while (tx.trySend(payload)) n++;
    return n;
  };
  const cases = {
    floorNs: () => floorRound(Math.floor((1 << 20) / (size + 8))),
    forAwaitNs: () => forAwait(rx, fill()),
    batchesNs: () => inBatches(rx, fill()),
  };
  const times = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const [name, run] of Object.entries(cases)) {
      const nsPerMessage = await run();
      if (round >= rounds / 4) times[name].push(nsPerMessage);
    }
  }
  ch.close();
  return Object.fromEntries(Object.entries(times).map(([name, t]) => [name, median(t)]));
}

// A `for await` over an iterator that only makes a new ArrayBuffer(size) per message:
// what any receiver that hands out one buffer per message costs at least.
async function floorRound(n) {
  let i = 0;
  const buffers = {
    next: () => Promise.resolve(i++ < n ? { value: new ArrayBuffer(size), done: false } : { value: undefined, done: true }),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  const start = process.hrtime.bigint();
  let got = 0;
  for await (const b of buffers) got += b.byteLength === size;
  return perMessage(start, got, n);
}

async function forAwait(rx, n) {
  const start = process.hrtime.bigint();
  let got = 0;
  for await (const b of rx) {
    got += b.byteLength === size;
    if (got === n) break; // leaves the receiver open
  }
  return perMessage(start, got, n);
}

async function inBatches(rx, n) {
  const start = process.hrtime.bigint();
  let got = 0;
  for await (const batch of rx.batches()) {
    for (const view of batch) got += view.byteLength === size;
    if (got >= n) break;
  }
  return perMessage(start, got, n);
}

function perMessage(start, got, n) {
  const ns = Number(process.hrtime.bigint() - start);
  if (got !== n) throw new Error(`${got} of ${n} messages arrived`);
  return ns / n;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

const RECEIVING = {
  floorNs: 'for await making a new ArrayBuffer each (the floor)',
  forAwaitNs: 'receive with for await',
  batchesNs: 'receive with batches()',
};

async function main() {
  if (!(size > 0) || !(receivingRounds >= 4)) {
    console.error('usage: node bench/js/receive-cost.js [size] [--rounds=N >= 4] [--detail]');
    process.exit(2);
  }
  if (detail) {
    console.log(`${size} B messages, one thread, ${new Date().toISOString()}`);
    for (const [name, ns] of Object.entries(allocation())) console.log(`  ${name.padEnd(58)} ${ns.toFixed(0)} ns`);
  }
  const ns = await receiving(receivingRounds);
  if (detail) for (const [key, name] of Object.entries(RECEIVING)) console.log(`  ${name.padEnd(58)} ${ns[key].toFixed(0)} ns per message`);
  console.log(JSON.stringify({ size, rounds: receivingRounds, ...ns, vsFloor: ns.forAwaitNs / ns.floorNs }));
}

main();
