'use strict';

// Must match ReceiverWrap::kLargeMessage.
const LARGE = 0x80000000;

/**
 * Messages received together by `receiver.batches()`: small ones share one buffer and
 * are handed out as Uint8Array views into it (no ArrayBuffer per message); large ones
 * keep their own zero-copy buffer. Views stay valid while referenced.
 */
class Batch {
  #packed;
  #starts;
  #lengths;
  #large;

  /** @internal */
  constructor(packed, count, large) {
    const header = new Uint32Array(packed, 0, count);
    this.#packed = packed;
    this.#lengths = header;
    this.#starts = new Uint32Array(count);
    this.#large = large;
    let at = count * 4;
    for (let i = 0; i < count; i++) {
      this.#starts[i] = at;
      if (header[i] < LARGE) at += header[i];
    }
  }

  /** @internal A batch of buffers that were already received one by one. */
  static of(buffers) {
    const batch = new Batch(new ArrayBuffer(buffers.length * 4), buffers.length, buffers);
    for (let i = 0; i < buffers.length; i++) batch.#lengths[i] = LARGE | i;
    return batch;
  }

  /** Number of messages. */
  get length() {
    return this.#lengths.length;
  }

  /** Message `i` (negative counts from the end), or undefined out of range. */
  at(i) {
    const n = this.#lengths.length;
    if (i < 0) i += n;
    if (!(i >= 0 && i < n)) return undefined;
    const length = this.#lengths[i];
    if (length >= LARGE) return new Uint8Array(this.#large[length - LARGE]);
    return new Uint8Array(this.#packed, this.#starts[i], length);
  }

  *[Symbol.iterator]() {
    for (let i = 0; i < this.#lengths.length; i++) yield this.at(i);
  }
}

module.exports = { Batch };
