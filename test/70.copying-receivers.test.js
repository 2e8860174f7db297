'use strict';

// Copying mode: `receiver({ zeroCopy: false })`, and what a runtime that refuses
// external buffers (Electron's V8 sandbox) gets by default. Every message is then a
// plain ArrayBuffer whose pool slab or heap block went back at once.
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { Channel, Broadcast } = require('..');
const { checkMessage, messageFor, startWorker, nextMessage, collectGarbage } = require('./helpers');

// Message sizes through every path at these options: inline (copied anyway), a 16 KiB
// slab, a 128 KiB slab, and a heap block (larger than every slab class).
const SIZES = [10, 3000, 9000, 100000, 3 << 20];
const OPTIONS = { capacity: 1 << 17 };

function payload(i) {
  const bytes = Buffer.alloc(SIZES[i % SIZES.length]);
  for (let k = 0; k < bytes.length; k += 997) bytes[k] = (i + k) & 255;
  bytes.writeUInt32LE(i, 0);
  return bytes;
}

function assertPayload(buffer, i) {
  assert.ok(buffer instanceof ArrayBuffer);
  assert.ok(Buffer.from(buffer).equals(payload(i)), `message ${i} (${SIZES[i % SIZES.length]} bytes) damaged`);
}

/** Sends SIZES.length messages through `tx`, receiving each at once with `rx`; returns the buffers. */
async function roundTrip(tx, rx, first = 0) {
  const held = [];
  for (let i = first; i < first + SIZES.length; i++) {
    await tx.send(payload(i));
    const buffer = await rx.recv();
    assertPayload(buffer, i);
    held.push(buffer);
  }
  return held;
}

