'use strict';

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { once } = require('node:events');
const { pipeline, finished } = require('node:stream/promises');
const { Channel } = require('..');
const { createReadable, createWritable, createReadableStream, createWritableStream } = require('../lib/streams');
const { messageFor, startWorker, nextMessage, sleep } = require('./helpers');

const FILE_SIZE = 20 << 20;
const PRODUCER_ERROR = { name: 'TypeError', message: 'the producer gave up', code: 'ERR_PRODUCER' };

/** Every chunk of a Readable, as emitted by 'data' (whole, never joined); rejects on 'error'. */
function collect(readable) {
  const chunks = [];
  readable.on('data', (chunk) => chunks.push(chunk));
  return finished(readable).then(() => chunks);
}

/** Resolves once `condition()` holds; polls every 10 ms. */
async function until(condition, what, ms = 5000) {
  for (const deadline = Date.now() + ms; !condition(); await sleep(10)) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
  }
}

function sha256(data) {
  return crypto.createHash('sha256').update(data).digest('hex');
}

describe('Streams over a channel', function () {
  this.timeout(20000);
  let dir;
  let file;
  let fileHash;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringport-streams-'));
    file = path.join(dir, 'random.bin');
    const bytes = crypto.randomBytes(FILE_SIZE);
    fs.writeFileSync(file, bytes);
    fileHash = sha256(bytes);
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('Node streams: readable(), writable()', () => {
    it('pipes a 20 MiB file from a worker through writable() into a hash through readable()', async () => {
      const ch = new Channel({ capacity: 256 << 10 });
      const report = nextMessage(startWorker('stream-writer', { handle: ch.handle, file }));
      const hash = crypto.createHash('sha256');
      await pipeline(createReadable(ch.receiver()), hash);
      assert.equal(hash.digest('hex'), fileHash);
      assert.deepEqual(await report, { closed: true });
    });

    it('readable() pulls only up to its highWaterMark: the channel fills and the writer waits for drain', async () => {
      const capacity = 64 << 10;
      const size = 16 << 10;
      const highWaterMark = 32 << 10;
      const count = 64;
      const ch = new Channel({ capacity });
      const progress = new Int32Array(new SharedArrayBuffer(8));
      const report = nextMessage(startWorker('stream-writer', { handle: ch.handle, count, size, progress }));
      const rx = ch.receiver();
      const readable = createReadable(rx, { highWaterMark });
      readable.read(0); // start reading, without consuming

      // Full, and every completed write accounted for (write callbacks run a little
      // after their sends, later still under a sanitizer): the writer has stopped.
      const settled = () =>
        Atomics.load(progress, 1) > 0 &&
        ch.stats().pendingBytes === capacity &&
        Atomics.load(progress, 0) === readable.readableLength + rx.pendingBytes;
      await until(settled, 'a full channel and a waiting writer');
      const written = Atomics.load(progress, 0);
      await sleep(100);
      assert.equal(Atomics.load(progress, 0), written, 'the writer waits');
      assert.equal(readable.readableLength, highWaterMark);
      // The rest is still in the receiver: in shared memory, or pulled in its last batch.
      assert.equal(written, readable.readableLength + rx.pendingBytes);
      assert.ok(written < count * size);

      const chunks = await collect(readable);
      assert.equal(chunks.length, count);
      chunks.forEach((chunk, i) => assert.ok(chunk.equals(Buffer.alloc(size, i & 255)), `chunk ${i}`));
      assert.deepEqual(await report, { closed: true });
    });

    it('ending writable() ends readable() after every message, in order', async () => {
      const count = 3000; // the test stream, including some zero-length messages
      const ch = new Channel({ capacity: 64 << 10 });
      const report = nextMessage(startWorker('stream-writer', { handle: ch.handle, count, stream: {} }));
      const rx = ch.receiver();
      const chunks = await collect(createReadable(rx));
      const expected = Array.from({ length: count }, (_, i) => messageFor(i)).filter((m) => m.length !== 0);
      assert.ok(expected.length < count, 'the stream has zero-length messages');
      assert.equal(chunks.length, expected.length);
      chunks.forEach((chunk, k) => assert.ok(chunk.equals(expected[k]), `chunk ${k}`));
      assert.deepEqual(await report, { closed: true });
      assert.equal(await rx.recv(), null);
    });

    it('destroying writable() with an error fails readable() with its name, message and code', async () => {
      const ch = new Channel({ capacity: 64 << 10 });
      const report = nextMessage(startWorker('stream-writer', { handle: ch.handle, count: 8, size: 1000, then: 'error' }));
      await assert.rejects(collect(createReadable(ch.receiver())), PRODUCER_ERROR);
      assert.deepEqual(await report, { error: PRODUCER_ERROR });
    });

    it('destroying writable() without an error fails readable() with a premature close', async () => {
      const ch = new Channel({ capacity: 64 << 10 });
      startWorker('stream-writer', { handle: ch.handle, count: 8, size: 1000, then: 'destroy' });
      await assert.rejects(collect(createReadable(ch.receiver())), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
    });

    it('destroying readable() closes the receiver: the writer fails with ERR_CHANNEL_DISCONNECTED', async () => {
      const ch = new Channel({ capacity: 64 << 10 });
      const report = nextMessage(startWorker('stream-writer', { handle: ch.handle, count: 1000, size: 16 << 10 }));
      const readable = createReadable(ch.receiver());
      await once(readable, 'data');
      readable.destroy();
      const { error } = await report;
      assert.equal(error.code, 'ERR_CHANNEL_DISCONNECTED');
    });

    it('a producer thread that exits without closing fails readable() with ERR_CHANNEL_DISCONNECTED', async () => {
      const ch = new Channel({ capacity: 64 << 10 });
      startWorker('producer', { handle: ch.handle, count: 100, then: 'exit' });
      await assert.rejects(collect(createReadable(ch.receiver())), { code: 'ERR_CHANNEL_DISCONNECTED' });
    });

    it('zero-length messages do not end readable(), whether ready or awaited', async () => {
      const ch = new Channel();
      const tx = ch.sender();
      const events = [];
      const readable = createReadable(ch.receiver());
      readable.on('data', (chunk) => events.push(chunk.toString()));
      const ended = once(readable, 'end').then(() => events.push('end'));
      for (const m of ['', '', 'a', '']) tx.trySend(m); // ready when the stream starts reading
      await sleep(50); // now a recv() waits, and receives the empty ones
      for (const m of ['', '', '']) tx.trySend(m);
      await sleep(50);
      tx.trySend('b');
      await sleep(50);
      assert.deepEqual(events, ['a', 'b']);
      tx.close();
      await ended;
      assert.deepEqual(events, ['a', 'b', 'end']);
    });

    it('readable() chunks are zero-copy views over the received buffers', async () => {
      // 8 MiB: the nine chunks collected (576 KiB) stay within what the receiver lends (1 MiB).
      const ch = new Channel({ capacity: 8 << 20 });
      startWorker('stream-writer', { handle: ch.handle, count: 9, size: 64 << 10 });
      const rx = ch.receiver();
      const chunks = await collect(createReadable(rx));
      assert.equal(chunks.length, 9);
      for (const chunk of chunks) {
        assert.equal(chunk.byteOffset, 0);
        assert.equal(chunk.buffer.byteLength, 64 << 10);
        assert.equal(rx.release(chunk.buffer), true, 'the buffer is the pool memory the receiver handed out');
        assert.equal(chunk.length, 0, 'the chunk viewed that memory');
      }
    });

    it('small messages are chunks of their own ArrayBuffer', async () => {
      const ch = new Channel();
      const tx = ch.sender();
      const readable = createReadable(ch.receiver());
      tx.trySend(new Uint8Array(100).fill(7));
      tx.close();
      const [chunk] = await collect(readable);
      assert.equal(chunk.buffer.byteLength, 100);
      assert.ok(chunk.equals(Buffer.alloc(100, 7)));
    });

    it('writable() sends strings as UTF-8, one message per write', async () => {
      const ch = new Channel();
      const rx = ch.receiver();
      const writable = createWritable(ch.sender());
      writable.write('héllo, ');
      writable.end(Buffer.from('wörld'));
      await finished(writable);
      assert.equal(Buffer.from(await rx.recv()).toString(), 'héllo, ');
      assert.equal(Buffer.from(await rx.recv()).toString(), 'wörld');
      assert.equal(await rx.recv(), null);
    });

    it("writable() over a 'reject' channel fails with ERR_CHANNEL_FULL when the channel is full", async () => {
      const ch = new Channel({ capacity: 4096, backpressure: 'reject' });
      const rx = ch.receiver();
      const writable = createWritable(ch.sender());
      writable.on('error', () => {});
      for (let i = 0; i < 4; i++) writable.write(Buffer.alloc(2048));
      await assert.rejects(finished(writable), { code: 'ERR_CHANNEL_FULL' });
      await assert.rejects(rx.recv(), { code: 'ERR_CHANNEL_FULL' }); // relayed by closeWithError
    });
  });

  it('every adapter rejects bad options with Node-style errors', () => {
    const ch = new Channel();
    const ends = { receiver: ch.receiver(), sender: ch.sender() };
    const adapters = [
      [createReadable, ends.receiver],
      [createWritable, ends.sender],
      [createReadableStream, ends.receiver],
      [createWritableStream, ends.sender],
    ];
    for (const [create, end] of adapters) {
      assert.throws(() => create(end, 'fast'), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
      assert.throws(() => create(end, { highWaterMark: '1' }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
      assert.throws(() => create(end, { highWaterMark: -1 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    }
    assert.throws(() => createReadable(ends.receiver, { signal: {} }), { code: 'ERR_INVALID_ARG_TYPE' });
  });

  describe('WHATWG streams', () => {
    it('pipes a 20 MiB file from a worker through a writable stream into a hash through a readable stream', async () => {
      const ch = new Channel({ capacity: 256 << 10 });
      const report = nextMessage(startWorker('stream-writer', { handle: ch.handle, file, web: true }));
      const hash = crypto.createHash('sha256');
      for await (const chunk of createReadableStream(ch.receiver())) hash.update(chunk);
      assert.equal(hash.digest('hex'), fileHash);
      assert.deepEqual(await report, { closed: true });
    });

    it('a pull takes every message ready, up to the highWaterMark, and a disconnect comes after all of them', async () => {
      const ch = new Channel({ capacity: 1 << 20 });
      const worker = startWorker('producer', { handle: ch.handle, count: 100, then: 'exit' });
      assert.equal(await worker.exited, 0); // all 100 are in the channel; the producer is gone
      const rx = ch.receiver();
      const reader = createReadableStream(rx, { highWaterMark: 1 << 20 }).getReader();
      const first = await reader.read();
      assert.ok(Buffer.from(first.value).equals(messageFor(0)));
      assert.equal(rx.pending, 0, 'the first pull took all 100 into the stream');
      for (let i = 1; i < 100; i++) {
        const { value } = await reader.read();
        assert.ok(Buffer.from(value.buffer, value.byteOffset, value.byteLength).equals(messageFor(i)), `message ${i}`);
      }
      await assert.rejects(reader.read(), { code: 'ERR_CHANNEL_DISCONNECTED' });
    });

    it('a disconnect behind queued chunks waits for them at any highWaterMark', async () => {
      for (const highWaterMark of [0, 1, 1 << 20]) {
        const ch = new Channel({ capacity: 1 << 20 });
        assert.equal(await startWorker('producer', { handle: ch.handle, count: 50, then: 'exit' }).exited, 0);
        let i = 0;
        await assert.rejects(
          (async () => {
            for await (const chunk of createReadableStream(ch.receiver(), { highWaterMark })) {
              assert.ok(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).equals(messageFor(i)), `message ${i}`);
              i++;
            }
          })(),
          { code: 'ERR_CHANNEL_DISCONNECTED' }
        );
        assert.equal(i, 50, `highWaterMark ${highWaterMark}: every message before the disconnect`);
      }
    });

    it('pipes a worker writable stream into a readable stream, intact', async () => {
      const ch = new Channel({ capacity: 64 << 10 });
      const count = 500;
      const report = nextMessage(startWorker('stream-writer', { handle: ch.handle, count, stream: {}, web: true }));
      let i = 0;
      for await (const chunk of createReadableStream(ch.receiver())) {
        assert.ok(chunk instanceof Uint8Array);
        assert.ok(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).equals(messageFor(i)), `message ${i}`);
        i++;
      }
      assert.equal(i, count, 'every message, zero-length ones included');
      assert.deepEqual(await report, { closed: true });
    });

    it('the writable stream follows the channel: the writer waits while the reader does not read', async () => {
      const ch = new Channel({ capacity: 64 << 10 });
      const progress = new Int32Array(new SharedArrayBuffer(8));
      const size = 16 << 10;
      startWorker('stream-writer', { handle: ch.handle, count: 32, size, web: true, progress });
      const reader = createReadableStream(ch.receiver(), { highWaterMark: 0 }).getReader();
      await until(() => Atomics.load(progress, 1) > 0 && ch.stats().pendingBytes === 64 << 10, 'a full channel');
      const written = Atomics.load(progress, 0);
      await sleep(100);
      assert.equal(Atomics.load(progress, 0), written);
      let received = 0;
      for (let r = await reader.read(); !r.done; r = await reader.read()) received += r.value.byteLength;
      assert.equal(received, 32 * size);
    });

    it('aborting the writable stream errors the readable stream with the reason', async () => {
      const ch = new Channel({ capacity: 64 << 10 });
      startWorker('stream-writer', { handle: ch.handle, count: 4, size: 100, web: true, then: 'error' });
      const drain = async () => {
        for await (const chunk of createReadableStream(ch.receiver())) void chunk;
      };
      await assert.rejects(drain(), PRODUCER_ERROR);
    });

    it('cancelling the readable stream closes the receiver: the writer fails with ERR_CHANNEL_DISCONNECTED', async () => {
      const ch = new Channel({ capacity: 64 << 10 });
      const report = nextMessage(startWorker('stream-writer', { handle: ch.handle, count: 1000, size: 16 << 10, web: true }));
      const reader = createReadableStream(ch.receiver()).getReader();
      await reader.read();
      await reader.cancel();
      const { error } = await report;
      assert.equal(error.code, 'ERR_CHANNEL_DISCONNECTED');
    });
  });
});
