'use strict';

// One-way throughput, worker -> main thread, consumed with `for await`.
//
//   node bench/js/throughput.js <case> <message bytes> [seconds]
//
// Prints one JSON line: { case, size, seconds, messages, msgPerSec, bytesPerSec }.
// bench/run.js runs every case in a fresh process (so a fresh worker and a main thread
// whose JIT has seen only this case) and takes the median of several runs.
//
// The worker sends the same payload as fast as it can until the main thread raises the
// stop flag. The main thread counts what it receives during a window of `seconds` that
// starts after a warm-up, then drains the rest and checks that nothing was lost.
//
// Both transports get the same flow control: a ringport channel of CAPACITY bytes, and a
// credit window of the same CAPACITY bytes in flight for MessageChannel (which has no
// backpressure of its own: without a window the worker would queue gigabytes).

const { Worker, MessageChannel, isMainThread, workerData } = require('node:worker_threads');
const { on } = require('node:events');
const { performance } = require('node:perf_hooks');
const { Channel } = require('../..');

// How the main thread consumes each case; the worker side is in send().
const RECEIVERS = {
  ringport: receiveRingport({ autoRelease: false }),
  'ringport-autorelease': receiveRingport({ autoRelease: true }),
  'ringport-batches': receiveBatches,
  'mc-clone': receivePort,
  'mc-transfer': receivePort,
};

const CAPACITY = Number(process.env.RINGPORT_BENCH_CAPACITY) || 4 << 20;
const WARMUP_SECONDS = 0.3;

// Int32 slots of the control block shared with the worker.
const STOP = 0; // main -> worker: stop sending
const ACKED = 1; // main -> worker: messages received (MessageChannel credit)
const SENT = 2; // worker -> main: messages sent, written before the end of stream

async function measure(name, size, seconds) {
  const control = new Int32Array(new SharedArrayBuffer(3 * 4));
  const window = Math.max(2, Math.floor(CAPACITY / size)); // messages in flight for MessageChannel
  const meter = new Meter(size, seconds, () => {
    Atomics.store(control, STOP, 1);
    Atomics.notify(control, ACKED); // a worker waiting for credit must see the stop
  });

  const endpoints = name.startsWith('ringport') ? ringportEndpoints() : portEndpoints();
  const worker = new Worker(__filename, {
    workerData: { name, size, window, control, ...endpoints.workerData },
    transferList: endpoints.transferList,
  });
  worker.on('error', (error) => {
    console.error(error);
    process.exit(1);
  });
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  const received = await RECEIVERS[name](endpoints.local, meter, control, window);
  await exited;
  const sent = Atomics.load(control, SENT);
  if (received.messages !== sent || received.bytes !== sent * size) {
    throw new Error(`${name}: sent ${sent} messages, received ${received.messages} (${received.bytes} bytes)`);
  }
  const { messages, seconds: elapsed } = meter.result();
  const msgPerSec = messages / elapsed;
  return { case: name, size, seconds: elapsed, messages, msgPerSec, bytesPerSec: msgPerSec * size };
}

function ringportEndpoints() {
  const channel = new Channel({ capacity: CAPACITY });
  return { local: channel, workerData: { handle: channel.handle }, transferList: [] };
}

function portEndpoints() {
  const { port1, port2 } = new MessageChannel();
  return { local: port1, workerData: { port: port2 }, transferList: [port2] };
}

function receiveRingport({ autoRelease }) {
  return async (channel, meter) => {
    const rx = channel.receiver();
    let messages = 0;
    let bytes = 0;
    for await (const buffer of autoRelease ? rx.iterate({ autoRelease: true }) : rx) {
      messages++;
      bytes += buffer.byteLength;
      meter.tick(messages);
    }
    return { messages, bytes };
  };
}

async function receiveBatches(channel, meter) {
  let messages = 0;
  let bytes = 0;
  for await (const batch of channel.receiver().batches()) {
    for (const view of batch) {
      messages++;
      bytes += view.byteLength;
      meter.tick(messages);
    }
  }
  return { messages, bytes };
}

async function receivePort(port, meter, control, window) {
  const ackEvery = Math.max(1, window >> 2);
  let messages = 0;
  let bytes = 0;
  for await (const [message] of on(port, 'message')) {
    if (message === null) break; // end of stream
    messages++;
    bytes += message.byteLength;
    if (messages % ackEvery === 0) {
      Atomics.store(control, ACKED, messages);
      Atomics.notify(control, ACKED);
    }
    meter.tick(messages);
  }
  port.close();
  return { messages, bytes };
}

async function send({ name, size, window, control, handle, port }) {
  let sent = 0;
  if (handle) {
    const tx = Channel.from(handle).sender();
    const payload = new Uint8Array(size);
    while (Atomics.load(control, STOP) === 0) {
      await tx.send(payload);
      sent++;
    }
    Atomics.store(control, SENT, sent);
    tx.close();
    return;
  }
  const payload = new Uint8Array(size);
  while (Atomics.load(control, STOP) === 0) {
    const acked = Atomics.load(control, ACKED);
    if (sent - acked >= window) {
      Atomics.wait(control, ACKED, acked, 100); // out of credit: until the main thread acks or stops
      continue;
    }
    if (name === 'mc-transfer') {
      const fresh = new Uint8Array(size); // a transferred buffer is gone: a new one each time
      port.postMessage(fresh, [fresh.buffer]);
    } else {
      port.postMessage(payload);
    }
    sent++;
  }
  Atomics.store(control, SENT, sent);
  port.postMessage(null); // end of stream
  port.close();
}

// Counts the messages received in a window of `seconds` that starts WARMUP_SECONDS after
// the first message. Reads the clock about once per 64 KiB received, not per message.
class Meter {
  #mask;
  #seconds;
  #onEnd;
  #phase = 'first';
  #warmEnd = 0;
  #start = 0;
  #startCount = 0;
  #result;

  constructor(size, seconds, onEnd) {
    this.#mask = 2 ** Math.max(0, Math.floor(Math.log2(65536 / size))) - 1;
    this.#seconds = seconds;
    this.#onEnd = onEnd;
  }

  tick(count) {
    if (this.#phase === 'first') {
      this.#phase = 'warmup';
      this.#warmEnd = performance.now() + WARMUP_SECONDS * 1000;
    }
    if ((count & this.#mask) !== 0 || this.#phase === 'done') return;
    const now = performance.now();
    if (this.#phase === 'warmup' && now >= this.#warmEnd) {
      this.#phase = 'measure';
      this.#start = now;
      this.#startCount = count;
    } else if (this.#phase === 'measure' && now - this.#start >= this.#seconds * 1000) {
      this.#phase = 'done';
      this.#result = { messages: count - this.#startCount, seconds: (now - this.#start) / 1000 };
      this.#onEnd();
    }
  }

  result() {
    if (!this.#result) throw new Error('the stream ended before the measurement window did');
    return this.#result;
  }
}

if (isMainThread && require.main === module) {
  const [name, size, seconds = process.env.RINGPORT_BENCH_SECONDS || 2] = process.argv.slice(2);
  if (!RECEIVERS[name] || !(Number(size) > 0)) {
    console.error(`usage: node ${__filename} <${Object.keys(RECEIVERS).join('|')}> <message bytes> [seconds]`);
    process.exit(2);
  }
  measure(name, Number(size), Number(seconds)).then(
    (result) => console.log(JSON.stringify(result)),
    (error) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
} else if (!isMainThread) {
  send(workerData);
}
