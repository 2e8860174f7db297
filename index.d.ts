// Type definitions for ringport: lock-free shared-memory channels between worker threads.
// These describe what lib/ implements today; the contract is /API.md.
//
// The module is CommonJS (`module.exports = { Channel, Sender, Receiver, ChannelError }`),
// declared here as named exports, so all of these type-check:
//   const { Channel, ChannelError } = require('ringport');   // JavaScript (checkJs)
//   import { Channel, ChannelError } from 'ringport';
//   import ringport = require('ringport');

/// <reference types="node" />

/**
 * The `code` of a {@link ChannelError}:
 * - `ERR_CHANNEL_CLOSED`: this end (or the whole channel) was closed; no more sends.
 * - `ERR_CHANNEL_FULL`: a `send()` under `backpressure: 'reject'` found no room.
 * - `ERR_CHANNEL_DISCONNECTED`: the other end is gone without a graceful close (its
 *   thread exited or was terminated, it was garbage-collected, or a receiver closed).
 * - `ERR_CHANNEL_ROLE_TAKEN`: that end of the channel was already claimed, in any thread.
 * - `ERR_CHANNEL_LAGGED`: a broadcast receiver fell behind (carries `missed`); not
 *   raised by `Channel`.
 * - `ERR_MESSAGE_TOO_LARGE`: the message is larger than `maxMessageSize`.
 * - `ERR_INVALID_HANDLE`: not a live ringport handle of this layout version, or the
 *   shared memory holds impossible values.
 * - `ERR_TIMEOUT`: a `timeout` option ran out.
 */
export type ChannelErrorCode =
  | 'ERR_CHANNEL_CLOSED'
  | 'ERR_CHANNEL_FULL'
  | 'ERR_CHANNEL_DISCONNECTED'
  | 'ERR_CHANNEL_ROLE_TAKEN'
  | 'ERR_CHANNEL_LAGGED'
  | 'ERR_MESSAGE_TOO_LARGE'
  | 'ERR_INVALID_HANDLE'
  | 'ERR_TIMEOUT';

/**
 * What a sender does when the channel has no room for a message:
 * - `'block'`: `send()` waits (its promise stays pending) until the receiver makes room.
 * - `'reject'`: `send()` rejects at once with `ERR_CHANNEL_FULL`.
 * - `'dropOldest'`: overwrite the oldest unread message: a send never waits for room and
 *   never rejects for lack of it. When the channel is full it drops the oldest messages
 *   the receiver has not taken yet, as many as the new one needs, and counts them in
 *   `stats().dropped`. The receiver never sees a torn message: each message is either
 *   received whole or dropped whole (pool memory of dropped messages returns to the
 *   pool at once). A slow receiver so sees an increasing subsequence of the stream,
 *   always including its end. Messages the receiver has already pulled (the few it
 *   buffers ahead of `recv()`, see {@link Receiver.pending}) are not dropped. A send may
 *   wait a few microseconds for a receive in progress to finish. Such a channel has a
 *   single sender: a second `sender()` throws `ERR_CHANNEL_ROLE_TAKEN`, whatever
 *   `producers` says.
 * - `'grow'`: never wait or reject: sends resolve at once and what does not fit yet
 *   waits in the sender's thread (a private copy), moving into the channel in order as
 *   the receiver makes room. Memory is bounded only by what the receiver leaves
 *   unread, and is freed as it drains. `close()` still delivers it first; a thread that
 *   dies before then loses what had not reached the channel.
 */
export type Backpressure = 'block' | 'reject' | 'dropOldest' | 'grow';

/**
 * - `'auto'`: the first `sender()` is single-producer (the fast path); a second one, in
 *   any thread at any time, upgrades the channel to multi-producer (up to 64 senders).
 *   Each sender's messages stay in its own order; the receiver ends when the last open
 *   sender ends: cleanly if every sender closed, with `ERR_CHANNEL_DISCONNECTED` if any
 *   died without closing (what it committed is still delivered). A sender created after
 *   that finds the channel closed.
 * - `'single'`: a second `sender()`, in any thread, throws `ERR_CHANNEL_ROLE_TAKEN`.
 */
export type Producers = 'auto' | 'single';

/**
 * - `'message'`: each `send` arrives as one buffer.
 * - `'bytes'`: a byte stream; boundaries are not kept: the receiver joins small ready
 *   chunks into one buffer (up to 64 KiB), and empty sends deliver nothing.
 */
