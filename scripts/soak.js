'use strict';

// Soak runs, outside `npm test`:
//
//   npm run soak                 (a) then (b) for 10 minutes
//   npm run soak -- --quick      (a) then (b) for 20 s
//   npm run soak -- --minutes 60
//
// (a) 2 M messages of the test stream, worker -> main thread, through `for await`
//     with iterate({ autoRelease: true }). Targets: RSS grows by at most 32 MiB from
//     warm-up (200 k messages) to the end, and the pool never falls back to the heap.
// (b) Mixed traffic for the given time, with random consumer pauses:
//     - a queue fed by 4 producer workers, one per way to send (send, sendBatch,
//       reserve/commit, sendSync; the channel goes multi-producer), drained by a
//       worker that switches between for-await, batches(), recvBatch() and recvSync().
//       Each producer's count and CRC-32 of its bytes must match what was received;
//     - a broadcast from a worker to 3 receiver workers that pause, and so lag. For
//       each receiver, received + missed must equal sent, and every message received
//       must match the CRC-32 the sender recorded for its sequence number.
// Sizes follow the test stream (test/helpers.js), with a message larger than the
// capacity and every slab class now and then. Exits non-zero when a target is missed
// or anything does not match. RINGPORT_SOAK_SEED replays the pauses.
const assert = require('node:assert/strict');
const { randomInt } = require('node:crypto');
const { performance } = require('node:perf_hooks');
const { parseArgs } = require('node:util');
const { Worker, isMainThread, workerData, parentPort } = require('node:worker_threads');
const zlib = require('node:zlib');
const { Channel, Broadcast } = require('..');
const { PATTERN, random, sizeFor, messageFor, checkMessage } = require('../test/helpers');

const MiB = 1 << 20;
const STREAM_MESSAGES = 2_000_000;
const WARMUP_MESSAGES = 200_000;
const RSS_GROWTH_TARGET = 32 * MiB;

const CAPACITY = 256 << 10;
const HUGE = 3 * MiB; // larger than the capacity and than every slab class: the heap path
const PRODUCER_METHODS = ['send', 'sendBatch', 'reserve', 'sendSync'];
const RECEIVE_STYLES = ['iterate', 'batches', 'recvBatch', 'recvSync'];
const BROADCAST_RECEIVERS = 3;
const RECORD_SLOTS = 1 << 18; // sender's CRC record: [sequence, crc] per slot, reused modulo

// --- shared by both sides ---

/** Message `seq` of source `tag`: [tag u32, seq u32], then pattern bytes. */
function tagged(tag, seq) {
  const size = seq % 9973 === 9972 ? HUGE : sizeFor(seq * 8 + tag);
  const out = Buffer.allocUnsafe(8 + size);
  out.writeUInt32LE(tag, 0);
  out.writeUInt32LE(seq, 4);
  const at = (seq * 131 + tag * 7919) % (PATTERN.length - size);
  PATTERN.copy(out, 8, at, at + size);
  return out;
}

function tagOf(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return [view.getUint32(0, true), view.getUint32(4, true)];
}

