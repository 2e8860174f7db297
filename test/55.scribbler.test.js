'use strict';

// Hostile shared memory (the shared memory is untrusted input). In each round
// a producer worker and a consumer worker run a fresh channel while a third worker writes
// random bytes at random offsets of its SharedArrayBuffer (test/fixtures/scribbler.js).
// Further rounds do the same to a Broadcast (a sender and two receivers), a Watch (a
// sender and two receivers) and a Mailbox (a sender and its receiver).
//
// What is promised, and checked every round:
// - the process survives: no crash, and under `npm run test:asan` no sanitizer report
//   (every access native code makes stays inside the SharedArrayBuffer or its own memory);
// - neither side hangs: each ends by itself — cleanly, with a ChannelError
//   (ERR_INVALID_HANDLE for memory that cannot be valid, closed, disconnected, ...), or
//   with the error closeWithError left in the (scribbled) error area — having received
//   any number of possibly garbled payloads, and its worker exits, within LIMIT_MS;
// - where only payload bytes were hit (the slab arena), the channel still works: every
//   message arrives (contents garbled; for a broadcast receiver, arrives or is reported
//   missed) and every side ends cleanly.
// What is not promised: that a wait without a timeout ever ends. A scribbler can erase
// the very word that would end it (a close bit, a doorbell's sleeper flag) and nothing
// is left to notice, so the workers wait with timeouts (WAIT_MS): ERR_TIMEOUT is an
// honest outcome. Native calls themselves never wait unboundedly (a forged upgrade wait
// gives up after ~1 s for this geometry: QueueProducer::upgrade_wait_ns).
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { Channel, Broadcast, Watch, Mailbox } = require('..');
const { startWorker, channelGeometry } = require('./helpers');

// RINGPORT_SCRIBBLER_ROUNDS=<n> for a longer soak (rounds cycle through the plans), of
// each kind: queue rounds, then as many for the other kinds together.
const ROUNDS = Number(process.env.RINGPORT_SCRIBBLER_ROUNDS) || 24;
const KIND_ROUNDS = Number(process.env.RINGPORT_SCRIBBLER_ROUNDS) || 12;
const PRODUCE_MS = 300; // the producer sends for this long, the scribbler scribbles as long
const WAIT_MS = 2000; // timeout of each send and receive
// PRODUCE_MS + a send's WAIT_MS + the consumer's WAIT_MS + a native upgrade wait (~1 s),
// with room for ASan and a 2-core machine.
const LIMIT_MS = 20000;
const OPTIONS = { capacity: 16384, maxMessageSize: 65536, slabSize: 4096, poolSlabs: 4 };

const REGIONS = [['arena'], ['ring'], ['slabs'], ['fields'], ['header'], ['ring', 'slabs', 'arena'], ['any'], ['fields', 'ring']];
const PRODUCERS = ['send', 'sendSync', 'multi', 'commit'];
const CONSUMERS = ['recv', 'recvBatch', 'recvSync'];

function planFor(round) {
  return {
    kind: 'channel',
    seed: 0x5c1b + round, // the scribbler's writes are a function of the seed (timing is not)
    regions: REGIONS[round % REGIONS.length],
    // Each pass over the regions pairs them with other producers.
    producer: PRODUCERS[(round + Math.floor(round / REGIONS.length)) % PRODUCERS.length],
    consumers: [CONSUMERS[round % CONSUMERS.length]],
  };
}

// The other kinds: where to scribble, how the sender sends and each receiver receives.
// A broadcast's slabs region holds its reference counts; a value slot has no slabs.
const KINDS = {
  broadcast: {
    make: () => new Broadcast(OPTIONS),
    regions: [['arena'], ['ring', 'slabs'], ['fields', 'header'], ['any']],
    producers: ['send', 'sendSync', 'trySend'],
    consumers: [['recv', 'recvBatch'], ['recvSync', 'recv'], ['recvBatch', 'recvSync']],
  },
  watch: {
    make: () => new Watch({ capacity: 65536 }),
    regions: [['slot'], ['buffers'], ['fields', 'header'], ['any']],
    producers: ['send', 'trySend'],
    consumers: [['recv', 'latest']],
  },
  mailbox: {
    make: () => new Mailbox({ capacity: 65536 }),
    regions: [['slot'], ['buffers'], ['fields', 'header'], ['any']],
    producers: ['send', 'trySend'],
    consumers: [['recv']],
  },
};

function kindPlanFor(round) {
  const kind = ['broadcast', 'watch', 'mailbox'][round % 3];
  const k = KINDS[kind];
  const n = Math.floor(round / 3);
  return {
    kind,
    seed: 0xb10c + round,
    regions: k.regions[n % k.regions.length],
    producer: k.producers[n % k.producers.length],
    consumers: k.consumers[n % k.consumers.length],
  };
}

/** Resolves the worker's first message matching `test`. */
function message(worker, test) {
  return new Promise((resolve) => {
    const listener = (m) => {
      if (!test(m)) return;
      worker.off('message', listener);
      resolve(m);
    };
    worker.on('message', listener);
  });
}

/** `promise`, or a rejection naming `what` after `ms`. */
function within(ms, promise, what) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not end within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

const tally = { rounds: 0, writes: 0, received: 0, producer: {}, consumer: {} };
const count = (side, ended) => (tally[side][ended] = (tally[side][ended] ?? 0) + 1);