export type Framing = 'message' | 'bytes';

/**
 * A message to send: its bytes are those of the buffer, of the view's range, or the
 * string's UTF-8 encoding. (A `SharedArrayBuffer` is accepted too, read as bytes.)
 */
export type MessageData = string | ArrayBuffer | SharedArrayBuffer | ArrayBufferView;

/** Options of `new Channel()`. Every option is fixed for the channel's lifetime. */
export interface ChannelOptions {
  /**
   * Bytes of payload buffered before backpressure applies, rounded up to a power of two.
   * An integer from 1 to 2^30. Default 1 MiB.
   */
  capacity?: number | undefined;
  /** What a full channel does to a send; see {@link Backpressure}. Default `'block'`. */
  backpressure?: Backpressure | undefined;
  /** One producer or several; see {@link Producers}. Default `'auto'`. */
  producers?: Producers | undefined;
  /** Message or byte-stream framing; see {@link Framing}. Default `'message'`. */
  framing?: Framing | undefined;
  /**
   * Larger sends fail with `ERR_MESSAGE_TOO_LARGE`. An integer from 1 to 2^32 - 1.
   * Default 1 GiB (2^30).
   */
  maxMessageSize?: number | undefined;
  /** Bytes per buffer-pool slab, an integer from 4096 to 2^30. Default: the implementation's choice. */
  slabSize?: number | undefined;
  /** Number of buffer-pool slabs, an integer from 2 to 2^20. Default: the implementation's choice. */
  poolSlabs?: number | undefined;
}

/**
 * A structured-clonable value naming a channel's shared memory: pass it through
 * `workerData` or `postMessage` and attach with {@link Channel.from}. Treat it as
 * opaque; attaching never copies data.
 */
export interface ChannelHandle {
  /** Always `'ringport.channel'`. */
  readonly type: 'ringport.channel';
  /** Layout version of the shared memory; `from()` accepts only its own. */
  readonly version: number;
  /** The channel itself: header, ring and buffer pool. */
  readonly buffer: SharedArrayBuffer;
}

/** Buffer-pool counters of {@link ChannelStats}. */
export interface PoolStats {
  /** Slabs in the pool. */
  slabs: number;
  /** Slabs held now: by buffered messages, or by received buffers not yet released or collected. */
  inUse: number;
  /** Messages that found no free slab and took memory outside the pool. */
  fallbacks: number;
  /** Most slabs ever in use at once. */
  highWater: number;
}

/**
 * Counters since the channel was created, shared by every thread attached to it.
 * A snapshot: other threads may change them while you read.
 */
export interface ChannelStats {
  /** Messages enqueued. */
  sent: number;
  /** Messages taken by the receiver. */
  received: number;
  /** Payload bytes enqueued. */
  bytesSent: number;
  /** Payload bytes taken by the receiver. */
  bytesReceived: number;
  /**
   * Messages a `'dropOldest'` sender dropped unread to make room (0 under the other
   * modes). With no message in flight, `sent === received + dropped + pending`.
   */
  dropped: number;
  /** Messages missed by lagging receivers (Broadcast); always 0 for a `Channel`. */
  lagged: number;
  /** Messages buffered now (`sent - received - dropped`). */
  pending: number;
  /** Payload bytes buffered now (sent, less received, less those of dropped messages). */
  pendingBytes: number;
  /** Buffer-pool counters. */
  pool: PoolStats;
}

/** Options of {@link Sender.sendSync}. */
export interface SendSyncOptions {
  /** Milliseconds (>= 0) to block before throwing `ERR_TIMEOUT`. Default: wait forever. */
  timeout?: number | undefined;
  /** An already aborted signal throws an `AbortError` (a blocked thread cannot see a later abort). */
  signal?: AbortSignal | undefined;
}

/** Options of the calls that wait asynchronously: send, sendBatch, ready, recv, recvBatch. */
export interface WaitOptions {
  /** Aborting it rejects the pending call with an `AbortError` (`code` `'ABORT_ERR'`). */
  signal?: AbortSignal | undefined;
  /** Milliseconds (>= 0) to wait before rejecting with `ERR_TIMEOUT`. Default: wait forever. */
  timeout?: number | undefined;
}

