'use strict';

const { Kind } = require('./binding');
const { attachment } = require('./memory');
const { ValueChannel, ValueReceiver } = require('./slot');

const HANDLE_TAG = 'ringport.mailbox';

/**
 * A single slot between one sender and one receiver: a send overwrites a message not
 * taken yet (counted in stats().dropped) and never waits; recv() takes the message
 * and empties the slot. Lives in a SharedArrayBuffer; pass `mailbox.handle` to another
 * thread and attach there with `Mailbox.from(handle)`.
 */
class Mailbox extends ValueChannel {
  constructor(options) {
    super(Kind.MAILBOX, HANDLE_TAG, ValueReceiver, options);
  }

  static from(handle) {
    return new Mailbox(attachment(handle, HANDLE_TAG));
  }
}

module.exports = { Mailbox };