describe('Copying receivers (zeroCopy: false)', () => {
  it('a queue receiver gets plain copies: contents intact, release() false, no slab held', async () => {
    const ch = new Channel(OPTIONS);
    const tx = ch.sender();
    const rx = ch.receiver({ zeroCopy: false });
    assert.equal(rx.zeroCopy, false);
    const held = await roundTrip(tx, rx);
    assert.equal(ch.stats().pool.inUse, 0, 'every slab went back as the message was copied');
    for (const buffer of held) assert.equal(rx.release(buffer), false);
    held.forEach((buffer, i) => assertPayload(buffer, i)); // release() detached nothing
    assert.ok(ch.stats().pool.fallbacks >= 1, 'the largest message took the heap path');
  });

  it('the default receiver is zero-copy where the runtime allows it', async () => {
    const ch = new Channel(OPTIONS);
    const tx = ch.sender();
    const rx = ch.receiver();
    assert.equal(rx.zeroCopy, true);
    // Each buffer is released before the next receive, so none is copied for being
    // past what the receiver lends (test/75.lending.test.js).
    const lent = [];
    for (let i = 0; i < SIZES.length; i++) {
      await tx.send(payload(i));
      const buffer = await rx.recv();
      assertPayload(buffer, i);
      if (SIZES[i] > 4096) assert.equal(ch.stats().pool.inUse, SIZES[i] < 1 << 20 ? 1 : 0, 'a slab message holds its slab');
      lent.push(rx.release(buffer));
    }
    assert.deepEqual(lent, [false, false, true, true, true]);
    assert.equal(ch.stats().pool.inUse, 0);
  });

  it('batches() and recvBatch() work on a copying receiver, across threads', async () => {
    const ch = new Channel({ capacity: 1 << 16 });
    const rx = ch.receiver({ zeroCopy: false });
    const worker = startWorker('producer', { handle: ch.handle, count: 3000 });
    let i = 0;
    const held = [];
    for await (const batch of rx.batches()) {
      for (const view of batch) {
        checkMessage(view.slice().buffer, i++);
        held.push(view);
      }
    }
    assert.equal(i, 3000);
    assert.equal(ch.stats().pool.inUse, 0, 'the stream is drained: no slab is held, though every view lives');
    assert.equal(await worker.exited, 0);
    // Views stay valid: they are views of plain copies.
    held.forEach((view, k) => assert.ok(Buffer.from(view.buffer, view.byteOffset, view.byteLength).equals(messageFor(k))));
    assert.deepEqual(await rx.recvBatch(10), [], 'recvBatch after the end');
  });

  it('a broadcast receiver chooses for itself: a copying one holds no slab, a zero-copy one beside it does', async () => {
    const bc = new Broadcast({ capacity: 4 << 20 }); // keeps all of SIZES
    const tx = bc.sender();
    const copying = bc.receiver({ zeroCopy: false });
    const sharing = bc.receiver();
    assert.equal(copying.zeroCopy, false);
    assert.equal(sharing.zeroCopy, true);
    const copies = [];
    for (let i = 0; i < SIZES.length; i++) {
      await tx.send(payload(i));
      copies.push(await copying.recv());
    }
    copies.forEach((buffer, i) => assertPayload(buffer, i));
    assert.ok(copies.every((b) => copying.release(b) === false));
    const ringOnly = bc.stats().pool.inUse; // the ring's own references
    const shared = await sharing.recvBatch(SIZES.length);
    shared.forEach((buffer, i) => assertPayload(buffer, i));
    assert.equal(bc.stats().pool.inUse, ringOnly, 'zero-copy buffers share the ring\'s slabs');
    for (let i = 0; i < 50000; i++) tx.trySend(Buffer.alloc(100)); // more than `capacity` bytes: pushes every message out
    // The 3 MiB message came past what the sharing receiver lends (an eighth of the
    // capacity) while it held the other two, but a message that large is lent anyway.
    assert.equal(bc.stats().pool.inUse, 3, 'only the zero-copy receiver\'s three slab buffers (9000 B, 100 kB, 3 MiB) hold slabs');
    copying.close();
    sharing.close();
    shared.length = 0;
    await collectGarbage();
    assert.equal(bc.stats().pool.inUse, 0);
    copies.forEach((buffer, i) => assertPayload(buffer, i));
  });

  it('a bad zeroCopy throws ERR_INVALID_ARG_TYPE and claims nothing', () => {
    const ch = new Channel();
    assert.throws(() => ch.receiver({ zeroCopy: 'no' }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => ch.receiver(null), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.equal(ch.receiver({ zeroCopy: undefined }).zeroCopy, true);
    assert.throws(() => new Broadcast().receiver({ zeroCopy: 1 }), { code: 'ERR_INVALID_ARG_TYPE' });
  });
});

describe('A runtime that refuses external buffers', function () {
  this.timeout(30000);

  // RINGPORT_NO_EXTERNAL_BUFFERS=1 makes the addon's probe at load fail, as
  // napi_create_external_arraybuffer does in Electron's V8 sandbox: a fresh process.
  function runRefusing(source) {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--expose-gc', '-e', source], {
        cwd: path.join(__dirname, '..'),
        env: { ...process.env, RINGPORT_NO_EXTERNAL_BUFFERS: '1' },
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`exit ${code}: ${out}`))));
    });
  }

  it('copies by default, even when zeroCopy: true is asked for, in every thread', async () => {
    const report = await runRefusing(`
      const { Worker } = require('node:worker_threads');
      const { Channel, Broadcast } = require('.');
      const big = (n, fill) => Buffer.alloc(n, fill);
      (async () => {
        const ch = new Channel({ capacity: 1 << 17 });
        const tx = ch.sender();
        const rx = ch.receiver({ zeroCopy: true });
        const held = [];
        for (const n of [10, 9000, 100000, 3 << 20]) { await tx.send(big(n, n & 255)); held.push(await rx.recv()); }
        const intact = held.every((b, i) => b.byteLength === [10, 9000, 100000, 3 << 20][i] && new Uint8Array(b)[b.byteLength - 1] === (b.byteLength & 255));
        const bc = new Broadcast();
        const brx = bc.receiver();
        bc.sender().trySend(big(20000, 1));
        const bheld = await brx.recv();
        // A worker probes for itself, and copies too.
        const worker = new Worker("const { parentPort } = require('node:worker_threads');" +
          "const { Channel } = require(process.cwd()); parentPort.postMessage(new Channel().receiver().zeroCopy);", { eval: true });
        const workerZeroCopy = await new Promise((resolve) => worker.once('message', resolve));
        const batchRx = new Channel({ capacity: 1 << 17 });
        const btx = batchRx.sender();
        const brx2 = batchRx.receiver();
        for (const n of [5, 9000, 100000]) btx.trySend(big(n, 7));
        btx.close();
        const sizes = [];
        for await (const batch of brx2.batches()) for (const v of batch) sizes.push(v.byteLength);
        console.log(JSON.stringify({
          zeroCopy: [rx.zeroCopy, brx.zeroCopy, workerZeroCopy, brx2.zeroCopy],
          intact,
          released: held.map((b) => rx.release(b)).concat(brx.release(bheld)),
          inUse: [ch.stats().pool.inUse, bc.stats().pool.inUse, batchRx.stats().pool.inUse],
          broadcastIntact: bheld.byteLength === 20000 && new Uint8Array(bheld)[19999] === 1,
          sizes,
        }));
      })();
    `);
    assert.deepEqual(report.zeroCopy, [false, false, false, false]);
    assert.equal(report.intact, true);
    assert.deepEqual(report.released, [false, false, false, false, false]);
    // The broadcast's ring still references its last message; nothing else is leased.
    assert.deepEqual(report.inUse, [0, 1, 0]);
    assert.equal(report.broadcastIntact, true);
    assert.deepEqual(report.sizes, [5, 9000, 100000]);
  });
});