/** Options of {@link Receiver.readable}. */
export interface ReceiverReadableOptions {
  /**
   * Bytes the Readable buffers before it stops taking messages from the channel; then the
   * channel fills and the sender waits. A message is never split, so the Readable may hold
   * up to `highWaterMark` plus one message. An integer >= 0. Default: Node's default for
   * byte streams (`stream.getDefaultHighWaterMark(false)`, 16 KiB in Node 20).
   */
  highWaterMark?: number | undefined;
  /** Aborting it destroys the Readable with an `AbortError`, which closes the receiver. */
  signal?: AbortSignal | undefined;
}

/** Options of {@link Sender.writable}. */
export interface SenderWritableOptions {
  /**
   * Bytes of chunks the Writable buffers, while a send waits for room, before `write()`
   * returns `false`. An integer >= 0. Default: Node's default for byte streams
   * (`stream.getDefaultHighWaterMark(false)`, 16 KiB in Node 20).
   */
  highWaterMark?: number | undefined;
  /**
   * Aborting it destroys the Writable with an `AbortError`, which the receiver gets
   * through {@link Sender.closeWithError}.
   */
  signal?: AbortSignal | undefined;
}

/** Options of {@link Receiver.readableStream} and {@link Sender.writableStream}. */
export interface WebStreamOptions {
  /**
   * Bytes queued in the stream before backpressure applies (its queuing strategy's
   * `highWaterMark`). An integer >= 0. Default: `stream.getDefaultHighWaterMark(false)`.
   */
  highWaterMark?: number | undefined;
}

/** Options of {@link Receiver.recv}. */
export interface RecvOptions {
  /** Aborting it rejects the pending `recv()` with an `AbortError` (`code` `'ABORT_ERR'`). */
  signal?: AbortSignal | undefined;
  /** Milliseconds (>= 0) to wait before rejecting with `ERR_TIMEOUT`. Default: wait forever. */
  timeout?: number | undefined;
}

/** Options of {@link Receiver.recvSync}. */
export interface RecvSyncOptions {
  /** Milliseconds (>= 0) to block before throwing `ERR_TIMEOUT`. Default: wait forever. */
  timeout?: number | undefined;
}

/** Options of {@link Receiver.iterate}. */
export interface IterateOptions {
  /**
   * Release each buffer (see {@link Receiver.release}) when the loop asks for the next
   * one or leaves. Do not keep a buffer past its iteration: it becomes detached
   * (byteLength 0). Default `false`.
   */
  autoRelease?: boolean | undefined;
}

/**
 * A channel failure, with a Node-style `code`. Bad arguments are not ChannelErrors but
 * Node's usual `TypeError` / `RangeError` with `code` `ERR_INVALID_ARG_TYPE`,
 * `ERR_INVALID_ARG_VALUE` or `ERR_OUT_OF_RANGE`.
 *
 * An error relayed by {@link Sender.closeWithError} is also a ChannelError, but carries
 * the sender's `name`, `message` and `code`, which may be any string (or absent).
 */
export class ChannelError extends Error {
  /**
   * @param message defaults to the standard message of `code` when undefined
   * @param code one of {@link ChannelErrorCode}
   * @param extra own properties to add, e.g. `{ missed }`
   */
  constructor(message: string | undefined, code: ChannelErrorCode, extra?: { missed?: number });
  /** What went wrong; see {@link ChannelErrorCode}. */
  code: ChannelErrorCode;
  /** With `ERR_CHANNEL_LAGGED`: how many messages the receiver skipped. */
  missed?: number;
  /** The standard message of each code. */
  static readonly codes: Readonly<Record<ChannelErrorCode, string>>;
}

/**
 * A queue channel: every message goes to exactly one receiver, in FIFO order. It lives
 * in a `SharedArrayBuffer`: pass {@link Channel.handle} to another thread and attach
 * there with {@link Channel.from}. One sender and one receiver may be claimed, each in
 * any thread.
 *
 * @example
 * // main.js
 * const { Worker } = require('node:worker_threads');
 * const { Channel } = require('ringport');
 * const ch = new Channel({ capacity: 1 << 20 });
 * new Worker('./producer.js', { workerData: ch.handle });
 * for await (const buf of ch.receiver()) {   // buf: ArrayBuffer, zero-copy
 *   console.log(new Uint8Array(buf));
 * }                                           // ends when the producer calls close()
 *
 * // producer.js
 * const { workerData } = require('node:worker_threads');
 * const tx = Channel.from(workerData).sender();
 * for (const chunk of chunks) await tx.send(chunk);   // waits while the channel is full
 * tx.close();
 */
