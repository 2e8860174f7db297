'use strict';

const { native, Status, errorForStatus } = require('./binding');
const { channelError, abortError, remoteError, argTypeError } = require('./errors');
const { validateObject, validateWaitOptions, validateTimeout } = require('./validate');

// Messages pulled from native code per crossing; the rest wait in shared memory.
const POLL_BATCH = 64;

// Finalizers of external buffers run only when the event loop turns (setImmediate),
// never inside a chain of resolved promises: a loop that always finds a message
// ready would never get its slabs back. After handing out this many bytes of
// pool-backed buffers (or half the channel's capacity, if smaller), the next receive
// first yields one turn of the event loop.
const YIELD_AFTER_BYTES = 4 << 20;

const DONE = Object.freeze({ value: undefined, done: true });

/**
 * The consuming end of a Channel. Create it with `channel.receiver()`.
 * Messages are pulled from shared memory in batches into a JS-side queue; when there
 * is nothing to pull, the receiver flags that it sleeps and the sender's next commit
 * wakes this thread's event loop.
 */
class Receiver {
  #native;
  #channel;
  #queue = [];
  #head = 0;
  #waiters = []; // pending recv(): { resolve, reject, map, cleanup }
  #ended = false; // no message will ever come again
  #failure = null; // why, if not a graceful end
  #refed = true;
  #inlineMax; // larger messages arrive in pool-backed (external) buffers
  #externalBytes = 0; // handed out since the event loop last turned
  #yieldAfter;

  /** @internal */
  constructor(view, channel, { inlineMax, capacity }) {
    this.#native = new native.Receiver(view);
    this.#channel = channel;
    this.#inlineMax = inlineMax;
    this.#yieldAfter = Math.min(YIELD_AFTER_BYTES, capacity / 2);
    // Held by the native object only: no strong path from a GC root to this receiver.
    this.#native.onwake = () => this.#serve();
  }

  recv(options) {
    let wait;
    try {
      wait = validateWaitOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#request(wait, identity);
  }

  tryRecv() {
    if (this.#waiters.length === 0 && this.#fill()) return this.#take();
    if (this.#failure) throw this.#failure;
    return undefined;
  }

  recvSync(options) {
    const timeout = validateTimeout(validateObject(options, 'options').timeout);
    if (this.#fill()) return this.#take();
    if (this.#ended) return this.#settled();
    const result = this.#native.recvSync(timeout === undefined ? -1 : timeout);
    if (typeof result !== 'number') return result;
    if (result === Status.TIMED_OUT) throw channelError('ERR_TIMEOUT');
    this.#finish(result);
    return this.#settled();
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
    const next = () => {
      if (last !== undefined) {
        this.#native.release(last);
        last = undefined;
      }
      return this.#request(NO_WAIT_OPTIONS, (buffer) => {
        if (buffer === null) return DONE;
        if (autoRelease) last = buffer;
        return { value: buffer, done: false };
      });
    };
    const finish = () => {
      if (last !== undefined) this.#native.release(last);
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

  close() {
    if (this.#ended && !this.#failure) return;
    this.#native.close();
    this.#queue = [];
    this.#head = 0;
    this.#finish(Status.CLOSED);
    this.#serve();
  }

  ref() {
    this.#refed = true;
    this.#native.setRefed(true);
    for (const w of this.#waiters) w.timer?.ref();
    return this;
  }

  unref() {
    this.#refed = false;
    this.#native.setRefed(false);
    for (const w of this.#waiters) w.timer?.unref();
    return this;
  }

  stats() {
    return this.#channel.stats();
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
    const { timeout, signal } = options;
    if (this.#waiters.length === 0) {
      if (this.#fill()) return Promise.resolve(map(this.#take()));
      if (this.#ended) return this.#failure ? Promise.reject(this.#failure) : Promise.resolve(map(null));
    }
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject, map, timer: undefined, cleanup: undefined };
      if (timeout !== undefined) {
        waiter.timer = setTimeout(() => this.#drop(waiter, channelError('ERR_TIMEOUT')), timeout);
        if (!this.#refed) waiter.timer.unref();
      }
      if (signal) {
        const onAbort = () => this.#drop(waiter, abortError(signal));
        signal.addEventListener('abort', onAbort, { once: true });
        waiter.cleanup = () => signal.removeEventListener('abort', onAbort);
      }
      this.#waiters.push(waiter);
      if (this.#waiters.length === 1) this.#serve();
    });
  }

  // Hands messages to waiters in order; re-arms the doorbell when it runs dry.
  #serve() {
    while (this.#waiters.length !== 0) {
      if (this.#fill()) {
        const waiter = this.#waiters.shift();
        settle(waiter);
        waiter.resolve(waiter.map(this.#take()));
      } else if (this.#ended) {
        const waiters = this.#waiters;
        this.#waiters = [];
        for (const waiter of waiters) {
          settle(waiter);
          if (this.#failure) waiter.reject(this.#failure);
          else waiter.resolve(waiter.map(null));
        }
      } else if (this.#native.arm()) {
        this.#native.setWaiting(true);
        return;
      }
    }
    this.#native.setWaiting(false);
  }

  #drop(waiter, error) {
    const at = this.#waiters.indexOf(waiter);
    if (at === -1) return;
    this.#waiters.splice(at, 1);
    settle(waiter);
    waiter.reject(error);
    if (this.#waiters.length === 0) this.#native.setWaiting(false);
  }

  // True when the local queue has a message, pulling a batch from native if needed.
  #fill() {
    if (this.#head < this.#queue.length) return true;
    if (this.#ended) return false;
    const result = this.#native.poll(POLL_BATCH);
    if (typeof result !== 'number') {
      this.#queue = result;
      this.#head = 0;
      return true;
    }
    if (result !== Status.EMPTY) this.#finish(result);
    return false;
  }

  #take() {
    const buffer = this.#queue[this.#head];
    this.#queue[this.#head++] = undefined;
    if (buffer.byteLength > this.#inlineMax) this.#externalBytes += buffer.byteLength;
    return buffer;
  }

  #finish(status) {
    this.#ended = true;
    if (status === Status.CLOSED) return;
    if (status === Status.ERRORED) {
      const [name, message, code] = this.#native.errorInfo();
      this.#failure = remoteError(name, message ?? 'the sender closed the channel with an error', code);
    } else {
      this.#failure = errorForStatus(status);
    }
  }

  #settled() {
    if (this.#failure) throw this.#failure;
    return null;
  }
}

const NO_WAIT_OPTIONS = Object.freeze({ timeout: undefined, signal: undefined });

function identity(value) {
  return value;
}

function settle(waiter) {
  if (waiter.timer !== undefined) clearTimeout(waiter.timer);
  waiter.cleanup?.();
}

module.exports = { Receiver };
