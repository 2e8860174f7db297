'use strict';

// The crash matrix: for a queue and a broadcast, a worker producer or consumer dies —
// worker.terminate(), process.exit() inside it, or an uncaught exception — at a
// seeded random point of a phase (sending, reserving, receiving, holding buffers).
// Each cell checks that the surviving thread:
// - notices within DETECT_BOUND_MS of the worker's 'exit' event: a queue's peer
//   rejects ERR_CHANNEL_DISCONNECTED, and so do a broadcast's receivers when its sender
//   dies; when a broadcast receiver dies, the sender and the other receivers carry on;
// - receives every message committed before the crash, intact and in order (the
//   worker counts completed sends in shared memory, a lower bound), and nothing else;
// - sees every slab back in the pool once the channel is drained (queue) or evicted
//   (broadcast) and garbage is collected: nothing the dead thread held stays leased.
// RINGPORT_CRASH_ROUNDS sets the rounds per cell; RINGPORT_CRASH_SEED replays a
// failure (the seed is in its message).
const assert = require('node:assert/strict');
const { randomInt } = require('node:crypto');
const { performance } = require('node:perf_hooks');
const { Channel, Broadcast, ChannelError } = require('..');
const { random, sizeFor, messageFor, checkMessage, startWorker, nextMessage, collectGarbage, sleep } = require('./helpers');

const ROUNDS = Number(process.env.RINGPORT_CRASH_ROUNDS) || 3;
const SEED = Number(process.env.RINGPORT_CRASH_SEED) || randomInt(1, 2 ** 31);

// What this file promises (README "Guarantees"): the survivor sees the end of its
// peer within this long after the worker's 'exit' event. A liveness bound, far above
// what is measured (the summary prints the worst case), so that a lost wake-up fails
// here instead of hanging.
const DETECT_BOUND_MS = 2000;

const QUEUE_CAPACITY = 64 << 10;
const BROADCAST_CAPACITY = 4 << 20; // keeps every message a round sends (premise checked below)
const BROADCAST_RING_BYTES = 2 * BROADCAST_CAPACITY; // Layout::compute
const INLINE_MAX = 4096; // larger messages use a slab, or a heap block, at these capacities
const MAX_CRASH_AT = 300; // operations before the planned crash
const LIMIT = { queue: MAX_CRASH_AT + 3000, broadcast: MAX_CRASH_AT + 1000 }; // a worker's operations, at most
const EXIT_CODE = 7;
const CRASH_MESSAGE = 'crash-matrix: planned crash';
const [COMPLETED, STARTED, DAMAGED] = [0, 1, 2]; // progress slots (fixtures/crash-worker.js)

const PHASES = {
  queue: { producer: ['send', 'send-unawaited', 'sendSync', 'reserve'], consumer: ['recv', 'recvSync', 'hold'] },
  broadcast: { producer: ['send', 'send-unawaited', 'sendSync'], consumer: ['recv', 'recvSync', 'hold'] },
};
const HOWS = { terminate: 'worker.terminate()', exit: 'process.exit()', throw: 'an uncaught exception' };

const latencies = []; // ms from the 'exit' event to the survivor's notice (negative: before it)
const running = new Set(); // workers of the current round, terminated if a round fails

// A queue's pool has room for the buffers a receiver leaves to the garbage collector,
// so that reserve() mostly gets pool memory (it gets plain memory from an empty pool).
function makeChannel(kind) {
  return kind === 'queue' ? new Channel({ capacity: QUEUE_CAPACITY, poolSlabs: 32 }) : new Broadcast({ capacity: BROADCAST_CAPACITY });
}

/** A seeded source of numbers in [0, 1). */
function rngFrom(seed) {
  let n = seed * 7919;
  return () => random(n++);
}

/**
 * Starts the crash worker for `cell`. Returns { worker, progress, end }: `end.done`
 * resolves once it has exited, with `end.code`, `end.error` and `end.at` filled in.
 * Under 'terminate', terminates it once it has begun operation crashAt, after a
 * random delay of up to 3 ms.
 */
function startCrashWorker(cell, handle, rng) {
  const progress = new Int32Array(new SharedArrayBuffer(12));
  const crashAt = Math.floor(rng() * MAX_CRASH_AT);
  const worker = startWorker('crash-worker', {
    ...cell,
    handle,
    progress,
    crashAt,
    limit: cell.role === 'producer' ? LIMIT[cell.kind] : Infinity,
    releaseEvery: 1 + Math.floor(rng() * 3),
    exitCode: EXIT_CODE,
    crashMessage: CRASH_MESSAGE,
  });
  worker.exited.catch(() => {}); // rejects on the planned uncaught exception: `end` has it
  running.add(worker);
  const end = { error: undefined, code: undefined, at: undefined };
  worker.on('error', (error) => (end.error ??= error));
  const exited = new Promise((resolve) =>
    worker.once('exit', (code) => {
      running.delete(worker);
      end.code = code;
      end.at = performance.now();
      resolve();
    })
  );
  const delay = rng() * 3;
  const killed =
    cell.how === 'terminate' &&
    (async () => {
      while (Atomics.load(progress, STARTED) <= crashAt && end.code === undefined) await sleep(1);
      await sleep(delay);
      await worker.terminate();
    })();
  end.done = Promise.all([exited, killed]).then(() => end);
  return { worker, progress, end };
}

