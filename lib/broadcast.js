'use strict';

const { native, Role, Kind, errorForStatus, unlessStopping } = require('./binding');
const { channelError, argTypeError } = require('./errors');
const { InstantSender, RESOLVED } = require('./instant-sender');
const { toBytes, validateObject } = require('./validate');
const { SharedChannel, ATTACHED, attachment, claim, sizeOptions, statsOf } = require('./memory');
const { Receiver, receiverOptions } = require('./receiver');

const HANDLE_TAG = 'ringport.broadcast';

function broadcastOptions(options) {
  return { ...sizeOptions(validateObject(options, 'options'), 1 << 20), flags: 0 };
}

/**
 * A broadcast: one sender, any number of receivers in any threads, each receiving
 * every message sent after it attached. The sender never waits: a receiver more than
 * `capacity` bytes behind gets one ERR_CHANNEL_LAGGED and continues from the oldest
 * message still held.
 */
class Broadcast extends SharedChannel {
  constructor(options) {
    super(Kind.BROADCAST, HANDLE_TAG, options, broadcastOptions);
  }

  static from(handle) {
    return new Broadcast(attachment(handle, HANDLE_TAG));
  }

  /** The sending end; a broadcast has one. */
  sender() {
    const { native: nativeChannel, view } = this[ATTACHED];
    claim(nativeChannel, Role.SENDER);
    return new BroadcastSender(new native.BroadcastSender(view), this);
  }

  /**
   * A new receiving end, which sees every message sent from now on;
   * `options.zeroCopy: false` makes every message a plain copy, `options.spin` is how
   * long (µs) a receive polls before it sleeps.
   */
  receiver(options) {
    const o = receiverOptions(options);
    const { view, info } = this[ATTACHED];
    const nativeReceiver = new native.BroadcastReceiver(view, !o.zeroCopy);
    const stats = () => this.#receiverStats(unlessStopping(nativeReceiver.stats()));
    return new Receiver(nativeReceiver, stats, info, { bytesFraming: false, ...o });
  }

  /**
   * Counters since creation. `received`/`bytesReceived`/`lagged` add up every
   * receiver's; `pending` is per receiver (see `receiver.stats()`), 0 here.
   */
  stats() {
    const s = unlessStopping(this[ATTACHED].native.stats());
    return statsOf(s, { lagged: s.lagged });
  }

  #receiverStats(r) {
    return statsOf(unlessStopping(this[ATTACHED].native.stats()), {
      received: r.received,
      bytesReceived: r.bytesReceived,
      dropped: r.missed,
      lagged: r.lagged,
      pending: r.pending,
    });
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
    let sent = 0;
    while (sent !== items.length) {
      const took = this.#native.sendBatch(sent === 0 ? items : items.slice(sent));
      if (took === undefined) return Promise.reject(errorForStatus(undefined)); // this thread is stopping
      sent += took;
      if (sent === items.length) break;
      // Sent alone, the message that stopped the batch says why (or goes, if what
      // stopped it, such as memory for a large message, has passed meanwhile).
      const status = this.#native.send(items[sent]);
      if (status !== true) return Promise.reject(errorForStatus(status));
      sent++;
    }
    return RESOLVED;
  }
}

module.exports = { Broadcast, BroadcastSender };