export class Channel {
  /**
   * Creates a channel in a new `SharedArrayBuffer`.
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` when `options` or an option has the wrong type.
   * @throws {TypeError} `ERR_INVALID_ARG_VALUE` for an unknown `backpressure`, `producers`
   *   or `framing`.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` for a size option outside its range.
   */
  constructor(options?: ChannelOptions);

  /**
   * Attaches to a channel created in any thread, without copying data.
   * @param handle a {@link Channel.handle} value, usually received through `workerData`
   *   or `postMessage`
   * @throws {ChannelError} `ERR_INVALID_HANDLE` when `handle` is not a live ringport
   *   handle of this layout version.
   */
  static from(handle: ChannelHandle): Channel;

  /** A structured-clonable value that attaches to this channel in any thread (a new object on each read). */
  readonly handle: ChannelHandle;

  /** Bytes of payload buffered before backpressure applies (a power of two). */
  readonly capacity: number;

  /** The channel's backpressure mode; see {@link Backpressure}. */
  readonly backpressure: Backpressure;

  /** `'auto'` or `'single'`; see {@link Producers}. */
  readonly producers: Producers;

  /** The channel's framing: `'message'` or `'bytes'`. */
  readonly framing: Framing;

  /**
   * Claims a producing end, which then belongs to this thread (see {@link Producers}).
   * @throws {ChannelError} `ERR_CHANNEL_ROLE_TAKEN` when a sender was already claimed, in
   *   any thread, and the channel has a single sender: `producers: 'single'`, or
   *   `backpressure: 'dropOldest'` (its sender drops messages in place, which several
   *   senders cannot share); under `'auto'`, when 64 senders are open.
   */
  sender(): Sender;

  /**
   * Claims the consuming end, which then belongs to this thread.
   * @throws {ChannelError} `ERR_CHANNEL_ROLE_TAKEN` when a receiver was already claimed,
   *   in any thread.
   */
  receiver(): Receiver;

  /**
   * Closes the channel gracefully, from any thread attached to it: later sends fail with
   * `ERR_CHANNEL_CLOSED`; the receiver still drains what is buffered, then ends. Never
   * throws; closing twice does nothing.
   */
  close(): void;

  /** Counters since creation (see {@link ChannelStats}). Never waits. */
  stats(): ChannelStats;
}

/**
 * The producing end of a {@link Channel}; create it with `channel.sender()`. Use it in
 * the thread that created it.
 *
 * Sends are delivered in call order, including `send()` calls that were not awaited.
 * If the receiver is gone (it closed, its thread exited or was terminated, or it was
 * garbage-collected), pending and later sends fail with `ERR_CHANNEL_DISCONNECTED`: a
 * sender never waits forever for a receiver that cannot come back.
 */
export class Sender implements AsyncDisposable {
  private constructor();

  /** True once `close()` or `closeWithError()` was called on this sender. */
  readonly closed: boolean;

  /**
   * Enqueues a message; resolves once it is in the channel. Under `'block'` it waits
   * (without blocking the thread) until the receiver makes room; under `'reject'` it
   * rejects with `ERR_CHANNEL_FULL` at once. A message larger than `capacity` is
   * accepted once the channel has room for it alone (never a deadlock).
   *
   * Under `'grow'` it resolves at once (see {@link Backpressure}); under `'dropOldest'`
   * it never waits for room: a full channel drops its oldest unread messages instead.
   *
   * While the promise is pending the channel reads `data` in place: do not modify it
   * until the promise settles. A pending send keeps the event loop alive unless
   * {@link Sender.unref} was called. A send that times out or is aborted is never
   * delivered.
   *
   * Never throws: bad arguments and every failure reject the promise.
   * @throws {TypeError} rejects with `ERR_INVALID_ARG_TYPE` when `data` is not a string,
   *   ArrayBuffer or ArrayBufferView, or `options` are malformed.
   * @throws {ChannelError} rejects with `ERR_CHANNEL_FULL` (under `'reject'`), `ERR_CHANNEL_CLOSED`
   *   (after close, or when `closeWithError()` is called while waiting),
   *   `ERR_CHANNEL_DISCONNECTED`, `ERR_MESSAGE_TOO_LARGE`, `ERR_TIMEOUT`; an `AbortError`.
   */
  send(data: MessageData, options?: WaitOptions): Promise<void>;

