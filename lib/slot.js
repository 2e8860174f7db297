'use strict';

// What Watch and Mailbox share: a channel over one value slot that each send replaces
// (src/core/value_slot.hpp), its sender, and its receivers. watch.js and mailbox.js
// add the public classes.
const { native, Status, Role, Kind, errorForStatus, endError, unlessStopping } = require('./binding');
const { InstantSender } = require('./instant-sender');
const { SharedChannel, ATTACHED, attachment, claim, statsOf } = require('./memory');
const { MAX_CAPACITY, validateObject, validateInteger } = require('./validate');
const { waitOptions, NO_WAIT } = require('./wait');
const { Waiters } = require('./waiters');

const DEFAULT_CAPACITY = 64 * 1024;
const DONE = Object.freeze({ value: undefined, done: true });
const LATEST = Symbol('latest');

/** The layout options of a new value channel, from the user's options. */
function valueOptions(options) {
  const o = validateObject(options, 'options');
  return { capacity: o.capacity === undefined ? DEFAULT_CAPACITY : validateInteger(o.capacity, 'options.capacity', 1, MAX_CAPACITY) };
}

class ValueChannel extends SharedChannel {
  #kind;
  #Receiver;

  /** @internal `options` may be an attachment(). */
  constructor(kind, type, Receiver, options) {
    super(kind, type, options, valueOptions);
    this.#kind = kind;
    this.#Receiver = Receiver;
  }

  sender() {
    const { native: nativeChannel, view } = this[ATTACHED];
    claim(nativeChannel, Role.SENDER);
    return new ValueSender(view, this.#kind, this);
  }

  receiver() {
    const { native: nativeChannel, view } = this[ATTACHED];
    if (this.#kind === Kind.MAILBOX) claim(nativeChannel, Role.RECEIVER);
    return new this.#Receiver(view, this.#kind, this);
  }

  stats() {
    const nativeChannel = this[ATTACHED].native;
    return statsOf(unlessStopping(nativeChannel.stats()), unlessStopping(nativeChannel.valueStats())); // { dropped, pending, pendingBytes }
  }
}

/** The one sending end of a Watch or a Mailbox. A send replaces the value and never waits. */
class ValueSender extends InstantSender {
  /** @internal */
  constructor(view, kind, channel) {
    super(new native.ValueSender(view, kind), channel);
  }
}

/**
 * A receiving end: of a Watch, the newest value it has not seen; of a Mailbox, the
 * message, taken. A recv() that finds nothing flags that this thread sleeps; the
 * sender's next send (or a close) wakes its event loop.
 */
class ValueReceiver {
  #native;
  #channel;
  #waiters; // pending recv() calls
  #ended = false;
  #failure = null; // why it ended, if not gracefully
  #closed = false;

  /** @internal */
  constructor(view, kind, channel) {
    this.#native = new native.ValueReceiver(view, kind);
    this.#waiters = new Waiters(this.#native, () => this.#serve());
    this.#channel = channel;
    // Held by the native object only: no strong path from a GC root to this receiver.
    this.#native.onwake = () => this.#serve();
  }

  recv(options) {
    let wait;
    try {
      wait = options === undefined ? NO_WAIT : waitOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#waiters.length === 0) {
      const value = this.#poll();
      if (value !== undefined) return Promise.resolve(value);
      if (this.#ended) return this.#failure ? Promise.reject(this.#failure) : Promise.resolve(null);
    }
    return this.#waiters.add(wait);
  }

  tryRecv() {
    if (this.#waiters.length === 0) {
      const value = this.#poll();
      if (value !== undefined) return value;
    }
    if (this.#failure) throw this.#failure;
    return undefined;
  }

  [Symbol.asyncIterator]() {
    return {
      next: () => this.recv().then((value) => (value === null ? DONE : { value, done: false })),
      return: () => Promise.resolve(DONE), // leaving a loop early does not close the receiver
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#native.close();
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
    return this.#channel.stats();
  }

  async [Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')]() {
    this.close();
  }

  /** @internal The current value (Watch), seen or not; undefined if none was sent. */
  [LATEST]() {
    const result = this.#native.latest();
    if (typeof result !== 'number') return result;
    if (result === Status.EMPTY) return undefined;
    throw errorForStatus(result);
  }

  // The next value from native code, or undefined (then maybe ended).
  #poll() {
    if (this.#ended) return undefined;
    const result = this.#native.recv();
    if (result instanceof ArrayBuffer) return result;
    // undefined: the native call could neither create the buffer nor throw. Seen in a
    // worker stopping after process.exit() or an uncaught exception while values kept
    // coming: #serve() retried for ever and the thread never exited. Nothing can be
    // received any more: end.
    if (typeof result !== 'number') this.#finish(Status.CLOSED);
    else if (result !== Status.EMPTY) this.#finish(result);
    return undefined;
  }

  // Hands values to waiters in order; arms the doorbell when there is nothing new.
  #serve() {
    while (this.#waiters.length !== 0) {
      const value = this.#poll();
      if (value !== undefined) {
        this.#waiters.resolveNext(value);
      } else if (this.#ended) {
        this.#waiters.settleAll(this.#failure);
      } else if (this.#native.arm()) {
        this.#native.setWaiting(true);
        return;
      }
    }
    this.#native.setWaiting(false);
  }

  #finish(status) {
    if (this.#ended) return;
    this.#ended = true;
    this.#failure = endError(status, () => this.#native.errorInfo());
  }
}

module.exports = { ValueChannel, ValueSender, ValueReceiver, LATEST };
