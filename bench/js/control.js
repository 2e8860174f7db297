'use strict';

// The control block a throughput run shares between its threads (one small SAB): the
// stop flag, MessageChannel's window, and the results each side writes before it ends
// (read by the main thread once both are done, so no message is needed for them).

const { performance } = require('node:perf_hooks');

const STOP = 0; // Int32: receiver -> sender, stop sending
const ACKED = 1; // Int32: receiver -> sender, messages received (MessageChannel window)
// Float64 slots. rssBase: RSS at the first message; rssWarm: RSS once RSS_WARMUP_SECONDS
// have passed since (a soak's growth counts from there: pools and JIT are set up).
const RESULT = { sent: 0, messages: 1, bytes: 2, windowBytes: 3, windowSeconds: 4, rssBase: 5, checksum: 6, rssWarm: 7 };

const WARMUP_SECONDS = 0.2;
const RSS_WARMUP_SECONDS = 1;

class Control {
  constructor(sab = new SharedArrayBuffer(16 + 8 * 8)) {
    this.sab = sab;
    this.i32 = new Int32Array(sab, 0, 4);
    this.f64 = new Float64Array(sab, 16, 8);
  }

  stop() {
    Atomics.store(this.i32, STOP, 1);
    Atomics.notify(this.i32, ACKED); // a sender waiting for credit must see the stop
  }

  stopped() {
    return Atomics.load(this.i32, STOP) !== 0;
  }

  set(key, value) {
    this.f64[RESULT[key]] = value;
  }

  get(key) {
    return this.f64[RESULT[key]];
  }

  /** `more(sent)` for a sender: false at the limit or once the receiver said stop. */
  more(limit) {
    return (sent) => sent < limit && Atomics.load(this.i32, STOP) === 0;
  }

  /** MessageChannel's memory bound: at most `window` messages in flight. */
  credit(window) {
    const { i32 } = this;
    const ackEvery = Math.max(1, window >> 2);
    return {
      // Sender: true if message number `sent` may go now; else waits a little for an ack.
      take(sent) {
        const acked = Atomics.load(i32, ACKED);
        if (sent - acked < window) return true;
        Atomics.wait(i32, ACKED, acked, 100);
        return false;
      },
      ack(received) {
        if (received % ackEvery !== 0) return;
        Atomics.store(i32, ACKED, received);
        Atomics.notify(i32, ACKED);
      },
    };
  }
}

// Counts received bytes. A run measures a window of `seconds` that opens WARMUP_SECONDS
// after the first message and then stops the sender. With a message limit instead
// (seconds = Infinity) the window is everything from the first message to the end.
// Reads the clock about once per 64 KiB, not per message. Records, in the control
// block, the window, the RSS when the first message arrived and RSS_WARMUP_SECONDS later.
class Meter {
  #control;
  #seconds;
  #warmup;
  #step;
  #total = 0;
  #next = 0;
  #phase = 'first';
  #until = 0;
  #start = 0;
  #startBytes = 0;
  #rssWarmAt = Infinity;

  constructor(control, size, seconds) {
    this.#control = control;
    this.#seconds = seconds;
    this.#warmup = Number.isFinite(seconds) ? WARMUP_SECONDS * 1000 : 0;
    this.#step = Math.max(size, 65536);
  }

  add(bytes) {
    this.#total += bytes;
    if (this.#total < this.#next) return;
    this.#next = this.#total + this.#step;
    const now = performance.now();
    if (this.#phase === 'first') {
      this.#control.set('rssBase', process.memoryUsage.rss());
      this.#phase = 'warmup';
      this.#until = now + this.#warmup;
      this.#rssWarmAt = now + RSS_WARMUP_SECONDS * 1000;
    }
    if (now >= this.#rssWarmAt) {
      this.#control.set('rssWarm', process.memoryUsage.rss());
      this.#rssWarmAt = Infinity;
    }
    if (this.#phase === 'warmup' && now >= this.#until) {
      this.#phase = 'measure';
      this.#start = now;
      this.#startBytes = this.#total;
      this.#until = now + this.#seconds * 1000;
    } else if (this.#phase === 'measure' && now >= this.#until) {
      this.#close(now);
      this.#control.stop();
    }
  }

  /** Called when the stream has ended: closes an open window (message-limit runs). */
  finish() {
    if (this.#phase === 'measure' && !Number.isFinite(this.#seconds)) this.#close(performance.now());
  }

  #close(now) {
    this.#phase = 'done';
    this.#control.set('windowBytes', this.#total - this.#startBytes);
    this.#control.set('windowSeconds', (now - this.#start) / 1000);
  }
}

module.exports = { Control, Meter };
