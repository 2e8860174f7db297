'use strict';

const { native, Status, Role, Kind, Flags, errorForStatus } = require('./binding');
const { validateObject, validateOneOf } = require('./validate');
const { createMemory, makeHandle, bufferOf, sizeOptions } = require('./memory');
const { Sender } = require('./sender');
const { Receiver, zeroCopyOption } = require('./receiver');

const HANDLE_TAG = 'ringport.channel';
const ATTACH = Symbol('attach');

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
  return { kind: Kind.QUEUE, ...sizes, flags, dropOldest };
}

/**
 * A queue channel: every message goes to exactly one receiver, in order. Lives in a
 * SharedArrayBuffer; pass `channel.handle` to another thread and attach there with
 * `Channel.from(handle)`.
 */
class Channel {
  #buffer;
  #view;
  #native;
  #info;

  constructor(options, buffer) {
    if (options === ATTACH) {
      this.#attach(buffer);
      return;
    }
    this.#attach(createMemory(channelOptions(options)));
  }

  static from(handle) {
    return new Channel(ATTACH, bufferOf(handle, HANDLE_TAG));
  }

  /** A structured-clonable value that attaches to this channel in any thread. */
  get handle() {
    return makeHandle(HANDLE_TAG, this.#buffer);
  }

  /** Bytes of payload buffered before backpressure applies (a power of two). */
  get capacity() {
    return this.#info.capacity;
  }

  /** What a send does when the channel is full: 'block', 'reject', 'dropOldest' or 'grow'. */
  get backpressure() {
    return BACKPRESSURE[this.#info.flags & Flags.BACKPRESSURE_MASK];
  }

  /** 'message' (each send arrives as one buffer) or 'bytes' (a byte stream). */
  get framing() {
    return this.#info.flags & Flags.FRAMING_BYTES ? 'bytes' : 'message';
  }

  /** 'auto' (a second sender upgrades the channel to multi-producer) or 'single'. */
  get producers() {
    return this.#info.flags & Flags.PRODUCERS_SINGLE ? 'single' : 'auto';
  }

  sender() {
    const status = this.#native.claim(Role.SENDER);
    const additional = status === Status.ROLE_TAKEN && this.producers === 'auto';
    if (status !== Status.OK && !additional) throw errorForStatus(status);
    return new Sender(this.#view, this, this.backpressure, additional, this.framing === 'bytes' ? this.#info.capacity : 0);
  }

  /** The consuming end; `options.zeroCopy: false` makes every message a plain copy. */
  receiver(options) {
    const zeroCopy = zeroCopyOption(options); // before the claim: a bad option takes nothing
    this.#claim(Role.RECEIVER);
    const nativeReceiver = new native.Receiver(this.#view, !zeroCopy);
    return new Receiver(nativeReceiver, () => this.stats(), this.#info, { bytesFraming: this.framing === 'bytes', zeroCopy });
  }

  /** Closes the channel gracefully: no more sends; the receiver drains, then ends. */
  close() {
    this.#native.close();
  }

  stats() {
    const s = this.#native.stats();
    return {
      sent: s.sent,
      received: s.received,
      bytesSent: s.bytesSent,
      bytesReceived: s.bytesReceived,
      dropped: s.dropped,
      lagged: 0,
      pending: s.sent - s.received - s.dropped,
      pendingBytes: s.bytesSent - s.bytesReceived - s.droppedBytes,
      pool: s.pool,
    };
  }

  #attach(buffer) {
    this.#buffer = buffer;
    this.#view = new Uint8Array(buffer);
    this.#native = new native.Channel(this.#view, Kind.QUEUE);
    this.#info = this.#native.info();
  }

  #claim(role) {
    const status = this.#native.claim(role);
    if (status !== Status.OK) throw errorForStatus(status);
  }
}

module.exports = { Channel };
