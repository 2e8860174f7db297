'use strict';

const assert = require('node:assert/strict');
const { Channel, ChannelError } = require('..');

describe('Channel: creation, handles and arguments', () => {
  it('rounds the capacity up to a power of two', () => {
    assert.equal(new Channel({ capacity: 1000 }).capacity, 1024);
    assert.equal(new Channel().capacity, 1 << 20);
    assert.equal(new Channel({ capacity: 4096 }).capacity, 4096);
  });

  it('rejects bad options with Node-style errors', () => {
    const cases = [
      [{ capacity: 'big' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
      [{ capacity: 0 }, RangeError, 'ERR_OUT_OF_RANGE'],
      [{ capacity: 1.5 }, RangeError, 'ERR_OUT_OF_RANGE'],
      [{ capacity: 2 ** 31 }, RangeError, 'ERR_OUT_OF_RANGE'],
      [{ backpressure: 'wait' }, TypeError, 'ERR_INVALID_ARG_VALUE'],
      [{ producers: 'many' }, TypeError, 'ERR_INVALID_ARG_VALUE'],
      [{ framing: 'lines' }, TypeError, 'ERR_INVALID_ARG_VALUE'],
      [{ maxMessageSize: -1 }, RangeError, 'ERR_OUT_OF_RANGE'],
      [{ slabSize: 12 }, RangeError, 'ERR_OUT_OF_RANGE'],
      [{ poolSlabs: 1 }, RangeError, 'ERR_OUT_OF_RANGE'],
      ['fast', TypeError, 'ERR_INVALID_ARG_TYPE'],
      [null, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ];
    for (const [options, type, code] of cases) {
      assert.throws(() => new Channel(options), (e) => e instanceof type && e.code === code, JSON.stringify(options));
    }
  });

  it('has a structured-clonable handle that attaches to the same channel', () => {
    const ch = new Channel({ capacity: 4096 });
    const copy = structuredClone(ch.handle);
    assert.ok(copy.buffer instanceof SharedArrayBuffer);
    const other = Channel.from(copy);
    const tx = other.sender();
    assert.equal(tx.trySend('over the clone'), true);
    assert.equal(Buffer.from(ch.receiver().tryRecv()).toString(), 'over the clone');
    assert.equal(other.capacity, 4096);
  });

  it('Channel.from rejects anything that is not a live handle with ERR_INVALID_HANDLE', () => {
    const ch = new Channel({ capacity: 4096 });
    const good = ch.handle;
    const foreign = new SharedArrayBuffer(1 << 16);
    const garbage = new SharedArrayBuffer(1 << 16);
    new Uint8Array(garbage).forEach((_, i, a) => (a[i] = (i * 73) & 255));
    const wrongVersion = new SharedArrayBuffer(good.buffer.byteLength);
    new Uint8Array(wrongVersion).set(new Uint8Array(good.buffer));
    new DataView(wrongVersion).setUint32(4, 99, true); // layout version field
    const truncated = new SharedArrayBuffer(2048);
    new Uint8Array(truncated).set(new Uint8Array(good.buffer, 0, 2048));
    const lying = new SharedArrayBuffer(good.buffer.byteLength);
    new Uint8Array(lying).set(new Uint8Array(good.buffer));
    new DataView(lying).setBigUint64(16, 1n << 40n, true); // total_bytes beyond the buffer
    const bad = [
      undefined,
      null,
      42,
      'handle',
      {},
      good.buffer,
      { ...good, version: good.version + 1 },
      { ...good, type: 'other' },
      { ...good, buffer: new ArrayBuffer(8192) },
      { ...good, buffer: foreign },
      { ...good, buffer: garbage },
      { ...good, buffer: wrongVersion },
      { ...good, buffer: truncated },
      { ...good, buffer: lying },
    ];
    for (const handle of bad) {
      assert.throws(
        () => Channel.from(handle),
        (e) => e instanceof ChannelError && e.code === 'ERR_INVALID_HANDLE',
        String(handle && handle.buffer)
      );
    }
  });

  it('gives each end to one taker only', () => {
    const ch = new Channel({ capacity: 4096, producers: 'single' });
    ch.sender();
    ch.receiver();
    assert.throws(() => ch.sender(), { name: 'ChannelError', code: 'ERR_CHANNEL_ROLE_TAKEN' });
    assert.throws(() => ch.receiver(), { name: 'ChannelError', code: 'ERR_CHANNEL_ROLE_TAKEN' });
    assert.throws(() => Channel.from(ch.handle).receiver(), { code: 'ERR_CHANNEL_ROLE_TAKEN' });
  });

  it('counts messages and bytes in stats()', () => {
    const ch = new Channel({ capacity: 1 << 16 });
    const tx = ch.sender();
    const rx = ch.receiver();
    tx.trySend(new Uint8Array(10));
    tx.trySend(new Uint8Array(20000));
    let s = ch.stats();
    assert.deepEqual(
      { sent: s.sent, bytesSent: s.bytesSent, pending: s.pending, pendingBytes: s.pendingBytes, received: s.received },
      { sent: 2, bytesSent: 20010, pending: 2, pendingBytes: 20010, received: 0 }
    );
    assert.equal(s.pool.inUse, 1);
    assert.ok(s.pool.slabs > 0);
    rx.tryRecv();
    rx.tryRecv();
    s = rx.stats();
    assert.equal(s.received, 2);
    assert.equal(s.bytesReceived, 20010);
    assert.equal(s.pending, 0);
    assert.equal(s.dropped, 0);
    assert.equal(s.lagged, 0);
    assert.deepEqual(Object.keys(s.pool).sort(), ['fallbacks', 'highWater', 'inUse', 'slabs']);
  });

  it('ChannelError carries a code and is an Error', () => {
    const e = new ChannelError('x', 'ERR_CHANNEL_FULL');
    assert.ok(e instanceof Error);
    assert.equal(e.name, 'ChannelError');
    assert.equal(e.code, 'ERR_CHANNEL_FULL');
  });
});