async function runRound(plan) {
  const ch = plan.kind === 'channel' ? new Channel(OPTIONS) : KINDS[plan.kind].make();
  const workers = [];
  const start = (name, data) => {
    const worker = startWorker(name, data);
    workers.push(worker);
    return worker;
  };
  try {
    const { kind, consumers } = plan;
    for (const mode of consumers) start('scribble-consumer', { handle: ch.handle, kind, mode, waitMs: WAIT_MS });
    const producer = start('scribble-producer', { handle: ch.handle, kind, mode: plan.producer, ms: PRODUCE_MS, waitMs: WAIT_MS });
    const scribbler = start('scribbler', { buffer: ch.handle.buffer, seed: plan.seed, regions: plan.regions, ms: PRODUCE_MS });
    const results = workers.map((w) => message(w, (m) => typeof m === 'object'));
    await within(LIMIT_MS, Promise.all(workers.map((w) => message(w, (m) => m === 'ready'))), 'starting the workers');
    // Traffic and scribbles start together.
    producer.postMessage('go');
    scribbler.postMessage('go');
    const done = Promise.all([...results, ...workers.map((w) => w.exited)]);
    const all = await within(LIMIT_MS, done, 'a side');
    const received = all.slice(0, consumers.length);
    const [sent, scribbled] = all.slice(consumers.length, consumers.length + 2);
    return { sent, received, writes: scribbled.writes, exits: all.slice(consumers.length + 2) };
  } catch (error) {
    // Workers still running are stuck: say so (terminate() may not end a thread that
    // is stuck inside a native call, so it is not awaited).
    for (const w of workers) w.terminate();
    throw error;
  }
}

// Checks one round's outcome and adds it to the tally.
function checkRound(plan, { sent, received, writes, exits }) {
  const context = JSON.stringify({ plan, sent, received });
  assert.notEqual(sent.ended, 'unexpected', `producer: ${sent.message} ${context}`);
  for (const r of received) assert.notEqual(r.ended, 'unexpected', `consumer: ${r.message} ${context}`);
  assert.deepEqual(exits, exits.map(() => 0), `every worker exits by itself ${context}`);
  assert.ok(writes > 0, 'the scribbler wrote');
  if (plan.regions.join() === 'arena') {
    // Payload bytes only: garbled contents, but every message (or, for a broadcast
    // receiver, every message received or reported missed) and a clean end.
    assert.equal(sent.ended, 'clean', context);
    for (const r of received) {
      assert.equal(r.ended, 'clean', context);
      assert.equal(r.received + r.missed, sent.sent, context);
    }
  }
  tally.rounds++;
  tally.writes += writes;
  count('producer', sent.ended);
  for (const r of received) {
    tally.received += r.received;
    count('consumer', r.ended);
  }
}

describe('Scribbler: random writes into a live channel\'s shared memory', function () {
  this.timeout(LIMIT_MS + 10000);

  after(() => {
    const summary = (o) => Object.entries(o).map(([k, v]) => `${k} ${v}`).join(', ');
    console.log(`      scribbler: ${tally.rounds} rounds, ${tally.writes} hostile writes, ${tally.received} messages received`);
    console.log(`      producer ended: ${summary(tally.producer)}`);
    console.log(`      consumer ended: ${summary(tally.consumer)}`);
  });

  const plans = [];
  for (let round = 0; round < ROUNDS; round++) plans.push(planFor(round));
  for (let round = 0; round < KIND_ROUNDS; round++) plans.push(kindPlanFor(round));
  plans.forEach((plan, round) => {
    const title = `${plan.kind} round ${round}: ${plan.regions.join('+')} scribbled; ${plan.producer} -> ${plan.consumers.join(', ')}; every side ends`;
    it(title, async () => checkRound(plan, await runRound(plan)));
  });
});

// Single hostile writes that once went wrong: one escaped as a plain Error ('unexpected
// native status'), one made a send spin inside native code forever.
describe('Hostile writes, one at a time', () => {
  it('a commit whose slab descriptor was overwritten rejects with ERR_INVALID_HANDLE', async () => {
    const ch = new Channel(OPTIONS);
    ch.receiver();
    const tx = ch.sender();
    const view = tx.reserve(100);
    const { meta, arena, slabSize } = channelGeometry(ch.handle.buffer).classes[0];
    const index = (view.byteOffset - arena) / slabSize;
    new DataView(ch.handle.buffer).setUint32(meta + index * 8 + 4, 0, true); // its lease word now says free
    await assert.rejects(tx.commit(view), { name: 'ChannelError', code: 'ERR_INVALID_HANDLE' });
  });

  it('a forged "taking over" producer mode fails a send with ERR_INVALID_HANDLE after a bounded wait', () => {
    // In a child process: were the wait unbounded, the thread would spin inside native
    // code for good, and only a signal could end it.
    const source = `
      const { Channel } = require('.');
      const ch = new Channel(${JSON.stringify(OPTIONS)});
      ch.receiver();
      ch.sender();
      const second = ch.sender(); // asks for the upgrade to multi-producer
      new DataView(ch.handle.buffer).setUint32(520, 2, true); // StateLine::producer_mode = TakingOver; no one is
      second.send('x').then(() => console.log('sent'), (error) => console.log(error.code));`;
    const child = spawnSync(process.execPath, ['-e', source], { cwd: path.join(__dirname, '..'), encoding: 'utf8', timeout: LIMIT_MS });
    assert.equal(child.signal, null, 'the send returned');
    assert.equal(child.stdout.trim(), 'ERR_INVALID_HANDLE', child.stderr);
  });
});