/** The worker ended the way the cell planned, and no other way. */
function assertPlannedEnd(cell, end) {
  if (cell.how === 'throw') {
    assert.equal(end.error?.message, CRASH_MESSAGE, `the worker failed otherwise: ${end.error?.stack}`);
    return;
  }
  assert.equal(end.error, undefined, `the worker failed: ${end.error?.stack}`);
  assert.equal(end.code, cell.how === 'exit' ? EXIT_CODE : 1);
}

function noticed(end, at = performance.now()) {
  latencies.push(at - end.at);
  assert.ok(at - end.at <= DETECT_BOUND_MS, `noticed ${(at - end.at).toFixed(0)} ms after the exit event`);
}

// A random short pause now and then, so that the worker sometimes waits for us.
async function maybePause(rng) {
  if (rng() < 0.03) await sleep(1 + rng() * 4);
}

/**
 * Receives until the stream fails, checking every message; a broadcast receiver that
 * falls behind goes on after the messages it missed. Returns { next, missed, failure }.
 * (A function of its own: a suspended async function may keep its last buffer
 * referenced, and the caller then checks that every buffer could be collected.)
 */
async function receiveUntilFailure(rx, rng) {
  let next = 0; // sequence number of the next message: received + missed
  let missed = 0;
  for (;;) {
    try {
      for await (const buffer of rx.iterate({ autoRelease: rng() < 0.5 })) {
        checkMessage(buffer, next++);
        await maybePause(rng);
      }
      assert.fail('the stream ended cleanly, but its producer crashed');
    } catch (error) {
      if (!(error instanceof ChannelError)) throw error;
      if (error.code !== 'ERR_CHANNEL_LAGGED') return { next, missed, failure: error };
      next += error.missed;
      missed += error.missed;
    }
  }
}

/**
 * The producer dies; the main thread receives. Everything the producer completed
 * arrives intact and in order, then ERR_CHANNEL_DISCONNECTED.
 */
async function producerDies(cell, rng) {
  const queue = cell.kind === 'queue';
  const channel = makeChannel(cell.kind);
  let rx = channel.receiver(); // first: a broadcast receiver sees what is sent after it attached
  const { progress, end } = startCrashWorker(cell, channel.handle, rng);
  const { next, missed, failure } = await receiveUntilFailure(rx, rng);
  const seenAt = performance.now();
  await end.done;
  assertPlannedEnd(cell, end);
  assert.equal(failure.code, 'ERR_CHANNEL_DISCONNECTED');
  noticed(end, seenAt);
  const stats = channel.stats();
  assert.ok(next >= Atomics.load(progress, COMPLETED), 'every completed send was received (or, broadcast, reported missed)');
  assert.equal(next, stats.sent, 'every message published was received (or, broadcast, reported missed)');
  if (queue) assert.equal(missed, 0);
  rx = null;
  await collectGarbage();
  const { inUse, fallbacks } = channel.stats().pool;
  if (queue) {
    assert.equal(inUse, 0, 'slabs leased');
    return;
  }
  // A broadcast's ring keeps its references to the last `capacity` bytes of messages
  // until a sender overwrites them, and this one's sender is gone: exactly the
  // slab-backed messages sent stay leased (this round's messages all fit: nothing was
  // evicted).
  let large = 0;
  let ringBytes = 0;
  let messageBytes = 0;
  for (let i = 0; i < stats.sent; i++) {
    large += sizeFor(i) > INLINE_MAX;
    ringBytes += sizeFor(i) > INLINE_MAX ? 32 : (16 + sizeFor(i) + 7) & ~7; // broadcast.hpp records
    messageBytes += sizeFor(i);
  }
  assert.ok(ringBytes <= BROADCAST_RING_BYTES && messageBytes <= BROADCAST_CAPACITY, 'test premise: the ring held every message');
  assert.equal(inUse, large - fallbacks, 'slabs leased beyond the ring\'s own');
}

/** Checks what the witness receiver has ready; returns its next sequence number. */
function drainWitness(witness, next) {
  for (let b = witness.tryRecv(); b !== undefined; b = witness.tryRecv()) checkMessage(b, next++);
  return next;
}

/**
 * The consumer dies; the main thread sends. A queue's sender gets
 * ERR_CHANNEL_DISCONNECTED; a broadcast's sender and its other receivers carry on.
 */
