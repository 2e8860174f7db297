'use strict';

// Must match ReceiverWrap::kLargeMessage and kLentMessage: a length word with LARGE
// set is an index into pollInto()'s array of buffers, LENT set if that buffer is over
// pool or heap memory (one release() can give back).
const LARGE = 0x80000000;
const LENT = 0x40000000;
const INDEX = LENT - 1;
const EMPTY = new ArrayBuffer(0);

/**
 * A buffer the native receiver's pollInto() copies small messages into: a header of
 * 1 + `max` u32 (the count, then each message's length, or LARGE (| LENT) | its index
 * in the array of large buffers pollInto() returned), rounded up to 8 bytes, then the
 * small payloads back to back. Reused for every poll: what is handed out is cut out of it.
 */
class Staging {
  constructor(max, payloadBytes) {
    this.max = max;
    this.offset = ((max + 1) * 4 + 7) & ~7;
    this.buffer = new ArrayBuffer(this.offset + payloadBytes);
    this.lengths = new Uint32Array(this.buffer, 0, max + 1);
    this.bytes = new Uint8Array(this.buffer);
    this.lent = false;
    this.lentBytes = 0; // of the last poll's lent buffers
  }

  /**
   * The messages of the last poll as ArrayBuffers of their own; `large` as pollInto()
   * returned it. Sets `lent` once any of them is over pool or heap memory, and
   * `lentBytes` to what those of this poll hold.
   */
  unpack(large) {
    const { lengths, bytes } = this;
    const count = lengths[0];
    const out = new Array(count);
    let at = this.offset;
    this.lentBytes = 0;
    for (let i = 0; i < count; i++) {
      const length = lengths[i + 1];
      if (length >= LARGE) {
        out[i] = large[length & INDEX];
        if (length & LENT) this.#lend(out[i]);
      } else {
        // TypedArray slice: measured faster than ArrayBuffer slice or new + set here.
        out[i] = bytes.slice(at, at + length).buffer;
        at += length;
      }
    }
    return out;
  }

  /** The messages of the last poll as one Batch: one copy of all the small payloads. */
  batch(large) {
    const count = this.lengths[0];
    const lengths = this.lengths.slice(1, count + 1);
    let used = 0;
    this.lentBytes = 0;
    for (let i = 0; i < count; i++) {
      if (lengths[i] < LARGE) used += lengths[i];
      else if (lengths[i] & LENT) this.#lend(large[lengths[i] & INDEX]);
    }
    const payload = used === 0 ? EMPTY : this.bytes.slice(this.offset, this.offset + used).buffer;
    return new Batch(lengths, payload, large);
  }

  #lend(buffer) {
    this.lent = true;
    this.lentBytes += buffer.byteLength;
  }
}

/**
 * Messages received together by `receiver.batches()`: small ones share one buffer and
 * are handed out as Uint8Array views into it (no ArrayBuffer per message); large ones
 * keep their own zero-copy buffer. Views stay valid while referenced.
 */
class Batch {
  #payload;
  #lengths;
  #large;
  #starts = null; // each small message's offset in #payload, made by the first at()

  /** @internal `lengths`: per message, its length in `payload`, or LARGE (| LENT) | its index in `large`. */
  constructor(lengths, payload, large) {
    this.#payload = payload;
    this.#lengths = lengths;
    this.#large = large;
  }

  /** @internal A batch of buffers that were already received one by one. */
  static of(buffers) {
    const lengths = new Uint32Array(buffers.length);
    for (let i = 0; i < buffers.length; i++) lengths[i] = LARGE | i;
    return new Batch(lengths, EMPTY, buffers);
  }

  /** Number of messages. */
  get length() {
    return this.#lengths.length;
  }

  /** Message `i` (negative counts from the end), or undefined out of range. */
  at(i) {
    const lengths = this.#lengths;
    const n = lengths.length;
    if (i < 0) i += n;
    if (!(i >= 0 && i < n)) return undefined;
    const length = lengths[i];
    if (length >= LARGE) return new Uint8Array(this.#large[length & INDEX]);
    if (this.#starts === null) {
      const starts = new Uint32Array(n);
      for (let k = 0, at = 0; k < n; k++) {
        starts[k] = at;
        if (lengths[k] < LARGE) at += lengths[k];
      }
      this.#starts = starts;
    }
    return new Uint8Array(this.#payload, this.#starts[i], length);
  }

  // A plain iterator object over locals, keeping its own offset into the payload: per
  // message this is the view and the result object (a generator, or private fields and
  // a start table read per message, measured slower).
  [Symbol.iterator]() {
    const lengths = this.#lengths;
    const payload = this.#payload;
    const large = this.#large;
    const n = lengths.length;
    let i = 0;
    let at = 0;
    return {
      next() {
        if (i >= n) return { value: undefined, done: true };
        const length = lengths[i++];
        if (length >= LARGE) return { value: new Uint8Array(large[length & INDEX]), done: false };
        const value = new Uint8Array(payload, at, length);
        at += length;
        return { value, done: false };
      },
      [Symbol.iterator]() {
        return this;
      },
    };
  }
}

module.exports = { Batch, Staging };
