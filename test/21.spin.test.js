'use strict';

// The receivers' `spin` option: a receive that finds nothing polls shared memory for
// up to `spin` µs before it sleeps. Behaviour only (never timing): a polling receiver
// gets everything in order, still sleeps and is woken once its poll runs out, gives
// its thread back to the event loop, and honours close, abort and timeouts.
const assert = require('node:assert/strict');
const { setTimeout: delay } = require('node:timers/promises');
const { Channel, Broadcast } = require('..');
const { checkMessage, startWorker } = require('./helpers');

// The largest budget: a receive that finds nothing holds the thread 10 ms at most.
const LONGEST = 10_000;

describe('receiver({ spin })', () => {
  it('is 50 µs by default, reported by receiver.spin; 0 and the maximum are accepted', () => {
    assert.equal(new Channel().receiver().spin, 50);
    assert.equal(new Channel().receiver({ spin: undefined }).spin, 50);
    assert.equal(new Channel().receiver({ spin: 0 }).spin, 0);
    assert.equal(new Channel().receiver({ spin: LONGEST }).spin, LONGEST);
    assert.equal(new Broadcast().receiver({ spin: 200 }).spin, 200);
  });

  it('rejects a spin that is not an integer from 0 to 10000, and claims nothing then', () => {
    const ch = new Channel();
    for (const spin of [-1, 1.5, LONGEST + 1, Number.NaN, Infinity]) {
      assert.throws(() => ch.receiver({ spin }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }, `spin ${spin}`);
      assert.throws(() => new Broadcast().receiver({ spin }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    }
    for (const spin of ['50', null, 50n, {}]) {
      assert.throws(() => ch.receiver({ spin }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    }
    assert.equal(ch.receiver({ spin: 1 }).spin, 1); // the role was still free
  });

  for (const spin of [0, 1, 200, LONGEST]) {
    it(`spin ${spin}: 2,000 round trips through a worker arrive in order and intact`, async () => {
      const [there, back] = [new Channel(), new Channel()];
      const tx = there.sender();
      const rx = back.receiver({ spin });
      const worker = startWorker('echo', { there: there.handle, back: back.handle, spin });
      for (let i = 0; i < 2000; i++) {
        const ping = new Uint8Array(8 + (i % 64)).fill(i & 255);
        await tx.send(ping);
        assert.deepEqual(new Uint8Array(await rx.recv()), ping, `round trip ${i}`);
      }
      tx.close();
      assert.equal(await rx.recv(), null);
      assert.equal(await worker.exited, 0);
    });
  }

  for (const spin of [1, 100]) {
    it(`spin ${spin}: messages that come after each poll ran out wake the sleeping receiver, in order`, async () => {
      const ch = new Channel({ capacity: 1 << 16 });
      const rx = ch.receiver({ spin });
      const worker = startWorker('paced-producer', { handle: ch.handle, count: 300, napMs: 1 });
      let received = 0;
      for await (const buffer of rx) checkMessage(buffer, received++);
      assert.equal(received, 300);
      assert.equal(await worker.exited, 0);
    });
  }

  it('a pending recv() with the longest spin gives the thread back to the event loop, then resolves', async () => {
    const ch = new Channel();
    const tx = ch.sender();
    const rx = ch.receiver({ spin: LONGEST });
    const pending = rx.recv();
    let ticks = 0;
    while (ticks < 3) {
      await delay(1); // runs only if the receiver sleeps instead of polling on
      ticks++;
    }
    await tx.send('late');
    assert.equal(Buffer.from(await pending).toString(), 'late');
  });

  it('batches() with a spin waits, sleeps and wakes like recv()', async () => {
    const ch = new Channel({ capacity: 1 << 16 });
    const rx = ch.receiver({ spin: 100 });
    const worker = startWorker('paced-producer', { handle: ch.handle, count: 50, napMs: 1 });
    let received = 0;
    for await (const batch of rx.batches()) {
      for (const view of batch) checkMessage(view.slice().buffer, received++);
    }
    assert.equal(received, 50);
    assert.equal(await worker.exited, 0);
  });

  it('honours timeout, AbortSignal, channel.close() and receiver.close() while polling', async () => {
    const ch = new Channel();
    const tx = ch.sender();
    const rx = ch.receiver({ spin: LONGEST });
    await assert.rejects(rx.recv({ timeout: 5 }), { code: 'ERR_TIMEOUT' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 5);
    await assert.rejects(rx.recv({ signal: controller.signal }), { name: 'AbortError' });
    await tx.send('still here');
    assert.equal(Buffer.from(await rx.recv()).toString(), 'still here');
    setTimeout(() => ch.close(), 5);
    assert.equal(await rx.recv(), null);

    const other = new Channel();
    const mine = other.receiver({ spin: LONGEST });
    setTimeout(() => mine.close(), 5);
    assert.equal(await mine.recv(), null);
  });

  it('a close from another thread ends a polling receiver', async () => {
    const ch = new Channel();
    const rx = ch.receiver({ spin: LONGEST });
    const worker = startWorker('producer', { handle: ch.handle, count: 3 });
    for (let i = 0; i < 3; i++) checkMessage(await rx.recv(), i);
    assert.equal(await rx.recv(), null);
    assert.equal(await worker.exited, 0);
  });

  it('a broadcast receiver polls too, and gets every message in order', async () => {
    const bc = new Broadcast();
    const rx = bc.receiver({ spin: 200 });
    const tx = bc.sender();
    const pending = rx.recv();
    tx.send('first');
    assert.equal(Buffer.from(await pending).toString(), 'first');
    for (let i = 0; i < 100; i++) tx.send(String(i));
    for (let i = 0; i < 100; i++) assert.equal(Buffer.from(await rx.recv()).toString(), String(i));
  });

  for (const spin of [0, LONGEST]) {
    it(`recvSync with spin ${spin} receives a worker's stream in order, and times out when nothing comes`, async () => {
      const ch = new Channel({ capacity: 1 << 16 });
      const rx = ch.receiver({ spin });
      assert.throws(() => rx.recvSync({ timeout: 2 }), { code: 'ERR_TIMEOUT' });
      const worker = startWorker('paced-producer', { handle: ch.handle, count: 30, napMs: 1 });
      // Bounded: mocha's timeout cannot interrupt a blocked thread.
      for (let i = 0; i < 30; i++) checkMessage(rx.recvSync({ timeout: 10000 }), i);
      assert.equal(rx.recvSync({ timeout: 10000 }), null);
      assert.equal(await worker.exited, 0);
    });
  }
});