async function consumerDies(cell, rng) {
  const queue = cell.kind === 'queue';
  const channel = makeChannel(cell.kind);
  const tx = channel.sender();
  const witness = queue ? null : channel.receiver(); // a broadcast receiver that stays
  const { worker, progress, end } = startCrashWorker(cell, channel.handle, rng);
  assert.equal(await nextMessage(worker), 'ready');
  let sent = 0;
  let witnessed = 0;
  let sentAtExit;
  let failure;
  for (;;) {
    try {
      await tx.send(messageFor(sent));
    } catch (error) {
      failure = error;
      break;
    }
    sent++;
    if (witness) {
      witnessed = drainWitness(witness, witnessed);
      if (end.at !== undefined && sent - (sentAtExit ??= sent) >= 32) break; // it went on after the receiver died
    } else if (end.at !== undefined) {
      assert.ok(performance.now() - end.at <= DETECT_BOUND_MS, 'the sender never noticed its receiver died');
    }
    if (sent % 16 === 0) await new Promise(setImmediate); // let the event loop turn
    await maybePause(rng);
  }
  const seenAt = performance.now();
  await end.done;
  assertPlannedEnd(cell, end);
  assert.equal(Atomics.load(progress, DAMAGED), 0, `the worker received message ${Atomics.load(progress, DAMAGED) - 1} damaged`);
  assert.ok(Atomics.load(progress, COMPLETED) <= sent, 'the worker received no more than was sent');
  if (queue) {
    assert.ok(failure instanceof ChannelError, String(failure));
    assert.equal(failure.code, 'ERR_CHANNEL_DISCONNECTED');
    noticed(end, seenAt);
    await assert.rejects(tx.send('after'), { code: 'ERR_CHANNEL_DISCONNECTED' });
  } else {
    assert.equal(failure, undefined, 'a broadcast sender is never stopped by a receiver');
    assert.equal(witnessed, sent, 'the other receiver got every message');
    // Push every message out of the ring, so that its references go.
    witness.close();
    const filler = Buffer.alloc(100);
    for (let i = 0; i < BROADCAST_RING_BYTES / 100; i++) tx.trySend(filler); // more than `capacity` bytes
  }
  await collectGarbage();
  assert.equal(channel.stats().pool.inUse, 0, 'slabs leased after the receiver died');
}

describe('Crash matrix', function () {
  this.timeout(60000 * ROUNDS);

  after(() => {
    if (latencies.length === 0) return;
    const sorted = latencies.slice().sort((a, b) => a - b);
    const at = (q) => Math.max(0, sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]).toFixed(1);
    console.log(
      `      disconnect seen after the exit event: median ${at(0.5)} ms, p95 ${at(0.95)} ms, max ${at(1)} ms ` +
        `(${sorted.length} crashes, bound ${DETECT_BOUND_MS} ms, seed ${SEED})`
    );
  });

  let cellIndex = 0;
  for (const kind of ['queue', 'broadcast']) {
    for (const role of ['producer', 'consumer']) {
      for (const phase of PHASES[kind][role]) {
        for (const how of Object.keys(HOWS)) {
          const cell = { kind, role, phase, how };
          const index = cellIndex++;
          it(`${kind} ${role}: ${HOWS[how]} during ${phase}`, async () => {
            for (let round = 0; round < ROUNDS; round++) {
              const seed = SEED + index * 1000 + round;
              try {
                await (role === 'producer' ? producerDies : consumerDies)(cell, rngFrom(seed));
              } catch (error) {
                await Promise.all([...running].map((w) => w.terminate()));
                error.message += `\n      (round ${round + 1} of ${ROUNDS}; replay with RINGPORT_CRASH_SEED=${SEED})`;
                throw error;
              }
            }
          });
        }
      }
    }
  }
});

describe('Ends that leave memory behind, without a crash', () => {
  it('a queue receiver that is garbage-collected returns the slabs of what it left buffered', async () => {
    const ch = new Channel({ capacity: QUEUE_CAPACITY });
    const tx = ch.sender();
    (() => ch.receiver())(); // dropped at once
    for (let i = 0; i < 3; i++) await tx.send(Buffer.alloc(20000, i));
    assert.equal(ch.stats().pool.inUse, 3);
    await collectGarbage();
    assert.equal(ch.stats().pool.inUse, 0);
    await assert.rejects(tx.send('x'), { code: 'ERR_CHANNEL_DISCONNECTED' });
  });

  it('a sender that is garbage-collected gives back what it reserved and never committed', async () => {
    const ch = new Channel({ capacity: QUEUE_CAPACITY });
    const rx = ch.receiver();
    (() => {
      const tx = ch.sender();
      tx.reserve(20000).fill(1); // never committed
      tx.commit(tx.reserve(30000).fill(2)); // committed: the receiver's now
    })();
    assert.equal(ch.stats().pool.inUse, 2);
    await collectGarbage();
    assert.equal(ch.stats().pool.inUse, 1, 'the committed message keeps its slab');
    const buffer = await rx.recv();
    assert.equal(buffer.byteLength, 30000);
    assert.equal(new Uint8Array(buffer)[29999], 2);
    assert.equal(rx.release(buffer), true);
    assert.equal(ch.stats().pool.inUse, 0);
    await assert.rejects(rx.recv(), { code: 'ERR_CHANNEL_DISCONNECTED' });
  });
});
