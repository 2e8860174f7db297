'use strict';

// What every kind of channel does with its SharedArrayBuffer: create and format it,
// recognise a handle, and attach to it.
const { native, layoutVersion, Status, errorForStatus } = require('./binding');
const { channelError } = require('./errors');
const { MAX_CAPACITY, MAX_MESSAGE_SIZE, validateInteger } = require('./validate');

/** A fresh, formatted SharedArrayBuffer for `config` (the native layout options). */
function createMemory(config) {
  const sab = new SharedArrayBuffer(native.layoutSize(config));
  native.format(new Uint8Array(sab), config);
  return sab;
}

/** The handle of a channel of type `tag` over `buffer`: plain and structured-clonable. */
function makeHandle(tag, buffer) {
  return { type: tag, version: layoutVersion, buffer };
}

/** The SharedArrayBuffer of `handle`; throws ERR_INVALID_HANDLE unless it is a `tag` handle. */
function bufferOf(handle, tag) {
  if (
    handle === null ||
    typeof handle !== 'object' ||
    handle.type !== tag ||
    handle.version !== layoutVersion ||
    !(handle.buffer instanceof SharedArrayBuffer)
  ) {
    throw channelError('ERR_INVALID_HANDLE');
  }
  return handle.buffer;
}

// What a channel's constructor gets from from(): the buffer of a checked handle. Only
// lib/ can make one, so `new Channel(x)` never attaches to a buffer a caller passes.
class Attachment {
  constructor(buffer) {
    this.buffer = buffer;
  }
}

/** The constructor argument that attaches a channel to `handle`; throws ERR_INVALID_HANDLE unless it is a `tag` handle. */
function attachment(handle, tag) {
  return new Attachment(bufferOf(handle, tag));
}

// The key of SharedChannel's attached parts. Private fields (#x) are visible to one
// class only, so the subclasses reach the parts through this symbol, which index.js
// does not export: protected by convention, and out of Object.keys(), JSON and
// index.d.ts. (A helper returning the parts would leave handle, capacity and close()
// written once per class; the base class holds them once.)
const ATTACHED = Symbol('attached');

/**
 * What Channel, Broadcast and the value channels (Watch, Mailbox) share: the memory,
 * new or attached through from(), its handle, its capacity, and close().
 */
class SharedChannel {
  #tag;
  #attached; // { buffer, view, native: the native.Channel, info: its fixed layout options }

  /**
   * @internal `options` is an attachment() or the user's options, which
   * `layoutOf(options)` validates and turns into the native layout options of a new buffer.
   */
  constructor(kind, tag, options, layoutOf) {
    const buffer = options instanceof Attachment ? options.buffer : createMemory({ kind, ...layoutOf(options) });
    const view = new Uint8Array(buffer);
    const nativeChannel = new native.Channel(view, kind);
    this.#tag = tag;
    this.#attached = Object.freeze({ buffer, view, native: nativeChannel, info: nativeChannel.info() });
  }

  /** @internal */
  get [ATTACHED]() {
    return this.#attached;
  }

  /** A structured-clonable value that attaches to this channel in any thread. */
  get handle() {
    return makeHandle(this.#tag, this.#attached.buffer);
  }

  /** Bytes of messages the channel holds (queue, broadcast) or the largest value (watch, mailbox). */
  get capacity() {
    return this.#attached.info.capacity;
  }

  /** Closes gracefully: no more sends; receivers get what is left, then end. */
  close() {
    this.#attached.native.close();
  }
}

/** Claims `role` (Role.SENDER or RECEIVER) of `nativeChannel`; throws the status's ChannelError unless it succeeds. */
function claim(nativeChannel, role) {
  const status = nativeChannel.claim(role);
  if (status !== Status.OK) throw errorForStatus(status);
}

/** The size options every kind shares, validated, with their defaults. */
function sizeOptions(o, defaultCapacity) {
  return {
    capacity: o.capacity === undefined ? defaultCapacity : validateInteger(o.capacity, 'options.capacity', 1, MAX_CAPACITY),
    maxMessageSize:
      o.maxMessageSize === undefined ? 2 ** 30 : validateInteger(o.maxMessageSize, 'options.maxMessageSize', 1, MAX_MESSAGE_SIZE),
    slabSize: o.slabSize === undefined ? 0 : validateInteger(o.slabSize, 'options.slabSize', 4096, 2 ** 30),
    poolSlabs: o.poolSlabs === undefined ? 0 : validateInteger(o.poolSlabs, 'options.poolSlabs', 2, 2 ** 20),
  };
}

/**
 * The object stats() returns (index.d.ts ChannelStats), from the native counters `s` ({ sent, received,
 * bytesSent, bytesReceived, pool }) and what the kind or the receiver says of the rest.
 */
function statsOf(s, { received = s.received, bytesReceived = s.bytesReceived, dropped = 0, lagged = 0, pending = 0, pendingBytes = 0 } = {}) {
  return { sent: s.sent, received, bytesSent: s.bytesSent, bytesReceived, dropped, lagged, pending, pendingBytes, pool: s.pool };
}

module.exports = { SharedChannel, ATTACHED, attachment, claim, sizeOptions, statsOf };
