'use strict';

const assert = require('node:assert/strict');
const { runNode } = require('./helpers');

describe('Event-loop lifetime', function () {
  this.timeout(30000);

  it('a pending recv() keeps the process alive until a worker sends', async () => {
    const { code, stdout, timedOut } = await runNode(
      `
      const { Worker } = require('node:worker_threads');
      const { Channel } = require('.');
      const ch = new Channel({ capacity: 4096 });
      const worker = new Worker(
        "const { Channel } = require(process.cwd());" +
        "const tx = Channel.from(require('node:worker_threads').workerData).sender();" +
        "setTimeout(() => tx.trySend('late'), 300);",
        { eval: true, workerData: ch.handle });
      worker.unref(); // only the pending recv() may keep this process alive
      ch.receiver().recv().then((b) => console.log('received', Buffer.from(b).toString()));
      `,
      10000
    );
    assert.equal(timedOut, false);
    assert.equal(code, 0);
    assert.match(stdout, /received late/);
  });

  it('a pending recv() with nothing to come keeps the process alive', async () => {
    const { timedOut } = await runNode(
      `const { Channel } = require('.'); new Channel({ capacity: 4096 }).receiver().recv();`,
      1500
    );
    assert.equal(timedOut, true);
  });

  it('after unref() a pending recv() does not keep the process alive', async () => {
    const { code, timedOut } = await runNode(
      `const { Channel } = require('.');
       const rx = new Channel({ capacity: 4096 }).receiver().unref();
       rx.recv();
       rx.recv({ timeout: 60000 });`,
      5000
    );
    assert.equal(timedOut, false);
    assert.equal(code, 0);
  });

  it('a send waiting for room keeps the process alive; after unref() it does not', async () => {
    const blocked = await runNode(
      `const { Channel } = require('.');
       const ch = new Channel({ capacity: 1024 });
       const rx = ch.receiver();
       const tx = ch.sender();
       for (let i = 0; i < 20; i++) tx.send(Buffer.alloc(100));
       globalThis.keep = rx;`,
      1500
    );
    assert.equal(blocked.timedOut, true);
    const unrefed = await runNode(
      `const { Channel } = require('.');
       const ch = new Channel({ capacity: 1024 });
       const rx = ch.receiver();
       const tx = ch.sender().unref();
       for (let i = 0; i < 20; i++) tx.send(Buffer.alloc(100));
       globalThis.keep = rx;`,
      5000
    );
    assert.equal(unrefed.timedOut, false);
    assert.equal(unrefed.code, 0);
  });

  it('an idle channel never keeps the process alive', async () => {
    const { code, timedOut } = await runNode(
      `const { Channel } = require('.');
       const ch = new Channel();
       globalThis.ends = [ch.sender(), ch.receiver()];`,
      5000
    );
    assert.equal(timedOut, false);
    assert.equal(code, 0);
  });

  it('exiting with a closed sender and its receiver in one thread is clean', async () => {
    const { code, stdout } = await runNode(
      `const { Channel } = require('.');
       const c = new Channel(); const t = c.sender(); c.receiver(); t.close();`,
      5000
    );
    assert.equal(code, 0, stdout);
  });
});
