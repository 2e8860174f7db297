'use strict';

// A worker streams 512 MiB to the main thread, first through a ringport Channel, then
// through a MessageChannel (structured clone, then transfer list). The main thread checks
// every message and prints how fast each transport was.
//
//   npm run demo                   512 MiB in 64 KiB messages
//   node examples/demo.js 256 16   256 MiB in 16 KiB messages (or DEMO_MIB, DEMO_MESSAGE_KIB)

const { Worker, MessageChannel, isMainThread, workerData } = require('node:worker_threads');
const { on } = require('node:events');
const { performance } = require('node:perf_hooks');
const { Channel } = require('..');

const TRANSPORTS = {
  ringport: 'ringport Channel',
  clone: 'MessageChannel (clone)',
  transfer: 'MessageChannel (transfer)',
};

async function main() {
  const mib = Number(process.argv[2] ?? process.env.DEMO_MIB ?? 512);
  const size = Number(process.argv[3] ?? process.env.DEMO_MESSAGE_KIB ?? 64) * 1024;
  const count = Math.ceil((mib * 2 ** 20) / size);
  if (!(count > 1 && size >= 8)) throw new RangeError('usage: node examples/demo.js [MiB] [message KiB]');
  console.log(`A worker sends ${mib} MiB in ${count.toLocaleString('en-US')} messages of ${size / 1024} KiB to the main thread.\n`);

  const results = {};
  for (const transport of Object.keys(TRANSPORTS)) {
    results[transport] = await stream(transport, count, size);
  }

  console.log(`\n${''.padEnd(26)}${'MB/s'.padStart(8)}${'messages/s'.padStart(13)}`);
  for (const [transport, { seconds }] of Object.entries(results)) {
    const perSecond = (count - 1) / seconds;
    console.log(`${TRANSPORTS[transport].padEnd(26)}${format((perSecond * size) / 1e6).padStart(8)}${format(perSecond).padStart(13)}`);
  }
  const ratio = (peer) => `${(results[peer].seconds / results.ringport.seconds).toFixed(1)}×`;
  console.log(`\nringport was ${ratio('clone')} as fast as MessageChannel with structured clone, ${ratio('transfer')} with a transfer list.`);
  console.log('Every message arrived in order and whole over each transport. (MB = 10⁶ bytes)');
}

// Runs one transfer in a fresh worker; resolves with the seconds from the first message
// to the last (so that worker start-up is not counted).
async function stream(transport, count, size) {
  let messages;
  let port;
  const data = { transport, count, size };
  const options = { workerData: data };
  if (transport === 'ringport') {
    const channel = new Channel({ capacity: 4 << 20 });
    data.handle = channel.handle;
    // autoRelease hands each buffer's memory back to the channel as soon as the loop moves
    // on. A plain `for await (const buffer of channel.receiver())` works too: its buffers
    // stay valid for as long as you keep them and return when garbage-collected.
    messages = channel.receiver().iterate({ autoRelease: true });
  } else {
    ({ port1: port, port2: data.port } = new MessageChannel());
    options.transferList = [data.port];
    messages = portMessages(port);
  }
  const worker = new Worker(__filename, options);
  const exited = new Promise((resolve, reject) => worker.once('exit', resolve).once('error', reject));

  const progress = new ProgressBar(TRANSPORTS[transport], count * size);
  let seq = 0;
  let start;
  for await (const message of messages) {
    if (seq === 0) start = performance.now();
    check(message, seq++, size);
    progress.update(seq * size);
  }
  const seconds = (performance.now() - start) / 1000;
  progress.done(((count - 1) * size) / seconds);
  port?.close();
  await exited;
  if (seq !== count) throw new Error(`${transport}: ${seq} of ${count} messages arrived`);
  return { seconds };
}

// MessagePort messages as an async iterable, until the worker's end-of-stream null.
async function* portMessages(port) {
  for await (const [message] of on(port, 'message')) {
    if (message === null) return;
    yield message;
  }
}

// The worker: numbers each message at both ends, so that the receiver sees loss,
// reordering, duplication or a short message.
async function produce({ transport, count, size, handle, port }) {
  const reused = new Uint8Array(size);
  const tx = handle && Channel.from(handle).sender();
  for (let seq = 0; seq < count; seq++) {
    const message = transport === 'transfer' ? new Uint8Array(size) : reused;
    stamp(message, seq);
    if (tx) await tx.send(message); // copied into shared memory; waits while the channel is full
    else port.postMessage(message, transport === 'transfer' ? [message.buffer] : []);
  }
  if (tx) tx.close();
  else port.postMessage(null);
}

function stamp(message, seq) {
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  view.setUint32(0, seq, true);
  view.setUint32(message.byteLength - 4, seq, true);
}

function check(message, seq, size) {
  const view = ArrayBuffer.isView(message)
    ? new DataView(message.buffer, message.byteOffset, message.byteLength)
    : new DataView(message);
  if (view.byteLength !== size || view.getUint32(0, true) !== seq || view.getUint32(size - 4, true) !== seq) {
    throw new Error(`message ${seq} is wrong: ${view.byteLength} bytes, numbered ${view.getUint32(0, true)}`);
  }
}

// Redrawn in place on a terminal (at most 20 times a second); a few lines otherwise.
class ProgressBar {
  #label;
  #total;
  #tty = process.stdout.isTTY;
  #start;
  #nextDraw = 0;
  #nextLine = 0.25;

  constructor(label, total) {
    this.#label = label.padEnd(26);
    this.#total = total;
  }

  update(bytes) {
    const now = performance.now();
    this.#start ??= now;
    const fraction = bytes / this.#total;
    const rate = `  ${format((bytes / (now - this.#start + 1e-3)) / 1e3)} MB/s`;
    if (this.#tty && now >= this.#nextDraw) {
      this.#nextDraw = now + 50;
      process.stdout.write(`\r${this.#label}${this.#bar(fraction)}${rate}\x1b[K`);
    } else if (!this.#tty && fraction >= this.#nextLine && fraction < 1) {
      this.#nextLine += 0.25;
      process.stdout.write(`${this.#label}${this.#bar(fraction)}${rate}\n`);
    }
  }

  done(bytesPerSecond) {
    const rate = `  ${format(bytesPerSecond / 1e6)} MB/s`;
    process.stdout.write(`${this.#tty ? '\r' : ''}${this.#label}${this.#bar(1)}${rate}${this.#tty ? '\x1b[K' : ''}\n`);
  }

  #bar(fraction) {
    const width = 30;
    const filled = Math.round(fraction * width);
    const mib = (bytes) => Math.round(bytes / 2 ** 20);
    const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
    return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${percent} ${mib(fraction * this.#total)}/${mib(this.#total)} MiB`;
  }
}

function format(n) {
  return Math.round(n).toLocaleString('en-US');
}

if (isMainThread) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
} else {
  produce(workerData);
}
