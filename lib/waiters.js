'use strict';

// The pending receives of a receiver (Receiver, ValueReceiver): served in call order,
// each with its own timeout and AbortSignal (wait.js), all settled when the channel ends.
// They keep the native end's "waiting" and "refed" flags, which say whether a wake-up
// is wanted and whether it keeps the event loop alive.
const { abortError } = require('./errors');
const { watch } = require('./wait');

class Waiters {
  #list = []; // { resolve, reject, map, watcher }, oldest first
  #refed = true;
  #native;
  #serve;

  /**
   * `nativeEnd`: the native receiver (setWaiting, setRefed); `serve()` runs when a
   * first receive starts waiting: the owner then hands out what is ready and arms
   * its doorbell.
   */
  constructor(nativeEnd, serve) {
    this.#native = nativeEnd;
    this.#serve = serve;
  }

  get length() {
    return this.#list.length;
  }

  /**
   * A promise for the value a later resolveNext()/settleAll() hands this receive,
   * passed through `map` if given; it rejects ERR_TIMEOUT or AbortError as `options`
   * (from waitOptions()) say.
   */
  add(options, map) {
    if (options.signal?.aborted) return Promise.reject(abortError(options.signal));
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject, map, watcher: undefined };
      waiter.watcher = watch(options, (error) => this.#drop(waiter, error), this.#refed);
      this.#list.push(waiter);
      if (this.#list.length === 1) this.#serve();
    });
  }

  /** The oldest receive resolves with `value` (through its map). */
  resolveNext(value) {
    const waiter = this.#list.shift();
    waiter.watcher.disarm();
    waiter.resolve(waiter.map ? waiter.map(value) : value);
  }

  /** The oldest receive rejects with `error`. */
  rejectNext(error) {
    const waiter = this.#list.shift();
    waiter.watcher.disarm();
    waiter.reject(error);
  }

  /** The channel ended: every receive rejects with `failure`, or without one resolves null (through its map). */
  settleAll(failure) {
    for (const waiter of this.#list.splice(0)) {
      waiter.watcher.disarm();
      if (failure) waiter.reject(failure);
      else waiter.resolve(waiter.map ? waiter.map(null) : null);
    }
  }

  /** Whether waiting receives, their timeouts included, keep the event loop alive. */
  setRefed(refed) {
    this.#refed = refed;
    this.#native.setRefed(refed);
    for (const w of this.#list) {
      if (refed) w.watcher.timer?.ref();
      else w.watcher.timer?.unref();
    }
  }

  #drop(waiter, error) {
    const at = this.#list.indexOf(waiter);
    if (at === -1) return;
    this.#list.splice(at, 1);
    waiter.watcher.disarm();
    waiter.reject(error);
    if (this.#list.length === 0) this.#native.setWaiting(false);
  }
}

module.exports = { Waiters };
