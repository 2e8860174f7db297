'use strict';

const { native, Status, errorForStatus, unlessStopping } = require('./binding');
const { channelError, abortError, argTypeError, argValueError, errorParts } = require('./errors');
const { toBytes, validateObject, validateInteger, validateTimeout, validateSignal, MAX_MESSAGE_SIZE } = require('./validate');
const { waitOptions, watch, NO_WAIT } = require('./wait');

const RESOLVED = Promise.resolve();
const NAP = new Int32Array(new SharedArrayBuffer(4));

// framing: 'bytes' keeps no boundaries, so small sends are copied into a staging
// buffer of up to this many bytes (a quarter of the capacity if smaller) and cross into
// native code together: once the buffer is full, before any other operation, or when
// the current tick ends. Copying a small chunk costs far less than a crossing
// (PERF-small.md: 64 B sends went from ~1.4-2.3 us to ~0.3-0.5 us).
const STAGE_BYTES = 64 << 10;

// sendBatch() of messages of at most PACK_MAX bytes each, PACK_BYTES in all, copies
// them into one buffer and crosses once without a per-message N-API call (which costs
// more than copying 1 KiB); other lists pass each message to native code.
const PACK_MAX = 1024;
const PACK_BYTES = 1 << 20;

/**
 * The producing end of a Channel. Create it with `channel.sender()`.
 * Sends that cannot be enqueued yet wait in call order in a JS-side queue; the native
 * side wakes this thread's event loop when the receiver makes room.
 * Under 'grow' that queue is the channel's overflow: sends resolve at once and the
 * queue drains into shared memory as room appears. Under 'dropOldest' the native side
 * makes room by dropping the oldest unread messages, so a send never finds the channel
 * full and nothing waits in that queue behind it.
 */
class Sender {
  #native;
  #channel;
  #mode; // 'block' | 'reject' | 'dropOldest' | 'grow'
  #queue = []; // sends waiting for room: { bytes, resolve, reject, watcher }
  #readyWaiters = []; // ready() calls: { resolve, reject, watcher }
  #closed = false;
  #closeWhenDrained = false;
  #refed = true;
  #failure = null; // set once the channel refuses sends for good
  #buffer; // the channel's SharedArrayBuffer, for reserve() views
  #reserved = new WeakMap(); // view from reserve() -> [cls, index, generation] | null (a plain copy)
  // framing: 'bytes' under 'block' or 'grow': sent bytes not handed to native code yet.
  // They come after everything in #queue, which is empty while any are staged.
  #stageBuffer = null; // Uint8Array of #stageSize bytes, made on first use
  #staged = 0;
  #stageSize = 0; // 0: no staging
  #flushStaged = () => this.#flush();
  #pack = null; // sendBatch(): { bytes: Uint8Array, lengths: Uint32Array }, grown as needed

  /**
   * @internal `stageBytes`: the channel's capacity when it has framing 'bytes' (small
   * sends are then staged), else 0.
   */
  constructor(view, channel, mode, additional, stageBytes = 0) {
    this.#native = new native.Sender(view, additional);
    this.#buffer = view.buffer;
    this.#channel = channel;
    this.#mode = mode;
    // 'reject' must refuse the send that does not fit, and 'dropOldest' drop whole
    // sends: neither can stand behind bytes it already accepted.
    if (mode === 'block' || mode === 'grow') this.#stageSize = Math.min(STAGE_BYTES, Math.floor(stageBytes / 4));
    // Held by the native object only: no strong path from a GC root to this sender.
    this.#native.onwake = () => this.#pump();
  }

  /** @returns {boolean} true once close() or closeWithError() was called */
  get closed() {
    return this.#closed;
  }

