'use strict';

// A worker streams 512 MiB to the main thread, first through a ringport Channel, then
// through a MessageChannel (structured clone, then transfer list), and the main thread
// prints how fast each transport was. Both sides do the same work on every transport:
// the worker writes each message from a source buffer, the main thread reads a byte of
// every 64-byte line and checks the message's number at both ends.
//
//   npm run demo                   512 MiB in 64 KiB messages
//   node examples/demo.js 256 16   256 MiB in 16 KiB messages (or DEMO_MIB, DEMO_MESSAGE_KIB)

const { Worker, MessageChannel, isMainThread, parentPort, workerData } = require('node:worker_threads');
const { once } = require('node:events');
const { performance } = require('node:perf_hooks');
const { SingleBar } = require('cli-progress');
const { Channel } = require('..');

const TRANSPORTS = {
  ringport: 'ringport (for await)',
  clone: 'MessageChannel (clone)',
  transfer: 'MessageChannel (transfer)',
};
const RUNS = 3; // the median of 3 runs: figures on a shared machine swing from run to run
const LINE = 64;
// MessageChannel posts freely; this bounds only the memory its queue may hold.
const IN_FLIGHT_BYTES = 64 * 2 ** 20;
const IN_FLIGHT_MESSAGES = 4096;
// Number.prototype.toLocaleString costs ~14 µs a call on Node 26: format with one cached formatter.
const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const fixed = (digits) => new Intl.NumberFormat('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const oneDecimal = fixed(1);
const twoDecimals = fixed(2);

async function main() {
  const mib = Number(process.argv[2] ?? process.env.DEMO_MIB ?? 512);
  const size = Number(process.argv[3] ?? process.env.DEMO_MESSAGE_KIB ?? 64) * 1024;
  const count = Math.ceil((mib * 2 ** 20) / size);
  if (!(count >= 1 && size >= LINE && size % LINE === 0)) {
    throw new RangeError('usage: node examples/demo.js [MiB] [message KiB, a whole number of 64-byte lines]');
  }
  console.log(`A worker sends ${mib} MiB in ${integer.format(count)} messages of ${size < 1024 ? `${size} B` : `${size / 1024} KiB`} to the main thread, ${RUNS} times over each transport.`);
  console.log('It writes every byte; the main thread reads a byte of every 64-byte line.\n');
  const expected = { size, lineSum: lineSum(size) };
  console.log(`${''.padEnd(27)}${'median'.padStart(8)}${'MB/s'.padStart(8)}`);

  const rates = {};
  for (const [transport, label] of Object.entries(TRANSPORTS)) {
    const progress = { bytes: 0 };
    const bar = showProgress(label, RUNS * count * size, progress);
    const seconds = [];
    try {
      for (let run = 0; run < RUNS; run++) seconds.push(await stream(transport, count, expected, progress));
    } finally {
      bar.stop();
    }
    const median = seconds.sort((a, b) => a - b)[RUNS >> 1];
    rates[transport] = (count * size) / median;
    console.log(`${label.padEnd(27)}${twoDecimals.format(median).padStart(6)} s${integer.format(rates[transport] / 1e6).padStart(8)}`);
  }
  const peer = rates.clone >= rates.transfer ? 'clone' : 'transfer';
  console.log(`\nringport: ${oneDecimal.format(rates.ringport / rates[peer])}× the throughput of MessageChannel at its best (${peer}).`);
  console.log('Every message arrived in order and whole. (MB = 10⁶ bytes)');
}

// Runs one transfer in a fresh worker; resolves with the seconds from the go signal to
// the last message read (so that worker start-up is not counted).
async function stream(transport, count, expected, progress) {
  const data = { transport, count, size: expected.size };
  const options = { workerData: data };
  let port;
  let channel;
  if (transport === 'ringport') {
    channel = new Channel(); // the quick start's channel: 1 MiB
    data.handle = channel.handle;
  } else {
    ({ port1: port, port2: data.port } = new MessageChannel());
    options.transferList = [data.port];
  }
  const worker = new Worker(__filename, options);
  const failed = new Promise((_, reject) => worker.once('error', reject));
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  await Promise.race([once(worker, 'message'), failed]); // ready

  const start = performance.now();
  worker.postMessage('go');
  const messages = channel ? receiveChannel(channel, expected, progress) : receivePort(port, count, expected, progress);
  const received = await Promise.race([messages, failed]).catch(async (error) => {
    await worker.terminate(); // else it may wait forever for room in the channel
    throw error;
  });
  const seconds = (performance.now() - start) / 1000;
  port?.close();
  await exited;
  if (received !== count) throw new Error(`${transport}: ${received} of ${count} messages arrived`);
  return seconds;
}

// ringport's quick start: a plain `for await`, keeping no buffer.
async function receiveChannel(channel, expected, progress) {
  let seq = 0;
  for await (const buffer of channel.receiver()) {
    read(new Uint8Array(buffer), seq++, expected);
    progress.bytes += expected.size;
  }
  return seq;
}

// MessageChannel as its users run it: a 'message' listener. It acks now and then so that
// the worker stops posting only when the memory bound is reached.
function receivePort(port, count, expected, progress) {
  const ackEvery = Math.ceil(inFlightLimit(expected.size) / 4);
  let seq = 0;
  return new Promise((resolve, reject) => {
    port.on('message', (bytes) => {
      try {
        read(bytes, seq++, expected);
      } catch (error) {
        port.close();
        reject(error);
        return;
      }
      progress.bytes += expected.size;
      if (seq === count) resolve(seq);
      else if (seq % ackEvery === 0) port.postMessage(seq);
    });
  });
}

function inFlightLimit(size) {
  return Math.max(1, Math.min(IN_FLIGHT_MESSAGES, Math.floor(IN_FLIGHT_BYTES / size)));
}

// The worker: writes each message from one source buffer, numbered at both ends so that
// the receiver sees loss, reordering, duplication or a short message.
async function produce({ transport, count, size, handle, port }) {
  const source = new Uint8Array(size).map((_, i) => Math.floor(i / LINE)); // each line holds its index, mod 256
  const tx = handle && Channel.from(handle).sender();
  let acked = 0;
  let ackArrived;
  port?.on('message', (seq) => {
    acked = seq;
    ackArrived?.();
  });
  parentPort.postMessage('ready');
  await once(parentPort, 'message');

  const limit = inFlightLimit(size);
  for (let seq = 0; seq < count; seq++) {
    stamp(source, seq);
    if (tx) {
      await tx.send(source); // copied into shared memory; waits while the channel is full
      continue;
    }
    while (seq - acked >= limit) await new Promise((resolve) => (ackArrived = resolve));
    if (transport === 'transfer') {
      const message = source.slice(); // filled before it is posted
      port.postMessage(message, [message.buffer]);
    } else {
      port.postMessage(source); // cloned
    }
  }
  tx?.close(); // a MessagePort stays open until the main thread has read everything and closes it
}

function stamp(bytes, seq) {
  for (const at of [0, bytes.length - 4]) {
    bytes[at] = seq;
    bytes[at + 1] = seq >>> 8;
    bytes[at + 2] = seq >>> 16;
    bytes[at + 3] = seq >>> 24;
  }
}

function numberAt(bytes, at) {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
}

// Reads the first byte of every 64-byte line past the first (whose first bytes are the
// number), and checks their sum.
function read(bytes, seq, { size, lineSum }) {
  let sum = 0;
  for (let at = LINE; at < bytes.length; at += LINE) sum += bytes[at];
  if (bytes.length !== size || numberAt(bytes, 0) !== seq || numberAt(bytes, size - 4) !== seq || sum !== lineSum) {
    throw new Error(`message ${seq} is wrong: ${bytes.length} bytes, numbered ${numberAt(bytes, 0)}, line sum ${sum}`);
  }
}

// What read() sums for a message of `size` bytes from produce()'s source.
function lineSum(size) {
  let sum = 0;
  for (let line = 1; line < size / LINE; line++) sum += line & 0xff;
  return sum;
}

// A bar on a terminal, updated from `progress.bytes` 10 times a second, so that the
// numbers are formatted once per redraw and never per message. Elsewhere (CI, a pipe)
// nothing: the caller prints one line when the transport is done.
function showProgress(label, total, progress) {
  if (!process.stdout.isTTY) return { stop() {} };
  const bar = new SingleBar({
    stream: process.stdout,
    format: `${label.padEnd(27)}{bar} {percentage}% {mib}/${integer.format(total / 2 ** 20)} MiB {rate} MB/s`,
    barsize: 30,
    barCompleteChar: '█',
    barIncompleteChar: '░',
    clearOnComplete: true,
    hideCursor: true,
  });
  const start = performance.now();
  bar.start(total, 0, { mib: '0', rate: '0' });
  const timer = setInterval(() => {
    const { bytes } = progress;
    const rate = (bytes / (performance.now() - start)) / 1e3;
    bar.update(bytes, { mib: integer.format(bytes / 2 ** 20), rate: integer.format(rate) });
  }, 100);
  return {
    stop() {
      clearInterval(timer);
      bar.stop();
    },
  };
}

if (isMainThread) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
} else {
  produce(workerData);
}
