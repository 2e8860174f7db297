'use strict';

// Design: a plain-JS single-producer single-consumer ring of variable-length messages
// in one SharedArrayBuffer, the baseline "what you would write yourself" peer.
//
//   byte 0    write position (producer)     | each side's hot word on its own 128-byte
//   byte 128  read position (consumer)      | range, so the two threads never share a
//   byte 256  consumer sleeps flag, bell    | cache line (or an adjacent-line pair)
//   byte 384  producer sleeps flag, bell    |
//   byte 512  closed flag (producer)        |
//   byte 640  ring: records [length: int32, pad: int32, payload, pad to 8 bytes]
//
// Positions are monotonic uint32 byte counters (the ring's capacity is a power of two
// ≤ 1 GiB, so `write - read` never overflows). A record that would cross the end of
// the ring is preceded by a padding record (length PAD) that fills the tail. Payloads
// start 8-byte aligned: JS copies into a SAB at other offsets are 7× slower here.
//
// Blocking: a side that finds the ring empty (full) polls `spin` times, then sets its
// sleeps flag, reads its bell, re-checks, and Atomics.wait()s while the bell keeps that
// value. The other side rings (increments and notifies) the bell only when the flag is
// set, after storing its position or the closed flag. All Atomics operations are
// sequentially consistent, so "store position, load flag" against "store flag, load
// position" cannot both miss, and a ring that lands before the wait starts changes the
// bell's value, so Atomics.wait returns at once: no lost wake-up.

// Int32 indices into the header.
const WRITE = 0;
const READ = 32;
const CONSUMER = { sleeps: 64, bell: 65 };
const PRODUCER = { sleeps: 96, bell: 97 };
const CLOSED = 128;
const HEADER_BYTES = 640;
const RECORD_HEADER = 8;
const PAD = -1;
const DEFAULT_SPIN = 200;

const align8 = (n) => (n + 7) & ~7;

class SabRing {
  #i32;
  #bytes;
  #headers; // Int32Array over the ring, for record headers
  #capacity;
  #mask;
  #spin;
  #position = 0; // this side's own position (uint32)
  #peer = 0; // cached position of the other side

  /** A SharedArrayBuffer for a ring of `capacity` bytes (a power of two). */
  static create(capacity) {
    if (!(capacity >= 64 && capacity <= 2 ** 30 && (capacity & (capacity - 1)) === 0)) {
      throw new RangeError('capacity must be a power of two between 64 B and 1 GiB');
    }
    return new SharedArrayBuffer(HEADER_BYTES + capacity);
  }

  constructor(sab, { spin = DEFAULT_SPIN } = {}) {
    this.#i32 = new Int32Array(sab, 0, HEADER_BYTES / 4);
    this.#bytes = new Uint8Array(sab, HEADER_BYTES);
    this.#headers = new Int32Array(sab, HEADER_BYTES);
    this.#capacity = this.#bytes.length;
    this.#mask = this.#capacity - 1;
    this.#spin = spin;
  }

  /** Producer: copies `bytes` (a Uint8Array) into the ring; blocks while it is full. */
  send(bytes) {
    const record = RECORD_HEADER + align8(bytes.length);
    if (record > this.#capacity) throw new RangeError('message larger than the ring');
    let offset = this.#position & this.#mask;
    const tail = this.#capacity - offset;
    const need = record <= tail ? record : tail + record;
    this.#waitFor(() => this.#capacity - ((this.#position - this.#peer) >>> 0) >= need, READ, PRODUCER);
    if (record > tail) {
      this.#headers[offset >> 2] = PAD;
      this.#position = (this.#position + tail) >>> 0;
      offset = 0;
    }
    this.#headers[offset >> 2] = bytes.length;
    this.#bytes.set(bytes, offset + RECORD_HEADER);
    this.#position = (this.#position + record) >>> 0;
    this.#publish(WRITE, CONSUMER);
  }

  /** Producer: no more messages; the consumer drains, then recv() returns null. */
  close() {
    Atomics.store(this.#i32, CLOSED, 1);
    this.#wake(CONSUMER);
  }

  /** Consumer: the next message as a fresh Uint8Array (a copy), or null once closed and drained. */
  recv() {
    for (;;) {
      if (!this.#waitFor(() => this.#peer !== this.#position, WRITE, CONSUMER)) return null;
      const offset = this.#position & this.#mask;
      const length = this.#headers[offset >> 2];
      if (length === PAD) {
        this.#position = (this.#position + this.#capacity - offset) >>> 0;
        continue;
      }
      const start = offset + RECORD_HEADER;
      const message = this.#bytes.slice(start, start + length);
      this.#position = (this.#position + RECORD_HEADER + align8(length)) >>> 0;
      this.#publish(READ, PRODUCER);
      return message;
    }
  }

  // Stores this side's position; wakes the other side only if it said it sleeps.
  #publish(slot, peer) {
    Atomics.store(this.#i32, slot, this.#position | 0);
    if (Atomics.load(this.#i32, peer.sleeps) !== 0) this.#wake(peer);
  }

  #wake(side) {
    Atomics.add(this.#i32, side.bell, 1);
    Atomics.notify(this.#i32, side.bell);
  }

  // Until `ready()` holds, re-reading the other side's position at `slot`: polls, then
  // sleeps on this side's bell. False when the consumer finds the ring closed and empty.
  #waitFor(ready, slot, self) {
    if (ready()) return true;
    const consumer = self === CONSUMER;
    let bell;
    for (let polls = 0; ; polls++) {
      const asleep = polls > this.#spin;
      if (asleep) {
        Atomics.store(this.#i32, self.sleeps, 1);
        bell = Atomics.load(this.#i32, self.bell);
      }
      const closed = consumer && Atomics.load(this.#i32, CLOSED) !== 0; // before the position: then it is the last one
      this.#peer = Atomics.load(this.#i32, slot) >>> 0;
      const done = ready() || closed;
      if (!done && asleep) Atomics.wait(this.#i32, self.bell, bell);
      if (asleep) Atomics.store(this.#i32, self.sleeps, 0);
      if (done) return ready();
    }
  }
}

module.exports = { SabRing };
