'use strict';

// Loads the native addon and shares the constants both sides agree on.
const path = require('node:path');
const { ChannelError, channelError, remoteError } = require('./errors');

// RINGPORT_ADDON names another build of the addon (the sanitizer run uses it).
const native = require(process.env.RINGPORT_ADDON || path.join(__dirname, '..', 'build', 'Release', 'ringport.node'));
native.setErrorClass(ChannelError);

/** Mirrors src/core/status.hpp. */
const Status = Object.freeze({
  OK: 0,
  FULL: 1,
  EMPTY: 2,
  CLOSED: 3,
  ERRORED: 4,
  DISCONNECTED: 5,
  TOO_LARGE: 6,
  CORRUPT: 7,
  TIMED_OUT: 8,
  INVALID_ARGUMENT: 9,
  ROLE_TAKEN: 10,
  LAGGED: 11,
});

/** Mirrors role_bits in src/core/layout.hpp. */
const Role = Object.freeze({ SENDER: 1, RECEIVER: 2 });

/** Mirrors ChannelKind in src/core/layout.hpp: what a SharedArrayBuffer holds. */
const Kind = Object.freeze({ QUEUE: 1, BROADCAST: 2, WATCH: 3, MAILBOX: 4 });

/**
 * The JS-level options kept in the channel's header (`flags`), read back by from().
 * Bits 0-1: the index of the backpressure mode in ['block', 'reject', 'dropOldest', 'grow'].
 */
const Flags = Object.freeze({ BACKPRESSURE_MASK: 0x3, PRODUCERS_SINGLE: 0x4, FRAMING_BYTES: 0x8 });

const STATUS_CODES = {
  [Status.FULL]: 'ERR_CHANNEL_FULL',
  [Status.CLOSED]: 'ERR_CHANNEL_CLOSED',
  [Status.DISCONNECTED]: 'ERR_CHANNEL_DISCONNECTED',
  [Status.TOO_LARGE]: 'ERR_MESSAGE_TOO_LARGE',
  [Status.CORRUPT]: 'ERR_INVALID_HANDLE',
  [Status.TIMED_OUT]: 'ERR_TIMEOUT',
  [Status.ROLE_TAKEN]: 'ERR_CHANNEL_ROLE_TAKEN',
};

const STATUS_MESSAGES = {
  [Status.CORRUPT]: 'the channel\'s shared memory holds impossible values (corrupted)',
};

/**
 * The ChannelError for a native status that is not OK; ERR_CHANNEL_CLOSED for none
 * (undefined: the thread is stopping, see unlessStopping()).
 */
function errorForStatus(status) {
  if (status === undefined) return channelError('ERR_CHANNEL_CLOSED');
  const code = STATUS_CODES[status];
  if (code === undefined) return new Error(`ringport: unexpected native status ${status}`);
  return channelError(code, STATUS_MESSAGES[status]);
}

/**
 * Why a receiving end ended with `status`: null for a graceful end (CLOSED), the
 * sender's closeWithError() error (read with `errorInfo()`) for ERRORED, else the
 * ChannelError for the status.
 */
function endError(status, errorInfo) {
  if (status === Status.CLOSED) return null;
  if (status !== Status.ERRORED) return errorForStatus(status);
  const [name, message, code] = errorInfo();
  return remoteError(name, message ?? 'the sender closed the channel with an error', code);
}

/**
 * `result`, the value a native method returned, or a ChannelError ERR_CHANNEL_CLOSED
 * thrown if it is undefined: once this thread is stopping after an uncaught exception,
 * the microtasks already queued still run, but N-API refuses what a native method
 * needs (finding its object, making an object or a buffer) and cannot throw either, so
 * the method returns undefined. Nothing can be received in this thread any more.
 */
function unlessStopping(result) {
  if (result !== undefined) return result;
  const error = channelError('ERR_CHANNEL_CLOSED');
  Error.captureStackTrace?.(error, unlessStopping);
  throw error;
}

module.exports = {
  native,
  Status,
  Role,
  Kind,
  Flags,
  errorForStatus,
  endError,
  unlessStopping,
  layoutVersion: native.layoutVersion,
};
