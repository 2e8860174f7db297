'use strict';

// No lost wake-up: a receiver that finds nothing flags that it sleeps, re-checks,
// then sleeps (src/core/doorbell.hpp). Without the re-check, a message that lands
// between the receiver's last look and its flag rings no one. A steady stream hides
// that (the next message rings anyway); a ping-pong does not: the ponger waits for
// the next ping, which the sleeping pinger never sends.
//
// The pinger's receiver has `spin: 0`, so every receive sleeps; the ponger answers
// at once, at jittered moments, so that answers keep landing inside that window.
// A liveness check, not a timing one: rounds take tens of µs; a lost wake-up costs a
// whole 50 ms sleep slice in recvSync(), and a recv() nothing wakes waits for good.
// A slow round alone fails nothing (a loaded VM deschedules threads for 100 ms):
// a stall is a round of STALL_MS or more in which the pinger flagged a sleep and
// nothing rang it (test/fixtures/ping-pong.js).
const assert = require('node:assert/strict');
const { Channel } = require('..');
const { startWorker, nextMessage } = require('./helpers');

const STALL_MS = 45;
// Without its re-check, recvSync loses about one wake-up in 100,000 rounds here
// (~100,000 rounds a second): 5 s make a miss unlikely (e^-5). recv() loses one far
// more often, its window being wider.
const SECONDS = { sync: 5, async: 2 };

async function pingPong(how) {
  const seconds = SECONDS[how];
  const [there, back] = [new Channel(), new Channel()];
  const ponger = startWorker('ping-pong', { role: 'ponger', there: there.handle, back: back.handle });
  const pinger = startWorker('ping-pong', { role: 'pinger', there: there.handle, back: back.handle, how, seconds, stallMs: STALL_MS });
  // The pinger ends a stalled run at once; this bounds a pinger that hangs itself.
  let watchdog;
  const hung = new Promise((resolve) => {
    watchdog = setTimeout(resolve, (seconds + 20) * 1000, { hung: true });
  });
  const report = await Promise.race([nextMessage(pinger), hung]);
  clearTimeout(watchdog);
  if (report.hung) {
    await Promise.all([pinger.terminate(), ponger.terminate()]);
    assert.fail(`the ${how} pinger sent no report within ${seconds + 20} s`);
  }
  const { rounds, slow, stall } = report;
  const what = stall?.error ?? 'it slept and no one rang';
  assert.equal(stall, null, `round ${stall?.round} of ${rounds} took ${stall?.ms} ms (${what}): a lost wake-up (${slow} slow rounds)`);
  assert.equal(await pinger.exited, 0);
  assert.equal(await ponger.exited, 0);
  assert.ok(rounds > 100, `only ${rounds} rounds ran`);
}

describe('wake-ups', function () {
  this.timeout(60_000);

  it(`a ping-pong through sendSync/recvSync with spin 0 never stalls (${SECONDS.sync} s of rounds)`, () => pingPong('sync'));

  it(`a ping-pong through send/recv with spin 0 never stalls (${SECONDS.async} s of rounds)`, () => pingPong('async'));
});
