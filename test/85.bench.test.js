'use strict';

// The benchmark's own parts: the plain-JS ring it measures against (a lock-free
// structure, so a two-thread order-and-content test), and each runner end to end on a
// fixed number of messages. Nothing here looks at a time or a rate.
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { promisify } = require('node:util');
const { SabRing } = require('../bench/js/peers/sab-ring');
const { messageFor, startWorker } = require('./helpers');

const BENCH = path.join(__dirname, '..', 'bench', 'js');
const run = promisify(execFile);

async function runJson(script, args) {
  const { stdout } = await run(process.execPath, [path.join(BENCH, script), ...args.map(String)], { timeout: 60000 });
  return JSON.parse(stdout.trim().split('\n').at(-1));
}

describe('benchmark', function () {
  this.timeout(120000);

  for (const spin of [0, 200]) {
    it(`SabRing (spin ${spin}) streams 50k messages of 0-64 KiB between threads, in order and intact, across wraps and sleeps`, async () => {
      const sab = SabRing.create(1 << 17); // 128 KiB: the larger messages fill it at once, so both sides sleep
      const worker = startWorker('sab-ring-producer', { sab, count: 50000, spin });
      const ring = new SabRing(sab, { spin });
      let i = 0;
      for (let m; (m = ring.recv()) !== null; i++) {
        const expected = messageFor(i);
        if (m.length !== expected.length || Buffer.compare(Buffer.from(m.buffer, m.byteOffset, m.length), expected) !== 0) {
          assert.fail(`message ${i}: expected ${expected.length} bytes of its pattern, got ${m.length} other bytes`);
        }
      }
      assert.equal(i, 50000);
      assert.equal(ring.recv(), null, 'stays ended');
      assert.equal(await worker.exited, 0);
    });
  }

  it('SabRing refuses a capacity that is not a power of two, and a message larger than the ring', () => {
    assert.throws(() => SabRing.create(1000), RangeError);
    const ring = new SabRing(SabRing.create(64));
    assert.throws(() => ring.send(new Uint8Array(64)), RangeError);
  });

  const throughputCases = [
    ['for-await', 4096, 'w2m'],
    ['batches', 64, 'm2w'],
    ['reserve-commit', 65536, 'w2m'],
    ['bytes', 1024, 'm2w'],
    ['bytes-try', 64, 'm2w'],
    ['batches-try', 64, 'w2m'],
    ['batches-sendbatch', 1024, 'm2w'], // 3000 is no multiple of its 256: the rest go one by one
    ['mc-transfer', 64, 'w2m'],
    ['sab-ring', 1024, 'm2w'],
    ['ringbuf-js', 64, 'w2m'],
    ['thread-stream', 1024, 'm2w'],
  ];
  for (const [name, size, direction] of throughputCases) {
    it(`throughput.js ${name} ${size} B ${direction}: every message sent arrives (counted by the runner)`, async () => {
      const r = await runJson('throughput.js', [name, size, direction, '--messages=3000']);
      assert.equal(r.case, name);
      assert.equal(r.messages, 3000);
      assert.ok(Number.isFinite(r.msgPerSec) && r.maxRss > 0); // the rate of so short a run means nothing
      if (name !== 'sab-ring' && name !== 'mc-transfer' && name !== 'ringbuf-js' && name !== 'thread-stream') {
        assert.equal(typeof r.fallbacks, 'number');
      }
    });
  }

  it('throughput.js refuses thread-stream worker -> main (the library has no such direction)', async () => {
    await assert.rejects(runJson('throughput.js', ['thread-stream', 64, 'w2m', '--messages=10']), /usage/);
  });

  it('receive-loop.js receives every message it sent, round after round', async () => {
    const { stdout } = await run(process.execPath, [path.join(BENCH, 'receive-loop.js'), 1024, 3], { timeout: 60000 });
    assert.equal(stdout.trim(), 'received 768 messages of 1024 B');
  });

  for (const name of ['ringport', 'ringport-spin-0', 'ringport-spin-200', 'ringport-sync', 'mc', 'sab-ring']) {
    it(`latency.js ${name} completes round trips and reports percentiles`, async () => {
      const r = await runJson('latency.js', [name, 0.05]);
      assert.ok(r.rounds > 0);
      assert.ok(r.p50 > 0 && r.p99 >= r.p50);
    });
  }
});
