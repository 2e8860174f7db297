'use strict';

const assert = require('node:assert/strict');
const { Broadcast, Channel, ChannelError } = require('..');
const { messageFor, startWorker, nextMessage, collectGarbage, sleep } = require('./helpers');

// Message i of the lag tests: 100 bytes starting with i.
function numbered(i) {
  const b = Buffer.alloc(100, i & 255);
  b.writeUInt32LE(i, 0);
  return b;
}
const indexOf = (buffer) => Buffer.from(buffer).readUInt32LE(0);

async function readyReceivers(n, handle, extra = {}) {
  const workers = [];
  for (let i = 0; i < n; i++) {
    const w = startWorker('broadcast-receiver', { handle, ...extra });
    assert.deepEqual(await nextMessage(w), { ready: true });
    workers.push(w);
  }
  return workers;
}

describe('Broadcast', () => {
  it('delivers 20 k messages complete and in order to 3 receivers in 3 workers', async () => {
    const bc = new Broadcast({ capacity: 32 << 20 }); // holds the whole stream (and its pool every slab): no receiver can lag
    const workers = await readyReceivers(3, bc.handle);
    const reports = workers.map((w) => nextMessage(w));
    const sender = startWorker('broadcast-sender', { handle: bc.handle, count: 20000 });
    await nextMessage(sender);
    sender.postMessage('go');
    for (const report of await Promise.all(reports)) {
      assert.equal(report.error, undefined, report.error?.message);
      assert.equal(report.received, 20000);
      assert.equal(report.stats.lagged, 0);
    }
    const s = bc.stats();
    assert.equal(s.sent, 20000);
    assert.equal(s.received, 60000);
    await Promise.all([sender, ...workers].map((w) => w.exited));
  });

  it('a receiver sees exactly the messages sent after it attached', async () => {
    const bc = new Broadcast();
    const tx = bc.sender();
    const early = bc.receiver();
    await tx.send(numbered(0));
    const late = bc.receiver();
    await tx.send(numbered(1));
    assert.deepEqual([indexOf(early.tryRecv()), indexOf(early.tryRecv())], [0, 1]);
    assert.equal(indexOf(late.tryRecv()), 1);
    assert.equal(late.tryRecv(), undefined);
  });

  it('a lagging receiver gets one ERR_CHANNEL_LAGGED with the exact count missed, then the oldest messages held', async () => {
    const bc = new Broadcast({ capacity: 4096 });
    const tx = bc.sender();
    const rx = bc.receiver();
    const other = bc.receiver();
    await tx.send(numbered(0));
    assert.equal(indexOf(await rx.recv()), 0);
    for (let i = 1; i < 1000; i++) tx.trySend(numbered(i)); // never waits, however far behind rx is
    const error = await rx.recv().then(() => assert.fail('expected a lag'), (e) => e);
    assert.ok(error instanceof ChannelError);
    assert.equal(error.code, 'ERR_CHANNEL_LAGGED');
    assert.ok(error.missed > 900, `missed ${error.missed}`);
    const rest = [];
    for (let b = rx.tryRecv(); b !== undefined; b = rx.tryRecv()) rest.push(indexOf(b));
    assert.equal(rest[0], 1 + error.missed, 'continues right after the messages it missed');
    assert.deepEqual(rest, Array.from({ length: 999 - error.missed }, (_, k) => 1 + error.missed + k));
    assert.equal(rx.stats().lagged, 1);
    assert.equal(rx.stats().dropped, error.missed);
    // Only once: the next receive waits for the next message.
    const next = rx.recv();
    await tx.send(numbered(1000));
    assert.equal(indexOf(await next), 1000);
    // The other receiver lags on its own: what it missed and what it then gets add up
    // to everything sent.
    const otherLag = await other.recv().then(() => assert.fail('expected a lag'), (e) => e);
    assert.equal(otherLag.code, 'ERR_CHANNEL_LAGGED');
    let otherCount = 0;
    for (let b = other.tryRecv(); b !== undefined; b = other.tryRecv()) assert.equal(indexOf(b), otherLag.missed + otherCount++);
    assert.equal(otherLag.missed + otherCount, 1001);
    // A for-await loop throws the lag; a new loop goes on.
    for (let i = 1001; i < 2000; i++) tx.trySend(numbered(i));
    await assert.rejects(
      (async () => {
        for await (const b of rx) indexOf(b);
      })(),
      { code: 'ERR_CHANNEL_LAGGED' },
    );
    tx.close();
    let last = -1;
    for await (const b of rx) last = indexOf(b);
    assert.equal(last, 1999);
  });

  it('a slow receiver blocks neither the sender nor the other receivers', async () => {
    const bc = new Broadcast({ capacity: 64 << 10 });
    const slow = bc.receiver(); // never reads
    const [fast] = await readyReceivers(1, bc.handle);
    const report = nextMessage(fast);
    const sender = startWorker('broadcast-sender', { handle: bc.handle, count: 5000 });
    await nextMessage(sender);
    sender.postMessage('go');
    await nextMessage(sender); // all 5000 sent although `slow` holds nothing back
    const got = await report;
    // The fast receiver may lag too if its thread is descheduled: then it says so.
    if (got.error) assert.equal(got.error.code, 'ERR_CHANNEL_LAGGED');
    else assert.equal(got.received, 5000);
    await assert.rejects(slow.recv(), { code: 'ERR_CHANNEL_LAGGED' });
    await Promise.all([sender.exited, fast.exited]);
  });

  it('shares one slab between receivers (zero-copy) and frees it after the last release', async () => {
    const bc = new Broadcast({ capacity: 1 << 16 });
    const tx = bc.sender();
    const a = bc.receiver();
    const b = bc.receiver();
    const big = messageFor(0).length > 5000 ? messageFor(0) : Buffer.alloc(30000, 9);
    await tx.send(big);
    const ba = await a.recv();
    const bb = await b.recv();
    assert.deepEqual(Buffer.from(ba), Buffer.from(big));
    assert.equal(bc.stats().pool.inUse, 1);
    assert.equal(a.release(ba), true);
    assert.equal(ba.byteLength, 0, 'released buffers are detached');
    assert.deepEqual(Buffer.from(bb), Buffer.from(big), 'the other receiver still reads its copy of the slab');
    assert.equal(b.release(bb), true);
    assert.equal(bc.stats().pool.inUse, 1, 'the ring still holds the message for receivers that are behind');
    for (let i = 0; i < 2000; i++) tx.trySend(numbered(i)); // pushes it out of the ring
    assert.equal(bc.stats().pool.inUse, 0);
  });

  it('buffers left to the garbage collector return their slabs', async () => {
    const bc = new Broadcast({ capacity: 1 << 17 });
    const tx = bc.sender();
    const rx = bc.receiver();
    await (async () => {
      for (let i = 0; i < 4; i++) await tx.send(Buffer.alloc(20000, i));
      for (let i = 0; i < 4; i++) assert.equal((await rx.recv()).byteLength, 20000);
    })();
    for (let i = 0; i < 2000; i++) tx.trySend(numbered(i));
    await collectGarbage();
    assert.equal(bc.stats().pool.inUse, 0);
  });

  it('a receiver thread that exits while holding buffers frees them', async () => {
    const bc = new Broadcast({ capacity: 1 << 16 });
    const tx = bc.sender();
    const [holder] = await readyReceivers(1, bc.handle, { hold: true });
    const holding = nextMessage(holder);
    for (let i = 0; i < 3; i++) await tx.send(Buffer.from(messageFor(i))); // sizes vary; some use slabs
    await tx.send(Buffer.alloc(20000, 1));
    await holding;
    await sleep(50);
    await holder.terminate();
    for (let i = 0; i < 2000; i++) tx.trySend(numbered(i));
    await collectGarbage();
    assert.equal(bc.stats().pool.inUse, 0);
  });

  it('receivers join and leave at any time; closing one affects no one else', async () => {
    const bc = new Broadcast();
    const tx = bc.sender();
    const a = bc.receiver();
    await tx.send(numbered(0));
    const b = bc.receiver();
    a.close();
    assert.equal(await a.recv(), null);
    await tx.send(numbered(1));
    assert.equal(indexOf(await b.recv()), 1);
    const c = bc.receiver();
    await tx.send(numbered(2));
    assert.equal(indexOf(await b.recv()), 2);
    assert.equal(indexOf(await c.recv()), 2);
  });

  it('close() ends every receiver after what was sent; closeWithError rejects with the same error', async () => {
    for (const then of ['close', 'error']) {
      const bc = new Broadcast({ capacity: 1 << 20 });
      const workers = await readyReceivers(2, bc.handle);
      const reports = workers.map((w) => nextMessage(w));
      const sender = startWorker('broadcast-sender', { handle: bc.handle, count: 300, then });
      await nextMessage(sender);
      sender.postMessage('go');
      for (const r of await Promise.all(reports)) {
        if (then === 'close') {
          assert.equal(r.received, 300);
        } else {
          assert.deepEqual(r.error, { name: 'RangeError', code: 'E_FEED', message: 'the feed broke', missed: undefined });
        }
      }
      await Promise.all([sender, ...workers].map((w) => w.exited));
    }
  });

  it('a sender thread terminated without close: receivers get what was sent, then ERR_CHANNEL_DISCONNECTED', async () => {
    const bc = new Broadcast({ capacity: 1 << 20 });
    const [rx] = await readyReceivers(1, bc.handle);
    const report = nextMessage(rx);
    const sender = startWorker('broadcast-sender', { handle: bc.handle, count: 500, then: 'hang' });
    await nextMessage(sender);
    sender.postMessage('go');
    await nextMessage(sender);
    await sender.terminate();
    const r = await report;
    assert.equal(r.received, 500);
    assert.equal(r.error.code, 'ERR_CHANNEL_DISCONNECTED');
  });

  it('has one sender; handles of other kinds and bad options are refused', () => {
    const bc = new Broadcast();
    const tx = bc.sender();
    assert.throws(() => bc.sender(), { code: 'ERR_CHANNEL_ROLE_TAKEN' });
    assert.throws(() => Broadcast.from(bc.handle).sender(), { code: 'ERR_CHANNEL_ROLE_TAKEN' });
    assert.throws(() => Broadcast.from(new Channel().handle), { code: 'ERR_INVALID_HANDLE' });
    assert.throws(() => Channel.from(bc.handle), { code: 'ERR_INVALID_HANDLE' });
    assert.throws(() => Channel.from({ ...bc.handle, type: 'ringport.channel' }), { code: 'ERR_INVALID_HANDLE' });
    assert.throws(() => Broadcast.from({}), { code: 'ERR_INVALID_HANDLE' });
    assert.throws(() => new Broadcast({ capacity: 0 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => new Broadcast({ capacity: 'big' }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => tx.trySend(42), { code: 'ERR_INVALID_ARG_TYPE' });
    const small = new Broadcast({ maxMessageSize: 10 }).sender();
    assert.throws(() => small.trySend(Buffer.alloc(11)), { code: 'ERR_MESSAGE_TOO_LARGE' });
    tx.close();
    assert.throws(() => tx.trySend('x'), { code: 'ERR_CHANNEL_CLOSED' });
  });

  it('sendBatch publishes in order with one call; recvBatch and batches() work on broadcast receivers', async () => {
    const bc = new Broadcast();
    const tx = bc.sender();
    const a = bc.receiver();
    const b = bc.receiver();
    await tx.sendBatch([numbered(0), numbered(1), 'two']);
    const got = await a.recvBatch(10);
    assert.deepEqual(got.slice(0, 2).map(indexOf), [0, 1]);
    assert.equal(Buffer.from(got[2]).toString(), 'two');
    tx.close();
    const seen = [];
    for await (const batch of b.batches()) for (const view of batch) seen.push(view.byteLength);
    assert.deepEqual(seen, [100, 100, 3]);
  });

  it('sendBatch stops at a message it cannot send: what came before is published, the rest is not; a bad item sends nothing', async () => {
    const bc = new Broadcast({ maxMessageSize: 100 });
    const tx = bc.sender();
    const rx = bc.receiver();
    await assert.rejects(tx.sendBatch([numbered(0), Buffer.alloc(101), numbered(2)]), { code: 'ERR_MESSAGE_TOO_LARGE' });
    await assert.rejects(tx.sendBatch([numbered(1), 42]), { code: 'ERR_INVALID_ARG_TYPE' }); // nothing sent
    await tx.sendBatch([numbered(3)]);
    tx.close();
    const got = [];
    for await (const buf of rx) got.push(indexOf(buf));
    assert.deepEqual(got, [0, 3]);
  });
});

describe('Broadcast checks its handle kind natively too', () => {
  it('a forged handle type does not get past the native kind check', () => {
    const ch = new Channel();
    assert.throws(() => Broadcast.from({ ...ch.handle, type: 'ringport.broadcast' }), { code: 'ERR_INVALID_HANDLE' });
  });
});
