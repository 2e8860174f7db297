'use strict';

const assert = require('node:assert/strict');
const vm = require('node:vm');
const { Channel, ChannelError } = require('..');
const { sleep, collectGarbage, startWorker, checkNumbered } = require('./helpers');

const text = (buffer) => Buffer.from(buffer).toString();

describe('Sender and Receiver in one thread', () => {
  for (const how of ['send', 'trySend']) {
    it(`delivers every kind of input as an ArrayBuffer, in order (${how})`, async () => {
      const ch = new Channel({ capacity: 1 << 16 });
      const tx = ch.sender();
      const rx = ch.receiver();
      const put = how === 'send' ? (data) => tx.send(data) : (data) => assert.equal(tx.trySend(data), true);
      const shared = new Uint8Array(new SharedArrayBuffer(8)).fill(4);
      const inputs = [
        'héllo',
        Buffer.from('buffer'), // a slice of Buffer's pool: a byteOffset
        new Uint8Array([1, 2, 3]).buffer,
        new Float64Array([1.5, -2]),
        new DataView(new Uint8Array([9, 8, 7, 6]).buffer, 1, 2),
        new Uint8Array(0),
        new Uint8Array([0, 1, 2, 3, 4, 5]).subarray(2, 5),
        shared.subarray(1, 3), // a view of a SharedArrayBuffer
        vm.runInNewContext('new Uint8Array([5, 6, 7]).subarray(1)'), // another realm's ArrayBuffer
      ];
      for (const data of inputs) await put(data);
      const got = [];
      for (let i = 0; i < inputs.length; i++) got.push(await rx.recv());
      assert.ok(got.every((b) => b instanceof ArrayBuffer));
      assert.equal(text(got[0]), 'héllo');
      assert.equal(text(got[1]), 'buffer');
      assert.deepEqual([...new Uint8Array(got[2])], [1, 2, 3]);
      assert.deepEqual([...new Float64Array(got[3])], [1.5, -2]);
      assert.deepEqual([...new Uint8Array(got[4])], [8, 7]);
      assert.equal(got[5].byteLength, 0);
      assert.deepEqual([...new Uint8Array(got[6])], [2, 3, 4]);
      assert.deepEqual([...new Uint8Array(got[7])], [4, 4]);
      assert.deepEqual([...new Uint8Array(got[8])], [6, 7]);
    });
  }

  it('rejects (send) or throws (trySend, sendSync) on bad data, and loses nothing', async () => {
    const ch = new Channel({ capacity: 4096 });
    const tx = ch.sender();
    const rx = ch.receiver();
    for (const bad of [42, null, undefined, {}, [1, 2], Symbol('s')]) {
      await assert.rejects(tx.send(bad), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
      assert.throws(() => tx.trySend(bad), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
      assert.throws(() => tx.sendSync(bad), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    }
    await tx.send('still fine');
    assert.equal(text(rx.tryRecv()), 'still fine');
    assert.equal(rx.tryRecv(), undefined);
    await assert.rejects(rx.recv({ timeout: -1 }), { code: 'ERR_OUT_OF_RANGE' });
    await assert.rejects(rx.recv({ timeout: 'soon' }), { code: 'ERR_INVALID_ARG_TYPE' });
    await assert.rejects(rx.recv({ signal: {} }), { code: 'ERR_INVALID_ARG_TYPE' });
    await assert.rejects(rx.recv(7), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => rx.recvSync({ timeout: NaN }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => rx.iterate({ autoRelease: 'yes' }), { code: 'ERR_INVALID_ARG_TYPE' });
  });

  it("'block' waits for room; sends that were not awaited keep their order", async () => {
    const ch = new Channel({ capacity: 1024 });
    const tx = ch.sender();
    const rx = ch.receiver();
    const sends = [];
    for (let i = 0; i < 100; i++) sends.push(tx.send(Buffer.alloc(100, i)));
    let settled = 0;
    for (const p of sends) p.then(() => settled++);
    await sleep(20);
    assert.ok(settled < 100, 'a 1 KiB channel cannot hold 10 KB');
    assert.equal(tx.trySend('jump the queue'), false, 'trySend never overtakes waiting sends');
    for (let i = 0; i < 100; i++) assert.equal(new Uint8Array(await rx.recv())[0], i);
    await Promise.all(sends);
  });

  it("'reject' fails fast with ERR_CHANNEL_FULL and keeps what was accepted", async () => {
    const ch = new Channel({ capacity: 1024, backpressure: 'reject' });
    assert.equal(ch.backpressure, 'reject');
    const tx = ch.sender();
    const rx = ch.receiver();
    let accepted = 0;
    for (;;) {
      // Bounded: sends that always resolve would starve mocha's timeout timer.
      assert.ok(accepted <= 1024, 'a 1 KiB channel accepted more than 1,000 messages');
      try {
        await tx.send(Buffer.alloc(100, accepted));
        accepted++;
      } catch (error) {
        assert.ok(error instanceof ChannelError);
        assert.equal(error.code, 'ERR_CHANNEL_FULL');
        break;
      }
    }
    assert.equal(accepted, 10);
    assert.equal(tx.trySend(Buffer.alloc(100)), false);
    assert.throws(() => tx.sendSync(Buffer.alloc(100)), { code: 'ERR_CHANNEL_FULL' });
    for (let i = 0; i < accepted; i++) assert.equal(new Uint8Array(rx.tryRecv())[0], i);
    await tx.send('room again');
  });

  it('accepts a message larger than the capacity once the channel is empty', async () => {
    const ch = new Channel({ capacity: 4096 });
    const tx = ch.sender();
    const rx = ch.receiver();
    const huge = Buffer.alloc(300000, 7);
    await tx.send('a');
    const pending = tx.send(huge);
    assert.equal(text(await rx.recv()), 'a');
    await pending;
    const got = await rx.recv();
    assert.equal(got.byteLength, huge.length);
    assert.equal(Buffer.compare(Buffer.from(got), huge), 0);
  });

  it('rejects messages over maxMessageSize with ERR_MESSAGE_TOO_LARGE', async () => {
    const ch = new Channel({ capacity: 4096, maxMessageSize: 100 });
    const tx = ch.sender();
    await assert.rejects(tx.send(new Uint8Array(101)), { code: 'ERR_MESSAGE_TOO_LARGE' });
    assert.throws(() => tx.trySend(new Uint8Array(101)), { code: 'ERR_MESSAGE_TOO_LARGE' });
    assert.throws(() => tx.sendSync(new Uint8Array(101)), { code: 'ERR_MESSAGE_TOO_LARGE' });
    await tx.send(new Uint8Array(100));
  });

  it('close() drains, then ends: the iterator finishes and recv() gives null', async () => {
    const ch = new Channel({ capacity: 4096 });
    const tx = ch.sender();
    const rx = ch.receiver();
    await tx.send('1');
    await tx.send('2');
    tx.close();
    assert.equal(tx.closed, true);
    await assert.rejects(tx.send('3'), { code: 'ERR_CHANNEL_CLOSED' });
    assert.throws(() => tx.trySend('3'), { code: 'ERR_CHANNEL_CLOSED' });
    const got = [];
    for await (const b of rx) got.push(text(b));
    assert.deepEqual(got, ['1', '2']);
    assert.equal(await rx.recv(), null);
    assert.equal(rx.recvSync({ timeout: 1000 }), null); // bounded: a lost end would block this thread
    assert.equal(rx.tryRecv(), undefined);
  });

  it('close() after sends that are still waiting delivers them first', async () => {
    const ch = new Channel({ capacity: 1024 });
    const tx = ch.sender();
    const rx = ch.receiver();
    const sends = [];
    for (let i = 0; i < 30; i++) sends.push(tx.send(Buffer.alloc(100, i)));
    tx.close();
    let n = 0;
    for await (const b of rx) assert.equal(new Uint8Array(b)[0], n++);
    assert.equal(n, 30);
    await Promise.all(sends);
  });

  it('channel.close() ends a pending recv()', async () => {
    const ch = new Channel({ capacity: 4096 });
    const rx = ch.receiver();
    const pending = rx.recv();
    await sleep(5);
    ch.close();
    assert.equal(await pending, null);
    assert.throws(() => ch.sender().trySend('x'), { code: 'ERR_CHANNEL_CLOSED' });
  });

  it('closeWithError() drops buffered data and rejects with the same name, message and code', async () => {
    const ch = new Channel({ capacity: 1 << 16 });
    const tx = ch.sender();
    const rx = ch.receiver();
    await tx.send('dropped');
    await tx.send(Buffer.alloc(10000)); // a slab: returned to the pool when dropped
    const error = new RangeError('upstream failed');
    error.code = 'ERR_UPSTREAM';
    tx.closeWithError(error);
    await assert.rejects(rx.recv(), (e) => e.name === 'RangeError' && e.message === 'upstream failed' && e.code === 'ERR_UPSTREAM');
    await assert.rejects(rx.recv(), { message: 'upstream failed' });
    await assert.rejects(tx.send('late'), { code: 'ERR_CHANNEL_CLOSED' });
    assert.equal(ch.stats().pool.inUse, 0);
  });

  it('recv() honours timeout and AbortSignal, and a later message still arrives', async () => {
    const ch = new Channel({ capacity: 4096 });
    const tx = ch.sender();
    const rx = ch.receiver();
    const t0 = Date.now();
    await assert.rejects(rx.recv({ timeout: 30 }), { name: 'ChannelError', code: 'ERR_TIMEOUT' });
    assert.ok(Date.now() - t0 >= 25);
    const ac = new AbortController();
    const aborted = rx.recv({ signal: ac.signal });
    ac.abort();
    await assert.rejects(aborted, { name: 'AbortError' });
    await assert.rejects(rx.recv({ signal: AbortSignal.abort() }), { name: 'AbortError' });
    assert.throws(() => rx.recvSync({ timeout: 10 }), { code: 'ERR_TIMEOUT' });
    await tx.send('after all that');
    assert.equal(text(await rx.recv({ timeout: 1000 })), 'after all that');
  });

  it('several pending recv() calls are served in order', async () => {
    const ch = new Channel({ capacity: 4096 });
    const tx = ch.sender();
    const rx = ch.receiver();
    const pending = [rx.recv(), rx.recv(), rx.recv()];
    tx.trySend('a');
    tx.trySend('b');
    tx.trySend('c');
    assert.deepEqual((await Promise.all(pending)).map(text), ['a', 'b', 'c']);
  });

  it('leaving a for-await loop early does not close the receiver', async () => {
    const ch = new Channel({ capacity: 4096 });
    const tx = ch.sender();
    const rx = ch.receiver();
    for (const s of ['a', 'b', 'c']) tx.trySend(s);
    for await (const b of rx) {
      assert.equal(text(b), 'a');
      break;
    }
    const rest = [];
    tx.close();
    for await (const b of rx) rest.push(text(b));
    assert.deepEqual(rest, ['b', 'c']);
  });

  it('receiver.close() disconnects the sender and returns buffered slabs', async () => {
    const ch = new Channel({ capacity: 1 << 16 });
    const tx = ch.sender();
    const rx = ch.receiver();
    await tx.send(Buffer.alloc(20000));
    assert.equal(ch.stats().pool.inUse, 1);
    rx.close();
    assert.equal(ch.stats().pool.inUse, 0);
    assert.equal(await rx.recv(), null);
    await assert.rejects(tx.send('x'), { code: 'ERR_CHANNEL_DISCONNECTED' });
  });

  it('release() returns the slab now and detaches the buffer; twice is a no-op', async () => {
    const ch = new Channel({ capacity: 1 << 16 });
    const tx = ch.sender();
    const rx = ch.receiver();
    await tx.send(Buffer.alloc(20000, 3));
    const big = await rx.recv();
    assert.equal(ch.stats().pool.inUse, 1);
    assert.equal(new Uint8Array(big)[19999], 3);
    assert.equal(rx.release(big), true);
    assert.equal(big.byteLength, 0, 'detached');
    assert.equal(ch.stats().pool.inUse, 0);
    assert.equal(rx.release(big), false);
    assert.equal(rx.release(new ArrayBuffer(8)), false);
    assert.equal(rx.release('nope'), false);
    assert.equal(ch.stats().pool.inUse, 0);
  });

  it('iterate({ autoRelease: true }) releases each buffer when the loop asks for the next', async () => {
    const ch = new Channel({ capacity: 1 << 17 });
    const tx = ch.sender();
    const rx = ch.receiver();
    for (let i = 0; i < 5; i++) await tx.send(Buffer.alloc(20000, i));
    tx.close();
    const seen = [];
    for await (const b of rx.iterate({ autoRelease: true })) {
      seen.push(b);
      assert.equal(new Uint8Array(b)[0], seen.length - 1);
      assert.ok(ch.stats().pool.inUse <= 5 - seen.length + 1);
    }
    assert.equal(seen.length, 5);
    assert.ok(seen.every((b) => b.byteLength === 0));
    assert.equal(ch.stats().pool.inUse, 0);
  });

  it('iterate({ autoRelease: true }) releases small pool buffers that come after copies', async () => {
    // Small sends arrive as copies (nothing to release); a reserve()d message of any
    // size arrives over a pool slab, and must still be given back promptly.
    const ch = new Channel({ capacity: 1 << 17 });
    const tx = ch.sender();
    const rx = ch.receiver();
    for (let i = 0; i < 3; i++) await tx.send(Buffer.alloc(16, i));
    const view = tx.reserve(8);
    view.fill(3);
    await tx.commit(view);
    await tx.send(Buffer.alloc(16, 4));
    tx.close();
    const seen = [];
    let lentAt = -1;
    for await (const b of rx.iterate({ autoRelease: true })) {
      if (seen.length === 4) {
        assert.equal(seen[3].byteLength, 0, 'the pool buffer was released when the loop asked for the next');
        assert.equal(ch.stats().pool.inUse, 0);
      }
      seen.push(b);
      assert.equal(new Uint8Array(b)[0], seen.length - 1);
      if (ch.stats().pool.inUse === 1) lentAt = seen.length - 1;
    }
    assert.equal(seen.length, 5);
    assert.equal(lentAt, 3, 'only the reserve()d message held a slab');
    assert.deepEqual(
      seen.map((b) => b.byteLength),
      [16, 16, 16, 0, 16],
      'copies are left as they are'
    );
  });

  it('garbage collection returns slabs to the pool', async () => {
    // 1 MiB: the four buffers held (80 kB) stay within what the receiver lends (128 KiB).
    const ch = new Channel({ capacity: 1 << 20 });
    const tx = ch.sender();
    const rx = ch.receiver();
    for (let i = 0; i < 4; i++) await tx.send(Buffer.alloc(20000, i));
    let held = [];
    for (let i = 0; i < 4; i++) held.push(await rx.recv());
    assert.equal(ch.stats().pool.inUse, 4);
    held = null;
    await collectGarbage();
    assert.equal(ch.stats().pool.inUse, 0);
  });

  it('a loop that always finds a message ready still lets collected buffers return their slabs', async () => {
    // Finalizers run only when the event loop turns; the receiver must yield now and then.
    const ch = new Channel({ capacity: 1 << 16, poolSlabs: 4 });
    const tx = ch.sender();
    const rx = ch.receiver();
    const message = Buffer.alloc(10000, 1);
    tx.trySend(message);
    let n = 0;
    for await (const b of rx) {
      assert.equal(b.byteLength, 10000);
      if (++n === 400) break;
      tx.trySend(message); // the next one is always ready: no waiting, no natural yield
      if (n % 2 === 0) global.gc();
    }
    // Without yielding, every send after the first four falls back (396 of 400).
    assert.ok(ch.stats().pool.fallbacks < 200, `fallbacks: ${ch.stats().pool.fallbacks} of 400`);
  });

  it('takes a larger slab when its class is empty, then falls back to the heap, and counts it', async () => {
    // Two classes of two slabs: 16 KiB and 128 KiB.
    // The messages wait in the ring (60,000 B of a 65,536 B capacity), holding their memory.
    const ch = new Channel({ capacity: 1 << 16, poolSlabs: 2 });
    const tx = ch.sender();
    const rx = ch.receiver();
    for (let i = 0; i < 6; i++) await tx.send(Buffer.alloc(10000, i));
    const { inUse, fallbacks } = ch.stats().pool;
    assert.equal(inUse, 4, 'both 16 KiB slabs, then both 128 KiB slabs');
    assert.equal(fallbacks, 2, 'the last two on the heap');
    for (let i = 0; i < 6; i++) assert.equal(new Uint8Array(await rx.recv())[9999], i);
  });

  it('pulls pool-backed messages into the thread until it lends an eighth of the capacity', async () => {
    // Each pulled message holds a slab until released: pulling a ring's worth at once
    // while the sender refills the ring would empty the pool (heap fallbacks).
    const ch = new Channel({ capacity: 1 << 20 });
    const tx = ch.sender();
    const rx = ch.receiver();
    const size = 64 << 10;
    for (let i = 0; i < 16; i++) assert.equal(tx.trySend(Buffer.alloc(size, i)), true);
    const first = await rx.recv();
    assert.equal(new Uint8Array(first)[size - 1], 0);
    assert.equal(ch.stats().pending, 14, 'one crossing took 128 KiB: two messages');
    assert.equal(rx.release(first), true);
    assert.equal(rx.pending, 15);
    let i = 1;
    for (let b = rx.tryRecv(); b !== undefined; b = rx.tryRecv()) {
      assert.equal(new Uint8Array(b)[size - 1], i++, 'in order');
      rx.release(b);
    }
    assert.equal(i, 16);
    // Small messages behind large ones still come many per crossing.
    for (let k = 0; k < 2; k++) tx.trySend(Buffer.alloc(size, k));
    for (let k = 0; k < 100; k++) tx.trySend(Buffer.alloc(8, k));
    for (let k = 0; k < 2; k++) assert.equal(new Uint8Array(rx.tryRecv())[size - 1], k);
    assert.equal(ch.stats().pending, 100);
    assert.equal(new Uint8Array(rx.tryRecv())[0], 0);
    assert.equal(ch.stats().pending, 36, 'one crossing took 64 small ones');
    const rest = await rx.recvBatch();
    assert.equal(rest.length, 99, 'recvBatch still takes all that is ready');
    rest.forEach((b, k) => assert.equal(new Uint8Array(b)[0], k + 1));
  });

  it('recvBatch() stops taking once it holds a capacity of bytes, while a worker keeps the channel full', async () => {
    // The worker refills the ring while the batch is taken: without the bound, a batch
    // grows for as long as the sender keeps up.
    const size = 64 << 10;
    const ch = new Channel({ capacity: 1 << 20 });
    const exited = startWorker('numbered-producer', { handle: ch.handle, count: 2000, minSize: size, maxSize: size }).exited;
    const rx = ch.receiver();
    let seq = 0;
    let largest = 0;
    for (let batch; (batch = await rx.recvBatch(1024)).length !== 0; ) {
      largest = Math.max(largest, batch.length);
      for (const b of batch) assert.equal(checkNumbered(b), seq++);
    }
    assert.equal(seq, 2000);
    assert.equal(await exited, 0);
    assert.ok(largest <= 17, `a batch of ${largest}: at most a capacity (16 messages) and the one that passed it`);
  });

  it('sendSync and recvSync move data without the event loop', () => {
    const ch = new Channel({ capacity: 4096 });
    const tx = ch.sender();
    const rx = ch.receiver();
    // Timeouts on waits that should not wait: mocha cannot interrupt a blocked thread.
    const bound = { timeout: 1000 };
    tx.sendSync('sync', bound);
    assert.equal(text(rx.recvSync(bound)), 'sync');
    for (let i = 0; i < 40; i++) tx.sendSync(Buffer.alloc(100), bound);
    assert.throws(() => tx.sendSync(Buffer.alloc(100), { timeout: 10 }), { code: 'ERR_TIMEOUT' });
  });
});
