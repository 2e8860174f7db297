'use strict';

const { Kind } = require('./binding');
const { attachment } = require('./memory');
const { ValueChannel, ValueReceiver, LATEST } = require('./slot');

const HANDLE_TAG = 'ringport.watch';

/**
 * A receiving end of a Watch. recv() resolves with the newest value this receiver has
 * not seen (values sent in between are skipped); latest() reads the current one.
 */
class WatchReceiver extends ValueReceiver {
  /** The current value, seen or not (undefined if none was sent); never waits, marks nothing seen. */
  latest() {
    return this[LATEST]();
  }
}

/**
 * The latest value: one sender replaces it, any number of receivers in any threads
 * read it. Lives in a SharedArrayBuffer; pass `watch.handle` to another thread and
 * attach there with `Watch.from(handle)`.
 */
class Watch extends ValueChannel {
  constructor(options) {
    super(Kind.WATCH, HANDLE_TAG, WatchReceiver, options);
  }

  static from(handle) {
    return new Watch(attachment(handle, HANDLE_TAG));
  }
}

module.exports = { Watch, WatchReceiver };
