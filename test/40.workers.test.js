'use strict';

const assert = require('node:assert/strict');
const { Channel, ChannelError } = require('..');
const { checkMessage, messageFor, startWorker, nextMessage, collectGarbage, sleep } = require('./helpers');

const CAPACITY = 1 << 16;
// Message 777 is larger than the capacity: it must still get through.
const STREAM = { hugeAt: 777, hugeSize: 5 * CAPACITY + 3 };

// Observes a promise's outcome at once, so an early rejection is never "unhandled".
function settled(promise) {
  return promise.then(
    (value) => ({ status: 'fulfilled', value }),
    (reason) => ({ status: 'rejected', reason })
  );
}

async function receiveAll(rx, options = {}) {
  let received = 0;
  try {
    for await (const buffer of rx.iterate(options)) checkMessage(buffer, received++, STREAM);
  } catch (error) {
    return { received, error };
  }
  return { received };
}

describe('Channel across real Workers', function () {
  this.timeout(120000);

  it('streams 100k messages of random sizes worker -> main, in order and intact', async () => {
    const ch = new Channel({ capacity: CAPACITY });
    const worker = startWorker('producer', { handle: ch.handle, count: 100000, stream: STREAM });
    const { received, error } = await receiveAll(ch.receiver());
    assert.equal(error, undefined);
    assert.equal(received, 100000);
    assert.equal(await worker.exited, 0);
    const s = ch.stats();
    assert.equal(s.sent, 100000);
    assert.equal(s.received, 100000);
    assert.equal(s.pendingBytes, 0);
  });

  it('streams 100k messages main -> worker, with autoRelease', async () => {
    const ch = new Channel({ capacity: CAPACITY });
    const worker = startWorker('consumer', { handle: ch.handle, stream: STREAM, autoRelease: true });
    const tx = ch.sender();
    for (let i = 0; i < 100000; i++) await tx.send(messageFor(i, STREAM));
    tx.close();
    const result = await nextMessage(worker);
    assert.equal(result.error, undefined);
    assert.equal(result.received, 100000);
    assert.equal(await worker.exited, 0);
  });

  it('sendSync in a worker streams to an async receiver', async () => {
    const ch = new Channel({ capacity: CAPACITY });
    const worker = startWorker('producer', { handle: ch.handle, count: 20000, sync: true, stream: STREAM });
    const { received, error } = await receiveAll(ch.receiver());
    assert.equal(error, undefined);
    assert.equal(received, 20000);
    await worker.exited;
  });

  it('recvSync in the main thread receives from a worker', async () => {
    const ch = new Channel({ capacity: CAPACITY });
    const rx = ch.receiver();
    const worker = startWorker('producer', { handle: ch.handle, count: 5000, stream: STREAM });
    let received = 0;
    for (let b; (b = rx.recvSync({ timeout: 10000 })) !== null; ) checkMessage(b, received++, STREAM);
    assert.equal(received, 5000);
    await worker.exited;
  });

  it('closeWithError delivers name, message and code to another thread', async () => {
    const ch = new Channel({ capacity: CAPACITY });
    const rx = ch.receiver();
    const worker = startWorker('producer', { handle: ch.handle, count: 3, then: 'closeWithError' });
    await worker.exited;
    await assert.rejects(
      rx.recv(),
      (e) => e instanceof ChannelError && e.name === 'TypeError' && e.message === 'the producer gave up' && e.code === 'ERR_PRODUCER'
    );
  });

  for (const [how, then, terminate] of [
    ['worker.terminate()', 'hang', true],
    ['process.exit() in the producer', 'exit', false],
    ['an uncaught exception in the producer', 'throw', false],
  ]) {
    it(`${how}: the receiver drains what was committed, then gets ERR_CHANNEL_DISCONNECTED`, async () => {
      // Roomy enough that all 2000 messages are committed before the crash.
      const ch = new Channel({ capacity: 8 << 20 });
      const worker = startWorker('producer', { handle: ch.handle, count: 2000, then });
      worker.on('error', () => {}); // the uncaught exception case
      if (terminate) {
        await nextMessage(worker); // all 2000 committed
        await worker.terminate();
      }
      await worker.exited.catch(() => {}); // the others exit by themselves after sending
      let received = 0;
      let error;
      try {
        for await (const buffer of ch.receiver()) checkMessage(buffer, received++);
      } catch (e) {
        error = e;
      }
      assert.equal(received, 2000);
      assert.ok(error instanceof ChannelError, String(error));
      assert.equal(error.code, 'ERR_CHANNEL_DISCONNECTED');
    });
  }

  it('a receiver waiting when the producer is terminated wakes with ERR_CHANNEL_DISCONNECTED', async () => {
    const ch = new Channel({ capacity: CAPACITY });
    const rx = ch.receiver();
    const worker = startWorker('producer', { handle: ch.handle, count: 0, then: 'hang' });
    await nextMessage(worker);
    const pending = assert.rejects(rx.recv(), { code: 'ERR_CHANNEL_DISCONNECTED' });
    await sleep(20);
    await worker.terminate();
    await pending;
  });

  for (const [how, then] of [
    ['exits', 'exit'],
    ['is terminated', 'hang'],
  ]) {
    it(`a sender blocked on a full channel rejects ERR_CHANNEL_DISCONNECTED when the receiver's thread ${how}`, async () => {
      const ch = new Channel({ capacity: 4096 });
      const tx = ch.sender();
      const worker = startWorker('consumer', { handle: ch.handle, stopAfter: 10, then });
      // The receiver reads 10, then stops reading: the rest fill the channel and wait.
      const sends = [];
      for (let i = 0; i < 200; i++) sends.push(settled(tx.send(messageFor(i))));
      const result = await nextMessage(worker);
      assert.equal(result.received, 10);
      if (then === 'hang') {
        await sleep(20);
        await worker.terminate();
      }
      await worker.exited;
      const outcomes = await Promise.all(sends);
      const rejected = outcomes.filter((o) => o.status === 'rejected');
      assert.ok(rejected.length > 0, 'some sends must have been waiting');
      for (const o of rejected) assert.equal(o.reason.code, 'ERR_CHANNEL_DISCONNECTED');
      await assert.rejects(tx.send('x'), { code: 'ERR_CHANNEL_DISCONNECTED' });
    });
  }

  it('a blocked sender rejects ERR_CHANNEL_DISCONNECTED when the receiver is garbage-collected', async () => {
    const ch = new Channel({ capacity: 1024 });
    const tx = ch.sender();
    (() => {
      ch.receiver(); // dropped at once
    })();
    const sends = [];
    for (let i = 0; i < 20; i++) sends.push(settled(tx.send(Buffer.alloc(100))));
    await collectGarbage();
    const outcomes = await Promise.all(sends);
    assert.ok(outcomes.some((o) => o.status === 'rejected' && o.reason.code === 'ERR_CHANNEL_DISCONNECTED'));
  });

  it('a producer collected without close() disconnects its receiver after the drain', async () => {
    const ch = new Channel({ capacity: 1 << 16 });
    const rx = ch.receiver();
    (() => {
      const tx = ch.sender();
      tx.trySend('last words');
    })();
    await collectGarbage();
    assert.equal(Buffer.from(await rx.recv()).toString(), 'last words');
    await assert.rejects(rx.recv(), { code: 'ERR_CHANNEL_DISCONNECTED' });
  });

  it('buffers stay valid after close, after the producer thread is gone, and after every channel object is collected', async () => {
    let ch = new Channel({ capacity: CAPACITY });
    const worker = startWorker('producer', { handle: ch.handle, count: 300, stream: STREAM });
    let rx = ch.receiver();
    const held = [];
    for await (const b of rx) held.push(b);
    assert.equal(held.length, 300);
    await worker.exited;
    const slabBacked = held.filter((b) => b.byteLength > 4096).length;
    assert.ok(slabBacked > 10, 'the stream has pool-backed buffers');
    ch = null;
    rx = null;
    await collectGarbage(5);
    // Allocate over the freed memory, then read every buffer.
    const noise = [];
    for (let i = 0; i < 20; i++) noise.push(new SharedArrayBuffer(1 << 20));
    held.forEach((b, i) => checkMessage(b, i, STREAM));
    assert.equal(noise.length, 20);
  });

  for (const call of ['recvSync', 'sendSync']) {
    it(`worker.terminate() ends a thread blocked in ${call}() without a timeout, and its peer is told`, async () => {
      const ch = new Channel({ capacity: 4096 });
      const peer = call === 'recvSync' ? ch.sender() : ch.receiver();
      const worker = startWorker('blocked', { handle: ch.handle, call });
      assert.equal(await nextMessage(worker), 'ready');
      await sleep(100); // now asleep in the kernel
      await worker.terminate(); // would hang if the sleep could not be interrupted
      if (call === 'recvSync') {
        await assert.rejects(peer.send('x'), { code: 'ERR_CHANNEL_DISCONNECTED' });
      } else {
        // What the worker committed drains, then the disconnect shows.
        assert.throws(() => {
          // Bounded: a receiver that never advances would hand out messages for ever.
          for (let n = 0; peer.tryRecv() !== undefined; n++) assert.ok(n < 1e6, 'tryRecv() never ran dry');
        }, { code: 'ERR_CHANNEL_DISCONNECTED' });
        await assert.rejects(peer.recv(), { code: 'ERR_CHANNEL_DISCONNECTED' });
      }
    });
  }

  it('a second receiver in another thread gets ERR_CHANNEL_ROLE_TAKEN', async () => {
    const ch = new Channel({ capacity: 4096 });
    ch.receiver();
    const worker = startWorker('claim-receiver', { handle: ch.handle });
    assert.deepEqual(await nextMessage(worker), { name: 'ChannelError', code: 'ERR_CHANNEL_ROLE_TAKEN' });
    await worker.exited;
  });
});
