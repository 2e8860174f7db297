'use strict';

// The destination thread-stream's worker writes into (see the thread-stream case in
// bench/js/cases.js): reads and counts the text it receives (the payload is ASCII, so
// characters count bytes) and records the totals in the shared control block when it
// closes.
const { Writable } = require('node:stream');
const { Control, Meter } = require('../control');
const { Tally } = require('../touch');

module.exports = async function sink({ control: sab, size, seconds }) {
  const control = new Control(sab);
  const meter = new Meter(control, size, seconds);
  const tally = new Tally(meter);
  return new Writable({
    decodeStrings: false, // thread-stream hands over strings; turning them back into Buffers would only add work
    autoDestroy: true, // thread-stream's worker exits on 'close'
    write(chunk, encoding, callback) {
      tally.takeText(chunk);
      callback();
    },
    final(callback) {
      meter.finish();
      control.set('bytes', tally.bytes);
      control.set('messages', tally.bytes / size);
      control.set('checksum', tally.checksum);
      callback();
    },
  });
};
