'use strict';

const { native, Status, Role, Kind, errorForStatus } = require('./binding');
const { channelError, argTypeError } = require('./errors');
const { InstantSender, RESOLVED } = require('./instant-sender');
const { toBytes, validateObject } = require('./validate');
const { createMemory, makeHandle, bufferOf, sizeOptions } = require('./memory');
const { Receiver, zeroCopyOption } = require('./receiver');

const HANDLE_TAG = 'ringport.broadcast';
const ATTACH = Symbol('attach');

/**
 * A broadcast: one sender, any number of receivers in any threads, each receiving
 * every message sent after it attached. The sender never waits: a receiver more than
 * `capacity` bytes behind gets one ERR_CHANNEL_LAGGED and continues from the oldest
 * message still held.
 */
class Broadcast {
  #buffer;
  #view;
  #native;
  #info;

  constructor(options, buffer) {
    if (options === ATTACH) {
      this.#attach(buffer);
      return;
    }
    const o = validateObject(options, 'options');
    this.#attach(createMemory({ kind: Kind.BROADCAST, ...sizeOptions(o, 1 << 20), flags: 0 }));
  }

  static from(handle) {
    return new Broadcast(ATTACH, bufferOf(handle, HANDLE_TAG));
  }

  /** A structured-clonable value that attaches to this broadcast in any thread. */
  get handle() {
    return makeHandle(HANDLE_TAG, this.#buffer);
  }

  /** Bytes of messages held for receivers that are behind (a power of two). */
  get capacity() {
    return this.#info.capacity;
  }

  /** The sending end; a broadcast has one. */
  sender() {
    const status = this.#native.claim(Role.SENDER);
    if (status !== Status.OK) throw errorForStatus(status);
    return new BroadcastSender(new native.BroadcastSender(this.#view), this);
  }

  /**
   * A new receiving end, which sees every message sent from now on;
   * `options.zeroCopy: false` makes every message a plain copy.
   */
  receiver(options) {
    const zeroCopy = zeroCopyOption(options);
    const nativeReceiver = new native.BroadcastReceiver(this.#view, !zeroCopy);
    const stats = () => this.#receiverStats(nativeReceiver.stats());
    return new Receiver(nativeReceiver, stats, this.#info, { bytesFraming: false, zeroCopy });
  }

  /** Closes the broadcast gracefully: no more sends; receivers drain, then end. */
  close() {
    this.#native.close();
  }

  /**
   * Counters since creation. `received`/`bytesReceived`/`lagged` add up every
   * receiver's; `pending` is per receiver (see `receiver.stats()`), 0 here.
   */
  stats() {
    const s = this.#native.stats();
    return {
      sent: s.sent,
      received: s.received,
      bytesSent: s.bytesSent,
      bytesReceived: s.bytesReceived,
      dropped: 0,
      lagged: s.lagged,
      pending: 0,
      pendingBytes: 0,
      pool: s.pool,
    };
  }

  #receiverStats(r) {
    const s = this.#native.stats();
    return {
      sent: s.sent,
      received: r.received,
      bytesSent: s.bytesSent,
      bytesReceived: r.bytesReceived,
      dropped: r.missed,
      lagged: r.lagged,
      pending: r.pending,
      pendingBytes: 0,
      pool: s.pool,
    };
  }

  #attach(buffer) {
    this.#buffer = buffer;
    this.#view = new Uint8Array(buffer);
    this.#native = new native.Channel(this.#view, Kind.BROADCAST);
    this.#info = this.#native.info();
  }
}

/** The sending end of a Broadcast. Sends never wait. */
class BroadcastSender extends InstantSender {
  #native;

  /** @internal */
  constructor(nativeSender, broadcast) {
    super(nativeSender, broadcast);
    this.#native = nativeSender;
  }

  /** As send(), synchronously. */
  sendSync(data) {
    this.trySend(data);
  }

  /** Publishes every item of `list` in order, with one crossing into native code. */
  sendBatch(list) {
    if (!Array.isArray(list)) return Promise.reject(argTypeError('list', 'an instance of Array', list));
    let items;
    try {
      items = list.map((data, i) => toBytes(data, 'list', i));
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.closed) return Promise.reject(channelError('ERR_CHANNEL_CLOSED'));
    const sent = this.#native.sendBatch(items);
    if (sent === items.length) return RESOLVED;
    return Promise.reject(errorForStatus(this.#native.send(items[sent])));
  }
}

module.exports = { Broadcast, BroadcastSender };
