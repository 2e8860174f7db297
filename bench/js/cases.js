'use strict';

// The throughput cases: how each transport is set up, fed and drained. Loaded in both
// threads: bench/js/throughput.js runs `send` in one and `receive` in the other.
//
// Every case moves `size`-byte messages one way until the receiver's meter says stop
// (or, with a message limit, until the limit is sent), then ends its stream, so that
// the receiver can drain and the harness can check that nothing was lost.
//
//   label, library ('ringport' | 'peer'), directions (default ['w2m', 'm2w'])
//   setup(size, capacity, options) -> { local, remote, transferList }   main thread
//   attach(remote) -> endpoint                         worker (default: remote itself)
//   send(endpoint, ctx) -> messages sent
//   receive(endpoint, ctx) -> { messages, bytes }
//   ownWorker: the library starts its own worker (thread-stream): the harness starts
//     none, and `options` (the run's control block, size, seconds) go to that worker
//
// ctx: { size, more(sent), meter, credit }. `more(sent)` is false once the sender must
// stop; `meter.add(bytes)` counts what arrives; `credit` is MessageChannel's flow control.

const { MessageChannel } = require('node:worker_threads');
const { once } = require('node:events');
const path = require('node:path');
const { Channel } = require('../..');
const { SabRing } = require('./peers/sab-ring');

// A poll loop with nothing to wait on (ringbuf.js has no wake-up): spin, then nap 50 µs.
const NAP = new Int32Array(new SharedArrayBuffer(4));
function backoff(polls) {
  if (polls > 64) Atomics.wait(NAP, 0, 0, 0.05);
}

// --- ringport ---------------------------------------------------------------------------

function ringport(label, { receive, send = sendRingport, options = {} }) {
  return {
    label,
    library: 'ringport',
    setup: (size, capacity) => {
      const channel = new Channel({ capacity, ...options });
      return { local: channel, remote: channel.handle };
    },
    attach: (handle) => Channel.from(handle),
    send: (channel, ctx) => send(channel.sender(), ctx),
    receive: (channel, ctx) => receive(channel.receiver(), ctx),
  };
}

