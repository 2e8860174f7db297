'use strict';

const { native, Status, Role, Kind, Flags, errorForStatus, unlessStopping } = require('./binding');
const { validateObject, validateOneOf } = require('./validate');
const { SharedChannel, ATTACHED, attachment, claim, sizeOptions, statsOf } = require('./memory');
const { Sender } = require('./sender');
const { Receiver, receiverOptions } = require('./receiver');

const HANDLE_TAG = 'ringport.channel';

const BACKPRESSURE = ['block', 'reject', 'dropOldest', 'grow'];

function channelOptions(options) {
  const o = validateObject(options, 'options');
  const sizes = sizeOptions(o, 1 << 20);
  const backpressure = o.backpressure === undefined ? 'block' : validateOneOf(o.backpressure, 'options.backpressure', BACKPRESSURE);
  const producers = o.producers === undefined ? 'auto' : validateOneOf(o.producers, 'options.producers', ['auto', 'single']);
  const framing = o.framing === undefined ? 'message' : validateOneOf(o.framing, 'options.framing', ['message', 'bytes']);
  let flags = BACKPRESSURE.indexOf(backpressure);
  if (producers === 'single') flags |= Flags.PRODUCERS_SINGLE;
  if (framing === 'bytes') flags |= Flags.FRAMING_BYTES;
  // dropOldest is the core's business too: the receiver and the sender share the drops.
  const dropOldest = backpressure === 'dropOldest';
  return { ...sizes, flags, dropOldest };
}

/**
 * A queue channel: every message goes to exactly one receiver, in order. Lives in a
 * SharedArrayBuffer; pass `channel.handle` to another thread and attach there with
 * `Channel.from(handle)`.
 */
class Channel extends SharedChannel {
  constructor(options) {
    super(Kind.QUEUE, HANDLE_TAG, options, channelOptions);
  }

  static from(handle) {
    return new Channel(attachment(handle, HANDLE_TAG));
  }

  /** What a send does when the channel is full: 'block', 'reject', 'dropOldest' or 'grow'. */
  get backpressure() {
    return BACKPRESSURE[this[ATTACHED].info.flags & Flags.BACKPRESSURE_MASK];
  }

  /** 'message' (each send arrives as one buffer) or 'bytes' (a byte stream). */
  get framing() {
    return this[ATTACHED].info.flags & Flags.FRAMING_BYTES ? 'bytes' : 'message';
  }

  /** 'auto' (a second sender upgrades the channel to multi-producer) or 'single'. */
  get producers() {
    return this[ATTACHED].info.flags & Flags.PRODUCERS_SINGLE ? 'single' : 'auto';
  }

  sender() {
    const { native: nativeChannel, view } = this[ATTACHED];
    const status = nativeChannel.claim(Role.SENDER);
    const additional = status === Status.ROLE_TAKEN && this.producers === 'auto';
    if (status !== Status.OK && !additional) throw errorForStatus(status);
    return new Sender(view, this, this.backpressure, additional, this.framing === 'bytes' ? this[ATTACHED].info.capacity : 0);
  }

  /**
   * The consuming end; `options.zeroCopy: false` makes every message a plain copy,
   * `options.spin` is how long (µs) a receive polls before it sleeps.
   */
  receiver(options) {
    const o = receiverOptions(options); // before the claim: a bad option takes nothing
    const { native: nativeChannel, view, info } = this[ATTACHED];
    claim(nativeChannel, Role.RECEIVER);
    const nativeReceiver = new native.Receiver(view, !o.zeroCopy);
    return new Receiver(nativeReceiver, () => this.stats(), info, { bytesFraming: this.framing === 'bytes', ...o });
  }

  stats() {
    const s = unlessStopping(this[ATTACHED].native.stats());
    return statsOf(s, {
      dropped: s.dropped,
      pending: s.sent - s.received - s.dropped,
      pendingBytes: s.bytesSent - s.bytesReceived - s.droppedBytes,
    });
  }
}

module.exports = { Channel };
