'use strict';

const { native, Status, endError, unlessStopping } = require('./binding');
const { ChannelError, channelError, argTypeError } = require('./errors');
const { validateObject, validateInteger, validateTimeout } = require('./validate');
const { waitOptions, NO_WAIT } = require('./wait');
const { Waiters } = require('./waiters');
const { Batch, Staging } = require('./batch');

// Messages pulled from native code per crossing; the rest wait in shared memory.
const POLL_BATCH = 64;
// Messages per Batch from batches().
const BATCH_MESSAGES = 1024;
// Receives copy messages of up to POLL_STAGED_MAX bytes into a staging buffer and cut
// each out of it as its own ArrayBuffer (~25 % less time per 64 B message than a
// buffer made by native code); larger ones get their buffer from native code, which
// measured as fast from 1 KiB on and ~10 % faster at 4 KiB (one copy, not two).
const POLL_STAGED_MAX = 1024;
// batches() packs every small message into one buffer per batch (at most
// BATCH_MESSAGES of the inline size; messages that do not fit get their own).
const BATCH_STAGING = 4 << 20;

// Finalizers of external buffers run only when the event loop turns (setImmediate),
// never inside a chain of resolved promises: a loop that always finds a message
// ready would never get its slabs back. After handing out this many bytes of
// pool-backed buffers (or half the channel's capacity, if smaller), the next receive
// first yields one turn of the event loop.
const YIELD_AFTER_BYTES = 4 << 20;

// The most (µs) a receive polls shared memory before it sleeps, unless the receiver's
// `spin` option says otherwise; src/binding/wraps.hh kDefaultSpinNs is the same.
// Longer than a wake through the kernel here, so that two threads answering each
// other stay awake; see docs/performance.md ("Round trip: polling before sleeping").
const DEFAULT_SPIN_US = 50;
// The largest `spin`: the thread runs nothing else while it spins.
const MAX_SPIN_US = 10_000;
// After this many polls in a row that caught nothing, 2 ** MAX_MISSES - 1 receives
// sleep without polling before the next poll (see Receiver#arm).
const MAX_MISSES = 8;

// framing: 'bytes' joins small ready chunks into one buffer of up to this size.
const COALESCE_BYTES = 64 << 10;

const DONE = Object.freeze({ value: undefined, done: true });
const MAX_COUNT = 2 ** 32 - 1;

/**
 * The consuming end of a Channel. Create it with `channel.receiver()`.
 * Messages are pulled from shared memory in batches into a JS-side queue; when there
 * is nothing to pull, the receiver flags that it sleeps and the sender's next commit
 * wakes this thread's event loop.
 */
class Receiver {
  #native;
  #stats; // () => the counters stats() reports, with pending/pendingBytes in shared memory
  #queue = [];
  #head = 0;
  #headOffset = 0; // bytes of the head message already taken by read()
  #waiters; // pending receives
  #readiness = []; // batches() waiting for anything to happen: resolve functions
  #ended = false; // no message will ever come again
  #failure = null; // why, if not a graceful end
  #lag = null; // broadcast: an ERR_CHANNEL_LAGGED for the next receive, once
  #inlineMax; // larger messages arrive in pool-backed (external) buffers
  #bytesFraming;
  #externalBytes = 0; // of lent buffers pulled since the event loop last turned
  #yieldAfter;
  #zeroCopy;
  #capacity; // the channel's, in bytes
  #spin; // the most (µs) a receive polls before it sleeps: the `spin` option
  #misses = 0; // polls in a row that caught nothing (see #arm)
  #skip = 0; // receives left that sleep without polling
  #staging = null; // for #fill(), made on first use
  #batchStaging = null; // for batches()

  /**
   * @internal `info`: the channel's native info(); `zeroCopy`, `spin`: from
   * receiverOptions(); the native receiver was made with `zeroCopy`.
   */
  constructor(nativeReceiver, stats, info, { bytesFraming, zeroCopy, spin }) {
    this.#native = nativeReceiver;
    this.#waiters = new Waiters(nativeReceiver, () => this.#startWaiting());
    this.#stats = stats;
    this.#inlineMax = info.inlineMax;
    this.#bytesFraming = bytesFraming;
    this.#zeroCopy = zeroCopy;
    this.#spin = spin;
    this.#capacity = info.capacity;
    // Copies need no finalizer to give memory back: no reason to yield for them.
    this.#yieldAfter = zeroCopy ? Math.min(YIELD_AFTER_BYTES, info.capacity / 2) : Infinity;
    // Held by the native object only: no strong path from a GC root to this receiver.
    this.#native.onwake = () => this.#serve();
  }

