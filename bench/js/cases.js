'use strict';

// The throughput cases: how each transport is set up, fed and drained. Loaded in both
// threads: bench/js/throughput.js runs `send` in one and `receive` in the other.
//
// Every case does the same work (docs/performance.md, "How we measure"): the sender
// produces every byte from the run's source buffer (`ctx.payload`: copied by send()
// or a clone, written into reserved memory, or into a fresh buffer to transfer), and
// the receiver reads every message it gets through `ctx.tally` (one byte per 64-byte
// line, bench/js/touch.js). Each case moves `size`-byte messages one way until the
// receiver's meter says stop (or, with a message limit, until the limit is sent), then
// ends its stream, so that the receiver can drain and the runner can check that every
// message arrived whole.
//
//   label, library ('ringport' | 'peer'), directions (default ['w2m', 'm2w'])
//   byteStream: boundaries are not kept (chunks coalesce): messages = bytes / size,
//     and the checksum depends on where chunks split, so the runner does not check it
//   setup(size, capacity, options) -> { local, remote, transferList }   main thread
//   attach(remote) -> endpoint                         worker (default: remote itself)
//   send(endpoint, ctx) -> messages sent
//   receive(endpoint, ctx) -> resolves once the stream has ended
//   ownWorker: the library starts its own worker (thread-stream): the harness starts
//     none, and `options` (the run's control block, size, seconds) go to that worker
//
// ctx: { size, payload, more(sent), tally, credit }. `more(sent)` is false once the
// sender must stop; `credit` bounds MessageChannel's memory (see messageChannel()).

const { MessageChannel } = require('node:worker_threads');
const { once } = require('node:events');
const { pipeline } = require('node:stream/promises');
const { Writable } = require('node:stream');
const path = require('node:path');
const { Channel } = require('../..');
const { SabRing } = require('./peers/sab-ring');

// A poll loop with nothing to wait on (ringbuf.js has no wake-up): spin, then nap 50 µs.
const NAP = new Int32Array(new SharedArrayBuffer(4));
function backoff(polls) {
  if (polls > 64) Atomics.wait(NAP, 0, 0, 0.05);
}

// --- ringport ---------------------------------------------------------------------------

function ringport(label, { receive, send = sendEach, options = {}, receiverOptions, byteStream = false }) {
  return {
    label,
    library: 'ringport',
    byteStream,
    setup: (size, capacity) => {
      const channel = new Channel({ capacity, ...options });
      return { local: channel, remote: channel.handle };
    },
    attach: (handle) => Channel.from(handle),
    send: (channel, ctx) => send(channel.sender(), ctx),
    receive: (channel, ctx) => receive(channel.receiver(receiverOptions), ctx),
  };
}

// --- ringport senders: each copies or writes every byte of the payload ---

async function sendEach(tx, { payload, more }) {
  let sent = 0;
  while (more(sent)) {
    await tx.send(payload);
    sent++;
  }
  tx.close();
  return sent;
}

// thread-stream's and the plain rings' pattern: no promise per message; trySend()
// until the channel is full, then wait for room (write() until false, then 'drain').
async function trySendReady(tx, { payload, more }) {
  let sent = 0;
  while (more(sent)) {
    if (tx.trySend(payload)) sent++;
    else await tx.ready();
  }
  tx.close();
  return sent;
}

// sendBatch() of 256 messages: one crossing into native code per batch, each message
// copied from the source buffer.
async function sendBatches(tx, { payload, more }) {
  const list = new Array(256).fill(payload);
  let sent = 0;
  while (more(sent + list.length - 1)) {
    await tx.sendBatch(list);
    sent += list.length;
  }
  while (more(sent)) {
    await tx.send(payload); // the rest, up to a message limit
    sent++;
  }
  tx.close();
  return sent;
}

// Zero-copy send: the message is written straight into pool memory before it is
// published (a producer generating its data there writes every byte too).
async function reserveCommit(tx, { size, payload, more }) {
  let sent = 0;
  while (more(sent)) {
    const view = tx.reserve(size);
    view.set(payload);
    await tx.commit(view);
    sent++;
  }
  tx.close();
  return sent;
}

// --- ringport receivers: each reads every message through the tally ---

async function forAwait(iterable, tally) {
  for await (const buffer of iterable) tally.takeBuffer(buffer);
}

const plain = (rx, { tally }) => forAwait(rx, tally);
const autoRelease = (rx, { tally }) => forAwait(rx.iterate({ autoRelease: true }), tally);

