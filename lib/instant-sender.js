'use strict';

// The sending end of the kinds whose sends never wait (Broadcast, Watch, Mailbox):
// a send either takes effect at once or fails; nothing keeps the event loop alive.
const { errorForStatus } = require('./binding');
const { channelError, errorParts } = require('./errors');
const { toBytes } = require('./validate');

const RESOLVED = Promise.resolve();

class InstantSender {
  #native;
  #owner; // the channel object, for stats()
  #closed = false;

  /** @internal */
  constructor(nativeSender, owner) {
    this.#native = nativeSender;
    this.#owner = owner;
  }

  /** True once close() or closeWithError() was called. */
  get closed() {
    return this.#closed;
  }

  /** Sends `data`; resolves at once, or rejects as trySend() throws. */
  send(data) {
    try {
      this.trySend(data);
    } catch (error) {
      return Promise.reject(error);
    }
    return RESOLVED;
  }

  /** send(), synchronously: true, or throws. */
  trySend(data) {
    const bytes = toBytes(data);
    if (this.#closed) throw channelError('ERR_CHANNEL_CLOSED');
    const status = this.#native.send(bytes); // true, or why not (see Sender#sendOne)
    if (status !== true) throw errorForStatus(status);
    return true;
  }

  /** Graceful: no more sends; receivers get what was sent, then end. */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#native.close();
  }

  /** Immediate: every receiver's next receive rejects with an error like `error`. */
  closeWithError(error) {
    if (this.#closed) return;
    this.#closed = true;
    this.#native.closeWithError(...errorParts(error));
  }

  // Nothing waits, so nothing keeps the event loop alive: kept for symmetry with Sender.
  ref() {
    return this;
  }

  unref() {
    return this;
  }

  stats() {
    return this.#owner.stats();
  }

  async [Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')]() {
    this.close();
  }
}

module.exports = { InstantSender, RESOLVED };
