'use strict';

// How many messages of `size` bytes a MessageChannel sender in the benchmark keeps in
// flight at most: min(64 MiB, 4096 messages). MessagePort has no backpressure, so
// without a bound its queue grows with whatever the receiver has not caught up with;
// this bound is for memory only, far above any channel's capacity, so that it never
// throttles the port (the throughput runs also measure it without one).

const WINDOW_BYTES = 64 << 20;
const WINDOW_MESSAGES = 4096;

function mcWindow(size) {
  return Math.max(1, Math.min(WINDOW_MESSAGES, Math.floor(WINDOW_BYTES / size)));
}

module.exports = { mcWindow };
