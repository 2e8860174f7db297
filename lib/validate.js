'use strict';

// Argument checks shared by the public classes; they throw Node-style errors.
const { argTypeError, argValueError, rangeError } = require('./errors');

const MAX_CAPACITY = 2 ** 30;
const MAX_MESSAGE_SIZE = 2 ** 32 - 1;

function validateObject(value, name) {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw argTypeError(name, 'of type object', value);
  return value;
}

function validateInteger(value, name, min, max) {
  if (typeof value !== 'number') throw argTypeError(name, 'of type number', value);
  if (!Number.isInteger(value) || value < min || value > max) throw rangeError(name, `an integer >= ${min} and <= ${max}`, value);
  return value;
}

function validateOneOf(value, name, allowed) {
  if (!allowed.includes(value)) throw argValueError(name, value, `must be one of: ${allowed.map((a) => `'${a}'`).join(', ')}`);
  return value;
}

/** Timeout in ms (undefined: wait forever). */
function validateTimeout(value, name = 'options.timeout') {
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw argTypeError(name, 'of type number', value);
  if (Number.isNaN(value) || value < 0) throw rangeError(name, '>= 0', value);
  return value;
}

function validateSignal(value, name = 'options.signal') {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || typeof value.aborted !== 'boolean' || typeof value.addEventListener !== 'function') {
    throw argTypeError(name, 'an instance of AbortSignal', value);
  }
  return value;
}

/**
 * The bytes of a message: an ArrayBuffer, any ArrayBufferView, or a string (UTF-8).
 * Returns something the native side reads without copying. `index`: the position in a
 * list named `name` (the error's name is built only when there is an error).
 */
function toBytes(data, name = 'data', index = undefined) {
  if (ArrayBuffer.isView(data) || data instanceof ArrayBuffer) return data;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof SharedArrayBuffer) return new Uint8Array(data);
  const what = index === undefined ? name : `${name}[${index}]`;
  throw argTypeError(what, 'of type string or an instance of ArrayBuffer, Buffer, TypedArray or DataView', data);
}

module.exports = {
  MAX_CAPACITY,
  MAX_MESSAGE_SIZE,
  validateObject,
  validateInteger,
  validateOneOf,
  validateTimeout,
  validateSignal,
  toBytes,
};
