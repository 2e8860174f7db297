'use strict';

// What a zero-copy receiver lends: a message over pool memory goes out as an external
// buffer over its slab while the receiver's live lent buffers hold less than an eighth
// of the capacity; past that it goes out as a copy and its slab returns at once, unless
// it is 128 KiB or more (always lent: a fresh allocation that large costs more than a
// heap fallback). release() tells the two apart: true only for a lent buffer.
const assert = require('node:assert/strict');
const { Channel } = require('..');
const { startWorker, checkNumbered, collectGarbage } = require('./helpers');

const SIZE = 64 << 10;
const CAPACITY = 1 << 20; // lends up to 128 KiB: two of these messages

// A worker sends `count` numbered messages of SIZE; resolves its exit code.
function produce(ch, count) {
  return startWorker('numbered-producer', { handle: ch.handle, count, minSize: SIZE, maxSize: SIZE }).exited;
}

describe('Lending pool memory', () => {
  it('a receiver that drops every buffer never runs the pool dry', async () => {
    // Without the budget, dropped buffers kept their slabs until a collection, and the
    // sender fell back to the heap for nearly every message.
    const ch = new Channel({ capacity: CAPACITY });
    const exited = produce(ch, 3000);
    let seq = 0;
    for await (const buffer of ch.receiver()) assert.equal(checkNumbered(buffer), seq++);
    assert.equal(seq, 3000);
    assert.equal(await exited, 0);
    assert.equal(ch.stats().pool.fallbacks, 0);
  });

  it('a receiver that keeps every buffer gets copies past the budget, all of them valid', async () => {
    const ch = new Channel({ capacity: CAPACITY });
    const exited = produce(ch, 300);
    const rx = ch.receiver();
    const held = [];
    for await (const buffer of rx) held.push(buffer);
    assert.equal(await exited, 0);
    assert.equal(held.length, 300);
    assert.equal(ch.stats().pool.fallbacks, 0);
    const lent = held.filter((b) => rx.release(b)).length;
    assert.ok(lent >= 1 && lent <= 2, `${lent} lent: at most the budget's two messages are live at once`);
    assert.equal(ch.stats().pool.inUse, 0);
    let seq = 0;
    for (const buffer of held) {
      if (buffer.byteLength !== 0) assert.equal(checkNumbered(buffer), seq); // the released ones are detached
      seq++;
    }
  });

  it('kept copies outlive the channel and a collection', async () => {
    let ch = new Channel({ capacity: CAPACITY });
    const exited = produce(ch, 50);
    const held = [];
    for await (const buffer of ch.receiver()) held.push(buffer);
    assert.equal(await exited, 0);
    ch = null;
    await collectGarbage();
    held.forEach((buffer, seq) => assert.equal(checkNumbered(buffer), seq));
  });

  it('a receiver that releases each buffer keeps getting them zero-copy', async () => {
    const ch = new Channel({ capacity: CAPACITY });
    const exited = produce(ch, 500);
    const rx = ch.receiver();
    for (let seq = 0; seq < 500; seq++) {
      const buffer = await rx.recv();
      assert.equal(checkNumbered(buffer), seq);
      assert.equal(rx.release(buffer), true, `message ${seq} was lent`);
    }
    assert.equal(await rx.recv(), null);
    assert.equal(await exited, 0);
  });

  it('iterate({ autoRelease: true }) keeps getting them zero-copy', async () => {
    const ch = new Channel({ capacity: CAPACITY });
    const exited = produce(ch, 500);
    let previous = null;
    let seq = 0;
    for await (const buffer of ch.receiver().iterate({ autoRelease: true })) {
      // Released (detached) when the loop asked for this one: it was lent.
      if (previous) assert.equal(previous.byteLength, 0, `message ${seq - 1} was lent`);
      assert.equal(checkNumbered(buffer), seq++);
      previous = buffer;
    }
    assert.equal(seq, 500);
    assert.equal(await exited, 0);
  });

  it('messages of 128 KiB and more are lent past the budget', async () => {
    const ch = new Channel({ capacity: 4 << 20 }); // a budget of 512 KiB
    const tx = ch.sender();
    const rx = ch.receiver();
    const sizes = [128 << 10, 1 << 20, 1 << 20, 1 << 20];
    sizes.forEach((size, i) => assert.equal(tx.trySend(Buffer.alloc(size, i)), true));
    const held = sizes.map(() => rx.tryRecv());
    held.forEach((b, i) => assert.equal(new Uint8Array(b)[sizes[i] - 1], i));
    assert.deepEqual(
      held.map((b) => rx.release(b)),
      [true, true, true, true],
      'all lent, 3.1 MiB live'
    );
  });

  it('lends again once collected buffers bring the live bytes back under the budget', async () => {
    const ch = new Channel({ capacity: CAPACITY });
    const tx = ch.sender();
    const rx = ch.receiver();
    const send = (n) => {
      for (let i = 0; i < n; i++) assert.equal(tx.trySend(Buffer.alloc(SIZE, i)), true);
    };
    send(4);
    let held = [];
    for (let i = 0; i < 4; i++) held.push(rx.tryRecv());
    assert.deepEqual(held.map((b) => b.byteLength), [SIZE, SIZE, SIZE, SIZE]);
    assert.equal(ch.stats().pool.inUse, 2, 'two lent, two copied');
    held = null;
    await collectGarbage();
    assert.equal(ch.stats().pool.inUse, 0);
    send(1);
    const next = rx.tryRecv();
    assert.equal(rx.release(next), true, 'lent again');
  });
});