/** A seeded source of numbers in [0, 1). */
function rngFrom(seed) {
  let n = seed * 7919;
  return () => random(n++);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const NAP = new Int32Array(new SharedArrayBuffer(4));
const sleepSync = (ms) => Atomics.wait(NAP, 0, 0, ms);

// --- workers ---

const ROLES = {
  // (a): sends the test stream, closes, and stays until told to go (its memory counts).
  async stream({ handle, count }) {
    const tx = Channel.from(handle).sender();
    for (let i = 0; i < count; i++) await tx.send(messageFor(i));
    tx.close();
    await new Promise((resolve) => parentPort.once('message', resolve));
  },

  async queueProducer({ handle, id, method, stop }) {
    const tx = Channel.from(handle).sender();
    let seq = 0;
    let crc = 0;
    const next = () => {
      const bytes = tagged(id, seq++);
      crc = zlib.crc32(bytes, crc);
      return bytes;
    };
    while (!Atomics.load(stop, 0)) {
      if (method === 'send') {
        await tx.send(next());
      } else if (method === 'sendBatch') {
        const list = Array.from({ length: 1 + (seq % 16) }, next);
        await tx.sendBatch(list);
      } else if (method === 'reserve') {
        const bytes = next();
        const view = tx.reserve(bytes.length);
        view.set(bytes);
        await tx.commit(view);
      } else {
        tx.sendSync(next());
      }
    }
    tx.close();
    return { id, sent: seq, crc };
  },

  async queueConsumer({ handle, producers, seed }) {
    const rng = rngFrom(seed);
    const rx = Channel.from(handle).receiver();
    const next = new Array(producers).fill(0);
    const crc = new Array(producers).fill(0);
    const take = (bytes) => {
      const [tag, seq] = tagOf(bytes);
      if (tag >= producers || seq !== next[tag]) throw new Error(`queue: message ${seq} of producer ${tag}, expected ${next[tag]}`);
      next[tag]++;
      crc[tag] = zlib.crc32(bytes, crc[tag]);
    };
    // Now and then a pause of up to 20 ms: the producers fill the channel and wait.
    const pausing = () => rng() < 0.0005;
    const pauseMs = () => 1 + rng() * 19;
    const styles = {
      async iterate(quota) {
        let n = 0;
        for await (const buffer of rx.iterate({ autoRelease: true })) {
          take(new Uint8Array(buffer));
          if (pausing()) await sleep(pauseMs());
          if (++n >= quota) return false;
        }
        return true;
      },
      async batches(quota) {
        let n = 0;
        for await (const batch of rx.batches()) {
          for (const view of batch) take(view);
          if (pausing()) await sleep(pauseMs());
          if ((n += batch.length) >= quota) return false;
        }
        return true;
      },
      async recvBatch(quota) {
        for (let n = 0; n < quota; ) {
          const list = await rx.recvBatch(64);
          if (list.length === 0) return true;
          for (const buffer of list) {
            take(new Uint8Array(buffer));
            rx.release(buffer);
          }
          n += list.length;
          if (pausing()) await sleep(pauseMs());
        }
        return false;
      },
      async recvSync(quota) {
        for (let n = 0; n < quota; n++) {
          const buffer = rx.recvSync();
          if (buffer === null) return true;
          take(new Uint8Array(buffer));
          rx.release(buffer);
          if (pausing()) sleepSync(pauseMs());
        }
        await new Promise(setImmediate); // finalizers of heap-backed buffers run between turns
        return false;
      },
    };
    for (let round = 0; ; round++) {
      const ended = await styles[RECEIVE_STYLES[round % RECEIVE_STYLES.length]](2000 + Math.floor(rng() * 20000));
      if (ended) break;
    }
    return { received: next, crc };
  },

  async broadcastSender({ handle, stop, record }) {
    const tx = Broadcast.from(handle).sender();
    let seq = 0;
    for (; !Atomics.load(stop, 0); seq++) {
      const bytes = tagged(0, seq);
      const slot = (seq % RECORD_SLOTS) * 2;
      // The sequence first, then the CRC: a receiver that reads the CRC, then finds its
      // sequence there, has read the CRC of that message (the slot is never torn for it).
      Atomics.store(record, slot, seq);
      Atomics.store(record, slot + 1, zlib.crc32(bytes));
      tx.sendSync(bytes);
      if (seq % 128 === 127) await new Promise(setImmediate);
    }
    tx.close();
    return { sent: seq };
  },

  async broadcastReceiver({ handle, record, style, seed }) {
    const rng = rngFrom(seed);
    const rx = Broadcast.from(handle).receiver();
    parentPort.postMessage('ready');
    let expected = 0;
    let received = 0;
    let missed = 0;
    let lags = 0;
    let unverifiable = 0;
    const take = (bytes) => {
      const [tag, seq] = tagOf(bytes);
      if (tag !== 0 || seq !== expected) throw new Error(`broadcast: message ${seq}, expected ${expected}`);
      const slot = (seq % RECORD_SLOTS) * 2;
      const crc = Atomics.load(record, slot + 1);
      if (Atomics.load(record, slot) !== seq) unverifiable++;
      else if (zlib.crc32(bytes) !== crc) throw new Error(`broadcast: message ${seq} differs from what was sent`);
      expected++;
      received++;
    };
    // Pauses of up to 60 ms, long enough to fall more than the capacity behind.
    const pause = () => (rng() < 0.0003 ? sleep(5 + rng() * 55) : undefined);
    for (;;) {
      try {
        if (style === 'batches') {
          for await (const batch of rx.batches()) {
            for (const view of batch) take(view);
            await pause();
          }
        } else {
          for await (const buffer of rx.iterate({ autoRelease: style === 'autoRelease' })) {
            take(new Uint8Array(buffer));
            await pause();
          }
        }
        break;
      } catch (error) {
        if (error.code !== 'ERR_CHANNEL_LAGGED') throw error;
        lags++;
        missed += error.missed;
        expected += error.missed;
      }
    }
    return { style, received, missed, lags, unverifiable };
  },
};

if (!isMainThread) {
  ROLES[workerData.role](workerData).then((result) => result && parentPort.postMessage(result));
}

// --- main thread ---

/** Starts `role` in a worker; `.result` resolves with the last message it posts. */
function start(role, data) {
  const worker = new Worker(__filename, { workerData: { role, ...data } });
  worker.result = new Promise((resolve, reject) => {
    let last;
    worker.on('message', (m) => (last = m));
    worker.once('error', reject);
    worker.once('exit', (code) => (code === 0 ? resolve(last) : reject(new Error(`${role} exited with ${code}`))));
  });
  return worker;
}

function rssAfterGc() {
  global.gc?.();
  return process.memoryUsage().rss;
}

// Finalizers of collected native objects run when the event loop turns.
async function rssAfterCollection() {
  for (let round = 0; round < 3; round++) {
    global.gc?.();
    await new Promise(setImmediate);
  }
  return process.memoryUsage().rss;
}

const mib = (bytes) => `${(bytes / MiB).toFixed(1)} MiB`;

async function soakAutoRelease(failures) {
  console.log(`(a) ${STREAM_MESSAGES / 1e6} M messages worker -> main, for await + iterate({ autoRelease: true })`);
  const channel = new Channel();
  const rx = channel.receiver();
  const producer = start('stream', { handle: channel.handle, count: STREAM_MESSAGES });
  let i = 0;
  let warm;
  let warmAt;
  let midway;
  const started = performance.now();
  for await (const buffer of rx.iterate({ autoRelease: true })) {
    checkMessage(buffer, i);
    if (++i === WARMUP_MESSAGES) {
      warm = rssAfterGc();
      warmAt = performance.now();
    } else if (i === STREAM_MESSAGES / 2) {
      midway = rssAfterGc();
    }
  }
  const seconds = (performance.now() - warmAt) / 1000;
  const end = rssAfterGc();
  producer.postMessage('done');
  await producer.result;
  const { pool, bytesReceived } = channel.stats();
  const growth = end - warm;
  console.log(
    `    ${i} messages, ${mib(bytesReceived)} in ${((performance.now() - started) / 1000).toFixed(1)} s ` +
      `(${((i - WARMUP_MESSAGES) / seconds / 1e3).toFixed(0)} k msg/s after warm-up)`
  );
  console.log(
    `    RSS after warm-up ${mib(warm)}, midway ${mib(midway)}, at the end ${mib(end)}: ` +
      `growth ${mib(growth)} (target <= ${mib(RSS_GROWTH_TARGET)})`
  );
  console.log(`    pool: ${pool.slabs} slabs, high water ${pool.highWater}, fallbacks ${pool.fallbacks} (target 0)`);
  if (i !== STREAM_MESSAGES) failures.push(`(a) received ${i} of ${STREAM_MESSAGES} messages`);
  if (growth > RSS_GROWTH_TARGET) failures.push(`(a) RSS grew by ${mib(growth)}`);
  if (pool.fallbacks !== 0) failures.push(`(a) ${pool.fallbacks} pool fallbacks`);
}

async function soakMixed(seconds, seed, failures) {
  console.log(`(b) mixed soak for ${seconds} s (seed ${seed})`);
  const stop = new Int32Array(new SharedArrayBuffer(4));
  let queue = new Channel({ capacity: CAPACITY });
  const consumer = start('queueConsumer', { handle: queue.handle, producers: PRODUCER_METHODS.length, seed });
  const producers = PRODUCER_METHODS.map((method, id) => start('queueProducer', { handle: queue.handle, id, method, stop }));

  let broadcast = new Broadcast({ capacity: CAPACITY });
  const record = new Uint32Array(new SharedArrayBuffer(RECORD_SLOTS * 8));
  const styles = ['autoRelease', 'batches', 'plain'];
  const receivers = styles.map((style, r) => start('broadcastReceiver', { handle: broadcast.handle, record, style, seed: seed + 1 + r }));
  await Promise.all(receivers.map((w) => new Promise((resolve) => w.once('message', resolve))));
  const sender = start('broadcastSender', { handle: broadcast.handle, stop, record });

  const rssStart = rssAfterGc();
  const began = performance.now();
  const report = () => {
    const q = queue.stats();
    const b = broadcast.stats();
    console.log(
      `    ${((performance.now() - began) / 1000).toFixed(0)} s: queue ${q.received} received, ` +
        `broadcast ${b.sent} sent / ${b.received} received, ${b.lagged} lags, RSS ${mib(process.memoryUsage().rss)}`
    );
  };
  const ticker = setInterval(report, Math.min(60, Math.max(5, seconds / 4)) * 1000);
  await sleep(seconds * 1000);
  Atomics.store(stop, 0, 1);
  clearInterval(ticker);

  const sent = await Promise.all(producers.map((w) => w.result));
  const got = await consumer.result;
  const { sent: broadcastSent } = await sender.result;
  const heard = await Promise.all(receivers.map((w) => w.result));
  report();

  for (const { id, sent: count, crc } of sent) {
    const ok = got.received[id] === count && got.crc[id] === crc;
    console.log(
      `    queue producer ${id} (${PRODUCER_METHODS[id]}): sent ${count}, received ${got.received[id]}, ` +
        `CRC-32 ${crc.toString(16)} / ${got.crc[id].toString(16)} ${ok ? 'match' : 'MISMATCH'}`
    );
    if (!ok) failures.push(`(b) queue producer ${id}: sent ${count} (crc ${crc}), received ${got.received[id]} (crc ${got.crc[id]})`);
  }
  const q = queue.stats();
  console.log(`    queue pool: ${q.pool.slabs} slabs, in use at the end ${q.pool.inUse}, high water ${q.pool.highWater}, fallbacks ${q.pool.fallbacks}`);
  if (q.pool.inUse !== 0) failures.push(`(b) ${q.pool.inUse} queue slabs still leased`);
  for (const r of heard) {
    const ok = r.received + r.missed === broadcastSent && r.unverifiable === 0;
    console.log(
      `    broadcast receiver (${r.style}): received ${r.received} + missed ${r.missed} = ${r.received + r.missed} ` +
        `of ${broadcastSent} sent, ${r.lags} lags; CRC-32 matched for ${r.received - r.unverifiable}, ` +
        `${r.unverifiable} could not be checked${ok ? '' : ' MISMATCH'}`
    );
    if (!ok) failures.push(`(b) broadcast receiver ${r.style}: ${JSON.stringify(r)} of ${broadcastSent}`);
  }
  const b = broadcast.stats();
  console.log(`    broadcast pool: ${b.pool.slabs} slabs, high water ${b.pool.highWater}, fallbacks ${b.pool.fallbacks}`);
  // Each channel keeps up to 64 MiB of freed heap blocks for reuse (heap_table.hpp),
  // until it is collected.
  const rssEnd = rssAfterGc();
  queue = broadcast = null;
  const rssCollected = await rssAfterCollection();
  console.log(`    RSS ${mib(rssStart)} at the start, ${mib(rssEnd)} at the end, ${mib(rssCollected)} once the channels are collected`);
}

async function main() {
  const { values } = parseArgs({ options: { quick: { type: 'boolean' }, minutes: { type: 'string' } } });
  const seconds = values.quick ? 20 : Number(values.minutes ?? 10) * 60;
  assert.ok(seconds > 0, '--minutes must be a positive number');
  const seed = Number(process.env.RINGPORT_SOAK_SEED) || randomInt(1, 2 ** 31);
  const failures = [];
  await soakAutoRelease(failures);
  await soakMixed(seconds, seed, failures);
  if (failures.length === 0) {
    console.log('soak: every target met, every count and checksum matched');
    return;
  }
  console.error(`soak FAILED (seed ${seed}):\n  ${failures.join('\n  ')}`);
  process.exitCode = 1;
}

if (isMainThread) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