async function batches(rx, { tally }) {
  for await (const batch of rx.batches()) {
    for (const view of batch) tally.take(view);
  }
}

async function recvBatch(rx, { tally }) {
  for (let list; (list = await rx.recvBatch(1024)).length !== 0; ) {
    for (const buffer of list) tally.takeBuffer(buffer);
  }
}

// Groups of 16: at 1 MiB a group is 16 MiB, four times the channel's capacity.
async function chunks(rx, { tally }) {
  for await (const group of rx.chunks(16)) {
    for (const buffer of group) tally.takeBuffer(buffer);
  }
}

// How a Node program consumes a Readable: pipeline() into a Writable.
function readablePipeline(rx, { tally }) {
  const sink = new Writable({
    write(chunk, encoding, callback) {
      tally.take(chunk);
      callback();
    },
  });
  return pipeline(rx.readable(), sink);
}

async function readableStream(rx, { tally }) {
  const reader = rx.readableStream().getReader();
  for (let r; !(r = await reader.read()).done; ) tally.take(r.value);
}

// --- MessageChannel -----------------------------------------------------------------------

// MessagePort has no backpressure: posted messages queue without bound. Windowed, the
// sender keeps at most min(64 MiB, 4096 messages) in flight, acked by the receiver
// every quarter window through the control block: a bound on memory, far above any
// channel's capacity, never a throttle. Unwindowed, it posts freely, as users do; its
// queue then holds whatever the receiver has not caught up with when the run stops.
// Received with a 'message' listener: MessagePort's fastest way in (an async iterator
// over events.on() adds a promise per message).
function messageChannel(label, { transfer, windowed }) {
  return {
    label,
    library: 'peer',
    setup: () => {
      const { port1, port2 } = new MessageChannel();
      return { local: port1, remote: port2, transferList: [port2] };
    },
    send(port, { size, payload, more, credit }) {
      let sent = 0;
      while (more(sent)) {
        if (windowed && !credit.take(sent)) continue;
        if (transfer) {
          const fresh = new Uint8Array(size); // a transferred buffer is gone: a new one each time, filled
          fresh.set(payload);
          port.postMessage(fresh, [fresh.buffer]);
        } else {
          port.postMessage(payload); // the clone copies every byte
        }
        sent++;
      }
      port.postMessage(null); // end of stream
      port.close();
      return sent;
    },
    receive(port, { tally, credit }) {
      return new Promise((resolve) => {
        port.on('message', (message) => {
          if (message === null) {
            port.close();
            resolve();
            return;
          }
          tally.take(message);
          if (windowed) credit.ack(tally.messages);
        });
      });
    },
  };
}

// --- plain-JS SharedArrayBuffer ring (bench/js/peers/sab-ring.js) --------------------------

const sabRing = {
  label: 'plain-JS SAB ring (Atomics.wait)',
  library: 'peer',
  setup: (size, capacity) => {
    const sab = SabRing.create(capacity);
    return { local: new SabRing(sab), remote: sab };
  },
  attach: (sab) => new SabRing(sab),
  send(ring, { payload, more }) {
    let sent = 0;
    while (more(sent)) {
      ring.send(payload);
      sent++;
    }
    ring.close();
    return sent;
  },
  receive(ring, { tally }) {
    for (let m; (m = ring.recv()) !== null; ) tally.take(m);
  },
};

// --- ringbuf.js -----------------------------------------------------------------------------

// A wait-free byte ring with no wake-up: both sides poll. Whole messages only: the
// sender pushes when a message fits, the receiver pops one message into a reused
// buffer (how the library is meant to be used: copy out into your own array).
// Int32 0 of `done` is set by the sender after its last push.
const ringbufJs = {
  label: 'ringbuf.js (polling)',
  library: 'peer',
  setup: (size, capacity) => {
    const { RingBuffer } = require('ringbuf.js');
    const sab = RingBuffer.getStorageForCapacity(capacity, Uint8Array);
    const done = new SharedArrayBuffer(4);
    return { local: [sab, done], remote: [sab, done] };
  },
  attach: (endpoint) => endpoint,
  send([sab, done], { size, payload, more }) {
    const { RingBuffer } = require('ringbuf.js');
    const ring = new RingBuffer(sab, Uint8Array);
    let sent = 0;
    while (more(sent)) {
      for (let polls = 0; ring.available_write() < size; polls++) backoff(polls);
      ring.push(payload);
      sent++;
    }
    Atomics.store(new Int32Array(done), 0, 1);
    return sent;
  },
  receive([sab, done], { size, tally }) {
    const { RingBuffer } = require('ringbuf.js');
    const ring = new RingBuffer(sab, Uint8Array);
    const flag = new Int32Array(done);
    const out = new Uint8Array(size);
    for (let polls = 0; ; ) {
      if (ring.available_read() >= size) {
        ring.pop(out, size);
        tally.take(out);
        polls = 0;
      } else if (Atomics.load(flag, 0) === 1 && ring.available_read() < size) {
        return;
      } else {
        backoff(polls++);
      }
    }
  },
};

