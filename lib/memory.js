'use strict';

// What every kind of channel does with its SharedArrayBuffer: create and format it,
// recognise a handle, and attach to it.
const { native, layoutVersion } = require('./binding');
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
 * The object stats() returns (API.md), from the native counters `s` ({ sent, received,
 * bytesSent, bytesReceived, pool }) and what the kind or the receiver says of the rest.
 */
function statsOf(s, { received = s.received, bytesReceived = s.bytesReceived, dropped = 0, lagged = 0, pending = 0, pendingBytes = 0 } = {}) {
  return { sent: s.sent, received, bytesSent: s.bytesSent, bytesReceived, dropped, lagged, pending, pendingBytes, pool: s.pool };
}

module.exports = { createMemory, makeHandle, bufferOf, sizeOptions, statsOf };
