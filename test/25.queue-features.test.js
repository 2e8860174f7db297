'use strict';

const assert = require('node:assert/strict');
const { Channel } = require('..');
const { sleep, collectGarbage, startWorker, messageFor, checkMessage } = require('./helpers');

const text = (buffer) => Buffer.from(buffer).toString();
const bytes = (n, fill) => Buffer.alloc(n, fill);

describe('Queue: backpressure modes, batches, waiting options', () => {
  describe("backpressure: 'grow'", () => {
    it('never waits or rejects, delivers everything in order, and copies what it buffers', async () => {
      const ch = new Channel({ capacity: 1024, backpressure: 'grow' });
      assert.equal(ch.backpressure, 'grow');
      const tx = ch.sender();
      const rx = ch.receiver();
      const reused = Buffer.alloc(100);
      for (let i = 0; i < 200; i++) {
        reused.fill(i);
        await tx.send(reused); // resolves at once although 200 x 100 B > 1 KiB
      }
      assert.equal(tx.trySend(bytes(100, 200)), true);
      tx.sendSync(bytes(100, 201), { timeout: 1000 }); // 'grow' never waits; bounded if it did
      tx.close();
      let n = 0;
      for await (const b of rx) {
        assert.equal(b.byteLength, 100);
        assert.equal(new Uint8Array(b)[99], n++);
      }
      assert.equal(n, 202);
    });

    it('grows across threads: a slow receiver in a worker gets every message', async () => {
      const ch = new Channel({ capacity: 4096, backpressure: 'grow' });
      const worker = startWorker('consumer', { handle: ch.handle });
      const tx = ch.sender();
      for (let i = 0; i < 3000; i++) await tx.send(messageFor(i));
      tx.close();
      const result = await new Promise((resolve) => worker.once('message', resolve));
      assert.equal(result.error, undefined);
      assert.equal(result.received, 3000);
      await worker.exited;
    });
  });

  describe('ready()', () => {
    it('resolves at once with room, waits while full, and honours timeout and signal', async () => {
      const ch = new Channel({ capacity: 1024 });
      const tx = ch.sender();
      const rx = ch.receiver();
      await tx.ready();
      assert.equal(tx.trySend(bytes(1024)), true); // exactly full
      await assert.rejects(tx.ready({ timeout: 20 }), { code: 'ERR_TIMEOUT' });
      await assert.rejects(tx.ready({ signal: AbortSignal.abort() }), { name: 'AbortError' });
      let ready = false;
      const waiting = tx.ready().then(() => (ready = true));
      await sleep(10);
      assert.equal(ready, false);
      rx.tryRecv();
      await waiting;
      assert.equal(tx.trySend(bytes(100)), true);
    });

    it('rejects ERR_CHANNEL_DISCONNECTED when the receiver closes', async () => {
      const ch = new Channel({ capacity: 1024 });
      const tx = ch.sender();
      const rx = ch.receiver();
      tx.trySend(bytes(1024));
      const waiting = assert.rejects(tx.ready(), { code: 'ERR_CHANNEL_DISCONNECTED' });
      rx.close();
      await waiting;
    });
  });

  describe('timeouts and signals on sends', () => {
    it('send({ timeout }) rejects ERR_TIMEOUT and the message is never delivered', async () => {
      const ch = new Channel({ capacity: 1024 });
      const tx = ch.sender();
      const rx = ch.receiver();
      for (let n = 0; tx.trySend(bytes(100, 1)); n++) assert.ok(n < 1024, 'a 1 KiB channel never filled');
      await assert.rejects(tx.send(bytes(100, 2), { timeout: 20 }), { name: 'ChannelError', code: 'ERR_TIMEOUT' });
      const ac = new AbortController();
      const aborted = tx.send(bytes(100, 3), { signal: ac.signal });
      ac.abort();
      await assert.rejects(aborted, { name: 'AbortError' });
      const later = tx.send(bytes(100, 4));
      tx.close();
      const seen = [];
      for await (const b of rx) seen.push(new Uint8Array(b)[0]);
      await later;
      assert.deepEqual([...new Set(seen)], [1, 4]);
    });

    it('validates waiting options', async () => {
      const ch = new Channel({ capacity: 1024 });
      const tx = ch.sender();
      await assert.rejects(tx.send('x', { timeout: -5 }), { code: 'ERR_OUT_OF_RANGE' });
      await assert.rejects(tx.send('x', { signal: 'stop' }), { code: 'ERR_INVALID_ARG_TYPE' });
      await assert.rejects(tx.ready(3), { code: 'ERR_INVALID_ARG_TYPE' });
      assert.throws(() => tx.sendSync('x', { signal: AbortSignal.abort() }), { name: 'AbortError' });
    });
  });

  describe('sendBatch / recvBatch', () => {
    it('sends a list in order, waiting for room for the rest', async () => {
      const ch = new Channel({ capacity: 1024 });
      const tx = ch.sender();
      const rx = ch.receiver();
      const list = Array.from({ length: 50 }, (_, i) => bytes(100, i));
      const sent = tx.sendBatch(list);
      const got = [];
      while (got.length < 50) for (const b of await rx.recvBatch(7)) got.push(new Uint8Array(b)[0]);
      await sent;
      assert.deepEqual(got, list.map((_, i) => i));
    });

    it("under 'reject' it rejects ERR_CHANNEL_FULL after sending what fits", async () => {
      const ch = new Channel({ capacity: 1024, backpressure: 'reject' });
      const tx = ch.sender();
      const rx = ch.receiver();
      await assert.rejects(tx.sendBatch(Array.from({ length: 20 }, () => bytes(100))), { code: 'ERR_CHANNEL_FULL' });
      assert.equal(rx.pending, 10);
    });

    it('rejects bad lists without sending anything', async () => {
      const ch = new Channel({ capacity: 1024 });
      const tx = ch.sender();
      const rx = ch.receiver();
      await assert.rejects(tx.sendBatch('nope'), { code: 'ERR_INVALID_ARG_TYPE' });
      await assert.rejects(tx.sendBatch(['ok', 42]), { code: 'ERR_INVALID_ARG_TYPE' });
      assert.equal(rx.pending, 0);
    });

    it('recvBatch waits for one, returns what is ready up to max, and [] once ended', async () => {
      const ch = new Channel({ capacity: 1 << 16 });
      const tx = ch.sender();
      const rx = ch.receiver();
      const first = rx.recvBatch(1);
      await sleep(5);
      await tx.sendBatch(['a', 'b', 'c', 'd']);
      assert.deepEqual((await first).map(text), ['a']);
      assert.deepEqual((await rx.recvBatch(2)).map(text), ['b', 'c']);
      assert.deepEqual((await rx.recvBatch()).map(text), ['d']);
      await assert.rejects(rx.recvBatch(10, { timeout: 10 }), { code: 'ERR_TIMEOUT' });
      await assert.rejects(rx.recvBatch(0), { code: 'ERR_OUT_OF_RANGE' });
      tx.close();
      assert.deepEqual(await rx.recvBatch(), []);
    });
  });

  describe('chunks(n) and readyChunks(n)', () => {
    it('chunks(n) groups exactly n, the last shorter', async () => {
      const ch = new Channel({ capacity: 1 << 16 });
      const tx = ch.sender();
      const rx = ch.receiver();
      for (let i = 0; i < 10; i++) tx.trySend(String(i));
      tx.close();
      const groups = [];
      for await (const g of rx.chunks(4)) groups.push(g.map(text).join(''));
      assert.deepEqual(groups, ['0123', '4567', '89']);
    });

    it('readyChunks(n) yields what is ready, up to n', async () => {
      const ch = new Channel({ capacity: 1 << 16 });
      const tx = ch.sender();
      const rx = ch.receiver();
      for (let i = 0; i < 5; i++) tx.trySend(String(i));
      const it = rx.readyChunks(3)[Symbol.asyncIterator]();
      assert.deepEqual((await it.next()).value.map(text), ['0', '1', '2']);
      assert.deepEqual((await it.next()).value.map(text), ['3', '4']);
      const next = it.next();
      await sleep(5);
      tx.trySend('5');
      tx.close();
      assert.deepEqual((await next).value.map(text), ['5']);
      assert.equal((await it.next()).done, true);
    });

    it('batches of pool-backed buffers leak no slab once collected', async () => {
      const ch = new Channel({ capacity: 1 << 18 });
      const tx = ch.sender();
      const rx = ch.receiver();
      for (let i = 0; i < 12; i++) await tx.send(bytes(20000, i));
      tx.close();
      let n = 0;
      for await (const g of rx.chunks(5)) n += g.length;
      assert.equal(n, 12);
      await collectGarbage();
      assert.equal(ch.stats().pool.inUse, 0);
    });
  });

  describe('discard, pending, read', () => {
    it('discard(n) skips messages and pending/pendingBytes count what is buffered', async () => {
      const ch = new Channel({ capacity: 1 << 16 });
      const tx = ch.sender();
      const rx = ch.receiver();
      for (let i = 0; i < 6; i++) tx.trySend(bytes(i === 5 ? 20000 : 10, i));
      assert.equal(rx.pending, 6);
      assert.equal(rx.pendingBytes, 50 + 20000);
      assert.equal(new Uint8Array(rx.tryRecv())[0], 0); // pulls a batch into this thread
      assert.equal(rx.pending, 5);
      assert.equal(rx.discard(2), 2);
      assert.equal(new Uint8Array(rx.tryRecv())[0], 3);
      assert.equal(rx.discard(10), 2, 'only two were left');
      assert.equal(rx.pending, 0);
      assert.equal(rx.pendingBytes, 0);
      assert.equal(ch.stats().pool.inUse, 0, 'the discarded slab went back');
    });

    it('discard works on messages still in shared memory', () => {
      const ch = new Channel({ capacity: 1 << 16 });
      const tx = ch.sender();
      const rx = ch.receiver();
      for (let i = 0; i < 5; i++) tx.trySend(String(i));
      assert.equal(rx.discard(3), 3);
      assert.equal(text(rx.tryRecv()), '3');
    });

    it('read(maxBytes) copies across message boundaries and never waits', () => {
      const ch = new Channel({ capacity: 1 << 16 });
      const tx = ch.sender();
      const rx = ch.receiver();
      assert.equal(rx.read(10).byteLength, 0);
      tx.trySend('hello ');
      tx.trySend('world');
      tx.trySend('!!');
      assert.equal(Buffer.from(rx.read(8)).toString(), 'hello wo');
      assert.equal(Buffer.from(rx.read(2)).toString(), 'rl');
      assert.equal(text(rx.tryRecv()), 'd', 'a receive returns the rest of a message read in part');
      assert.equal(Buffer.from(rx.read(100)).toString(), '!!');
      assert.equal(rx.pendingBytes, 0);
    });

    it('read(maxBytes) copies pool-backed messages to their end, then gives their slabs back', () => {
      const ch = new Channel({ capacity: 1 << 16 });
      const tx = ch.sender();
      const rx = ch.receiver();
      tx.trySend(bytes(10000, 1)); // above the inline size: a zero-copy buffer over a slab
      assert.deepEqual(Buffer.from(rx.read(6000)), bytes(6000, 1));
      assert.deepEqual(Buffer.from(rx.read(6000)), bytes(4000, 1), 'the end of a message read in part');
      tx.trySend(bytes(10000, 2));
      tx.trySend('!!');
      assert.deepEqual(Buffer.from(rx.read(20000)), Buffer.concat([bytes(10000, 2), Buffer.from('!!')]), 'across the end of one');
      assert.equal(rx.pendingBytes, 0);
      assert.equal(ch.stats().pool.inUse, 0, 'read() released the slabs');
    });
  });

  describe("framing: 'bytes'", () => {
    it('delivers the same byte stream, coalescing small chunks and dropping empty ones', async () => {
      const ch = new Channel({ capacity: 1 << 20, framing: 'bytes' });
      assert.equal(ch.framing, 'bytes');
      const tx = ch.sender();
      const rx = ch.receiver();
      const sent = [];
      for (let i = 0; i < 1000; i++) {
        const chunk = messageFor(i).subarray(0, i % 7 === 0 ? 0 : 64);
        sent.push(Buffer.from(chunk));
        await tx.send(chunk);
      }
      sent.push(Buffer.alloc(20000, 9));
      await tx.send(Buffer.alloc(20000, 9));
      tx.close();
      const received = [];
      for await (const b of rx) {
        assert.ok(b.byteLength > 0);
        received.push(Buffer.from(b));
      }
      assert.ok(received.length < 100, `coalesced into ${received.length} buffers`);
      assert.equal(Buffer.compare(Buffer.concat(received), Buffer.concat(sent)), 0);
    });
  });

  describe('batches()', () => {
    it('delivers a worker stream in order and intact, small messages as views into one buffer', async () => {
      const ch = new Channel({ capacity: 1 << 16 });
      const worker = startWorker('producer', { handle: ch.handle, count: 20000 });
      let n = 0;
      let batches = 0;
      for await (const batch of ch.receiver().batches()) {
        batches++;
        assert.equal(batch.length, [...batch].length);
        for (const view of batch) {
          assert.ok(view instanceof Uint8Array);
          const expected = messageFor(n++);
          assert.equal(Buffer.compare(Buffer.from(view.buffer, view.byteOffset, view.byteLength), expected), 0, `message ${n - 1}`);
        }
      }
      assert.equal(n, 20000);
      assert.ok(batches < n / 4, `${batches} batches for ${n} messages`);
      await worker.exited;
    });

    it('Batch.at() indexes like Array.prototype.at; large messages keep their own buffer', async () => {
      const ch = new Channel({ capacity: 1 << 18 }); // a batch ends after 32 KiB of pool-backed messages
      const tx = ch.sender();
      const rx = ch.receiver();
      tx.trySend('first');
      tx.trySend(Buffer.alloc(20000, 7));
      tx.trySend('last');
      const it = rx.batches()[Symbol.asyncIterator]();
      const { value: batch } = await it.next();
      assert.equal(batch.length, 3);
      assert.equal(Buffer.from(batch.at(0)).toString(), 'first');
      assert.equal(Buffer.from(batch.at(-1)).toString(), 'last');
      assert.equal(batch.at(3), undefined);
      assert.equal(batch.at(1).byteLength, 20000);
      assert.equal(batch.at(1).buffer.byteLength, 20000, 'its own zero-copy buffer');
      assert.equal(batch.at(0).buffer, batch.at(2).buffer, 'small ones share one buffer');
      const next = it.next();
      await sleep(5);
      tx.trySend('after a wait');
      assert.equal(Buffer.from((await next).value.at(0)).toString(), 'after a wait');
      tx.closeWithError(new Error('stop'));
      await assert.rejects(it.next(), { message: 'stop' });
    });

    it('messages received one by one before are not lost by batches()', async () => {
      const ch = new Channel({ capacity: 1 << 16 });
      const tx = ch.sender();
      const rx = ch.receiver();
      for (let i = 0; i < 5; i++) tx.trySend(String(i));
      assert.equal(text(rx.tryRecv()), '0'); // pulls the others into this thread
      tx.close();
      const seen = [];
      for await (const batch of rx.batches()) for (const v of batch) seen.push(Buffer.from(v).toString());
      assert.deepEqual(seen, ['1', '2', '3', '4']);
    });

    it('leaks no slab once batches are collected', async () => {
      const ch = new Channel({ capacity: 1 << 18 });
      const tx = ch.sender();
      const rx = ch.receiver();
      for (let i = 0; i < 6; i++) await tx.send(bytes(20000, i));
      tx.close();
      // In a function of its own, so that no frame of this test still holds a batch.
      const count = async () => {
        let n = 0;
        for await (const batch of rx.batches()) n += batch.length;
        return n;
      };
      assert.equal(await count(), 6);
      await collectGarbage();
      assert.equal(ch.stats().pool.inUse, 0);
    });
  });

  it('the worker stream checks still hold with sendBatch', async () => {
    const ch = new Channel({ capacity: 1 << 16 });
    const rx = ch.receiver();
    const tx = ch.sender();
    const all = Array.from({ length: 2000 }, (_, i) => messageFor(i));
    const sent = (async () => {
      for (let i = 0; i < all.length; i += 100) await tx.sendBatch(all.slice(i, i + 100));
      tx.close();
    })();
    let n = 0;
    for await (const group of rx.readyChunks(50)) for (const b of group) checkMessage(b, n++);
    await sent;
    assert.equal(n, 2000);
  });
});

