'use strict';

const assert = require('node:assert/strict');
const { Channel, Watch, Mailbox, ChannelError } = require('..');
const { startWorker, nextMessage, collectGarbage, sleep, runNode } = require('./helpers');

const KINDS = [
  ['Watch', Watch, 'watch'],
  ['Mailbox', Mailbox, 'mailbox'],
];

const text = (buffer) => Buffer.from(buffer).toString();
const versionOf = (buffer) => Number(new DataView(buffer).getBigUint64(0, true));
function version(n) {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(n), true);
  return bytes;
}

// Observes a promise's outcome at once, so an early rejection is never "unhandled".
function settled(promise) {
  return promise.then(
    (value) => ({ status: 'fulfilled', value }),
    (reason) => ({ status: 'rejected', reason })
  );
}

function peer(kind, channel, role, options = {}) {
  return startWorker('value-peer', { kind, handle: channel.handle, role, ...options });
}

describe('Watch and Mailbox: creation, handles and arguments', () => {
  for (const [name, Kind] of KINDS) {
    describe(name, () => {
      it('holds values up to `capacity` bytes exactly (default 64 KiB)', async () => {
        assert.equal(new Kind().capacity, 64 * 1024);
        const ch = new Kind({ capacity: 1000 });
        assert.equal(ch.capacity, 1000);
        const tx = ch.sender();
        const rx = ch.receiver();
        await tx.send(new Uint8Array(1000).fill(7));
        assert.deepEqual(new Uint8Array(await rx.recv()), new Uint8Array(1000).fill(7));
        await assert.rejects(tx.send(new Uint8Array(1001)), (e) => e instanceof ChannelError && e.code === 'ERR_MESSAGE_TOO_LARGE');
        assert.throws(() => tx.trySend('x'.repeat(1001)), { code: 'ERR_MESSAGE_TOO_LARGE' });
        assert.equal(rx.tryRecv(), undefined); // the refused sends replaced nothing
      });

      it('rejects bad options with Node-style errors', () => {
        const cases = [
          [{ capacity: 'big' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
          [{ capacity: 0 }, RangeError, 'ERR_OUT_OF_RANGE'],
          [{ capacity: 1.5 }, RangeError, 'ERR_OUT_OF_RANGE'],
          [{ capacity: 2 ** 30 + 1 }, RangeError, 'ERR_OUT_OF_RANGE'],
          ['fast', TypeError, 'ERR_INVALID_ARG_TYPE'],
          [null, TypeError, 'ERR_INVALID_ARG_TYPE'],
        ];
        for (const [options, type, code] of cases) {
          assert.throws(() => new Kind(options), (e) => e instanceof type && e.code === code, JSON.stringify(options));
        }
      });

      it('sends strings (UTF-8), ArrayBuffers and any view, and delivers ArrayBuffer copies', async () => {
        const ch = new Kind({ capacity: 256 });
        const tx = ch.sender();
        const rx = ch.receiver();
        const backing = new Uint8Array(64).map((_, i) => i);
        const cases = [
          ['héllo ✓', Buffer.from('héllo ✓')],
          ['', Buffer.alloc(0)],
          [backing.buffer, Buffer.from(backing)],
          [backing.subarray(5, 13), Buffer.from(backing.subarray(5, 13))],
          [new DataView(backing.buffer, 3, 4), Buffer.from(backing.subarray(3, 7))],
          [new Float64Array([1.5, -2]), Buffer.from(new Float64Array([1.5, -2]).buffer)],
        ];
        for (const [data, expected] of cases) {
          await tx.send(data);
          const got = await rx.recv();
          assert.ok(got instanceof ArrayBuffer);
          assert.deepEqual(Buffer.from(got), expected);
        }
        const source = new Uint8Array([1, 2, 3]);
        tx.trySend(source);
        source.fill(9); // the slot holds a copy
        assert.deepEqual([...new Uint8Array(rx.tryRecv())], [1, 2, 3]);
      });

      it('send() and recv() reject bad arguments; trySend() throws them', async () => {
        const ch = new Kind();
        const tx = ch.sender();
        const rx = ch.receiver();
        for (const bad of [42, null, undefined, {}, [1, 2]]) {
          await assert.rejects(tx.send(bad), (e) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_TYPE');
          assert.throws(() => tx.trySend(bad), { code: 'ERR_INVALID_ARG_TYPE' });
        }
        await assert.rejects(rx.recv('soon'), { code: 'ERR_INVALID_ARG_TYPE' });
        await assert.rejects(rx.recv({ timeout: -1 }), (e) => e instanceof RangeError && e.code === 'ERR_OUT_OF_RANGE');
        await assert.rejects(rx.recv({ timeout: 'x' }), { code: 'ERR_INVALID_ARG_TYPE' });
        await assert.rejects(rx.recv({ signal: 'stop' }), { code: 'ERR_INVALID_ARG_TYPE' });
      });

      it('has a structured-clonable handle that attaches to the same channel', () => {
        const ch = new Kind({ capacity: 100 });
        const other = Kind.from(structuredClone(ch.handle));
        assert.equal(other.capacity, 100);
        other.sender().trySend('over the clone');
        assert.equal(text(ch.receiver().tryRecv()), 'over the clone');
      });

      it('recv() rejects ERR_TIMEOUT after `timeout` ms and AbortError on abort', async () => {
        const rx = new Kind().receiver();
        await assert.rejects(rx.recv({ timeout: 20 }), (e) => e instanceof ChannelError && e.code === 'ERR_TIMEOUT');
        const controller = new AbortController();
        const pending = rx.recv({ signal: controller.signal });
        controller.abort();
        await assert.rejects(pending, { name: 'AbortError' });
        await assert.rejects(rx.recv({ signal: AbortSignal.abort() }), { name: 'AbortError' });
      });

      it('send after close rejects ERR_CHANNEL_CLOSED, whichever end closed', async () => {
        const ch = new Kind();
        const tx = ch.sender();
        ch.close();
        await assert.rejects(tx.send('x'), { code: 'ERR_CHANNEL_CLOSED' });
        const own = new Kind().sender();
        own.close();
        assert.equal(own.closed, true);
        assert.throws(() => own.trySend('x'), { code: 'ERR_CHANNEL_CLOSED' });
      });
    });
  }

  it('from() rejects a handle of another kind, and anything that is not a handle, with ERR_INVALID_HANDLE', () => {
    const watch = new Watch();
    const mailbox = new Mailbox();
    const channel = new Channel({ capacity: 4096 });
    const lying = new SharedArrayBuffer(watch.handle.buffer.byteLength);
    new Uint8Array(lying).set(new Uint8Array(watch.handle.buffer));
    new DataView(lying).setBigUint64(48, 999n, true); // ring_bytes: not this capacity's region
    const bad = [
      [Watch, mailbox.handle],
      [Mailbox, watch.handle],
      [Channel, watch.handle],
      [Watch, channel.handle],
      [Watch, { ...mailbox.handle, type: 'ringport.watch' }], // the tag lies; the memory does not
      [Mailbox, { ...channel.handle, type: 'ringport.mailbox' }],
      [Watch, { ...watch.handle, buffer: lying }],
      [Watch, { ...watch.handle, buffer: new SharedArrayBuffer(4096) }],
      [Watch, { ...watch.handle, version: watch.handle.version + 1 }],
      [Watch, { ...watch.handle, buffer: new ArrayBuffer(8) }],
      [Mailbox, undefined],
      [Mailbox, 'handle'],
      [Mailbox, mailbox.handle.buffer],
    ];
    for (const [Kind, handle] of bad) {
      assert.throws(
        () => Kind.from(handle),
        (e) => e instanceof ChannelError && e.code === 'ERR_INVALID_HANDLE',
        `${Kind.name}.from(${handle?.type})`
      );
    }
  });

  it('a Watch has one sender, anywhere, and any number of receivers', async () => {
    const ch = new Watch();
    ch.sender();
    assert.throws(() => ch.sender(), { name: 'ChannelError', code: 'ERR_CHANNEL_ROLE_TAKEN' });
    assert.throws(() => Watch.from(ch.handle).sender(), { code: 'ERR_CHANNEL_ROLE_TAKEN' });
    const worker = peer('watch', ch, 'claim', { end: 'sender' });
    assert.deepEqual(await nextMessage(worker), { name: 'ChannelError', code: 'ERR_CHANNEL_ROLE_TAKEN' });
    await worker.exited;
    for (let i = 0; i < 5; i++) ch.receiver();
    const receiving = peer('watch', ch, 'claim', { end: 'receiver' });
    assert.deepEqual(await nextMessage(receiving), { ok: true });
    await receiving.exited;
  });

  it('a Mailbox has one sender and one receiver, anywhere', async () => {
    const ch = new Mailbox();
    ch.sender();
    ch.receiver();
    assert.throws(() => ch.sender(), { name: 'ChannelError', code: 'ERR_CHANNEL_ROLE_TAKEN' });
    assert.throws(() => ch.receiver(), { name: 'ChannelError', code: 'ERR_CHANNEL_ROLE_TAKEN' });
    for (const end of ['sender', 'receiver']) {
      const worker = peer('mailbox', ch, 'claim', { end });
      assert.deepEqual(await nextMessage(worker), { name: 'ChannelError', code: 'ERR_CHANNEL_ROLE_TAKEN' });
      await worker.exited;
    }
  });
});

describe('Watch', function () {
  this.timeout(60000);

  it('a fresh receiver gets the current value at once; latest() reads it without marking it seen', async () => {
    const ch = new Watch();
    const tx = ch.sender();
    const early = ch.receiver();
    assert.equal(early.latest(), undefined);
    assert.equal(early.tryRecv(), undefined);
    await tx.send('current');
    const late = ch.receiver();
    assert.equal(text(late.latest()), 'current');
    assert.equal(text(await late.recv()), 'current'); // latest() did not mark it seen
    assert.equal(text(late.latest()), 'current'); // nor does recv() hide it from latest()
    assert.equal(late.tryRecv(), undefined);
    assert.equal(text(early.tryRecv()), 'current'); // receivers are independent
  });

  it('skips intermediate values: sent 1..N quickly in a worker, a slow receiver sees N, and latest() is N', async () => {
    const N = 10000;
    const ch = new Watch();
    const rx = ch.receiver();
    const worker = peer('watch', ch, 'send', { count: N, then: 'hang' });
    assert.equal(await nextMessage(worker), 'sent');
    assert.equal(versionOf(rx.latest()), N);
    assert.equal(versionOf(await rx.recv()), N);
    assert.equal(versionOf(ch.receiver().tryRecv()), N);
    await assert.rejects(rx.recv({ timeout: 30 }), { code: 'ERR_TIMEOUT' }); // nothing newer
    assert.equal(ch.stats().sent, N);
    await worker.terminate();
    await assert.rejects(rx.recv(), { code: 'ERR_CHANNEL_DISCONNECTED' }); // N was seen: nothing left
  });

  it('receivers in several workers each see increasing versions ending with the last, then the end', async () => {
    const N = 3000;
    const ch = new Watch({ capacity: 8 });
    const workers = [0, 1, 2].map(() => peer('watch', ch, 'recv'));
    const local = ch.receiver();
    const tx = ch.sender();
    await sleep(50); // let the workers start waiting (not required for correctness)
    const seen = [];
    const reading = (async () => {
      for await (const b of local) seen.push(versionOf(b));
    })();
    for (let n = 1; n <= N; n++) {
      await tx.send(version(n));
      if (n % 100 === 0) await new Promise(setImmediate);
    }
    tx.close();
    await reading;
    const reports = await Promise.all(workers.map(nextMessage));
    for (const { versions, end } of [{ versions: seen, end: null }, ...reports]) {
      assert.equal(end, null);
      assert.ok(versions.length > 0);
      for (let i = 1; i < versions.length; i++) {
        assert.ok(versions[i] > versions[i - 1], `versions go forward: ${versions[i - 1]} then ${versions[i]}`);
      }
      assert.equal(versions.at(-1), N);
    }
    await Promise.all(workers.map((w) => w.exited));
    assert.equal(ch.stats().sent, N);
  });

  it('a pending recv() is woken by a send in a worker', async () => {
    const ch = new Watch();
    const rx = ch.receiver();
    const pending = rx.recv();
    await sleep(20);
    const worker = peer('watch', ch, 'send', { values: ['hello'] });
    assert.equal(text(await pending), 'hello');
    assert.equal(await rx.recv(), null); // the worker closed after sending
    await worker.exited;
  });

  it('close(): receivers still get the last unseen value, then recv() resolves null and for-await ends', async () => {
    const ch = new Watch();
    const tx = ch.sender();
    const unseen = ch.receiver();
    const caughtUp = ch.receiver();
    await tx.send('one');
    assert.equal(text(await caughtUp.recv()), 'one');
    const waiting = caughtUp.recv();
    await tx.send('two');
    await tx.send('last');
    tx.close();
    assert.equal(tx.closed, true);
    // Its wake-up comes on a later turn of the event loop: by then 'last' is the newest.
    assert.equal(text(await waiting), 'last');
    assert.equal(await caughtUp.recv(), null);
    const values = [];
    for await (const b of unseen) values.push(text(b));
    assert.deepEqual(values, ['last']);
    assert.equal(caughtUp.tryRecv(), undefined);
    assert.equal(text(caughtUp.latest()), 'last'); // the value itself stays readable
  });

  it('closeWithError in a worker: the next recv() rejects with the same name, message and code, even over an unseen value', async () => {
    const ch = new Watch();
    const rx = ch.receiver();
    const worker = peer('watch', ch, 'send', { values: ['unseen'], then: 'closeWithError' });
    await worker.exited;
    const same = (e) => e instanceof ChannelError && e.name === 'RangeError' && e.message === 'the sender gave up' && e.code === 'ERR_SENDER';
    await assert.rejects(rx.recv(), same);
    await assert.rejects(rx.recv(), same);
    assert.throws(() => rx.tryRecv(), same);
  });

  for (const [how, then, terminate] of [
    ['worker.terminate()', 'hang', true],
    ['process.exit()', 'exit', false],
    ['an uncaught exception', 'throw', false],
  ]) {
    it(`a sender thread ended by ${how}: receivers get the unseen value, then ERR_CHANNEL_DISCONNECTED`, async () => {
      const ch = new Watch();
      const rx = ch.receiver();
      const worker = peer('watch', ch, 'send', { values: ['a', 'b', 'final'], then });
      worker.on('error', () => {});
      // A crash's 'error' can come before the 'sent' posted ahead of it (another
      // port): only a worker to be terminated is waited for by message.
      if (terminate) {
        await nextMessage(worker);
        await worker.terminate();
      }
      await worker.exited.catch(() => {});
      assert.equal(text(await rx.recv()), 'final');
      await assert.rejects(rx.recv(), (e) => e instanceof ChannelError && e.code === 'ERR_CHANNEL_DISCONNECTED');
    });
  }

  it('a receiver waiting when the sender is terminated wakes with ERR_CHANNEL_DISCONNECTED', async () => {
    const ch = new Watch();
    const rx = ch.receiver();
    const worker = peer('watch', ch, 'send', { then: 'hang' });
    await nextMessage(worker);
    const pending = assert.rejects(rx.recv(), { code: 'ERR_CHANNEL_DISCONNECTED' });
    await sleep(20);
    await worker.terminate();
    await pending;
  });

  it('terminating a receiver worker, or closing or collecting a receiver, changes nothing for the sender or the others', async () => {
    const ch = new Watch();
    const tx = ch.sender();
    const other = ch.receiver();
    const worker = peer('watch', ch, 'recv', { hang: true });
    assert.equal(await nextMessage(worker), 'ready');
    await sleep(20);
    await worker.terminate();
    const closed = ch.receiver();
    const pending = closed.recv();
    closed.close();
    assert.equal(await pending, null);
    assert.equal(await closed.recv(), null);
    (() => {
      ch.receiver().unref(); // dropped at once
    })();
    await collectGarbage();
    await tx.send('still here');
    assert.equal(text(await other.recv()), 'still here');
    assert.equal(await closed.recv(), null);
  });

  it('a receiver with a pending recv() is not collected while it waits', async () => {
    const ch = new Watch();
    const tx = ch.sender();
    let got;
    (() => {
      ch.receiver()
        .recv()
        .then((b) => (got = text(b)));
    })();
    await collectGarbage();
    await tx.send('kept alive');
    await sleep(20);
    assert.equal(got, 'kept alive');
  });

  it('stats() counts sends and receives across receivers', async () => {
    const ch = new Watch();
    const tx = ch.sender();
    const a = ch.receiver();
    const b = ch.receiver();
    await tx.send('12345');
    await tx.send('123');
    await a.recv();
    await b.recv();
    const s = tx.stats();
    assert.deepEqual(
      { sent: s.sent, bytesSent: s.bytesSent, received: s.received, bytesReceived: s.bytesReceived, dropped: s.dropped, pending: s.pending },
      { sent: 2, bytesSent: 8, received: 2, bytesReceived: 6, dropped: 0, pending: 0 }
    );
    assert.deepEqual(a.stats(), ch.stats());
    assert.deepEqual(s.pool, { slabs: 0, inUse: 0, fallbacks: 0, highWater: 0 });
  });

  it('[Symbol.asyncDispose] closes', async () => {
    const ch = new Watch();
    const tx = ch.sender();
    const rx = ch.receiver();
    await tx[Symbol.asyncDispose]();
    assert.equal(await rx.recv(), null);
    await rx[Symbol.asyncDispose]();
  });
});

describe('Mailbox', function () {
  this.timeout(60000);

  it('overwrites an unread message: send a, b, c unread, recv() gives c and stats().dropped is 2', async () => {
    const ch = new Mailbox();
    const tx = ch.sender();
    const rx = ch.receiver();
    await tx.send('a');
    await tx.send('b');
    await tx.send('c');
    let s = ch.stats();
    assert.deepEqual({ dropped: s.dropped, pending: s.pending, pendingBytes: s.pendingBytes }, { dropped: 2, pending: 1, pendingBytes: 1 });
    assert.equal(text(await rx.recv()), 'c');
    s = ch.stats();
    assert.deepEqual({ dropped: s.dropped, pending: s.pending, sent: s.sent, received: s.received }, { dropped: 2, pending: 0, sent: 3, received: 1 });
    // The slot is empty: the next recv waits for the next send.
    assert.equal(rx.tryRecv(), undefined);
    const next = rx.recv();
    await sleep(20);
    await tx.send('d');
    assert.equal(text(await next), 'd');
    assert.equal(ch.stats().dropped, 2); // a taken message is not dropped when replaced
  });

  it('overwrites across threads: a worker sends a, b, c, the main thread takes c', async () => {
    const ch = new Mailbox();
    const rx = ch.receiver();
    const worker = peer('mailbox', ch, 'send', { values: ['a', 'b', 'c'], then: 'hang' });
    assert.equal(await nextMessage(worker), 'sent');
    assert.equal(text(await rx.recv()), 'c');
    assert.equal(ch.stats().dropped, 2);
    await assert.rejects(rx.recv({ timeout: 20 }), { code: 'ERR_TIMEOUT' });
    await worker.terminate();
    await assert.rejects(rx.recv(), { code: 'ERR_CHANNEL_DISCONNECTED' });
  });

  it('every message is taken once or dropped once while a worker sends and the main thread takes', async () => {
    const N = 20000;
    const ch = new Mailbox({ capacity: 8 });
    const rx = ch.receiver();
    const worker = peer('mailbox', ch, 'send', { count: N });
    const taken = [];
    for await (const b of rx) taken.push(versionOf(b));
    await worker.exited;
    for (let i = 1; i < taken.length; i++) assert.ok(taken[i] > taken[i - 1]);
    assert.equal(taken.at(-1), N); // the last message is never overwritten
    const s = ch.stats();
    assert.equal(s.sent, N);
    assert.equal(s.received, taken.length);
    assert.equal(taken.length + s.dropped, N);
  });

  it('the unread message outlives a graceful close, then recv() resolves null', async () => {
    const ch = new Mailbox();
    const tx = ch.sender();
    const rx = ch.receiver();
    await tx.send('kept');
    tx.close();
    const got = [];
    for await (const b of rx) got.push(text(b));
    assert.deepEqual(got, ['kept']);
  });

  it('closeWithError drops the unread message: the next recv() rejects with the same name, message and code', async () => {
    const ch = new Mailbox();
    const rx = ch.receiver();
    const worker = peer('mailbox', ch, 'send', { values: ['dropped'], then: 'closeWithError' });
    await worker.exited;
    await assert.rejects(rx.recv(), (e) => e.name === 'RangeError' && e.message === 'the sender gave up' && e.code === 'ERR_SENDER');
  });

  it('a terminated sender thread: the unread message, then ERR_CHANNEL_DISCONNECTED', async () => {
    const ch = new Mailbox();
    const rx = ch.receiver();
    const worker = peer('mailbox', ch, 'send', { values: ['last words'], then: 'hang' });
    await nextMessage(worker);
    await worker.terminate();
    assert.equal(text(await rx.recv()), 'last words');
    await assert.rejects(rx.recv(), { code: 'ERR_CHANNEL_DISCONNECTED' });
  });

  it('send() rejects ERR_CHANNEL_DISCONNECTED once the receiver is closed', async () => {
    const ch = new Mailbox();
    const tx = ch.sender();
    const rx = ch.receiver();
    await tx.send('before');
    rx.close();
    await assert.rejects(tx.send('after'), (e) => e instanceof ChannelError && e.code === 'ERR_CHANNEL_DISCONNECTED');
    assert.equal(await rx.recv(), null);
  });

  it("send() rejects ERR_CHANNEL_DISCONNECTED once the receiver's thread is terminated", async () => {
    const ch = new Mailbox();
    const tx = ch.sender();
    const worker = peer('mailbox', ch, 'recv', { hang: true });
    assert.equal(await nextMessage(worker), 'ready');
    await sleep(20); // now waiting in recv()
    await worker.terminate();
    await assert.rejects(tx.send('x'), { code: 'ERR_CHANNEL_DISCONNECTED' });
  });

  it('send() rejects ERR_CHANNEL_DISCONNECTED once the receiver is garbage-collected', async () => {
    const ch = new Mailbox();
    const tx = ch.sender();
    (() => {
      ch.receiver(); // dropped at once
    })();
    await tx.send('before');
    await collectGarbage();
    await assert.rejects(tx.send('after'), { code: 'ERR_CHANNEL_DISCONNECTED' });
  });
});

describe('Watch and Mailbox: event-loop lifetime', function () {
  this.timeout(30000);

  it('a pending recv() keeps the process alive until a worker sends; after unref() it does not', async () => {
    const alive = await runNode(
      `const { Worker } = require('node:worker_threads');
       const { Watch } = require('.');
       const w = new Watch();
       new Worker("const { Watch } = require(process.cwd());" +
         "const tx = Watch.from(require('node:worker_threads').workerData).sender();" +
         "setTimeout(() => tx.trySend('late'), 300);", { eval: true, workerData: w.handle }).unref();
       w.receiver().recv().then((b) => console.log('received', Buffer.from(b).toString()));`,
      10000
    );
    assert.equal(alive.timedOut, false);
    assert.equal(alive.code, 0, alive.stdout);
    assert.match(alive.stdout, /received late/);
    const unrefed = await runNode(
      `const { Mailbox } = require('.'); const rx = new Mailbox().receiver().unref(); rx.recv(); rx.recv({ timeout: 60000 });`,
      5000
    );
    assert.equal(unrefed.timedOut, false);
    assert.equal(unrefed.code, 0, unrefed.stdout);
  });
});
