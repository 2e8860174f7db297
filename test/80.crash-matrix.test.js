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
// For a watch and a mailbox, whose sends replace the value and never wait, a worker
// sender dies while sending (awaited send(), a trySend() loop) or between sends, or a
// worker receiver dies during recv(), while waiting in recv() for a value that is not
// coming, or while holding what it received. Each cell checks that:
// - the survivor notices within DETECT_BOUND_MS: the receiver of a dead sender gets
//   the value it has not seen, then ERR_CHANNEL_DISCONNECTED; the sender of a dead
//   mailbox receiver gets ERR_CHANNEL_DISCONNECTED; a dead watch receiver concerns no
//   one (the sender and another receiver carry on);
// - values arrive intact and newer each time; the last value sent before the crash is
//   received (a mailbox: every message is taken once, dropped once, or still waits in
//   the slot); latest() is never torn;
// - a new receiver attaches where the API allows one (a watch's, which gets the last
//   value at once), and a second end the API does not allow still throws
//   ERR_CHANNEL_ROLE_TAKEN (a dead end's role is not handed on).
// RINGPORT_CRASH_ROUNDS sets the rounds per cell; RINGPORT_CRASH_SEED replays a
// failure (the seed is in its message).
const assert = require('node:assert/strict');
const { randomInt } = require('node:crypto');
const { performance } = require('node:perf_hooks');
const { Channel, Broadcast, Watch, Mailbox, ChannelError } = require('..');
const { random, sizeFor, messageFor, checkMessage, valueFor, checkNumbered, startWorker, nextMessage, collectGarbage, sleep } = require('./helpers');

const ROUNDS = Number(process.env.RINGPORT_CRASH_ROUNDS) || 3;
const SEED = Number(process.env.RINGPORT_CRASH_SEED) || randomInt(1, 2 ** 31);

// What this file promises (README "Guarantees"): the survivor sees the end of its
// peer within this long after the worker's 'exit' event. A liveness bound, far above
// what is measured (the summary prints the worst case), so that a lost wake-up fails
// here instead of hanging.
const DETECT_BOUND_MS = 2000;
// A worker that outlives its planned crash by this long fails the cell (a sender that
// never waits would otherwise send for ever).
const GIVE_UP_MS = 20000;

const QUEUE_CAPACITY = 64 << 10;
const BROADCAST_CAPACITY = 4 << 20; // keeps every message a round sends (premise checked below)
const BROADCAST_RING_BYTES = 2 * BROADCAST_CAPACITY; // Layout::compute
const INLINE_MAX = 4096; // larger messages use a slab, or a heap block, at these capacities
// Operations before the planned crash, at most: enough for a queue's ring to wrap and
// its pool to run dry; a watch or a mailbox has neither, and keeps one value.
const MAX_CRASH_AT = { queue: 300, broadcast: 300, watch: 100, mailbox: 100 };
const LIMIT = { queue: 3300, broadcast: 1300, watch: 1100, mailbox: 1100 }; // a worker's operations, at most
const EXIT_CODE = 7;
const CRASH_MESSAGE = 'crash-matrix: planned crash';
const [COMPLETED, STARTED, DAMAGED] = [0, 1, 2]; // progress slots (fixtures/crash-worker.js)

const PHASES = {
  queue: { producer: ['send', 'send-unawaited', 'sendSync', 'reserve'], consumer: ['recv', 'recvSync', 'hold'] },
  broadcast: { producer: ['send', 'send-unawaited', 'sendSync'], consumer: ['recv', 'recvSync', 'hold'] },
  watch: { producer: ['send', 'trySend', 'between'], consumer: ['recv', 'wait', 'hold'] },
  mailbox: { producer: ['send', 'trySend', 'between'], consumer: ['recv', 'wait', 'hold'] },
};
const HOWS = { terminate: 'worker.terminate()', exit: 'process.exit()', throw: 'an uncaught exception' };
const WHEN = { between: 'between sends', wait: 'while waiting in recv' }; // else `during ${phase}`

// ms from the 'exit' event to the survivor's notice (negative: before it), per kind
const latencies = { queue: [], broadcast: [], watch: [], mailbox: [] };
const running = new Set(); // workers of the current round, terminated if a round fails

// A queue's pool has room for the buffers a receiver leaves to the garbage collector,
// so that reserve() mostly gets pool memory (it gets plain memory from an empty pool).
// A watch and a mailbox hold values up to 64 KiB by default: every valueFor(i) fits.
function makeChannel(kind) {
  if (kind === 'watch') return new Watch();
  if (kind === 'mailbox') return new Mailbox();
  return kind === 'queue' ? new Channel({ capacity: QUEUE_CAPACITY, poolSlabs: 32 }) : new Broadcast({ capacity: BROADCAST_CAPACITY });
}