describe('Zero-copy send: reserve / commit / abort', () => {
  it('writes straight into pool memory and delivers the committed length', async () => {
    const ch = new Channel({ capacity: 1 << 20 });
    const tx = ch.sender();
    const rx = ch.receiver();
    const view = tx.reserve(100000);
    assert.ok(view.buffer instanceof SharedArrayBuffer, 'a view of the channel memory: no copy on commit');
    view.fill(7);
    view[0] = 1;
    await tx.commit(view, 60000);
    const small = tx.reserve(16);
    small.set([1, 2, 3]);
    await tx.commit(small, 3);
    const big = await rx.recv();
    assert.equal(big.byteLength, 60000);
    assert.equal(new Uint8Array(big)[0], 1);
    assert.equal(new Uint8Array(big)[59999], 7);
    assert.deepEqual([...new Uint8Array(await rx.recv())], [1, 2, 3]);
  });

  it('abort() gives the slab back; a view cannot be committed twice', async () => {
    const ch = new Channel({ capacity: 1 << 20 });
    const tx = ch.sender();
    const rx = ch.receiver();
    const view = tx.reserve(20000);
    assert.equal(ch.stats().pool.inUse, 1);
    tx.abort(view);
    assert.equal(ch.stats().pool.inUse, 0);
    await assert.rejects(tx.commit(view), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => tx.abort(view), { code: 'ERR_INVALID_ARG_VALUE' });
    await assert.rejects(tx.commit(new Uint8Array(10)), { code: 'ERR_INVALID_ARG_VALUE' });
    const v = tx.reserve(100);
    await assert.rejects(tx.commit(v, 101), { code: 'ERR_OUT_OF_RANGE' });
    await tx.commit(v, 100);
    assert.equal((await rx.recv()).byteLength, 100);
    assert.throws(() => tx.reserve(-1), { code: 'ERR_OUT_OF_RANGE' });
  });

  it("waits for room under 'block', keeps order with send(), and rejects FULL under 'reject'", async () => {
    const ch = new Channel({ capacity: 1 << 15 });
    const tx = ch.sender();
    const rx = ch.receiver();
    await tx.send(bytes(30000, 1));
    const view = tx.reserve(10000);
    view.fill(2);
    const committed = tx.commit(view); // waits: 30000 + 10000 > 32 KiB
    const after = tx.send(bytes(10, 3));
    assert.equal(new Uint8Array(await rx.recv())[0], 1);
    await committed;
    assert.equal(new Uint8Array(await rx.recv())[0], 2);
    assert.equal(new Uint8Array(await rx.recv())[0], 3);
    await after;

    const strict = new Channel({ capacity: 1 << 15, backpressure: 'reject' });
    const stx = strict.sender();
    await stx.send(bytes(30000));
    const v = stx.reserve(10000);
    await assert.rejects(stx.commit(v), { code: 'ERR_CHANNEL_FULL' });
    stx.abort(v); // still reserved after the failed commit
    assert.equal(strict.stats().pool.inUse, 1, 'only the buffered message holds a slab');
  });

  it('a pending commit that can never happen gives its slab back', async () => {
    const ch = new Channel({ capacity: 1 << 15 });
    const tx = ch.sender();
    const rx = ch.receiver();
    await tx.send(bytes(30000));
    const pending = tx.commit(tx.reserve(10000));
    rx.close();
    await assert.rejects(pending, { code: 'ERR_CHANNEL_DISCONNECTED' });
    assert.equal(ch.stats().pool.inUse, 0);
  });
});

describe('Send queue', () => {
  it('a timed-out send that blocked a smaller one lets the smaller one through', async () => {
    const ch = new Channel({ capacity: 1 << 15 });
    const tx = ch.sender();
    const rx = ch.receiver();
    await tx.send(bytes(30000, 1)); // 2768 bytes of room left
    const big = tx.send(bytes(10000, 2), { timeout: 20 });
    const small = tx.send(bytes(100, 3)); // fits, but waits behind `big`
    await assert.rejects(big, { code: 'ERR_TIMEOUT' });
    await small; // must not wait for the receiver now
    assert.equal(new Uint8Array(await rx.recv())[0], 1);
    assert.equal(new Uint8Array(await rx.recv())[0], 3);
  });
});
