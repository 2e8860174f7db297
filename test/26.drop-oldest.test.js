'use strict';

const assert = require('node:assert/strict');
const { Channel } = require('..');
const { startWorker, nextMessage, collectGarbage, numberedMessage, checkNumbered } = require('./helpers');

// Receives everything until the stream ends, checking each message; returns the
// sequence numbers in arrival order. The receiver takes the first message, then waits
// until the producer has sent everything, so that most of the stream is dropped.
async function receiveAfterProducerIsDone(rx, worker, keep) {
  const seqs = [];
  const sent = nextMessage(worker);
  for (let buffer; (buffer = await rx.recv()) !== null; ) {
    seqs.push(checkNumbered(buffer));
    keep?.push(buffer);
    if (seqs.length === 1) assert.equal(await sent, 'sent');
  }
  return seqs;
}

function assertIncreasing(seqs) {
  for (let i = 1; i < seqs.length; i++) {
    if (seqs[i] <= seqs[i - 1]) assert.fail(`message ${seqs[i]} after ${seqs[i - 1]}`);
  }
}

describe("Queue: backpressure 'dropOldest'", () => {
  it('a slow receiver sees an increasing subsequence that ends with the stream; stats().dropped counts what it missed', async () => {
    const ch = new Channel({ capacity: 4096, backpressure: 'dropOldest' });
    assert.equal(ch.backpressure, 'dropOldest');
    const count = 20000;
    const worker = startWorker('numbered-producer', { handle: ch.handle, count, minSize: 8, maxSize: 300 });
    const seqs = await receiveAfterProducerIsDone(ch.receiver(), worker);
    assert.equal(await worker.exited, 0);
    assertIncreasing(seqs);
    assert.equal(seqs.at(-1), count - 1, 'the end of the stream arrives');
    assert.ok(seqs.length < count / 10, `most messages were dropped (${seqs.length} arrived)`);
    const s = ch.stats();
    assert.equal(s.sent, count);
    assert.equal(s.received, seqs.length);
    assert.equal(s.dropped, count - seqs.length);
    assert.equal(s.pending, 0);
    assert.equal(s.pendingBytes, 0);
  });

  it('drops zero-copy messages whole: their slabs go back to the pool, no slab leaks after GC', async () => {
    const ch = new Channel({ capacity: 64 * 1024, poolSlabs: 16, backpressure: 'dropOldest' });
    const count = 2000;
    const worker = startWorker('numbered-producer', { handle: ch.handle, count, minSize: 5000, maxSize: 16 * 1024 });
    let kept = [];
    const seqs = await receiveAfterProducerIsDone(ch.receiver(), worker, kept);
    assert.equal(await worker.exited, 0);
    assertIncreasing(seqs);
    assert.equal(seqs.at(-1), count - 1);
    assert.ok(seqs.length < count / 2, `most messages were dropped (${seqs.length} arrived)`);
    // The buffers are external (over pool slabs) and intact after the drops. (Not a
    // loop here: a suspended async function may keep its last loop value alive.)
    kept.forEach(checkNumbered);
    let s = ch.stats();
    assert.equal(s.dropped, count - seqs.length);
    assert.ok(s.pool.highWater > 0, 'slabs were used');
    kept = null;
    await collectGarbage();
    s = ch.stats();
    assert.equal(s.pool.inUse, 0, 'every slab is back: dropped ones at once, received ones after GC');
  });

  it('has one sender: a second sender() throws ERR_CHANNEL_ROLE_TAKEN and says why', () => {
    const ch = new Channel({ backpressure: 'dropOldest', producers: 'auto' });
    ch.sender();
    assert.throws(() => ch.sender(), { code: 'ERR_CHANNEL_ROLE_TAKEN', message: /'dropOldest' channel has a single sender/ });
    assert.throws(() => Channel.from(ch.handle).sender(), { code: 'ERR_CHANNEL_ROLE_TAKEN' });
  });

  it('never waits for room: send, trySend, sendSync, commit and ready on a full channel', async () => {
    const ch = new Channel({ capacity: 1024, backpressure: 'dropOldest' });
    const tx = ch.sender();
    const rx = ch.receiver();
    for (let seq = 0; seq < 100; seq++) assert.equal(tx.trySend(numberedMessage(seq, 100)), true);
    await tx.send(numberedMessage(100, 100));
    tx.sendSync(numberedMessage(101, 100), { timeout: 1000 }); // never waits; bounded if it did
    await tx.sendBatch([numberedMessage(102, 100), numberedMessage(103, 100)]);
    const view = tx.reserve(2000); // over the inline limit: pool memory
    numberedMessage(104, 2000).copy(view);
    await tx.commit(view);
    await tx.ready();
    tx.close();
    const seqs = [];
    for await (const buffer of rx) seqs.push(checkNumbered(buffer));
    assert.deepEqual(seqs, [104], 'a message larger than the capacity drops everything before it');
    const s = ch.stats();
    assert.equal(s.sent, 105);
    assert.equal(s.dropped, 104);
  });

  it('a send after the receiver is gone rejects ERR_CHANNEL_DISCONNECTED', async () => {
    const ch = new Channel({ capacity: 1024, backpressure: 'dropOldest' });
    const tx = ch.sender();
    for (let seq = 0; seq < 20; seq++) await tx.send(numberedMessage(seq, 100));
    ch.receiver().close();
    await assert.rejects(tx.send(numberedMessage(20, 100)), { code: 'ERR_CHANNEL_DISCONNECTED' });
  });
});