  /**
   * Sends every item of `list`, in order, with one crossing into native code for all
   * that fit now; the rest wait as with `send()`. Resolves when all are enqueued.
   * Under `'reject'` it rejects with `ERR_CHANNEL_FULL` after enqueuing those that fit.
   * A bad item rejects the whole batch before anything is sent.
   * @throws {TypeError} rejects with `ERR_INVALID_ARG_TYPE` when `list` is not an array
   *   of strings, ArrayBuffers or views.
   * @throws {ChannelError} as `send()`.
   */
  sendBatch(list: readonly MessageData[], options?: WaitOptions): Promise<void>;

  /**
   * This sender as a Node `stream.Writable`: each chunk becomes one message (strings are
   * encoded with the write's encoding, UTF-8 by default).
   *
   * Backpressure: a chunk that finds the channel full stays pending until the receiver
   * makes room; later writes wait in the Writable, so `write()` returns `false` once
   * `highWaterMark` bytes wait and `'drain'` follows the channel. Under
   * `backpressure: 'reject'` a full channel fails the write with `ERR_CHANNEL_FULL`,
   * which destroys the Writable. Do not modify a written buffer before its write
   * callback: a pending chunk is sent from that memory.
   *
   * End: `end()` closes the sender gracefully once every chunk is in the channel
   * (`'finish'`); the receiver reads them all, then ends.
   *
   * Errors: destroying the Writable with an error calls `closeWithError(error)`: buffered
   * messages are dropped and the receiver fails with the same `name`, `message` and
   * `code`. Destroying it without an error before `'finish'` relays an error with `code`
   * `ERR_STREAM_PREMATURE_CLOSE` (what `stream.finished()` reports for it), so a cut-off
   * stream never looks complete to the receiver. A send that fails (`ERR_CHANNEL_DISCONNECTED`
   * when the receiver is gone, `ERR_CHANNEL_CLOSED` after `close()`) destroys the Writable
   * with that error.
   *
   * The Writable owns this sender: do not send on it directly while the Writable is in use.
   *
   * @example
   * await stream.promises.pipeline(fs.createReadStream('data.bin'), sender.writable());
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for bad `options`.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` for a negative or non-integer `highWaterMark`.
   */
  writable(options?: SenderWritableOptions): import('node:stream').Writable;

  /**
   * This sender as a WHATWG `WritableStream`: each chunk (a string, `ArrayBuffer` or view)
   * becomes one message; a write waits while the channel is full, so `writer.ready`
   * follows the channel. `close()` closes the sender gracefully; `abort(reason)` and a
   * failed write call `closeWithError` (an `AbortError` when `reason` is undefined).
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for bad `options`.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` for a negative or non-integer `highWaterMark`.
   */
  writableStream(options?: WebStreamOptions): import('node:stream/web').WritableStream<MessageData>;

  /**
   * Zero-copy send, step 1: a `Uint8Array` of `size` bytes in the channel's pool memory
   * (a view of the `SharedArrayBuffer`) to write the message into; publish it with
   * {@link Sender.commit} or give it back with {@link Sender.abort}. When no slab of that
   * size is free the view is ordinary memory and `commit()` copies it (one copy, as
   * `send()`). Never waits.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` unless `size` is an integer from 0 to 2^32 - 1.
   * @throws {ChannelError} `ERR_CHANNEL_CLOSED` after `close()`.
   */
  reserve(size: number): Uint8Array;

  /**
   * Zero-copy send, step 2: publishes the first `length` bytes (default: all) of a view
   * from {@link Sender.reserve}, like `send()`: in call order with other sends, waiting
   * for room under `'block'`, rejecting `ERR_CHANNEL_FULL` under `'reject'`, dropping
   * the oldest unread messages under `'dropOldest'`. Do not
   * touch the view afterwards. If it rejects with `ERR_CHANNEL_FULL` the reservation is
   * still yours (commit again or abort); any other failure gives its memory back.
   * @throws {TypeError} rejects with `ERR_INVALID_ARG_VALUE` for a view that is not a live
   *   reservation of this sender.
   * @throws {RangeError} rejects with `ERR_OUT_OF_RANGE` when `length` exceeds the view.
   * @throws {ChannelError} rejects as `send()` does.
   */
  commit(view: Uint8Array, length?: number): Promise<void>;

  /**
   * Gives back a view from {@link Sender.reserve} without sending it.
   * @throws {TypeError} `ERR_INVALID_ARG_VALUE` for a view that is not a live reservation.
   */
  abort(view: Uint8Array): void;

