'use strict';

// The benchmark's own parts: the plain-JS ring it measures against (a lock-free
// structure, so a two-thread order-and-content test), the equal-work helpers, and each
// runner end to end on a fixed number of messages, every message checked whole (count,
// bytes, and the checksum of the bytes the receiver read). Nothing here looks at a time
// or a rate.
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { promisify } = require('node:util');
const { SabRing } = require('../bench/js/peers/sab-ring');
const { CASES } = require('../bench/js/cases');
const { touch } = require('../bench/js/touch');
const { payload } = require('../bench/js/payload');
const { addRatios } = require('../bench/js/ratios');
const { buildProgram } = require('../bench/js/native');
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

  it('touch() reads one byte of every 64-byte line and the last byte', () => {
    const bytes = new Uint8Array(200);
    for (const i of [0, 64, 128, 192, 199]) bytes[i] = 1;
    assert.equal(touch(bytes), 5);
    bytes.fill(0).fill(9, 1, 63); // bytes no line start covers
    assert.equal(touch(bytes), 0);
    assert.equal(touch(new Uint8Array(0)), 0);
  });

  it('the payload is printable ASCII, not constant', () => {
    const p = payload(4096);
    assert.ok(p.every((b) => b >= 32 && b < 127));
    assert.notEqual(p[0], p[64]);
  });

  it('ratios are over the better of MessageChannel clone and transfer, per size, and over the limit', () => {
    const cell = (name, library, msgPerSec, size = 64) => ({ name, library, msgPerSec, size, direction: library === 'limit' ? null : 'w2m' });
    const cells = [
      cell('for-await', 'ringport', 600),
      cell('mc-clone', 'peer', 200),
      cell('mc-transfer', 'peer', 300),
      cell('mc-clone-free', 'peer', 100),
      cell('mc-transfer-free', 'peer', 150),
      cell('sab-ring', 'peer', 400),
      cell('limit', 'limit', 6000),
      cell('mc-clone', 'peer', 1000, 4096),
    ];
    addRatios(cells);
    assert.deepEqual([cells[0].vsMc, cells[0].mc, cells[0].vsMcFree, cells[0].vsBest, cells[0].bestPeer, cells[0].vsLimit], [2, 'mc-transfer', 4, 1.5, 'sab-ring', 0.1]);
  });

  it('the README summary: a row per size, each path over the better MessageChannel, and the limit', () => {
    const { summaryTable } = require('../bench/report');
    const cell = (name, size, msgPerSec, vsMc) => ({ name, size, msgPerSec, vsMc, direction: name === 'limit' ? null : 'w2m' });
    const table = summaryTable({
      cases: [
        cell('for-await', 64, 600, 2),
        cell('batches', 64, 6000, 20),
        cell('mc-clone', 64, 200),
        cell('mc-transfer', 64, 300),
        cell('limit', 64, 9000),
        { ...cell('for-await', 64, 999, 9), direction: 'm2w' }, // the other direction is left out
      ],
    }).split('\n');
    assert.equal(table.length, 3, 'a header, a rule, a row');
    const row = table[2].split('|').map((c) => c.trim());
    assert.deepEqual([row[1], row[2], row[5], row[10], row[11]], ['64 B', '2.00×', '20.00×', '300 msg/s', '9.0 k msg/s']);
  });

  // Every case, at sizes and directions that vary between cases (both framings, a
  // sendBatch that ends one by one: 3000 is no multiple of its 256).
  const sizes = [64, 4096, 65536, 1024];
  Object.keys(CASES).forEach((name, i) => {
    const direction = CASES[name].directions[i % CASES[name].directions.length];
    const size = sizes[i % sizes.length];
    it(`throughput.js ${name} ${size} B ${direction}: every message sent arrives whole and is read`, async () => {
      const r = await runJson('throughput.js', [name, size, direction, '--messages=3000']);
      assert.equal(r.case, name);
      assert.equal(r.messages, 3000);
      if (!CASES[name].byteStream) assert.equal(r.checksum, 3000 * touch(payload(size)));
      assert.ok(Number.isFinite(r.msgPerSec) && r.maxRss > 0); // the rate of so short a run means nothing
      if (CASES[name].library === 'ringport') assert.equal(typeof r.fallbacks, 'number');
    });
  });

  it('the native limit program copies and reads messages at each size, checksum checked', async function () {
    const program = buildProgram('limit');
    if (program.skipped) this.skip();
    for (const size of [64, 1 << 20]) {
      const { stdout } = await run(program.binary, [size, 0.05], { timeout: 60000 });
      const r = JSON.parse(stdout);
      assert.equal(r.size, size);
      assert.ok(r.messages > 0 && r.msgPerSec > 0);
    }
  });

  it('receive-cost.js reports the plain loop against the allocation loop', async () => {
    const r = await runJson('receive-cost.js', [64, '--rounds=4']);
    assert.equal(r.size, 64);
    assert.ok(r.forAwaitNs > 0 && r.floorNs > 0 && r.vsFloor === r.forAwaitNs / r.floorNs);
  });

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
