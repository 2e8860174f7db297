'use strict';

/**
 * Errors of ringport. Channel failures are ChannelErrors with a Node-style `code`;
 * bad arguments are Node's usual TypeError/RangeError with ERR_INVALID_ARG_* codes.
 */

const CODES = Object.freeze({
  ERR_CHANNEL_CLOSED: 'the channel is closed',
  ERR_CHANNEL_FULL: 'the channel is full',
  ERR_CHANNEL_DISCONNECTED: 'the other end of the channel is gone',
  ERR_CHANNEL_ROLE_TAKEN: 'that end of the channel is already taken',
  ERR_CHANNEL_LAGGED: 'the receiver fell behind and missed messages',
  ERR_MESSAGE_TOO_LARGE: 'the message is larger than maxMessageSize',
  ERR_INVALID_HANDLE: 'not a live ringport handle of this layout version',
  ERR_TIMEOUT: 'the operation timed out',
});

class ChannelError extends Error {
  /**
   * @param {string} message
   * @param {string} code one of ChannelError.codes
   * @param {object} [extra] own properties to add (e.g. `missed`)
   */
  constructor(message, code, extra) {
    super(message ?? CODES[code] ?? 'channel error');
    this.code = code;
    if (extra) Object.assign(this, extra);
  }
}
Object.defineProperty(ChannelError.prototype, 'name', { value: 'ChannelError', writable: true, configurable: true });
Object.defineProperty(ChannelError, 'codes', { value: CODES, enumerable: true });

function channelError(code, message) {
  const error = new ChannelError(message ?? CODES[code], code);
  Error.captureStackTrace?.(error, channelError);
  return error;
}

function describe(value) {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return `function ${value.name || '<anonymous>'}`;
  if (typeof value === 'object') {
    return value.constructor?.name ? `an instance of ${value.constructor.name}` : 'an object';
  }
  let shown = String(value);
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return `type ${typeof value} (${typeof value === 'string' ? `'${shown}'` : shown})`;
}

function argTypeError(name, expected, value) {
  const error = new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(value)}`);
  error.code = 'ERR_INVALID_ARG_TYPE';
  return error;
}

function argValueError(name, value, reason) {
  const error = new TypeError(`The argument '${name}' ${reason}. Received ${describe(value)}`);
  error.code = 'ERR_INVALID_ARG_VALUE';
  return error;
}

function rangeError(name, range, value) {
  const error = new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${describe(value)}`);
  error.code = 'ERR_OUT_OF_RANGE';
  return error;
}

function abortError(signal) {
  const error = new Error('The operation was aborted', { cause: signal?.reason });
  error.name = 'AbortError';
  error.code = 'ABORT_ERR';
  return error;
}

/** Rebuilds an error sent by closeWithError() in another thread. */
function remoteError(name, message, code) {
  const error = new ChannelError(message, code || undefined);
  if (!code) delete error.code;
  if (name) error.name = name;
  return error;
}

/** What closeWithError(error) sends to the other thread: [name, message, code]. */
function errorParts(error) {
  const name = typeof error?.name === 'string' ? error.name : 'Error';
  const message = typeof error?.message === 'string' ? error.message : String(error);
  const code = typeof error?.code === 'string' ? error.code : '';
  return [name, message, code];
}

module.exports = { ChannelError, channelError, argTypeError, argValueError, rangeError, abortError, remoteError, errorParts };
