'use strict';

// One fan-out run: the main thread publishes to `receivers` workers for `seconds`.
//
//   node bench/js/broadcast.js <ringport|mc-clone> <receivers> <bytes> [seconds]
//
// ringport: a Broadcast; the sender never waits, receivers read with batches() (small
// messages) or iterate({ autoRelease: true }) (large ones: slabs go back at once) and
// may lag (then they skip ahead: their `missed` is reported, not counted as delivered).
// mc-clone: one MessageChannel per receiver, the sender posting each message to every
// port, with at most min(64 MiB, 4096 messages) in flight per receiver (a bound on
// memory, bench/js/mc-window.js). Every receiver reads each message it gets, one byte
// per 64-byte line (bench/js/touch.js).
// Prints one JSON line: { case, receivers, size, seconds, delivered (messages summed
// over receivers), perReceiver (messages/s each), sent, missed, maxRss }.

const { Worker, MessageChannel, isMainThread, workerData, parentPort } = require('node:worker_threads');
const { performance } = require('node:perf_hooks');
const { Broadcast } = require('../..');
const { payload: makePayload } = require('./payload');
const { touch } = require('./touch');
const { mcWindow } = require('./mc-window');

let currentSize; // of this run, for the receivers

const CAPACITY = 4 << 20;

async function main() {
  const [name, receiversArg, sizeArg, secondsArg = '1'] = process.argv.slice(2);
  const receivers = Number(receiversArg);
  const size = Number(sizeArg);
  const seconds = Number(secondsArg);
  if (!['ringport', 'mc-clone'].includes(name) || !(receivers >= 1) || !(size >= 8)) {
    throw new Error('usage: broadcast.js <ringport|mc-clone> <receivers> <bytes> [seconds]');
  }
  currentSize = size;
  const payload = makePayload(size);
  const workers = [];
  const reports = [];
  let send;
  let finish;
  if (name === 'ringport') {
    const bc = new Broadcast({ capacity: CAPACITY });
    for (let i = 0; i < receivers; i++) workers.push(start({ name, handle: bc.handle }));
    await Promise.all(workers.map((w) => w.ready));
    const tx = bc.sender();
    send = () => tx.trySend(payload);
    finish = () => tx.close();
  } else {
    const ports = [];
    for (let i = 0; i < receivers; i++) {
      const { port1, port2 } = new MessageChannel();
      const window = mcWindow(size);
      const credit = { messages: window, waiter: null };
      port1.on('message', (n) => {
        credit.messages += n;
        credit.waiter?.();
        credit.waiter = null;
      });
      ports.push({ port: port1, credit });
      workers.push(start({ name, port: port2, ackEvery: Math.max(1, window >> 2) }, [port2]));
    }
    await Promise.all(workers.map((w) => w.ready));
    send = async () => {
      for (const p of ports) {
        while (p.credit.messages === 0) await new Promise((resolve) => (p.credit.waiter = resolve));
        p.credit.messages--;
        p.port.postMessage(payload);
      }
    };
    finish = () => {
      for (const p of ports) {
        p.port.postMessage(null);
        p.port.unref();
      }
    };
  }
  for (const w of workers) reports.push(w.report);

  const started = performance.now();
  let sent = 0;
  while (performance.now() - started < seconds * 1000) {
    for (let k = 0; k < 256; k++) {
      const r = send();
      if (r instanceof Promise) await r;
      sent++;
    }
    await new Promise(setImmediate); // let wake-ups and acknowledgements through
  }
  finish();
  const results = await Promise.all(reports);
  const elapsed = Math.max(...results.map((r) => r.finishedAt)) - started;
  const delivered = results.reduce((n, r) => n + r.received, 0);
  console.log(
    JSON.stringify({
      case: name,
      receivers,
      size,
      seconds: elapsed / 1000,
      sent,
      delivered,
      perReceiver: delivered / receivers / (elapsed / 1000),
      missed: results.reduce((n, r) => n + r.missed, 0),
      maxRss: process.resourceUsage().maxRSS * 1024,
    }),
  );
}

function start(data, transferList = []) {
  const worker = new Worker(__filename, { workerData: { ...data, size: currentSize, origin: performance.timeOrigin }, transferList });
  let ready;
  worker.ready = new Promise((resolve) => (ready = resolve));
  worker.report = new Promise((resolve, reject) => {
    worker.on('message', (m) => (m === 'ready' ? ready() : resolve(m)));
    worker.once('error', reject);
  });
  return worker;
}

// A receiver: reads and counts messages (and what it missed) until the stream ends.
async function receive() {
  let received = 0;
  let missed = 0;
  let checksum = 0; // reported, so that the reads are not dead code
  if (workerData.name === 'ringport') {
    const rx = Broadcast.from(workerData.handle).receiver();
    parentPort.postMessage('ready');
    for (;;) {
      try {
        if (workerData.size <= 4096) {
          for await (const batch of rx.batches()) {
            for (const view of batch) checksum += touch(view);
            received += batch.length;
          }
        } else {
          for await (const buffer of rx.iterate({ autoRelease: true })) {
            checksum += touch(new Uint8Array(buffer));
            received++;
          }
        }
        break;
      } catch (error) {
        if (error.code !== 'ERR_CHANNEL_LAGGED') throw error;
        missed += error.missed;
      }
    }
  } else {
    const { port, ackEvery } = workerData;
    parentPort.postMessage('ready');
    await new Promise((resolve) => {
      port.on('message', (m) => {
        if (m === null) return resolve();
        checksum += touch(m);
        if (++received % ackEvery === 0) port.postMessage(ackEvery);
      });
    });
    port.close();
  }
  parentPort.postMessage({ received, missed, checksum, finishedAt: performance.now() + performance.timeOrigin - workerData.origin });
}

if (isMainThread) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
} else {
  receive();
}