  send(data, options) {
    let bytes;
    let wait;
    try {
      bytes = toBytes(data);
      wait = options === undefined ? NO_WAIT : waitOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#closed) return Promise.reject(channelError('ERR_CHANNEL_CLOSED'));
    if (this.#stageSize !== 0 && this.#stageBytes(bytes)) return RESOLVED;
    if (this.#queue.length === 0) {
      const status = this.#sendOne(bytes);
      if (status === Status.OK) return RESOLVED;
      if (status !== Status.FULL || this.#mode === 'reject') return Promise.reject(errorForStatus(status));
    }
    if (this.#mode === 'grow') {
      this.#enqueue({ bytes: copyOf(bytes) }, undefined, undefined, NO_WAIT);
      return RESOLVED;
    }
    if (wait.signal?.aborted) return Promise.reject(abortError(wait.signal));
    return new Promise((resolve, reject) => this.#enqueue({ bytes }, resolve, reject, wait));
  }

  trySend(data) {
    const bytes = toBytes(data);
    if (this.#closed) throw channelError('ERR_CHANNEL_CLOSED');
    if (this.#stageSize !== 0 && this.#stageBytes(bytes)) return true;
    if (this.#queue.length === 0) {
      const status = this.#sendOne(bytes);
      if (status === Status.OK) return true;
      if (status !== Status.FULL) throw errorForStatus(status);
    }
    if (this.#mode !== 'grow') return false; // never overtake sends that are waiting
    this.#enqueue({ bytes: copyOf(bytes) }, undefined, undefined, NO_WAIT);
    return true;
  }

  sendSync(data, options) {
    const bytes = toBytes(data);
    const o = validateObject(options, 'options');
    const timeout = validateTimeout(o.timeout);
    const signal = validateSignal(o.signal);
    if (signal?.aborted) throw abortError(signal);
    if (this.#closed && !this.#closeWhenDrained) throw channelError('ERR_CHANNEL_CLOSED');
    this.#flush();
    if (this.#mode === 'grow') {
      if (!this.trySend(bytes)) throw channelError('ERR_CHANNEL_FULL');
      return;
    }
    const deadline = timeout === undefined ? undefined : Date.now() + timeout;
    const left = () => (deadline === undefined ? -1 : Math.max(0, deadline - Date.now()));
    // Earlier send() calls still waiting go first, in order.
    while (this.#queue.length !== 0) {
      const head = this.#queue[0];
      const status = head.lease ? this.#commitSync(head, left) : this.#native.sendSync(head.bytes, left());
      if (status === Status.TIMED_OUT) throw channelError('ERR_TIMEOUT');
      this.#queue.shift();
      head.watcher.disarm();
      if (status === Status.OK) head.resolve?.();
      else head.reject?.(errorForStatus(status));
    }
    if (this.#closed) throw channelError('ERR_CHANNEL_CLOSED');
    // 'reject' never waits for room, synchronously or not.
    const status = this.#mode === 'reject' ? this.#sendOne(bytes) : this.#native.sendSync(bytes, left());
    if (status !== Status.OK) throw errorForStatus(status);
  }

  /**
   * Sends every item of `list` in order, with one crossing into native code for as
   * many as fit now; the rest wait like send() (or reject under 'reject').
   */
  sendBatch(list, options) {
    if (!Array.isArray(list)) return Promise.reject(argTypeError('list', 'an instance of Array', list));
    let items;
    let wait;
    try {
      items = list.map((data, i) => toBytes(data, 'list', i));
      wait = options === undefined ? NO_WAIT : waitOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#closed) return Promise.reject(channelError('ERR_CHANNEL_CLOSED'));
    this.#flush();
    let sent = 0;
    if (this.#queue.length === 0) {
      sent = this.#sendNow(items);
      if (sent === items.length) return RESOLVED;
      const status = this.#sendOne(items[sent]); // why the batch stopped
      if (status === Status.OK) sent++;
      else if (status !== Status.FULL || this.#mode === 'reject') return Promise.reject(errorForStatus(status));
    }
    const rest = items.slice(sent);
    if (rest.length === 0) return RESOLVED;
    if (this.#mode === 'grow') {
      for (const bytes of rest) this.#enqueue({ bytes: copyOf(bytes) }, undefined, undefined, NO_WAIT);
      return RESOLVED;
    }
    return Promise.all(rest.map((bytes) => new Promise((resolve, reject) => this.#enqueue({ bytes }, resolve, reject, wait))));
  }

  /**
   * Zero-copy send, step 1: a Uint8Array of `size` bytes in the channel's pool memory
   * to write the message into. Publish it with commit(), or give it back with abort().
   * When no slab of that size is free, the view is ordinary memory and commit() copies.
   */
  reserve(size) {
    validateInteger(size, 'size', 0, MAX_MESSAGE_SIZE);
    if (this.#closed) throw channelError('ERR_CHANNEL_CLOSED');
    const lease = unlessStopping(this.#native.reserve(size));
    if (lease === null) {
      const view = new Uint8Array(size);
      this.#reserved.set(view, null);
      return view;
    }
    const view = new Uint8Array(this.#buffer, lease[0], size);
    this.#reserved.set(view, lease.slice(1));
    return view;
  }

  /**
   * Zero-copy send, step 2: publishes the first `length` bytes (default: all) of a
   * view from reserve(), like send() (waits for room under 'block'). The view must not
   * be used afterwards. On failure the reservation stays yours: commit again or abort().
   */
  commit(view, length) {
    let lease;
    try {
      lease = this.#reservation(view);
      if (length === undefined) length = view.byteLength;
      validateInteger(length, 'length', 0, view.byteLength);
    } catch (error) {
      return Promise.reject(error);
    }
    if (lease === null) {
      this.#reserved.delete(view);
      return this.send(view.subarray(0, length));
    }
    if (this.#closed) return Promise.reject(channelError('ERR_CHANNEL_CLOSED'));
    this.#flush();
    const item = { lease, bytes: { byteLength: length } };
    if (this.#queue.length === 0) {
      const status = this.#native.commit(lease[0], lease[1], lease[2], length);
      if (status === Status.OK) {
        this.#reserved.delete(view);
        return RESOLVED;
      }
      if (status !== Status.FULL || this.#mode === 'reject') return Promise.reject(errorForStatus(status));
    }
    this.#reserved.delete(view);
    return new Promise((resolve, reject) => this.#enqueue(item, resolve, reject, NO_WAIT));
  }

  /** Gives back a view from reserve() without sending it. */
  abort(view) {
    const lease = this.#reservation(view);
    this.#reserved.delete(view);
    if (lease !== null) this.#native.abort(lease[0], lease[1], lease[2]);
  }

  /** Resolves when there is room for another message (at once if there is now). */
  ready(options) {
    let wait;
    try {
      wait = options === undefined ? NO_WAIT : waitOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#failure) return Promise.reject(this.#failure);
    this.#flush();
    if (this.#queue.length === 0 && this.#native.room(1) === Status.OK) return RESOLVED;
    if (wait.signal?.aborted) return Promise.reject(abortError(wait.signal));
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      waiter.watcher = watch(wait, (error) => this.#dropReady(waiter, error), this.#refed);
      this.#readyWaiters.push(waiter);
      this.#pump();
    });
  }

  /**
   * A Node `stream.Writable`: each write is one message, write()/'drain' follow the
   * channel's backpressure; end() closes the sender, destroy(error) closes it with
   * that error.
   */
  writable(options) {
    return require('./streams').createWritable(this, options);
  }

  /** A WHATWG `WritableStream` over this sender. */
  writableStream(options) {
    return require('./streams').createWritableStream(this, options);
  }

  close() {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    if (this.#queue.length === 0) this.#native.close();
    else this.#closeWhenDrained = true; // sends already made are still delivered, then the close
  }

  closeWithError(error) {
    if (this.#closed && !this.#closeWhenDrained) return;
    this.#closed = true;
    this.#closeWhenDrained = false;
    this.#staged = 0; // dropped with everything else buffered
    this.#native.closeWithError(...errorParts(error));
    this.#fail(channelError('ERR_CHANNEL_CLOSED'));
  }

  ref() {
    this.#refed = true;
    this.#native.setRefed(true);
    for (const w of this.#waiting()) w.watcher.timer?.ref();
    return this;
  }

  unref() {
    this.#refed = false;
    this.#native.setRefed(false);
    for (const w of this.#waiting()) w.watcher.timer?.unref();
    return this;
  }

  stats() {
    this.#flush();
    return this.#channel.stats();
  }

  async [Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')]() {
    this.close();
  }

  // `item`: { bytes } to send, or { lease, bytes: { byteLength } } to commit.
  #enqueue(item, resolve, reject, wait) {
    item.resolve = resolve;
    item.reject = reject;
    item.watcher = watch(wait, (error) => this.#dropSend(item, error), this.#refed);
    this.#queue.push(item);
    if (this.#queue.length === 1) this.#pump();
  }

  // Sends what waits in the queue until it is empty or the channel is full, then
  // serves ready() calls; when blocked, arms the doorbell so that the receiver's
  // progress calls #pump again.
  #pump() {
    while (this.#queue.length !== 0) {
      const head = this.#queue[0];
      const status = head.lease
        ? this.#native.commit(head.lease[0], head.lease[1], head.lease[2], head.bytes.byteLength)
        : this.#sendOne(head.bytes);
      if (status === Status.OK) {
        this.#queue.shift();
        head.watcher.disarm();
        head.resolve?.();
      } else if (status === Status.FULL) {
        if (unlessStopping(this.#native.arm(head.bytes.byteLength))) return this.#native.setWaiting(true);
      } else {
        return this.#fail(errorForStatus(status));
      }
    }
    if (this.#closeWhenDrained) {
      this.#closeWhenDrained = false;
      this.#native.close();
    }
    while (this.#readyWaiters.length !== 0) {
      const status = this.#native.room(1);
      if (status === Status.OK) {
        for (const w of this.#readyWaiters.splice(0)) {
          w.watcher.disarm();
          w.resolve();
        }
      } else if (status !== Status.FULL) {
        return this.#fail(errorForStatus(status));
      } else if (unlessStopping(this.#native.arm(1))) {
        return this.#native.setWaiting(true);
      }
    }
    this.#native.setWaiting(false);
  }

  #dropSend(item, error) {
    const at = this.#queue.indexOf(item);
    if (at === -1) return;
    this.#queue.splice(at, 1);
    item.watcher.disarm();
    this.#giveBack(item);
    item.reject?.(error);
    this.#pump(); // the next send may fit now; a close or ready() may have waited behind it
  }

  #dropReady(waiter, error) {
    const at = this.#readyWaiters.indexOf(waiter);
    if (at === -1) return;
    this.#readyWaiters.splice(at, 1);
    waiter.watcher.disarm();
    waiter.reject(error);
    if (this.#waiting().length === 0) this.#native.setWaiting(false);
  }

  // The channel refuses sends for good: every waiting call fails with `error`.
  #fail(error) {
    this.#failure ??= error;
    this.#staged = 0;
    const waiting = this.#waiting();
    this.#queue = [];
    this.#readyWaiters = [];
    for (const w of waiting) {
      w.watcher.disarm();
      this.#giveBack(w);
      w.reject?.(error);
    }
    this.#native.setWaiting(false);
  }

  // sendBatch(): sends what fits of `items` now; returns how many.
  #sendNow(items) {
    let total = 0;
    for (const item of items) {
      if (item.byteLength > PACK_MAX) return this.#native.sendBatch(items);
      total += item.byteLength;
    }
    if (items.length < 2 || total > PACK_BYTES) return this.#native.sendBatch(items);
    if (this.#pack === null || this.#pack.bytes.length < total || this.#pack.lengths.length < items.length) {
      const size = Math.max(total, this.#pack?.bytes.length ?? 0);
      this.#pack = { bytes: new Uint8Array(size), lengths: new Uint32Array(Math.max(items.length, this.#pack?.lengths.length ?? 0)) };
    }
    const { bytes, lengths } = this.#pack;
    let at = 0;
    for (let i = 0; i < items.length; i++) {
      const n = items[i].byteLength;
      bytes.set(bytesView(items[i]), at);
      lengths[i] = n;
      at += n;
    }
    return this.#native.sendPacked(bytes, lengths, items.length);
  }

  // framing: 'bytes': copies a small send into the staging buffer (true), or first
  // flushes what is staged so that a larger one, sent as it is, goes after it (false).
  #stageBytes(bytes) {
    const n = bytes.byteLength;
    if (n > this.#stageSize >> 2) {
      this.#flush();
      return false;
    }
    if (this.#staged + n > this.#stageSize) this.#flush();
    if (this.#queue.length !== 0) return false; // the channel is full: wait behind the bytes flushed
    if (this.#staged === 0) {
      this.#stageBuffer ??= new Uint8Array(this.#stageSize);
      process.nextTick(this.#flushStaged);
    }
    this.#stageBuffer.set(bytesView(bytes), this.#staged);
    this.#staged += n;
    return true;
  }

  // One message to native code, never waiting: its Status. Native send() answers true
  // for OK (no new value per call), and undefined when this thread is stopping, which
  // errorForStatus() turns into ERR_CHANNEL_CLOSED.
  #sendOne(bytes) {
    const status = this.#native.send(bytes);
    return status === true ? Status.OK : status;
  }

  // Hands the staged bytes to native code in one send. If the channel is full they
  // wait at the head of the queue: their sends have resolved, as sends under 'grow' do.
  #flush() {
    if (this.#staged === 0) return;
    const chunk = this.#stageBuffer.subarray(0, this.#staged);
    this.#staged = 0;
    const status = this.#sendOne(chunk);
    if (status === Status.OK) return;
    if (status !== Status.FULL) return this.#fail(errorForStatus(status));
    this.#stageBuffer = null; // the queue holds it now
    this.#enqueue({ bytes: chunk }, undefined, undefined, NO_WAIT);
  }

  // sendSync() behind a waiting commit(): retries it, napping 1 ms while full.
  #commitSync(item, left) {
    for (;;) {
      const status = this.#native.commit(item.lease[0], item.lease[1], item.lease[2], item.bytes.byteLength);
      if (status !== Status.FULL) return status;
      if (left() === 0) return Status.TIMED_OUT;
      Atomics.wait(NAP, 0, 0, 1);
    }
  }

  // A commit that will never happen returns its slab.
  #giveBack(item) {
    if (item.lease) this.#native.abort(item.lease[0], item.lease[1], item.lease[2]);
  }

  #reservation(view) {
    if (!this.#reserved.has(view)) {
      throw argValueError('view', view, 'must be a view from this sender\'s reserve() that was not committed or aborted yet');
    }
    return this.#reserved.get(view);
  }

  #waiting() {
    return [...this.#queue, ...this.#readyWaiters];
  }
}

// 'grow' resolves a send before the bytes reach shared memory: keep a private copy.
function copyOf(bytes) {
  return new Uint8Array(bytesView(bytes));
}

// A Uint8Array over the bytes of an ArrayBuffer or any view, from toBytes().
function bytesView(bytes) {
  if (bytes instanceof Uint8Array) return bytes;
  return bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

module.exports = { Sender };
