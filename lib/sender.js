'use strict';

const { native, Status, errorForStatus } = require('./binding');
const { channelError } = require('./errors');
const { toBytes, validateObject, validateTimeout } = require('./validate');

const RESOLVED = Promise.resolve();

/**
 * The producing end of a Channel. Create it with `channel.sender()`.
 * Sends that cannot be enqueued yet wait in call order in a JS-side queue; the native
 * side wakes this thread's event loop when the receiver makes room.
 */
class Sender {
  #native;
  #channel;
  #reject;
  #queue = []; // sends waiting for room: { bytes, resolve, reject }
  #closed = false;
  #closeWhenDrained = false;

  /** @internal */
  constructor(view, channel, rejectWhenFull) {
    this.#native = new native.Sender(view);
    this.#channel = channel;
    this.#reject = rejectWhenFull;
    // Held by the native object only: no strong path from a GC root to this sender.
    this.#native.onwake = () => this.#pump();
  }

  /** @returns {boolean} true once close() or closeWithError() was called */
  get closed() {
    return this.#closed;
  }

  send(data) {
    let bytes;
    try {
      bytes = toBytes(data);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#closed) return Promise.reject(channelError('ERR_CHANNEL_CLOSED'));
    if (this.#queue.length === 0) {
      const status = this.#native.send(bytes);
      if (status === Status.OK) return RESOLVED;
      if (status !== Status.FULL || this.#reject) return Promise.reject(errorForStatus(status));
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ bytes, resolve, reject });
      if (this.#queue.length === 1) this.#pump();
    });
  }

  trySend(data) {
    const bytes = toBytes(data);
    if (this.#closed) throw channelError('ERR_CHANNEL_CLOSED');
    if (this.#queue.length !== 0) return false; // never overtake sends that are waiting
    const status = this.#native.send(bytes);
    if (status === Status.OK) return true;
    if (status === Status.FULL) return false;
    throw errorForStatus(status);
  }

  sendSync(data, options) {
    const bytes = toBytes(data);
    const timeout = validateTimeout(validateObject(options, 'options').timeout);
    if (this.#closed && !this.#closeWhenDrained) throw channelError('ERR_CHANNEL_CLOSED');
    const deadline = timeout === undefined ? undefined : Date.now() + timeout;
    const left = () => (deadline === undefined ? -1 : Math.max(0, deadline - Date.now()));
    // Earlier send() calls still waiting go first, in order.
    while (this.#queue.length !== 0) {
      const head = this.#queue[0];
      const status = this.#native.sendSync(head.bytes, left());
      if (status === Status.TIMED_OUT) throw channelError('ERR_TIMEOUT');
      this.#queue.shift();
      if (status === Status.OK) head.resolve();
      else head.reject(errorForStatus(status));
    }
    if (this.#closed) throw channelError('ERR_CHANNEL_CLOSED');
    // 'reject' never waits for room, synchronously or not.
    const status = this.#reject ? this.#native.send(bytes) : this.#native.sendSync(bytes, left());
    if (status !== Status.OK) throw errorForStatus(status);
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
    this.#failQueue(channelError('ERR_CHANNEL_CLOSED'));
  }

  ref() {
    this.#native.setRefed(true);
    return this;
  }

  unref() {
    this.#native.setRefed(false);
    return this;
  }

  stats() {
    return this.#channel.stats();
  }

  async [Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')]() {
    this.close();
  }

  // Sends what waits in the queue until it is empty or the channel is full; when
  // full, arms the doorbell so that the receiver's progress calls #pump again.
  #pump() {
    while (this.#queue.length !== 0) {
      const head = this.#queue[0];
      const status = this.#native.send(head.bytes);
      if (status === Status.OK) {
        this.#queue.shift();
        head.resolve();
      } else if (status === Status.FULL) {
        if (this.#native.arm(head.bytes.byteLength)) {
          this.#native.setWaiting(true);
          return;
        }
      } else {
        this.#failQueue(errorForStatus(status));
      }
    }
    this.#native.setWaiting(false);
    if (this.#closeWhenDrained) {
      this.#closeWhenDrained = false;
      this.#native.close();
    }
  }

  #failQueue(error) {
    const queue = this.#queue;
    this.#queue = [];
    for (const { reject } of queue) reject(error);
    this.#native.setWaiting(false);
  }
}

module.exports = { Sender };