/** A seeded source of numbers in [0, 1). */
function rngFrom(seed) {
  let n = seed * 7919;
  return () => random(n++);
}

/**
 * Starts the crash worker for `cell`. Returns { worker, progress, end, crashAt }: `end.done`
 * resolves once it has exited, with `end.code`, `end.error` and `end.at` filled in.
 * Under 'terminate', terminates it once it has begun operation crashAt, after a
 * random delay of up to 3 ms.
 */
function startCrashWorker(cell, handle, rng) {
  const progress = new Int32Array(new SharedArrayBuffer(12));
  const crashAt = Math.floor(rng() * MAX_CRASH_AT[cell.kind]);
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
  return { worker, progress, end, crashAt };
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

function noticed(cell, end, at = performance.now()) {
  latencies[cell.kind].push(at - end.at);
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
  noticed(cell, end, seenAt);
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

/**
 * The main thread's side of a cell whose receiver dies: sends message after message,
 * `send(seq)`, until a send fails or, where a receiver's death stops no sender
 * (`drain` given: it checks what another receiver has ready), 32 sends after the
 * worker exited. `gate(seq)`, if given, resolves false to hold message seq back for
 * now. Returns { sent, failure, seenAt }.
 */
async function sendUntilNoticed({ end, progress, crashAt }, rng, { send, drain, gate }) {
  const giveUpAt = performance.now() + GIVE_UP_MS;
  let sent = 0;
  let sentAtExit;
  let failure;
  for (;;) {
    if (end.at === undefined && performance.now() > giveUpAt) {
      assert.fail(`the worker still lives: ${Atomics.load(progress, STARTED)} operations begun, crash planned at ${crashAt}, ${sent} sent`);
    }
    if (gate && !(await gate(sent))) continue;
    try {
      await send(sent);
    } catch (error) {
      failure = error;
      break;
    }
    sent++;
    if (drain) {
      drain();
      if (end.at !== undefined && sent - (sentAtExit ??= sent) >= 32) break; // it went on after the receiver died
    } else if (end.at !== undefined) {
      assert.ok(performance.now() - end.at <= DETECT_BOUND_MS, 'the sender never noticed its receiver died');
    }
    if (sent % 16 === 0) await new Promise(setImmediate); // let the event loop turn
    await maybePause(rng);
  }
  return { sent, failure, seenAt: performance.now() };
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
  const crash = startCrashWorker(cell, channel.handle, rng);
  const { worker, progress, end } = crash;
  assert.equal(await nextMessage(worker), 'ready');
  let witnessed = 0; // the witness's next sequence number
  const { sent, failure, seenAt } = await sendUntilNoticed(crash, rng, {
    send: (seq) => tx.send(messageFor(seq)),
    drain: witness && (() => {
      for (let b = witness.tryRecv(); b !== undefined; b = witness.tryRecv()) checkMessage(b, witnessed++);
    }),
  });
  await end.done;
  assertPlannedEnd(cell, end);
  assert.equal(Atomics.load(progress, DAMAGED), 0, `the worker received message ${Atomics.load(progress, DAMAGED) - 1} damaged`);
  assert.ok(Atomics.load(progress, COMPLETED) <= sent, 'the worker received no more than was sent');
  if (queue) {
    assert.ok(failure instanceof ChannelError, String(failure));
    assert.equal(failure.code, 'ERR_CHANNEL_DISCONNECTED');
    noticed(cell, end, seenAt);
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

/** The sequence number of value `buffer`, checked intact and newer than `last`. */
function checkValue(buffer, last) {
  const seq = checkNumbered(buffer);
  assert.ok(seq > last, `value ${seq} came after value ${last}`);
  return seq;
}

/** A watch's latest(): the current value, intact and no older than `seen`; -1 if none. */
function checkLatest(rx, seen) {
  const value = rx.latest();
  if (value === undefined) {
    assert.equal(seen, -1, 'latest() lost the value');
    return -1;
  }
  return checkValue(value, seen - 1);
}

/** What a second end of a watch or a mailbox gets after the crash. */
function assertRolesKept(cell, handle) {
  const from = cell.kind === 'watch' ? Watch.from : Mailbox.from;
  assert.throws(() => from(handle).sender(), { code: 'ERR_CHANNEL_ROLE_TAKEN' });
  if (cell.kind === 'mailbox') assert.throws(() => from(handle).receiver(), { code: 'ERR_CHANNEL_ROLE_TAKEN' });
}

/**
 * The sender of a watch or a mailbox dies; the main thread receives (and, a watch,
 * reads latest()). Values arrive intact and newer each time, the last one sent among
 * them, then ERR_CHANNEL_DISCONNECTED; a mailbox's messages are each taken or dropped.
 */
async function valueSenderDies(cell, rng) {
  const watch = cell.kind === 'watch';
  const channel = makeChannel(cell.kind);
  const rx = channel.receiver();
  const { progress, end } = startCrashWorker(cell, channel.handle, rng);
  let last = -1;
  let received = 0;
  let failure;
  for (;;) {
    let buffer;
    try {
      buffer = await rx.recv();
    } catch (error) {
      failure = error;
      break;
    }
    assert.notEqual(buffer, null, 'the stream ended cleanly, but its sender crashed');
    last = checkValue(buffer, last);
    received++;
    if (watch) checkLatest(rx, last);
    await maybePause(rng);
  }
  const seenAt = performance.now();
  await end.done;
  assertPlannedEnd(cell, end);
  assert.ok(failure instanceof ChannelError, String(failure));
  assert.equal(failure.code, 'ERR_CHANNEL_DISCONNECTED');
  noticed(cell, end, seenAt);
  const stats = channel.stats();
  assert.ok(stats.sent >= Atomics.load(progress, COMPLETED), 'every completed send was counted');
  assert.equal(last, stats.sent - 1, 'the last value sent before the crash was received');
  if (watch) {
    assert.equal(checkLatest(rx, last), last);
    const late = Watch.from(channel.handle).receiver(); // has seen nothing: gets the last value at once
    if (last !== -1) assert.equal(checkValue(await late.recv(), -1), last);
    await assert.rejects(late.recv(), { code: 'ERR_CHANNEL_DISCONNECTED' });
  } else {
    assert.equal(received + stats.dropped, stats.sent, 'every message was taken once or dropped once');
    assert.equal(stats.received, received);
  }
  assertRolesKept(cell, channel.handle);
}

/** Resolves once the worker has reached sequence number `seq`, or has exited. */
async function reached(progress, seq, end) {
  while (Atomics.load(progress, COMPLETED) < seq && end.at === undefined) await new Promise(setImmediate);
}

/**
 * The receiver of a watch or a mailbox dies; the main thread sends. A mailbox's
 * sender gets ERR_CHANNEL_DISCONNECTED, with every message taken, dropped, or left in
 * the slot; a watch's sender and its other receivers carry on, and a new receiver
 * gets the last value. Under 'wait' the main thread sends value i only once the
 * worker has taken value i - 1, and stops at `crashAt`: the worker dies waiting.
 */
async function valueReceiverDies(cell, rng) {
  const watch = cell.kind === 'watch';
  const channel = makeChannel(cell.kind);
  const tx = channel.sender();
  const witness = watch ? channel.receiver() : null;
  const crash = startCrashWorker(cell, channel.handle, rng);
  const { worker, progress, end, crashAt } = crash;
  assert.equal(await nextMessage(worker), 'ready');
  let witnessed = -1; // the newest value the witness saw
  const { sent, failure, seenAt } = await sendUntilNoticed(crash, rng, {
    send: (seq) => tx.trySend(valueFor(seq)),
    drain: witness && (() => {
      for (let b = witness.tryRecv(); b !== undefined; b = witness.tryRecv()) witnessed = checkValue(b, witnessed);
    }),
    gate: cell.phase === 'wait' && (async (seq) => {
      if (end.at !== undefined) return true;
      if (seq >= crashAt) {
        await sleep(1); // the worker waits for a value that does not come, until it dies
        return false;
      }
      await reached(progress, seq, end);
      return true;
    }),
  });
  await end.done;
  assertPlannedEnd(cell, end);
  const damaged = Atomics.load(progress, DAMAGED);
  assert.equal(damaged, 0, `the worker received a damaged value, or an older one, after value ${damaged - 2}`);
  assert.ok(Atomics.load(progress, COMPLETED) <= sent, 'the worker received no value that was not sent');
  const stats = channel.stats();
  assert.equal(stats.sent, sent);
  if (watch) {
    assert.equal(failure, undefined, 'a watch sender is never stopped by a receiver');
    assert.equal(witnessed, sent - 1, 'the other receiver saw the last value');
    assert.equal(checkLatest(witness, witnessed), sent - 1);
    const late = Watch.from(channel.handle).receiver();
    assert.equal(checkValue(await late.recv(), -1), sent - 1, 'a new receiver gets the last value at once');
  } else {
    assert.ok(failure instanceof ChannelError, String(failure));
    assert.equal(failure.code, 'ERR_CHANNEL_DISCONNECTED');
    noticed(cell, end, seenAt);
    await assert.rejects(tx.send('after'), { code: 'ERR_CHANNEL_DISCONNECTED' });
    const { received, dropped, pending } = stats;
    const taken = Atomics.load(progress, STARTED); // receives begun: at least those that took a message
    assert.equal(received + dropped + pending, sent, `every message was taken, dropped, or is still in the slot: ${received} taken (the worker began ${taken} receives), ${dropped} dropped, ${pending} pending of ${sent} sent`);
    if (stats.pending === 1) assert.equal(stats.pendingBytes, valueFor(sent - 1).length, 'the message left in the slot is the last one sent');
  }
  assertRolesKept(cell, channel.handle);
}

let cellIndex = 0; // numbers the cells of every block: each cell has its own seeds

/**
 * A describe block of the cells of `kinds`; `dies[role]` runs one round of a cell.
 * After them, prints the detection times measured.
 */
function crashMatrix(title, kinds, dies) {
  describe(title, function () {
    this.timeout(60000 * ROUNDS);

    after(() => {
      const measured = kinds.flatMap((kind) => latencies[kind]);
      if (measured.length === 0) return;
      const sorted = measured.sort((a, b) => a - b);
      const at = (q) => Math.max(0, sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]).toFixed(1);
      console.log(
        `      disconnect seen after the exit event: median ${at(0.5)} ms, p95 ${at(0.95)} ms, max ${at(1)} ms ` +
          `(${sorted.length} crashes, bound ${DETECT_BOUND_MS} ms, seed ${SEED})`
      );
    });

    for (const kind of kinds) {
      for (const role of ['producer', 'consumer']) {
        for (const phase of PHASES[kind][role]) {
          for (const how of Object.keys(HOWS)) {
            const cell = { kind, role, phase, how };
            const index = cellIndex++;
            it(`${kind} ${role}: ${HOWS[how]} ${WHEN[phase] ?? `during ${phase}`}`, async () => {
              for (let round = 0; round < ROUNDS; round++) {
                const seed = SEED + index * 1000 + round;
                try {
                  await dies[role](cell, rngFrom(seed));
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
}

crashMatrix('Crash matrix', ['queue', 'broadcast'], { producer: producerDies, consumer: consumerDies });
crashMatrix('Crash matrix: Watch and Mailbox', ['watch', 'mailbox'], { producer: valueSenderDies, consumer: valueReceiverDies });

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

describe('Channel ends in a thread that is stopping', () => {
  // A worker whose microtask throws still runs the microtasks queued after it, while
  // N-API refuses what native methods need: they return undefined, which used to
  // surface as TypeErrors (reading the counters of undefined stats, the byteLength of
  // an undefined message, a lease of undefined), as "unexpected native status
  // undefined", or as a send() on a full channel that retried for ever, so that the
  // thread never stopped.
  it('every call that needs native code throws or rejects ERR_CHANNEL_CLOSED after an uncaught exception', async () => {
    const queue = new Channel({ capacity: QUEUE_CAPACITY });
    const tx = queue.sender();
    const report = new SharedArrayBuffer(4096);
    const worker = startWorker('stopping-ends', {
      queue: queue.handle,
      outbox: new Channel({ capacity: 4096 }).handle,
      broadcast: new Broadcast().handle,
      watch: new Watch().handle,
      report,
      crashMessage: CRASH_MESSAGE,
    });
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    await assert.rejects(worker.exited, { message: CRASH_MESSAGE });
    let timer;
    const code = await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, GIVE_UP_MS)))]);
    clearTimeout(timer);
    if (code === undefined) await worker.terminate();
    const length = Atomics.load(new Int32Array(report, 0, 1), 0);
    const outcomes = length === 0 ? {} : JSON.parse(String.fromCharCode(...new Uint8Array(report, 4, length)));
    assert.equal(code, 1, `the worker did not stop after its uncaught exception; the calls that finished: ${JSON.stringify(outcomes)}`);
    assert.ok(length > 0, 'the microtask queued after the crash did not finish');
    assert.deepEqual(outcomes, {
      'queue pending': 'ERR_CHANNEL_CLOSED',
      'queue pendingBytes': 'ERR_CHANNEL_CLOSED',
      'queue stats()': 'ERR_CHANNEL_CLOSED',
      'queue discard(1)': 'ERR_CHANNEL_CLOSED',
      'queue recvSync() while a recv() waits': 'ERR_CHANNEL_CLOSED',
      'broadcast pending': 'ERR_CHANNEL_CLOSED',
      'broadcast stats()': 'ERR_CHANNEL_CLOSED',
      'watch stats()': 'ERR_CHANNEL_CLOSED',
      'sender reserve()': 'ERR_CHANNEL_CLOSED',
      'sender sendSync() on a full channel': 'ERR_CHANNEL_CLOSED',
      'sender stats()': 'ERR_CHANNEL_CLOSED',
      'sender commit() on a full channel': 'ERR_CHANNEL_CLOSED',
      'sender send() on a full channel': 'ERR_CHANNEL_CLOSED',
      'sender ready() on a full channel': 'ERR_CHANNEL_CLOSED',
    });
    await assert.rejects(tx.send('after'), { code: 'ERR_CHANNEL_DISCONNECTED' });
  });
});
