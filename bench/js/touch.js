'use strict';

// What every receiver in the benchmark does with each message it gets, whatever the
// transport: read it. A transport that hands out a view of memory nobody reads can
// look faster than memcpy; reading one byte of every 64-byte line (and the last byte,
// so a view that starts mid-line reaches its last line too) makes every transport
// bring the message into the receiving core's cache, as a real consumer would.
//
// `touch` returns a checksum of the bytes it read. Receivers add it to a Tally, whose
// total each run reports, so the JIT cannot prove the reads dead and drop them; for
// message-framed transports the runner checks it against the payload's (see
// bench/js/payload.js), so a receiver that skipped or mangled a message fails the run.

const LINE = 64;

/** Reads one byte per 64-byte line of `bytes` (a Uint8Array) and the last; their sum. */
function touch(bytes) {
  const length = bytes.length;
  if (length === 0) return 0;
  let sum = bytes[length - 1];
  for (let i = 0; i < length; i += LINE) sum += bytes[i];
  return sum;
}

/** The same for a string (thread-stream's worker gets text): one character per line. */
function touchText(text) {
  const length = text.length;
  if (length === 0) return 0;
  let sum = text.charCodeAt(length - 1);
  for (let i = 0; i < length; i += LINE) sum += text.charCodeAt(i);
  return sum;
}

/** Counts what a receiver got: messages, bytes, and the checksum of what it read. */
class Tally {
  messages = 0;
  bytes = 0;
  checksum = 0;
  #meter;

  constructor(meter) {
    this.#meter = meter;
  }

  /** One received message (or byte-stream chunk), as a Uint8Array. */
  take(bytes) {
    this.messages++;
    this.bytes += bytes.length;
    this.checksum += touch(bytes);
    this.#meter.add(bytes.length);
  }

  /** A chunk of text (thread-stream): one byte per character, as the payload is ASCII. */
  takeText(text) {
    this.messages++;
    this.bytes += text.length;
    this.checksum += touchText(text);
    this.#meter.add(text.length);
  }

  /** The same for an ArrayBuffer: a view is what any reader of it makes first. */
  takeBuffer(buffer) {
    this.take(new Uint8Array(buffer));
  }
}

module.exports = { touch, Tally };