  /**
   * Resolves when the channel is not full (it has room for at least one more byte, and
   * no earlier send is waiting); at once if so now, and always at once under
   * `'dropOldest'`. A larger send may still wait.
   * @throws {ChannelError} rejects with `ERR_CHANNEL_DISCONNECTED`, `ERR_CHANNEL_CLOSED`
   *   or `ERR_TIMEOUT`; an `AbortError`.
   */
  ready(options?: WaitOptions): Promise<void>;

  /**
   * Enqueues a message if there is room now; never waits. Returns `false` when the
   * channel is full (under `'block'` or `'reject'`) or earlier `send()` calls are still
   * waiting (it never overtakes them); under `'dropOldest'` it makes room and returns
   * `true`. `data` is copied before it returns.
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` when `data` is not a string, ArrayBuffer
   *   or ArrayBufferView.
   * @throws {ChannelError} `ERR_CHANNEL_CLOSED`, `ERR_CHANNEL_DISCONNECTED`, `ERR_MESSAGE_TOO_LARGE`.
   */
  trySend(data: MessageData): boolean;

  /**
   * Enqueues a message, blocking the calling thread (its event loop included) until
   * there is room; earlier `send()` calls still waiting are enqueued first, in order.
   * Under `'reject'` it never waits for room: a full channel throws `ERR_CHANNEL_FULL`;
   * under `'dropOldest'` neither: it drops the oldest unread messages.
   * `data` is copied before it returns. Blocking the main thread freezes it: prefer
   * `send()` there. A thread blocked here cannot be interrupted by `worker.terminate()`
   * until it returns, so give workers a `timeout`.
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for bad `data` or `options`.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` for a negative or NaN `timeout`.
   * @throws {ChannelError} `ERR_TIMEOUT` after `timeout` ms, `ERR_CHANNEL_FULL` (under
   *   `'reject'`), `ERR_CHANNEL_CLOSED`, `ERR_CHANNEL_DISCONNECTED`, `ERR_MESSAGE_TOO_LARGE`.
   */
  sendSync(data: MessageData, options?: SendSyncOptions): void;

  /**
   * Graceful close: no more sends from this sender. Sends already made (even those still
   * waiting for room) are delivered; the receiver drains them, then ends (`recv()`
   * resolves `null`, `for await` finishes). Calling it again does nothing.
   */
  close(): void;

  /**
   * Immediate close: buffered data is dropped and sends still waiting reject with
   * `ERR_CHANNEL_CLOSED`. The receiver's next `recv()` rejects with an error of the same
   * `name`, `message` and `code` as `error` (read from its string properties; any other
   * value becomes the message). Does nothing after `close()` has taken effect.
   */
  closeWithError(error: unknown): void;

  /**
   * While a send waits for room, this sender keeps the event loop alive (the default).
   * An idle sender never does.
   * @returns this sender
   */
  ref(): this;

  /**
   * A waiting send no longer keeps the event loop alive: the thread may exit with the
   * send still pending.
   * @returns this sender
   */
  unref(): this;

  /** The channel's counters (see {@link ChannelStats}). Never waits. */
  stats(): ChannelStats;

  /** Same as {@link Sender.close}; for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * The consuming end of a {@link Channel}; create it with `channel.receiver()`. Use it in
 * the thread that created it. Iterate it with `for await`, or call `recv()`.
 *
 * Buffer lifetime: every message is an `ArrayBuffer` that stays valid for as long as you
 * hold it, including after the channel closes and after the producer's thread is gone.
 * Larger messages are external buffers over pool memory (zero-copy; over a separate
 * allocation when the pool had no free slab); their memory returns when you
 * {@link Receiver.release} them or they are garbage-collected.
 * Small messages are plain copies; `release()` is a no-op on them.
 *
 * End of stream: after a graceful close the receiver drains what is buffered, then ends
 * (`recv()` resolves `null`). After `closeWithError()` it fails with the relayed error.
 * When the producer's thread exits or is terminated, or its sender is collected, without
 * `close()`, the receiver first drains every committed message, then fails with
 * `ERR_CHANNEL_DISCONNECTED` (distinguishable from a clean end).
 */
export class Receiver implements AsyncIterable<ArrayBuffer>, AsyncDisposable {
  private constructor();