async function sendRingport(tx, { size, more }) {
  const payload = new Uint8Array(size);
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
async function trySendReady(tx, { size, more }) {
  const payload = new Uint8Array(size);
  let sent = 0;
  while (more(sent)) {
    if (tx.trySend(payload)) sent++;
    else await tx.ready();
  }
  tx.close();
  return sent;
}

// sendBatch() of 256 messages: one crossing into native code per batch.
async function sendBatches(tx, { size, more }) {
  const list = Array.from({ length: 256 }, () => new Uint8Array(size));
  let sent = 0;
  while (more(sent + list.length - 1)) {
    await tx.sendBatch(list);
    sent += list.length;
  }
  while (more(sent)) {
    await tx.send(list[0]); // the rest, up to a message limit
    sent++;
  }
  tx.close();
  return sent;
}

// Zero-copy: the message is written straight into pool memory (here only a sequence
// number: what a real producer would generate there costs the same with send()).
async function reserveCommit(tx, { size, more }) {
  let sent = 0;
  while (more(sent)) {
    const view = tx.reserve(size);
    view[0] = sent;
    await tx.commit(view);
    sent++;
  }
  tx.close();
  return sent;
}

async function forAwait(iterable, meter) {
  let messages = 0;
  let bytes = 0;
  for await (const buffer of iterable) {
    messages++;
    bytes += buffer.byteLength;
    meter.add(buffer.byteLength);
  }
  return { messages, bytes };
}

const plain = (rx, { meter }) => forAwait(rx, meter);
const autoRelease = (rx, { meter }) => forAwait(rx.iterate({ autoRelease: true }), meter);

// framing: 'bytes' keeps no boundaries (ready chunks coalesce): messages = bytes / size.
async function byteStream(rx, ctx) {
  const { bytes } = await autoRelease(rx, ctx);
  return { messages: bytes / ctx.size, bytes };
}

async function batches(rx, { meter }) {
  let messages = 0;
  let bytes = 0;
  for await (const batch of rx.batches()) {
    for (const view of batch) {
      messages++;
      bytes += view.byteLength;
      meter.add(view.byteLength);
    }
  }
  return { messages, bytes };
}

async function recvBatch(rx, { meter }) {
  let messages = 0;
  let bytes = 0;
  for (let list; (list = await rx.recvBatch(1024)).length !== 0; ) {
    for (const buffer of list) {
      messages++;
      bytes += buffer.byteLength;
      meter.add(buffer.byteLength);
    }
  }
  return { messages, bytes };
}

// --- MessageChannel -----------------------------------------------------------------------

// MessagePort has no backpressure: the sender keeps at most `credit.window` messages
// (the channel capacity in bytes) in flight; the receiver acks every quarter window.
function messageChannel(label, transfer) {
  return {
    label,
    library: 'peer',
    setup: () => {
      const { port1, port2 } = new MessageChannel();
      return { local: port1, remote: port2, transferList: [port2] };
    },
    send(port, { size, more, credit }) {
      const payload = new Uint8Array(size);
      let sent = 0;
      while (more(sent)) {
        if (!credit.take(sent)) continue;
        if (transfer) {
          const fresh = new Uint8Array(size); // a transferred buffer is gone: a new one each time
          port.postMessage(fresh, [fresh.buffer]);
        } else {
          port.postMessage(payload);
        }
        sent++;
      }
      port.postMessage(null); // end of stream
      port.close();
      return sent;
    },
    // A 'message' listener: MessagePort's fastest way in (an async iterator over
    // events.on() adds a promise per message).
    receive(port, { meter, credit }) {
      let messages = 0;
      let bytes = 0;
      return new Promise((resolve) => {
        port.on('message', (message) => {
          if (message === null) {
            port.close();
            resolve({ messages, bytes });
            return;
          }
          messages++;
          bytes += message.byteLength;
          credit.ack(messages);
          meter.add(message.byteLength);
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
  send(ring, { size, more }) {
    const payload = new Uint8Array(size);
    let sent = 0;
    while (more(sent)) {
      ring.send(payload);
      sent++;
    }
    ring.close();
    return sent;
  },
  receive(ring, { meter }) {
    let messages = 0;
    let bytes = 0;
    for (let m; (m = ring.recv()) !== null; ) {
      messages++;
      bytes += m.byteLength;
      meter.add(m.byteLength);
    }
    return { messages, bytes };
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
  send([sab, done], { size, more }) {
    const { RingBuffer } = require('ringbuf.js');
    const ring = new RingBuffer(sab, Uint8Array);
    const payload = new Uint8Array(size);
    let sent = 0;
    while (more(sent)) {
      for (let polls = 0; ring.available_write() < size; polls++) backoff(polls);
      ring.push(payload);
      sent++;
    }
    Atomics.store(new Int32Array(done), 0, 1);
    return sent;
  },
  receive([sab, done], { size, meter }) {
    const { RingBuffer } = require('ringbuf.js');
    const ring = new RingBuffer(sab, Uint8Array);
    const flag = new Int32Array(done);
    const out = new Uint8Array(size);
    let messages = 0;
    for (let polls = 0; ; ) {
      if (ring.available_read() >= size) {
        ring.pop(out, size);
        messages++;
        meter.add(size);
        polls = 0;
      } else if (Atomics.load(flag, 0) === 1 && ring.available_read() < size) {
        return { messages, bytes: messages * size };
      } else {
        backoff(polls++);
      }
    }
  },
};

// --- thread-stream ----------------------------------------------------------------------

// Only main thread -> worker: a ThreadStream is written by the thread that creates it
// and read by the worker it starts, which decodes UTF-8 and writes strings to a
// destination stream (bench/js/peers/thread-stream-sink.js, which runs the meter).
// Its writes are fire-and-forget into a 4 MiB SAB; write() returning false means wait
// for 'drain'. The payload is ASCII, so characters count bytes.
const threadStream = {
  label: 'thread-stream',
  library: 'peer',
  directions: ['m2w'],
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
  async send(stream, { size, more }) {
    const payload = Buffer.alloc(size, 'x');
    let sent = 0;
    while (more(sent)) {
      sent++;
      if (!stream.write(payload)) await once(stream, 'drain');
    }
    const closed = once(stream, 'close');
    stream.end();
    await closed;
    return sent;
  },
};

const CASES = {
  'for-await': ringport('ringport `for await`', { receive: plain }),
  autorelease: ringport('ringport `iterate({ autoRelease: true })`', { receive: autoRelease }),
  batches: ringport('ringport `batches()`', { receive: batches }),
  'recv-batch': ringport('ringport `recvBatch(1024)`', { receive: recvBatch }),
  'reserve-commit': ringport('ringport `reserve/commit` → autoRelease', { receive: autoRelease, send: reserveCommit }),
  bytes: ringport("ringport `framing: 'bytes'` → autoRelease", { receive: byteStream, options: { framing: 'bytes' } }),
  'bytes-try': ringport("ringport `framing: 'bytes'`, `trySend`/`ready()` → autoRelease", {
    receive: byteStream,
    send: trySendReady,
    options: { framing: 'bytes' },
  }),
  'batches-try': ringport('ringport `trySend`/`ready()` → `batches()`', { receive: batches, send: trySendReady }),
  'batches-sendbatch': ringport('ringport `sendBatch(256)` → `batches()`', { receive: batches, send: sendBatches }),
  'mc-clone': messageChannel('MessageChannel, structured clone', false),
  'mc-transfer': messageChannel('MessageChannel, transfer list', true),
  'sab-ring': sabRing,
  'ringbuf-js': ringbufJs,
  'thread-stream': threadStream,
};

for (const c of Object.values(CASES)) c.directions ??= ['w2m', 'm2w'];

module.exports = { CASES };
