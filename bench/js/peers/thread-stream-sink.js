'use strict';

// The destination thread-stream's worker writes into (see the thread-stream case in
// bench/js/cases.js): counts the characters it receives (the payload is ASCII) with
// the run's meter and records the totals in the shared control block when it closes.
const { Writable } = require('node:stream');
const { Control, Meter } = require('../control');

module.exports = async function sink({ control: sab, size, seconds }) {
  const control = new Control(sab);
  const meter = new Meter(control, size, seconds);
  let bytes = 0;
  return new Writable({
    decodeStrings: false, // thread-stream hands over strings; turning them back into Buffers would only add work
    autoDestroy: true, // thread-stream's worker exits on 'close'
    write(chunk, encoding, callback) {
      bytes += chunk.length;
      meter.add(chunk.length);
      callback();
    },
    final(callback) {
      meter.finish();
      control.set('bytes', bytes);
      control.set('messages', bytes / size);
      callback();
    },
  });
};