// --- thread-stream ----------------------------------------------------------------------

// Only main thread -> worker: a ThreadStream is written by the thread that creates it
// and read by the worker it starts, which decodes UTF-8 and writes strings to a
// destination stream (bench/js/peers/thread-stream-sink.js, which reads and counts them).
// Its writes are fire-and-forget into a 4 MiB SAB; write() returning false means wait
// for 'drain'. The payload is ASCII, so characters count bytes.
const threadStream = {
  label: 'thread-stream',
  library: 'peer',
  directions: ['m2w'],
  byteStream: true,
  ownWorker: true,
  setup: (size, capacity, workerData) => {
    const ThreadStream = require('thread-stream');
    const stream = new ThreadStream({
      filename: path.join(__dirname, 'peers', 'thread-stream-sink.js'),
      workerData,
      bufferSize: capacity,
    });
    return { local: stream };
  },
  async send(stream, { payload, more }) {
    const source = Buffer.from(payload.buffer, payload.byteOffset, payload.length);
    let sent = 0;
    while (more(sent)) {
      sent++;
      if (!stream.write(source)) await once(stream, 'drain');
    }
    const closed = once(stream, 'close');
    stream.end();
    await closed;
    return sent;
  },
};

const bytesFraming = { options: { framing: 'bytes' }, byteStream: true };

const CASES = {
  // Every receive path, each fed by `await send()`.
  'for-await': ringport('ringport `for await`', { receive: plain }),
  autorelease: ringport('ringport `iterate({ autoRelease: true })`', { receive: autoRelease }),
  copying: ringport('ringport `receiver({ zeroCopy: false })`, `for await`', { receive: plain, receiverOptions: { zeroCopy: false } }),
  batches: ringport('ringport `batches()`', { receive: batches }),
  'recv-batch': ringport('ringport `recvBatch(1024)`', { receive: recvBatch }),
  chunks: ringport('ringport `chunks(16)`', { receive: chunks }),
  readable: ringport('ringport `readable()` → `pipeline` → Writable', { receive: readablePipeline }),
  'readable-stream': ringport('ringport `readableStream()` reader', { receive: readableStream }),
  // The zero-copy send path, with the plain receiver and with autoRelease.
  'reserve-commit': ringport('ringport `reserve`/fill/`commit` → `for await`', { receive: plain, send: reserveCommit }),
  'reserve-commit-autorelease': ringport('ringport `reserve`/fill/`commit` → autoRelease', { receive: autoRelease, send: reserveCommit }),
  // Senders without a promise per message, as the fastest peers write.
  'batches-try': ringport('ringport `trySend`/`ready()` → `batches()`', { receive: batches, send: trySendReady }),
  'batches-sendbatch': ringport('ringport `sendBatch(256)` → `batches()`', { receive: batches, send: sendBatches }),
  bytes: ringport("ringport `framing: 'bytes'` → autoRelease", { receive: autoRelease, ...bytesFraming }),
  'bytes-try': ringport("ringport `framing: 'bytes'`, `trySend`/`ready()` → autoRelease", { receive: autoRelease, send: trySendReady, ...bytesFraming }),
  // Peers.
  'mc-clone': messageChannel('MessageChannel, structured clone', { transfer: false, windowed: true }),
  'mc-transfer': messageChannel('MessageChannel, transfer list', { transfer: true, windowed: true }),
  'mc-clone-free': messageChannel('MessageChannel, structured clone, no window', { transfer: false, windowed: false }),
  'mc-transfer-free': messageChannel('MessageChannel, transfer list, no window', { transfer: true, windowed: false }),
  'sab-ring': sabRing,
  'ringbuf-js': ringbufJs,
  'thread-stream': threadStream,
};

for (const c of Object.values(CASES)) c.directions ??= ['w2m', 'm2w'];

module.exports = { CASES };
