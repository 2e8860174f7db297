'use strict';

// Shared by the mocha tests and their worker fixtures: a deterministic message
// stream (sizes and bytes derived from the sequence number) and worker helpers.
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { Worker } = require('node:worker_threads');

// Bytes of message i are PATTERN[offset(i) ...]: cheap to make, cheap to compare.
const PATTERN = Buffer.alloc(4 << 20);
for (let k = 0; k < PATTERN.length; k++) PATTERN[k] = (k * 7 + (k >> 8)) & 255;

// A small PRNG (mulberry32) so that sizes are random but reproducible.
function random(seed) {
  let t = (seed + 0x6d2b79f5) | 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

/**
 * Size of message i: mostly small (copied), some over the inline limit (slabs), a
 * few spanning several slabs, and message `hugeAt` larger than the capacity.
 */
function sizeFor(i, { hugeAt = -1, hugeSize = 0 } = {}) {
  if (i === hugeAt) return hugeSize;
  const r = random(i);
  if (r < 0.9) return Math.floor(random(i + 1e9) * 257);
  if (r < 0.99) return Math.floor(random(i + 2e9) * 8192);
  return Math.floor(random(i + 3e9) * 65536);
}

function messageFor(i, options) {
  const size = sizeFor(i, options);
  const offset = (i * 131) % (PATTERN.length - size);
  return PATTERN.subarray(offset, offset + size);
}

function checkMessage(buffer, i, options) {
  assert.ok(buffer instanceof ArrayBuffer, `message ${i} is not an ArrayBuffer`);
  const expected = messageFor(i, options);
  if (buffer.byteLength !== expected.length || Buffer.compare(Buffer.from(buffer), expected) !== 0) {
    assert.fail(`message ${i}: expected ${expected.length} bytes of its pattern, got ${buffer.byteLength} other bytes`);
  }
}

/** Message `seq` of producer `id` in multi-producer tests: its tag, then pattern bytes. */
function taggedMessage(id, seq) {
  const body = messageFor(id * 1000003 + seq);
  const out = Buffer.allocUnsafe(8 + body.length);
  out.writeUInt32LE(id, 0);
  out.writeUInt32LE(seq, 4);
  body.copy(out, 8);
  return out;
}

/** Checks a tagged message; returns { id, seq }. */
function checkTagged(buffer) {
  const view = Buffer.from(buffer);
  const id = view.readUInt32LE(0);
  const seq = view.readUInt32LE(4);
  if (Buffer.compare(view, taggedMessage(id, seq)) !== 0) assert.fail(`message ${seq} of producer ${id} is damaged`);
  return { id, seq };
}

/** Message `seq` of a numbered stream: its sequence number and size, then pattern bytes. */
function numberedMessage(seq, size) {
  const out = Buffer.allocUnsafe(Math.max(size, 8));
  out.writeUInt32LE(seq, 0);
  out.writeUInt32LE(out.length, 4);
  PATTERN.copy(out, 8, seq % 4096, (seq % 4096) + out.length - 8);
  return out;
}

/** Checks a numbered message; returns its sequence number. */
function checkNumbered(buffer) {
  const view = Buffer.from(buffer);
  const seq = view.readUInt32LE(0);
  if (Buffer.compare(view, numberedMessage(seq, view.readUInt32LE(4))) !== 0) assert.fail(`message ${seq} is damaged`);
  return seq;
}

/**
 * Value `seq` of a stream over a Watch or a Mailbox, where receivers skip values:
 * numbered, and as long as message `seq` (at most 65535 bytes: fits the default capacity).
 */
function valueFor(seq) {
  return numberedMessage(seq, sizeFor(seq));
}

/** Starts test/fixtures/<name>.js with workerData; resolves its exit code. */
function startWorker(name, workerData, options = {}) {
  const worker = new Worker(path.join(__dirname, 'fixtures', `${name}.js`), { workerData, ...options });
  worker.exited = new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', resolve);
  });
  return worker;
}

/** Resolves the next message the worker posts. */
function nextMessage(worker) {
  return new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

/** The error producer fixtures end with (closeWithError, a stream's destroy or abort). */
function producerError() {
  return Object.assign(new TypeError('the producer gave up'), { code: 'ERR_PRODUCER' });
}

/**
 * Ends a worker fixture's sender as `then` says: 'close' · 'closeWithError' (with `error`) ·
 * 'exit' (process.exit) · 'throw' (`crash`, uncaught) · 'hang' (waits to be terminated).
 * The errors are the fixture's own: the tests assert their class, message and code.
 */
function endSender(tx, then, { error, crash }) {
  switch (then) {
    case 'close':
      tx.close();
      break;
    case 'closeWithError':
      tx.closeWithError(error);
      break;
    case 'exit':
      process.exit(0);
      break;
    case 'throw':
      throw crash;
    case 'hang':
      setInterval(() => tx, 1000); // holds the sender: a collected sender counts as gone
      break;
  }
}

/** A full garbage collection, then a turn of the event loop for finalizers. */
async function collectGarbage(rounds = 3) {
  for (let r = 0; r < rounds; r++) {
    global.gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `source` in a fresh node process in the repository root (event-loop lifetime
 * tests); resolves { code, stdout (with stderr), timedOut } once it exits or, after
 * `timeoutMs`, is killed.
 */
function runNode(source, timeoutMs) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', '-e', source], { cwd: path.join(__dirname, '..') });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stdout += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, timedOut });
    });
  });
}

/**
 * Where a channel's regions lie in its SharedArrayBuffer, read from the identity block
 * (src/core/layout.hpp): tests that write into the shared memory on purpose use it.
 */
function channelGeometry(buffer) {
  const words = new DataView(buffer);
  const u64 = (at) => Number(words.getBigUint64(at, true));
  const classes = [];
  for (let c = 0; c < words.getUint32(60, true); c++) {
    const at = 64 + 24 * c; // SlabClassInfo {slab_size, slab_count, meta_offset, arena_offset}
    classes.push({ slabSize: words.getUint32(at, true), slabCount: words.getUint32(at + 4, true), meta: u64(at + 8), arena: u64(at + 16) });
  }
  return { ringOffset: u64(40), ringBytes: u64(48), classes };
}

/**
 * Reads the data doorbell of a channel now (Header::data_bell at byte 896,
 * src/core/layout.hpp; the handshake in src/core/doorbell.hpp): `sleepers`, set by a
 * receiver about to sleep and cleared by the sender that rings it, and `epoch`, which
 * each ring advances. Wake-up tests tell a ring from a sleep that ran out with it.
 */
function dataBell(buffer) {
  const words = new Int32Array(buffer, 896, 2);
  return () => ({ sleepers: Atomics.load(words, 0), epoch: Atomics.load(words, 1) });
}

module.exports = {
  PATTERN,
  random,
  sizeFor,
  messageFor,
  checkMessage,
  taggedMessage,
  checkTagged,
  numberedMessage,
  checkNumbered,
  valueFor,
  startWorker,
  nextMessage,
  producerError,
  endSender,
  collectGarbage,
  sleep,
  runNode,
  channelGeometry,
  dataBell,
};
