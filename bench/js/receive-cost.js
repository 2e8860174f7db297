'use strict';

// What one received message costs the receiving thread, without a second thread:
//   node bench/js/receive-cost.js [size=64]
// 1. Making an ArrayBuffer of `size` bytes (the floor of a plain `for await`, which
//    hands out one per message), best of 7 rounds of 1 M.
// 2. Receiving with `for await` and with `batches()` from a channel this thread filled
//    with trySend() (the sending time is not counted), ns per message.
// Not a peer comparison (npm run bench is): a tool for docs/performance.md's figures.

const { Channel } = require('../..');

const size = Number(process.argv[2] ?? 64);
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
  };
}

// ns per message to receive what trySend() put in, for `rounds` fillings of the channel.
async function receiving(take, rounds = 150) {
  const ch = new Channel({ capacity: 1 << 20 });
  const tx = ch.sender();
  const rx = ch.receiver();
  const next = take(rx);
  const payload = new Uint8Array(size);
  let ns = 0;
  let messages = 0;
  for (let round = 0; round < rounds; round++) {
    let n = 0;
    while (tx.trySend(payload)) n++;
    const start = process.hrtime.bigint();
    for (let got = 0; got < n; ) got += await next();
    if (round >= rounds / 4) {
      ns += Number(process.hrtime.bigint() - start);
      messages += n;
    }
  }
  ch.close();
  return ns / messages;
}

async function main() {
  console.log(`${size} B messages, one thread, ${new Date().toISOString()}`);
  for (const [name, ns] of Object.entries(allocation())) console.log(`  ${name.padEnd(52)} ${ns.toFixed(0)} ns`);
  const plain = await receiving((rx) => {
    const it = rx[Symbol.asyncIterator]();
    return async () => ((await it.next()).done ? Infinity : 1);
  });
  const batches = await receiving((rx) => {
    const it = rx.batches()[Symbol.asyncIterator]();
    return async () => {
      let n = 0;
      for (const view of (await it.next()).value) n += view.byteLength === size;
      return n;
    };
  });
  console.log(`  receive with for await${''.padEnd(30)} ${plain.toFixed(0)} ns per message`);
  console.log(`  receive with batches()${''.padEnd(30)} ${batches.toFixed(0)} ns per message`);
}

main();