  /**
   * Yields each message as an `ArrayBuffer`, waiting for the next one. Ends after a
   * graceful close; throws after an error close or a disconnect. Leaving the loop early
   * (`break`, `return`, a throw) does not close the receiver: a later loop resumes with
   * the next message; call {@link Receiver.close} to end it.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<ArrayBuffer>;

  /**
   * The next message; waits (without blocking the thread) until one arrives. Resolves
   * `null` once the channel ended gracefully or this receiver was closed. Concurrent
   * calls are served in call order. A pending `recv()` keeps the event loop alive unless
   * {@link Receiver.unref} was called.
   *
   * Never throws: bad arguments and every failure reject the promise.
   * @throws {TypeError} rejects with `ERR_INVALID_ARG_TYPE` for bad `options`.
   * @throws {RangeError} rejects with `ERR_OUT_OF_RANGE` for a negative or NaN `timeout`.
   * @throws {ChannelError} rejects with `ERR_TIMEOUT` after `timeout` ms,
   *   `ERR_CHANNEL_DISCONNECTED` (after draining), or the error relayed by `closeWithError()`.
   * @throws {Error} rejects with an `AbortError` (`code` `'ABORT_ERR'`) when `signal` aborts.
   */
  recv(options?: RecvOptions): Promise<ArrayBuffer | null>;

  /**
   * Waits for at least one message, then resolves with every message ready now, up to
   * `max` (default: no limit). Resolves `[]` once the channel has ended gracefully.
   * Buffers follow the same lifetime rules as `recv()`.
   * @throws {RangeError} rejects with `ERR_OUT_OF_RANGE` unless `max` is an integer >= 1.
   * @throws {ChannelError} rejects as `recv()` does.
   */
  recvBatch(max?: number, options?: WaitOptions): Promise<ArrayBuffer[]>;

  /**
   * Groups of exactly `n` messages as arrays; the last group may be shorter. Ends after
   * a graceful close; throws as the plain iterator does.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` unless `n` is an integer >= 1.
   */
  chunks(n: number): AsyncIterableIterator<ArrayBuffer[]>;

  /**
   * Groups of whatever is ready when the loop asks (waiting for at least one), at most
   * `n` messages each.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` unless `n` is an integer >= 1.
   */
  readyChunks(n: number): AsyncIterableIterator<ArrayBuffer[]>;

  /**
   * A copy of up to `maxBytes` bytes that are ready now, read across message
   * boundaries (both framings); an empty array if none. Never waits. The rest of a
   * message read in part comes first in the next `read()`, or as one buffer from the
   * next receive.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` unless `maxBytes` is an integer >= 0.
   */
  read(maxBytes: number): Uint8Array;

  /**
   * Skips up to `n` buffered messages without receiving them (their slabs go back to
   * the pool); returns how many were skipped. Never waits.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` unless `n` is an integer >= 0.
   */
  discard(n: number): number;

  /**
   * This receiver as a Node `stream.Readable` of bytes (not object mode). Each message is
   * one `Buffer` chunk that views the received `ArrayBuffer` without copying; it stays
   * valid as long as you hold it, like the buffers of `recv()`. Zero-length messages carry
   * no bytes and are skipped. `'data'`, `pipe()` and `pipeline()` see every message as one
   * chunk; `read(n)` and the Readable's own async iterator (which calls `read()`) may join
   * buffered chunks into a copy.
   *
   * Backpressure: messages are taken from the channel only while the Readable holds less
   * than `highWaterMark` bytes, so a paused or slow consumer lets the channel fill and the
   * sender wait.
   *
   * End: after a graceful close the Readable emits `'end'` once every message was read.
   * After `closeWithError()` or a disconnect it is destroyed with that error (`'error'`);
   * chunks still buffered inside the Readable are discarded, as with any stream destroyed
   * with an error.
   *
   * The Readable owns this receiver: destroying it (`destroy()`, a failing `pipeline()`,
   * `signal`, or leaving a `for await` loop over the Readable early) closes the receiver,
   * so buffered messages are dropped and the sender's sends fail with
   * `ERR_CHANNEL_DISCONNECTED`. Do not receive from this receiver directly while the
   * Readable is in use. To stop and resume reading later, iterate the receiver instead.
   *
   * @example
   * await stream.promises.pipeline(receiver.readable(), fs.createWriteStream('copy.bin'));
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for bad `options`.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` for a negative or non-integer `highWaterMark`.
   */
  readable(options?: ReceiverReadableOptions): import('node:stream').Readable;