  /**
   * True when messages above the inline size arrive as zero-copy buffers over pool
   * memory; false when every message is a plain copy (`zeroCopy: false`, or a runtime
   * without external buffers).
   */
  get zeroCopy() {
    return this.#zeroCopy;
  }

  /** The most microseconds a receive polls for a message before it sleeps (the `spin` option). */
  get spin() {
    return this.#spin;
  }

  /** Messages buffered now: in shared memory and already pulled into this thread. */
  get pending() {
    const s = this.#stats();
    return s.pending + this.#queue.length - this.#head;
  }

  /** Payload bytes buffered now (see `pending`). */
  get pendingBytes() {
    // Summed here, not kept up to date per message: reading byteLength costs V8 a call.
    let queued = -this.#headOffset;
    for (let i = this.#head; i < this.#queue.length; i++) queued += this.#queue[i].byteLength;
    return this.#stats().pendingBytes + queued;
  }

  recv(options) {
    let wait;
    try {
      wait = options === undefined ? NO_WAIT : waitOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#request(wait, identity);
  }

  tryRecv() {
    if (this.#waiters.length === 0 && this.#fill()) return this.#take();
    if (this.#lag) throw this.#takeLag();
    if (this.#failure) throw this.#failure;
    return undefined;
  }

  recvSync(options) {
    const timeout = validateTimeout(validateObject(options, 'options').timeout);
    if (this.#waiters.length === 0 && this.#fill()) return this.#take();
    if (this.#lag) throw this.#takeLag();
    if (this.#ended) return this.#settled();
    const result = unlessStopping(this.#native.recvSync(timeout === undefined ? -1 : timeout, this.#spin));
    if (typeof result !== 'number') {
      this.#queue = this.#bytesFraming ? coalesce([result], this.#inlineMax) : [result];
      this.#head = 0;
      if (this.#queue.length !== 0) return this.#take();
      return this.recvSync(options); // a zero-length chunk of a byte stream
    }
    if (result === Status.TIMED_OUT) throw channelError('ERR_TIMEOUT');
    if (result === Status.LAGGED) throw this.#lagError();
    this.#finish(result);
    return this.#settled();
  }

  /**
   * Waits for at least one message, then returns every message ready now, up to
   * `max`. `[]` once the channel has ended.
   */
  recvBatch(max = MAX_COUNT, options) {
    let wait;
    try {
      validateInteger(max, 'max', 1, MAX_COUNT);
      wait = options === undefined ? NO_WAIT : waitOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#request(wait, (first) => (first === null ? [] : this.#takeReady([first], max)));
  }

  /** Groups of exactly `n` messages (the last may be shorter), as arrays. */
  chunks(n) {
    validateInteger(n, 'n', 1, MAX_COUNT);
    const self = this;
    return (async function* chunks() {
      for (;;) {
        const group = [];
        while (group.length < n) {
          const batch = await self.recvBatch(n - group.length);
          if (batch.length === 0) break;
          group.push(...batch);
        }
        if (group.length !== 0) yield group;
        if (group.length < n) return;
      }
    })();
  }

  /** Groups of whatever is ready when the loop asks, 1 to `n` messages each. */
  readyChunks(n) {
    validateInteger(n, 'n', 1, MAX_COUNT);
    const self = this;
    return (async function* readyChunks() {
      for (;;) {
        const batch = await self.recvBatch(n);
        if (batch.length === 0) return;
        yield batch;
      }
    })();
  }

  /**
   * A copy of up to `maxBytes` bytes that are ready now, across message boundaries;
   * empty if none. Never waits. A message read in part is continued by the next
   * read(), or returned whole-remainder by the next receive.
   */
  read(maxBytes) {
    validateInteger(maxBytes, 'maxBytes', 0, 2 ** 31 - 1);
    const chunks = [];
    const done = []; // read to the end: released once copied (a release detaches a pool buffer)
    let total = 0;
    while (total < maxBytes && this.#waiters.length === 0 && this.#fill()) {
      const buffer = this.#queue[this.#head];
      const n = Math.min(buffer.byteLength - this.#headOffset, maxBytes - total);
      chunks.push(new Uint8Array(buffer, this.#headOffset, n));
      total += n;
      this.#headOffset += n;
      if (this.#headOffset === buffer.byteLength) {
        this.#queue[this.#head++] = undefined;
        this.#headOffset = 0;
        done.push(buffer);
      }
    }
    let out;
    if (chunks.length === 1) {
      out = chunks[0].slice();
    } else {
      out = new Uint8Array(total);
      let at = 0;
      for (const c of chunks) {
        out.set(c, at);
        at += c.byteLength;
      }
    }
    for (const buffer of done) this.#giveBack(buffer);
    return out;
  }

  /** Skips up to `n` buffered messages without receiving them; returns how many. */
  discard(n) {
    validateInteger(n, 'n', 0, MAX_COUNT);
    let dropped = 0;
    while (dropped < n && this.#head < this.#queue.length) {
      this.#giveBack(this.#take());
      dropped++;
    }
    if (dropped < n && !this.#ended) dropped += unlessStopping(this.#native.discard(n - dropped));
    return dropped;
  }

  /**
   * Returns the slab of `buffer` to the pool now and detaches it. A no-op (false)
   * for a buffer that is not a live pool buffer of this receiver.
   */
  release(buffer) {
    return this.#native.release(buffer);
  }

  iterate(options) {
    const { autoRelease = false } = validateObject(options, 'options');
    if (typeof autoRelease !== 'boolean') throw argTypeError('options.autoRelease', 'of type boolean', autoRelease);
    let last;
    const map = (buffer) => {
      if (buffer === null) return DONE;
      if (autoRelease) last = buffer;
      return { value: buffer, done: false };
    };
    const next = () => {
      if (last !== undefined) {
        this.#giveBack(last);
        last = undefined;
      }
      return this.#request(NO_WAIT, map);
    };
    const finish = () => {
      if (last !== undefined) this.#giveBack(last);
      last = undefined;
      return Promise.resolve(DONE);
    };
    return {
      next,
      return: finish,
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  [Symbol.asyncIterator]() {
    return this.iterate();
  }

  /** A Node `stream.Readable` of Buffers (zero-copy views) that ends when the channel ends. */
  readable(options) {
    return streams().createReadable(this, options);
  }

  /** A WHATWG `ReadableStream` of Uint8Arrays over this receiver. */
  readableStream(options) {
    return streams().createReadableStream(this, options);
  }

  /**
   * The fastest way to receive small messages: an async iterable of Batches, each
   * holding every message that was ready (up to 1024), small ones as Uint8Array views
   * into one shared buffer. Ends after a graceful close; throws as the plain iterator.
   */
  batches() {
    const self = this;
    return (async function* batches() {
      for (;;) {
        const batch = self.#takeBatch();
        if (batch !== undefined) {
          yield batch;
          continue;
        }
        if (self.#lag) throw self.#takeLag();
        if (self.#ended) {
          if (self.#failure) throw self.#failure;
          return;
        }
        await new Promise((resolve) => {
          self.#readiness.push(resolve);
          self.#serve();
        });
      }
    })();
  }

  close() {
    if (this.#ended && !this.#failure) return;
    this.#native.close();
    this.#queue = [];
    this.#head = 0;
    this.#headOffset = 0;
    this.#finish(Status.CLOSED);
    this.#serve();
  }

  ref() {
    this.#waiters.setRefed(true);
    return this;
  }

  unref() {
    this.#waiters.setRefed(false);
    return this;
  }

  stats() {
    return this.#stats();
  }

  async [Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')]() {
    this.close();
  }

  // A promise for the next message, passed through `map` (null once ended).
  #request(options, map) {
    if (this.#externalBytes >= this.#yieldAfter) {
      this.#externalBytes = 0;
      return new Promise(setImmediate).then(() => this.#request(options, map));
    }
    if (this.#waiters.length === 0) {
      if (this.#fill()) return Promise.resolve(map(this.#take()));
      if (this.#lag) return Promise.reject(this.#takeLag());
      if (this.#ended) return this.#failure ? Promise.reject(this.#failure) : Promise.resolve(map(null));
    }
    return this.#waiters.add(options, map);
  }

  // Hands messages to waiters in order; re-arms the doorbell when it runs dry.
  #serve() {
    if (this.#readiness.length !== 0 && this.#waiters.length === 0) {
      if (this.#head < this.#queue.length || this.#ended || this.#lag || !this.#arm()) {
        for (const resolve of this.#readiness.splice(0)) resolve();
      } else {
        return this.#native.setWaiting(true);
      }
    }
    while (this.#waiters.length !== 0) {
      if (this.#fill()) {
        this.#waiters.resolveNext(this.#take());
      } else if (this.#lag) {
        this.#waiters.rejectNext(this.#takeLag());
      } else if (this.#ended) {
        this.#waiters.settleAll(this.#failure);
      } else if (this.#arm()) {
        this.#native.setWaiting(true);
        return;
      }
    }
    this.#native.setWaiting(false);
  }

  // Polls for up to `spin` µs, then flags that this thread sleeps; true if it must.
  // A poll that catches nothing makes the next receives sleep at once, twice as many
  // after each further miss (1, 3, 7 … 2 ** MAX_MISSES - 1): a receiver whose messages
  // come rarely, or whose peer cannot run while it polls, soon stops burning CPU and
  // tries again now and then. A poll that catches a message resets this.
  #arm() {
    if (this.#skip !== 0) {
      this.#skip--;
      return this.#native.arm(0);
    }
    if (!this.#native.arm(this.#spin)) {
      this.#misses = 0;
      return false;
    }
    if (this.#spin !== 0) {
      this.#misses = Math.min(this.#misses + 1, MAX_MISSES);
      this.#skip = 2 ** this.#misses - 1;
    }
    return true;
  }

  // The first receive starts waiting: #fill() just found nothing, so poll (and maybe
  // sleep) at once rather than drain the empty channel again.
  #startWaiting() {
    if (this.#arm()) this.#native.setWaiting(true);
    else this.#serve();
  }

  // True when the local queue has a message, pulling a batch from native if needed.
  #fill() {
    while (this.#head >= this.#queue.length) {
      if (this.#ended) return false;
      if (this.#lag) return false;
      this.#staging ??= new Staging(POLL_BATCH, POLL_BATCH * Math.min(POLL_STAGED_MAX, this.#inlineMax));
      const result = this.#poll(this.#staging, POLL_STAGED_MAX);
      if (typeof result === 'number' && result < 0) {
        this.#polled(-result);
        return false;
      }
      const buffers = this.#staging.unpack(result);
      this.#queue = this.#bytesFraming ? coalesce(buffers, this.#inlineMax) : buffers;
      this.#head = 0;
      this.#externalBytes += this.#staging.lentBytes;
    }
    return true;
  }

  #take() {
    let buffer = this.#queue[this.#head];
    this.#queue[this.#head++] = undefined;
    if (this.#headOffset !== 0) {
      const rest = buffer.slice(this.#headOffset); // the remainder of a message read() in part
      this.#giveBack(buffer);
      buffer = rest;
      this.#headOffset = 0;
    }
    return buffer;
  }

  // release() for a buffer this receiver took from #queue, without the crossing into
  // native code while nothing it pulled was over pool or heap memory: until then
  // every buffer is a copy, which holds nothing to give back.
  #giveBack(buffer) {
    if (this.#staging?.lent) this.#native.release(buffer);
  }

  // A Batch of what is ready now (messages already pulled into this thread first), or
  // undefined; ends the receiver if the channel has.
  #takeBatch() {
    if (this.#waiters.length !== 0) return undefined;
    if (this.#head < this.#queue.length) return Batch.of(this.#takeReady([], BATCH_MESSAGES));
    if (this.#ended || this.#lag) return undefined;
    this.#batchStaging ??= new Staging(BATCH_MESSAGES, Math.min(BATCH_STAGING, BATCH_MESSAGES * this.#inlineMax));
    const result = this.#poll(this.#batchStaging, this.#inlineMax);
    if (typeof result === 'number' && result < 0) {
      this.#polled(-result);
      return undefined;
    }
    const batch = this.#batchStaging.batch(result);
    this.#externalBytes += this.#batchStaging.lentBytes;
    return batch;
  }

  // pollInto(): count | -status | large buffers. Throws once this thread is stopping
  // (unlessStopping(): a loop that keeps finding messages must not keep this thread
  // alive). Always the staging buffer's own `max`: pollInto() puts the payloads after
  // a header sized by the max it is given.
  #poll(staging, stageMax) {
    return unlessStopping(this.#native.pollInto(staging.max, staging.buffer, stageMax));
  }

  // A poll found nothing (EMPTY), or the end, or that a broadcast receiver lagged.
  #polled(status) {
    if (status === Status.LAGGED) this.#lag = this.#lagError();
    else if (status !== Status.EMPTY) this.#finish(status);
  }

  // `batch` plus the messages ready now, up to `max` in all, and once past a
  // capacity's worth of bytes no more: a sender that keeps up refills the channel as
  // fast as this takes, and the batch would grow to `max` (recvBatch(1024) of 64 KiB
  // messages held 64 MiB at once, and ran at half the speed of a plain loop).
  #takeReady(batch, max) {
    let bytes = 0;
    while (batch.length < max && bytes < this.#capacity && this.#fill()) {
      const buffer = this.#take();
      bytes += buffer.byteLength;
      batch.push(buffer);
    }
    return batch;
  }

  #finish(status) {
    this.#ended = true;
    const failure = endError(status, () => this.#native.errorInfo());
    if (failure) this.#failure = failure;
  }

  // A broadcast receiver fell behind: one rejection, then it goes on from the oldest
  // message still held.
  #lagError() {
    const missed = this.#native.missed();
    return new ChannelError(`the receiver fell behind and missed ${missed} messages`, 'ERR_CHANNEL_LAGGED', { missed });
  }

  #takeLag() {
    const error = this.#lag;
    this.#lag = null;
    return error;
  }

  #settled() {
    if (this.#failure) throw this.#failure;
    return null;
  }
}

/**
 * The options of channel.receiver() / broadcast.receiver(), validated: `zeroCopy`
 * false also where the runtime refuses external buffers (native.externalBuffers), as
 * Electron's V8 sandbox does; `spin` in µs.
 */
function receiverOptions(options) {
  const { zeroCopy = true, spin = DEFAULT_SPIN_US } = validateObject(options, 'options');
  if (typeof zeroCopy !== 'boolean') throw argTypeError('options.zeroCopy', 'of type boolean', zeroCopy);
  validateInteger(spin, 'options.spin', 0, MAX_SPIN_US);
  return { zeroCopy: zeroCopy && native.externalBuffers, spin };
}

// framing: 'bytes': drops empty chunks and joins runs of small ones (copies) into
// buffers of up to COALESCE_BYTES; pool-backed chunks pass through untouched.
function coalesce(buffers, inlineMax) {
  const out = [];
  let run = [];
  let runBytes = 0;
  const flush = () => {
    if (run.length === 1) out.push(run[0]);
    else if (run.length > 1) {
      const joined = new Uint8Array(runBytes);
      let at = 0;
      for (const b of run) {
        joined.set(new Uint8Array(b), at);
        at += b.byteLength;
      }
      out.push(joined.buffer);
    }
    run = [];
    runBytes = 0;
  };
  for (const b of buffers) {
    if (b.byteLength === 0) continue;
    if (b.byteLength > inlineMax) {
      flush();
      out.push(b);
      continue;
    }
    if (runBytes + b.byteLength > COALESCE_BYTES) flush();
    run.push(b);
    runBytes += b.byteLength;
  }
  flush();
  return out;
}

// Loaded on first use: most programs never ask for a stream.
function streams() {
  return require('./streams');
}

function identity(value) {
  return value;
}

module.exports = { Receiver, receiverOptions };
