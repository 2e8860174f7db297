'use strict';

const { native, Status, Role, Kind, Flags, errorForStatus, layoutVersion } = require('./binding');
const { channelError } = require('./errors');
const { MAX_CAPACITY, MAX_MESSAGE_SIZE, validateObject, validateInteger, validateOneOf } = require('./validate');
const { Sender } = require('./sender');
const { Receiver } = require('./receiver');

const HANDLE_TAG = 'ringport.channel';
const ATTACH = Symbol('attach');

const BACKPRESSURE = ['block', 'reject', 'dropOldest', 'grow'];

function channelOptions(options) {
  const o = validateObject(options, 'options');
  const capacity = o.capacity === undefined ? 1 << 20 : validateInteger(o.capacity, 'options.capacity', 1, MAX_CAPACITY);
  const backpressure = o.backpressure === undefined ? 'block' : validateOneOf(o.backpressure, 'options.backpressure', BACKPRESSURE);
  const producers = o.producers === undefined ? 'auto' : validateOneOf(o.producers, 'options.producers', ['auto', 'single']);
  const framing = o.framing === undefined ? 'message' : validateOneOf(o.framing, 'options.framing', ['message', 'bytes']);
  const maxMessageSize =
    o.maxMessageSize === undefined ? 2 ** 30 : validateInteger(o.maxMessageSize, 'options.maxMessageSize', 1, MAX_MESSAGE_SIZE);
  const slabSize = o.slabSize === undefined ? 0 : validateInteger(o.slabSize, 'options.slabSize', 4096, 2 ** 30);
  const poolSlabs = o.poolSlabs === undefined ? 0 : validateInteger(o.poolSlabs, 'options.poolSlabs', 2, 2 ** 20);
  let flags = BACKPRESSURE.indexOf(backpressure);
  if (producers === 'single') flags |= Flags.PRODUCERS_SINGLE;
  if (framing === 'bytes') flags |= Flags.FRAMING_BYTES;
  // dropOldest is the core's business too: the receiver and the sender share the drops.
  const dropOldest = backpressure === 'dropOldest';
  return { kind: Kind.QUEUE, capacity, maxMessageSize, slabSize, poolSlabs, flags, dropOldest };
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
    const config = channelOptions(options);
    const sab = new SharedArrayBuffer(native.layoutSize(config));
    native.format(new Uint8Array(sab), config);
    this.#attach(sab);
  }

  static from(handle) {
    if (
      handle === null ||
      typeof handle !== 'object' ||
      handle.type !== HANDLE_TAG ||
      handle.version !== layoutVersion ||
      !(handle.buffer instanceof SharedArrayBuffer)
    ) {
      throw channelError('ERR_INVALID_HANDLE');
    }
    return new Channel(ATTACH, handle.buffer);
  }

  /** A structured-clonable value that attaches to this channel in any thread. */
  get handle() {
    return { type: HANDLE_TAG, version: layoutVersion, buffer: this.#buffer };
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
    return new Sender(this.#view, this, this.backpressure, additional);
  }

  receiver() {
    this.#claim(Role.RECEIVER);
    return new Receiver(this.#view, this, this.#info, this.framing === 'bytes');
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
