'use strict';

const assert = require('node:assert/strict');
const { Channel } = require('..');
const { taggedMessage, checkTagged, startWorker, nextMessage, sleep } = require('./helpers');

// Receives until the end; checks each producer's messages arrive whole and in order.
async function receiveTagged(rx, next = new Map() /* producer id -> next expected seq */) {
  let error;
  try {
    for await (const buffer of rx) {
      const { id, seq } = checkTagged(buffer);
      assert.equal(seq, next.get(id) ?? 0, `producer ${id}: message ${seq} out of order`);
      next.set(id, seq + 1);
    }
  } catch (e) {
    error = e;
  }
  return { counts: next, error };
}

describe('Multi-producer queue', function () {
  this.timeout(120000);

  it("a second sender() upgrades an 'auto' channel; the receiver ends when every sender has closed", async () => {
    const ch = new Channel({ capacity: 1 << 20 });
    assert.equal(ch.producers, 'auto');
    const rx = ch.receiver();
    const a = ch.sender();
    for (let i = 0; i < 100; i++) await a.send(taggedMessage(1, i));
    const b = Channel.from(ch.handle).sender(); // mid-stream
    for (let i = 100; i < 200; i++) {
      await a.send(taggedMessage(1, i));
      await b.send(taggedMessage(2, i - 100));
    }
    a.close();
    assert.deepEqual(checkTagged(await rx.recv()), { id: 1, seq: 0 });
    await b.send(taggedMessage(2, 100)); // b still sends after a closed
    b.close();
    const { counts, error } = await receiveTagged(rx, new Map([[1, 1]]));
    assert.equal(error, undefined);
    assert.equal(counts.get(1), 200);
    assert.equal(counts.get(2), 101);
  });

  it("producers: 'single' refuses a second sender", () => {
    const ch = new Channel({ capacity: 4096, producers: 'single' });
    ch.sender();
    assert.throws(() => ch.sender(), { code: 'ERR_CHANNEL_ROLE_TAKEN' });
    assert.throws(() => Channel.from(ch.handle).sender(), { code: 'ERR_CHANNEL_ROLE_TAKEN' });
  });

  it('a sender created after the last one closed finds the channel closed', async () => {
    const ch = new Channel({ capacity: 4096 });
    ch.sender().close();
    await assert.rejects(ch.sender().send('late'), { code: 'ERR_CHANNEL_CLOSED' });
  });

  it('a full channel holds back every producer and lets each through in turn', async () => {
    const ch = new Channel({ capacity: 1024 });
    const rx = ch.receiver();
    const senders = [ch.sender(), ch.sender(), ch.sender()];
    const sends = [];
    for (let i = 0; i < 30; i++) senders.forEach((tx, id) => sends.push(tx.send(taggedMessage(id, i))));
    await sleep(10);
    for (const tx of senders) tx.close();
    const { counts, error } = await receiveTagged(rx);
    await Promise.all(sends);
    assert.equal(error, undefined);
    assert.deepEqual([...counts.values()], [30, 30, 30]);
  });

  it('4 producer workers join a live stream and leave at different times; one is terminated mid-stream', async () => {
    const ch = new Channel({ capacity: 1 << 16 });
    const rx = ch.receiver();
    // The stream ends when the last open sender ends: hold one open until all joined.
    const keeper = ch.sender();
    const plans = [
      { id: 0, count: 5000, delay: 0 },
      { id: 1, count: 3000, delay: 20 },
      { id: 2, count: 4000, delay: 60 },
      { id: 3, count: 500, delay: 40, then: 'hang' }, // terminated while still sending
    ];
    const workers = plans.map((plan) => startWorker('multi-producer', { handle: ch.handle, ...plan }));
    const received = receiveTagged(rx);
    await Promise.all(workers.map((w) => nextMessage(w))); // every producer has joined
    keeper.close();
    await nextMessage(workers[3]); // it has sent its first 500 and goes on
    await sleep(50);
    await workers[3].terminate();
    await Promise.all(workers.slice(0, 3).map((w) => w.exited));
    const { counts, error } = await received;
    assert.equal(counts.get(0), 5000);
    assert.equal(counts.get(1), 3000);
    assert.equal(counts.get(2), 4000);
    assert.ok(counts.get(3) >= 500, 'what the terminated producer committed arrived, in order');
    // A producer died without close(): the end is a disconnect, not a clean close.
    assert.equal(error?.code, 'ERR_CHANNEL_DISCONNECTED');
  });

  it('the stream ends cleanly when every producer worker closes', async () => {
    const ch = new Channel({ capacity: 1 << 14 });
    const rx = ch.receiver();
    const keeper = ch.sender();
    const workers = [0, 1, 2, 3].map((id) => startWorker('multi-producer', { handle: ch.handle, id, count: 2000, delay: id * 5 }));
    const received = receiveTagged(rx);
    await Promise.all(workers.map((w) => nextMessage(w))); // all four have joined
    keeper.close();
    const { counts, error } = await received;
    await Promise.all(workers.map((w) => w.exited));
    assert.equal(error, undefined);
    assert.deepEqual([0, 1, 2, 3].map((id) => counts.get(id)), [2000, 2000, 2000, 2000]);
  });
});
