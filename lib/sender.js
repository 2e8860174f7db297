'use strict';

const { native, Status, errorForStatus } = require('./binding');
const { channelError, abortError, argTypeError } = require('./errors');
const { toBytes, validateObject, validateTimeout, validateSignal } = require('./validate');
const { waitOptions, watch, NO_WAIT } = require('./wait');

const RESOLVED = Promise.resolve();

/**
 * The producing end of a Channel. Create it with `channel.sender()`.
 * Sends that cannot be enqueued yet wait in call order in a JS-side queue; the native
 * side wakes this thread's event loop when the receiver makes room.
 * Under 'grow' that queue is the channel's overflow: sends resolve at once and the
 * queue drains into shared memory as room appears.
 */
class Sender {
  #native;
  #channel;
  #mode; // 'block' | 'reject' | 'grow'
  #queue = []; // sends waiting for room: { bytes, resolve, reject, watcher }
  #readyWaiters = []; // ready() calls: { resolve, reject, watcher }
  #closed = false;
  #closeWhenDrained = false;
  #refed = true;
  #failure = null; // set once the channel refuses sends for good

  /** @internal */
  constructor(view, channel, mode, additional) {
    this.#native = new native.Sender(view, additional);
    this.#channel = channel;
    this.#mode = mode;
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
    if (this.#queue.length === 0) {
      const status = this.#native.send(bytes);
      if (status === Status.OK) return RESOLVED;
      if (status !== Status.FULL || this.#mode === 'reject') return Promise.reject(errorForStatus(status));
    }
    if (this.#mode === 'grow') {
      this.#enqueue(copyOf(bytes), undefined, undefined, NO_WAIT);
      return RESOLVED;
    }
    if (wait.signal?.aborted) return Promise.reject(abortError(wait.signal));
    return new Promise((resolve, reject) => this.#enqueue(bytes, resolve, reject, wait));
  }

  trySend(data) {
    const bytes = toBytes(data);
    if (this.#closed) throw channelError('ERR_CHANNEL_CLOSED');
    if (this.#queue.length === 0) {
      const status = this.#native.send(bytes);
      if (status === Status.OK) return true;
      if (status !== Status.FULL) throw errorForStatus(status);
    }
    if (this.#mode !== 'grow') return false; // never overtake sends that are waiting
    this.#enqueue(copyOf(bytes), undefined, undefined, NO_WAIT);
    return true;
  }

  sendSync(data, options) {
    const bytes = toBytes(data);
    const o = validateObject(options, 'options');
    const timeout = validateTimeout(o.timeout);
    const signal = validateSignal(o.signal);
    if (signal?.aborted) throw abortError(signal);
    if (this.#closed && !this.#closeWhenDrained) throw channelError('ERR_CHANNEL_CLOSED');
    if (this.#mode === 'grow') {
      if (!this.trySend(bytes)) throw channelError('ERR_CHANNEL_FULL');
      return;
    }
    const deadline = timeout === undefined ? undefined : Date.now() + timeout;
    const left = () => (deadline === undefined ? -1 : Math.max(0, deadline - Date.now()));
    // Earlier send() calls still waiting go first, in order.
    while (this.#queue.length !== 0) {
      const head = this.#queue[0];
      const status = this.#native.sendSync(head.bytes, left());
      if (status === Status.TIMED_OUT) throw channelError('ERR_TIMEOUT');
      this.#queue.shift();
      head.watcher.disarm();
      if (status === Status.OK) head.resolve?.();
      else head.reject?.(errorForStatus(status));
    }
    if (this.#closed) throw channelError('ERR_CHANNEL_CLOSED');
    // 'reject' never waits for room, synchronously or not.
    const status = this.#mode === 'reject' ? this.#native.send(bytes) : this.#native.sendSync(bytes, left());
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
      items = list.map((data, i) => toBytes(data, `list[${i}]`));
      wait = options === undefined ? NO_WAIT : waitOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#closed) return Promise.reject(channelError('ERR_CHANNEL_CLOSED'));
    let sent = 0;
    if (this.#queue.length === 0) {
      sent = this.#native.sendBatch(items);
      if (sent === items.length) return RESOLVED;
      const status = this.#native.send(items[sent]); // why the batch stopped
      if (status === Status.OK) sent++;
      else if (status !== Status.FULL || this.#mode === 'reject') return Promise.reject(errorForStatus(status));
    }
    const rest = items.slice(sent);
    if (rest.length === 0) return RESOLVED;
    if (this.#mode === 'grow') {
      for (const bytes of rest) this.#enqueue(copyOf(bytes), undefined, undefined, NO_WAIT);
      return RESOLVED;
    }
    return Promise.all(rest.map((bytes) => new Promise((resolve, reject) => this.#enqueue(bytes, resolve, reject, wait))));
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
    this.#closed = true;
    if (this.#queue.length === 0) this.#native.close();
    else this.#closeWhenDrained = true; // sends already made are still delivered, then the close
  }

  closeWithError(error) {
    if (this.#closed && !this.#closeWhenDrained) return;
    this.#closed = true;
    this.#closeWhenDrained = false;
    const name = typeof error?.name === 'string' ? error.name : 'Error';
    const message = typeof error?.message === 'string' ? error.message : String(error);
    const code = typeof error?.code === 'string' ? error.code : '';
    this.#native.closeWithError(name, message, code);
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
    return this.#channel.stats();
  }

  async [Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')]() {
    this.close();
  }

  #enqueue(bytes, resolve, reject, wait) {
    const item = { bytes, resolve, reject, watcher: undefined };
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
      const status = this.#native.send(head.bytes);
      if (status === Status.OK) {
        this.#queue.shift();
        head.watcher.disarm();
        head.resolve?.();
      } else if (status === Status.FULL) {
        if (this.#native.arm(head.bytes.byteLength)) return this.#native.setWaiting(true);
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
      } else if (this.#native.arm(1)) {
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
    item.reject?.(error);
    if (this.#queue.length === 0) this.#pump(); // a close or ready() may have waited behind it
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
    const waiting = this.#waiting();
    this.#queue = [];
    this.#readyWaiters = [];
    for (const w of waiting) {
      w.watcher.disarm();
      w.reject?.(error);
    }
    this.#native.setWaiting(false);
  }

  #waiting() {
    return [...this.#queue, ...this.#readyWaiters];
  }
}

// 'grow' resolves a send before the bytes reach shared memory: keep a private copy.
function copyOf(bytes) {
  const view = bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return new Uint8Array(view);
}

module.exports = { Sender };
