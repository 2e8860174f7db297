'use strict';

// The bytes every sender in the benchmark sends: one source buffer per run, which each
// transport copies (send(), structured clone), writes into reserved memory
// (reserve/commit) or into a fresh buffer to transfer. Printable ASCII, so that
// thread-stream, which decodes UTF-8, gets one character per byte; not constant, so
// that a receiver's checksum (bench/js/touch.js) tells one byte from another.

/** A Uint8Array of `size` bytes of the benchmark's pattern. */
function payload(size) {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = 32 + ((i * 37) % 95);
  return bytes;
}

module.exports = { payload };
