'use strict';

// The timeout and AbortSignal of one call that waits (send, recv, recvBatch, ready).
const { channelError, abortError } = require('./errors');
const { validateObject, validateTimeout, validateSignal } = require('./validate');

/** `{ timeout?, signal? }` of a call that may wait, validated. */
function waitOptions(options) {
  const o = validateObject(options, 'options');
  return { timeout: validateTimeout(o.timeout), signal: validateSignal(o.signal) };
}

const NO_WAIT = Object.freeze({ timeout: undefined, signal: undefined });

/**
 * Arms `options` for a pending call: `drop(error)` runs on timeout (ERR_TIMEOUT) or
 * abort (AbortError). Returns `{ timer, disarm() }`; the timer does not keep the
 * event loop alive unless `refed`.
 */
function watch({ timeout, signal }, drop, refed) {
  let timer;
  let onAbort;
  if (timeout !== undefined) {
    timer = setTimeout(() => drop(channelError('ERR_TIMEOUT')), timeout);
    if (!refed) timer.unref();
  }
  if (signal) {
    onAbort = () => drop(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
  }
  return {
    timer,
    disarm() {
      if (timer !== undefined) clearTimeout(timer);
      if (onAbort) signal.removeEventListener('abort', onAbort);
    },
  };
}

module.exports = { waitOptions, watch, NO_WAIT };
