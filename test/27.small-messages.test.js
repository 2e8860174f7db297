'use strict';

// The small-message fast paths: a 'bytes' channel stages small sends in JS and hands
// them to native code together; receivers pull many small messages per crossing.
// Content and order are what these tests check, never speed.
const assert = require('node:assert/strict');
const { Channel } = require('..');
const { startWorker, messageFor, checkNumbered } = require('./helpers');

const COUNT = 6000;

// The concatenation of messages 0..count-1 of the test stream; message 4 of every 7 is
// sent as two halves by the mixed sender, which a 'message' channel keeps apart.
function expectedStream(count) {
  const parts = [];
  for (let i = 0; i < count; i++) parts.push(messageFor(i));
  return Buffer.concat(parts);
}

async function receiveAll(rx) {
  const parts = [];
  for await (const buffer of rx) parts.push(Buffer.from(new Uint8Array(buffer).slice()));
  return parts;
}

describe('small messages', () => {
  describe("framing: 'bytes' stages small sends", () => {
    for (const [capacity, backpressure] of [
      [1 << 20, 'block'],
      [8 << 10, 'block'], // a 2 KiB staging buffer; the channel is full most of the time
      [8 << 10, 'grow'],
      [8 << 10, 'reject'], // no staging: a send that does not fit must fail alone
    ]) {
      it(`a worker's mixed sends arrive as the same bytes in order (capacity ${capacity}, '${backpressure}')`, async () => {
        const ch = new Channel({ capacity, backpressure, framing: 'bytes' });
        const rx = ch.receiver();
        if (backpressure === 'reject') {
          const tx = ch.sender();
          const sent = [];
          for (let i = 0; i < 200; i++) if (tx.trySend(messageFor(i))) sent.push(messageFor(i));
          assert.ok(sent.length < 200, 'some did not fit');
          tx.close();
          assert.equal(Buffer.compare(Buffer.concat(await receiveAll(rx)), Buffer.concat(sent)), 0);
          return;
        }
        const worker = startWorker('mixed-sender', { handle: ch.handle, count: COUNT });
        const received = Buffer.concat(await receiveAll(rx));
        assert.equal(await worker.exited, 0);
        const expected = expectedStream(COUNT);
        assert.equal(received.length, expected.length);
        assert.equal(Buffer.compare(received, expected), 0);
      });
    }

    it('hands many small sends to native code as a few large ones', async () => {
      const ch = new Channel({ capacity: 1 << 20, framing: 'bytes' });
      const tx = ch.sender();
      const rx = ch.receiver();
      for (let i = 0; i < 4096; i++) await tx.send(messageFor(i).subarray(0, 64));
      tx.close();
      assert.ok(ch.stats().sent <= 8, `${ch.stats().sent} sends reached shared memory for 256 KiB`);
      const parts = await receiveAll(rx);
      assert.ok(parts.length <= 8, `${parts.length} buffers`);
    });

    it('hands staged bytes over when the tick ends, without another call', async () => {
      const ch = new Channel({ capacity: 1 << 20, framing: 'bytes' });
      const tx = ch.sender();
      const rx = ch.receiver();
      tx.send('hello, ');
      assert.equal(tx.trySend('world'), true);
      await new Promise(setImmediate);
      assert.equal(ch.stats().bytesSent, 12);
      assert.equal(Buffer.from(rx.tryRecv()).toString(), 'hello, world');
    });

    it('copies at send: changing the source afterwards changes nothing', async () => {
      const ch = new Channel({ capacity: 1 << 20, framing: 'bytes' });
      const tx = ch.sender();
      const rx = ch.receiver();
      const source = Buffer.from('abcdef');
      await tx.send(source);
      source.fill(0);
      tx.close();
      assert.equal(Buffer.concat(await receiveAll(rx)).toString(), 'abcdef');
    });

    it('closeWithError() drops staged bytes with everything else buffered', async () => {
      const ch = new Channel({ capacity: 1 << 20, framing: 'bytes' });
      const tx = ch.sender();
      const rx = ch.receiver();
      tx.send('lost'); // staged until this tick ends
      tx.closeWithError(new RangeError('gave up'));
      await assert.rejects(rx.recv(), { name: 'RangeError', message: 'gave up' });
      await new Promise(setImmediate);
      assert.equal(ch.stats().bytesSent, 0);
    });
  });

  describe('receivers cut small messages out of one staging buffer', () => {
    // Sizes 8..6000 B: many per poll, from far below the staging buffer's share to more
    // than fits (those get a buffer of their own), some above the inline size (slabs).
    const count = 20000;
    const stream = (handle) => startWorker('numbered-producer', { handle, count, minSize: 8, maxSize: 6000 });
    const check = (buffer, expected) => assert.equal(checkNumbered(buffer), expected);

    for (const zeroCopy of [true, false]) {
      it(`every message arrives whole and in order, one call after another (zeroCopy: ${zeroCopy})`, async () => {
        const ch = new Channel({ capacity: 1 << 20 });
        const rx = ch.receiver({ zeroCopy });
        const worker = stream(ch.handle);
        let n = 0;
        const seen = new Set();
        while (n < count) {
          let got;
          switch (n % 4) {
            case 0:
              got = [await rx.recv()];
              break;
            case 1:
              got = await rx.recvBatch(100);
              break;
            case 2:
              got = [rx.tryRecv() ?? (await rx.recv())];
              break;
            default:
              for await (const b of rx) {
                got = [b];
                break;
              }
          }
          for (const buffer of got) {
            assert.ok(buffer instanceof ArrayBuffer);
            assert.ok(!seen.has(buffer), 'each message has a buffer of its own');
            seen.add(buffer);
            check(buffer, n++);
          }
          if (seen.size > 1000) seen.clear();
        }
        assert.equal(await rx.recv(), null);
        assert.equal(await worker.exited, 0);
      });
    }

    it('batches() hands out the same stream, views valid after later batches', async () => {
      const ch = new Channel({ capacity: 1 << 20 });
      const worker = stream(ch.handle);
      const kept = [];
      let n = 0;
      for await (const batch of ch.receiver().batches()) {
        kept.push([n, batch.at(0)]);
        for (const view of batch) check(new Uint8Array(view).slice().buffer, n++);
      }
      assert.equal(n, count);
      for (const [seq, view] of kept) check(new Uint8Array(view).slice().buffer, seq);
      assert.equal(await worker.exited, 0);
    });
  });

  describe("framing: 'message'", () => {
    it('sendBatch() of small messages (packed into one crossing) keeps each whole and in order, across full channels', async () => {
      const ch = new Channel({ capacity: 4096 });
      const tx = ch.sender();
      const rx = ch.receiver();
      const expected = [];
      const lists = [];
      for (let l = 0; l < 40; l++) {
        const list = [];
        for (let i = 0; i < 50; i++) {
          const m = messageFor(l * 50 + i).subarray(0, (l * 50 + i) % 300);
          expected.push(Buffer.from(m));
          list.push(i % 3 === 0 ? m : i % 3 === 1 ? new DataView(m.buffer, m.byteOffset, m.length) : m.buffer.slice(m.byteOffset, m.byteOffset + m.length));
        }
        lists.push(list);
      }
      const sending = Promise.all(lists.map((list) => tx.sendBatch(list))).then(() => tx.close());
      const received = await receiveAll(rx);
      await sending;
      assert.equal(received.length, expected.length);
      for (let i = 0; i < expected.length; i++) assert.equal(Buffer.compare(received[i], expected[i]), 0, `message ${i}`);
    });

    it("a worker's mixed sends arrive as the same messages in order", async () => {
      const ch = new Channel({ capacity: 8 << 10 });
      const rx = ch.receiver();
      const worker = startWorker('mixed-sender', { handle: ch.handle, count: COUNT });
      const received = await receiveAll(rx);
      assert.equal(await worker.exited, 0);
      let n = 0;
      for (let i = 0; i < COUNT; i++) {
        const m = messageFor(i);
        const parts = i % 7 === 4 ? [m.subarray(0, m.length >> 1), m.subarray(m.length >> 1)] : [m];
        for (const part of parts) assert.equal(Buffer.compare(received[n++], part), 0, `message ${i}`);
      }
      assert.equal(n, received.length);
    });
  });
});