  /**
   * This receiver as a WHATWG `ReadableStream`: one `Uint8Array` per message, a view over
   * the received `ArrayBuffer` (no copy), zero-length messages included. Messages are
   * taken while fewer than `highWaterMark` bytes are queued. It closes after a graceful
   * close and errors after `closeWithError()` or a disconnect. Cancelling it closes the
   * receiver (the sender's sends then fail with `ERR_CHANNEL_DISCONNECTED`).
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for bad `options`.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` for a negative or non-integer `highWaterMark`.
   */
  readableStream(options?: WebStreamOptions): import('node:stream/web').ReadableStream<Uint8Array>;

  /**
   * The fastest way to receive small messages: an async iterable of {@link Batch}es,
   * each holding every message ready when the loop asked (waiting for at least one,
   * at most 1024). Small messages are `Uint8Array` views into one buffer shared by the
   * batch (one allocation per batch instead of one per message); large ones keep their
   * own zero-copy buffer. Views stay valid while referenced. Ends after a graceful
   * close; throws on `closeWithError` or disconnect, like the plain iterator.
   */
  batches(): AsyncIterableIterator<Batch>;

  /** Messages buffered now and not yet received (approximate while the sender runs). */
  readonly pending: number;

  /** Payload bytes buffered now and not yet received (approximate while the sender runs). */
  readonly pendingBytes: number;

  /**
   * The next message if one is ready now; never waits. `undefined` when nothing is
   * ready, while `recv()` calls are pending (it never overtakes them), and also after a
   * graceful end: use `recv()` or `recvSync()` to tell the end apart.
   * @throws {ChannelError} `ERR_CHANNEL_DISCONNECTED` (after draining), or the error
   *   relayed by `closeWithError()`.
   */
  tryRecv(): ArrayBuffer | undefined;

  /**
   * The next message, blocking the calling thread (its event loop included) until one
   * arrives; `null` once the channel ended gracefully or this receiver was closed.
   * Blocking the main thread freezes it: prefer `recv()` there.
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for bad `options`.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` for a negative or NaN `timeout`.
   * @throws {ChannelError} `ERR_TIMEOUT` after `timeout` ms, `ERR_CHANNEL_DISCONNECTED`
   *   (after draining), or the error relayed by `closeWithError()`.
   */
  recvSync(options?: RecvSyncOptions): ArrayBuffer | null;

  /**
   * Returns `buffer`'s pool memory now instead of at garbage collection; the buffer
   * becomes detached (byteLength 0), so drop every view of it first. A no-op returning
   * `false` for a small (copied) message, a buffer already released, or one not from
   * this receiver.
   * @returns true when memory was returned
   */
  release(buffer: ArrayBuffer): boolean;

  /**
   * Like the plain `for await` iterator, with options. With `autoRelease: true` each
   * buffer is released when the loop asks for the next one (and when it leaves), which
   * keeps the pool small without waiting for garbage collection. Leaving the loop early
   * does not close the receiver.
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for bad `options`.
   */
  iterate(options?: IterateOptions): AsyncIterableIterator<ArrayBuffer>;

  /**
   * Closes this end: buffered messages are dropped; pending and later `recv()` calls
   * resolve `null`; the sender's pending and later sends fail with
   * `ERR_CHANNEL_DISCONNECTED`. Buffers already received stay valid.
   */
  close(): void;

  /**
   * A pending `recv()` (or iteration step) and its timeout keep the event loop alive
   * (the default). An idle receiver never does.
   * @returns this receiver
   */
  ref(): this;

  /**
   * A pending `recv()` no longer keeps the event loop alive: the thread may exit with it
   * still pending.
   * @returns this receiver
   */
  unref(): this;

  /** The channel's counters (see {@link ChannelStats}). Never waits. */
  stats(): ChannelStats;

  /** Same as {@link Receiver.close}; for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Messages received together by {@link Receiver.batches}. Iterable, and indexable
 * with {@link Batch.at}; each message is a `Uint8Array` (a view; copy it to keep it
 * apart from the batch's shared memory).
 */
export class Batch implements Iterable<Uint8Array> {
  private constructor();
  /** Number of messages in the batch. */
  readonly length: number;
  /** Message `i` (negative `i` counts from the end), or `undefined` out of range. */
  at(i: number): Uint8Array | undefined;
  [Symbol.iterator](): IterableIterator<Uint8Array>;
}
