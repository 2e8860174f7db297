// Type definitions for ringport: lock-free shared-memory channels between worker threads.
// These describe what lib/ implements today: they are the contract users program against.
//
// The module is CommonJS (`module.exports = { Channel, Broadcast, Watch, Mailbox, ChannelError, ... }`),
// declared here as named exports, so all of these type-check:
//   const { Channel, ChannelError } = require('ringport');   // JavaScript (checkJs)
//   import { Channel, ChannelError } from 'ringport';
//   import ringport = require('ringport');

/// <reference types="node" />

/**
 * The `code` of a {@link ChannelError}:
 * - `ERR_CHANNEL_CLOSED`: this end (or the whole channel) was closed; no more sends.
 *   Also what every call that needs native code throws or rejects with in a thread that
 *   is stopping after an uncaught exception (its queued microtasks still run).
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
 *   chunks into one buffer (up to 64 KiB), and empty sends deliver nothing. Under
 *   backpressure `'block'` and `'grow'`, the sender also joins small writes: `send()`
 *   and `trySend()` of a chunk up to 16 KiB copy it into a staging buffer (64 KiB, or a
 *   quarter of the capacity if smaller) and resolve (return `true`) at once; the
 *   staged bytes reach shared memory in one send when the buffer is full, before any
 *   other call on the sender (`close()` included), or when the current tick ends. A
 *   thread that ends within the same tick (`process.exit()`, termination) loses the
 *   bytes still staged, as a `stream.Writable` loses what it buffered; order and
 *   backpressure are kept (a full channel makes later sends wait behind the staged
 *   bytes).
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
  /**
   * Bytes per slab of the buffer pool's smallest size class, an integer from 4096 to
   * 2^30 (rounded up to a power of two); each further class is 8× larger, up to the
   * capacity. Default 16 KiB. Messages larger than the inline threshold (4 KiB by
   * default) travel in slabs; when a message's class is empty it takes a slab of a
   * larger class, and when every class is empty a heap block
   * (`stats().pool.fallbacks`).
   */
  slabSize?: number | undefined;
  /** Slabs per size class, an integer from 2 to 2^20. Default: enough for `capacity` bytes per class (at least 4). */
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
   * Messages overwritten unread: by a `'dropOldest'` sender making room, by a `Mailbox`
   * send. With no message in flight, a Channel has `sent === received + dropped + pending`.
   */
  dropped: number;
  /** Broadcast: times receivers fell behind and skipped messages; always 0 for a `Channel`. */
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

/** Options of {@link Channel.receiver} and {@link Broadcast.receiver}. */
export interface ReceiverOptions {
  /**
   * `true` (default): messages larger than the inline size (4 KiB at the default
   * capacity) arrive as external `ArrayBuffer`s over pool memory, without a copy; that
   * memory returns on {@link Receiver.release} or garbage collection. While the
   * buffers you hold add up to an eighth of the capacity or more, those under 128 KiB
   * arrive as copies instead (the lending budget: see {@link Receiver}).
   *
   * `false`: every message is a plain copy, and its pool memory returns at once, so
   * buffers you keep hold no pool memory and `release()` is a no-op (returns `false`).
   * Choose it for receivers that keep messages for long, or to leave the pool to others.
   *
   * Where the runtime refuses external buffers (Electron's V8 sandbox: Node-API
   * `napi_no_external_buffers_allowed`), receivers always copy, whatever is asked;
   * {@link Receiver.zeroCopy} tells which mode a receiver got.
   */
  zeroCopy?: boolean | undefined;
  /**
   * The most microseconds (an integer, 0 to 10000) a receive that finds nothing polls
   * shared memory before it sleeps. Default: 50.
   *
   * A sleeping receiver is woken through the kernel and its event loop (tens of µs on
   * a small VM, as `MessagePort`); a message that arrives while it polls is taken at
   * once, without any wake, and the sender's send then makes no system call either.
   * Two threads that answer each other within the budget so stay awake and trade
   * messages in a few µs. Raise it (e.g. `spin: 200`) for lower round-trip latency
   * when the peer may take longer to answer; `0` sleeps at once (least CPU).
   *
   * Polling holds this thread: a `recv()` (or `for await` step, `recvBatch()`,
   * `batches()` step) that finds nothing returns only after the message came or the
   * budget ran out, and `recvSync()` polls as long before it blocks on a futex. The
   * poll yields the CPU (`sched_yield`) between checks, so a thread waiting for this
   * core runs. An idle receiver still sleeps: a poll that catches nothing makes the
   * next asynchronous receives sleep at once (1, then 3, 7 … up to 255 of them after
   * misses in a row), and a poll that catches a message resets that; `recvSync()`
   * polls the full budget every time. Timeouts, aborts and close are honoured as
   * without polling (a timeout or abort takes effect once the poll ends).
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` when not a number.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` when not an integer from 0 to 10000.
   */
  spin?: number | undefined;
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
   * @param options `zeroCopy: false` makes every message a plain copy; `spin` is how long
   *   (µs) a receive polls before it sleeps (see {@link ReceiverOptions})
   * @throws {ChannelError} `ERR_CHANNEL_ROLE_TAKEN` when a receiver was already claimed,
   *   in any thread.
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for bad `options` (nothing is claimed then).
   * @throws {RangeError} `ERR_OUT_OF_RANGE` for a `spin` that is not an integer from 0 to 10000.
   */
  receiver(options?: ReceiverOptions): Receiver;

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
   * `send()`). Never waits. A reservation belongs to its sender: when the sender goes
   * away (its thread exits or is terminated, or it is garbage-collected) before
   * `commit()`, its slab returns to the pool, so stop writing to the view then.
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
 * Larger messages are lent: external buffers over pool memory (zero-copy; over a
 * separate allocation when the pool had no free slab), whose memory returns when you
 * {@link Receiver.release} them or they are garbage-collected.
 * Small messages are plain copies; `release()` is a no-op on them. A receiver made with
 * `zeroCopy: false` (see {@link ReceiverOptions}) copies every message.
 *
 * Lending budget: a receiver lends while the lent buffers you still hold (not released,
 * not yet collected) add up to less than an eighth of the channel's capacity. Past
 * that, messages under 128 KiB arrive as plain copies too, and their pool memory
 * returns at once, so a loop that drops its buffers never runs the pool dry while it
 * waits for garbage collection. Messages of 128 KiB and more are always lent (a copy
 * that large costs more than the heap block the sender may then fall back to).
 * Release each buffer when done (`release()`, or `iterate({ autoRelease: true })`) and
 * every larger message stays zero-copy.
 *
 * End of stream: after a graceful close the receiver drains what is buffered, then ends
 * (`recv()` resolves `null`). After `closeWithError()` it fails with the relayed error.
 * When the producer's thread exits or is terminated, or its sender is collected, without
 * `close()`, the receiver first drains every committed message, then fails with
 * `ERR_CHANNEL_DISCONNECTED` (distinguishable from a clean end).
 *
 * A {@link Broadcast} receiver is a `Receiver` too. When it falls more than the
 * broadcast's capacity behind, its next receive (`recv()`, an iteration step,
 * `tryRecv()`, `recvSync()`, a `batches()` step) fails once with `ERR_CHANNEL_LAGGED`,
 * whose `missed` says how many messages it skipped; the receive after that continues
 * from the oldest message still held. Closing a broadcast receiver affects no one else.
 */
export class Receiver implements AsyncIterable<ArrayBuffer>, AsyncDisposable {
  private constructor();

  /**
   * `true` when messages above the inline size arrive zero-copy over pool memory;
   * `false` when every message is a plain copy (`zeroCopy: false` was asked, or the
   * runtime refuses external buffers). See {@link ReceiverOptions}.
   */
  readonly zeroCopy: boolean;

  /** The most microseconds a receive polls before it sleeps: the `spin` option (see {@link ReceiverOptions}). */
  readonly spin: number;

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
   * at most 1024, and ending after the pool-backed ones reach an eighth of the
   * channel's capacity: each holds a pool slab while referenced). Small messages are
   * `Uint8Array` views into one buffer shared by the batch (one allocation per batch
   * instead of one per message); large ones keep their own zero-copy buffer. Views stay
   * valid while referenced. Ends after a graceful
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
   * `false` for a copy (a small message, or one that came past the lending budget: see
   * {@link Receiver}), a buffer already released, or one not from this receiver.
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
   * `ERR_CHANNEL_DISCONNECTED`. Buffers already received stay valid. A queue receiver
   * whose thread ends, or that is garbage-collected, drops its buffered messages the
   * same way.
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

  /**
   * The channel's counters (see {@link ChannelStats}). On a {@link Broadcast} receiver:
   * this receiver's own `received`, `bytesReceived`, `lagged` (lag events), `dropped`
   * (messages it missed) and `pending` (sent but not yet received by it). Never waits.
   */
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

/** Options of `new Broadcast()`. */
export interface BroadcastOptions {
  /**
   * Bytes of messages held for receivers that are behind, rounded up to a power of two;
   * a receiver further behind than this lags. An integer from 1 to 2^30. Default 1 MiB.
   */
  capacity?: number | undefined;
  /** Larger sends fail with `ERR_MESSAGE_TOO_LARGE`. An integer from 1 to 2^32 - 1. Default 1 GiB. */
  maxMessageSize?: number | undefined;
  /**
   * Bytes per slab of the buffer pool's smallest size class, an integer from 4096 to
   * 2^30 (rounded up to a power of two); each further class is 8× larger, up to the
   * capacity. Default 16 KiB. Messages larger than the inline threshold (4 KiB by
   * default) travel in slabs; when a message's class is empty it takes a slab of a
   * larger class, and when every class is empty a heap block
   * (`stats().pool.fallbacks`).
   */
  slabSize?: number | undefined;
  /** Number of buffer-pool slabs per size class, an integer from 2 to 2^20. Default: the implementation's choice. */
  poolSlabs?: number | undefined;
}

/** Like {@link ChannelHandle}, for a {@link Broadcast}. */
export interface BroadcastHandle {
  /** Always `'ringport.broadcast'`. */
  readonly type: 'ringport.broadcast';
  /** Layout version of the shared memory; `from()` accepts only its own. */
  readonly version: number;
  /** The broadcast itself: header, ring and buffer pool. */
  readonly buffer: SharedArrayBuffer;
}

/**
 * One producer, any number of receivers in any threads; each receiver gets every
 * message sent after it attached, in order. Sends never wait for receivers: a receiver
 * more than `capacity` bytes behind gets one `ERR_CHANNEL_LAGGED` (with `missed`) and
 * continues from the oldest message still held, so a slow or dead receiver never holds
 * back the sender or the other receivers.
 *
 * Buffer lifetime: as for {@link Receiver}. Messages over 4 KiB are zero-copy: every
 * receiver's buffer is a view of the same pool slab, freed when the last receiver
 * releases its buffer (or it is collected) and the broadcast no longer holds the message.
 *
 * @example
 * const bc = new Broadcast({ capacity: 1 << 20 });
 * for (const w of workers) w.postMessage(bc.handle);   // each: Broadcast.from(h).receiver()
 * const tx = bc.sender();
 * await tx.send(JSON.stringify(event));                // resolves at once
 */
export class Broadcast {
  /**
   * Creates a broadcast in a new `SharedArrayBuffer`.
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` when `options` or an option has the wrong type.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` for a size option outside its range.
   */
  constructor(options?: BroadcastOptions);

  /**
   * Attaches to a broadcast created in any thread, without copying data.
   * @throws {ChannelError} `ERR_INVALID_HANDLE` when `handle` is not a live broadcast
   *   handle of this layout version (a `Channel`'s handle is refused too).
   */
  static from(handle: BroadcastHandle): Broadcast;

  /** A structured-clonable value that attaches to this broadcast in any thread. */
  readonly handle: BroadcastHandle;

  /** Bytes of messages held for receivers that are behind (a power of two). */
  readonly capacity: number;

  /**
   * Claims the sending end, which then belongs to this thread.
   * @throws {ChannelError} `ERR_CHANNEL_ROLE_TAKEN` when a sender was already claimed, in any thread.
   */
  sender(): BroadcastSender;

  /**
   * A new receiver in this thread, which gets every message sent from now on. Any
   * number may exist, in any threads, joining and leaving at any time, each zero-copy
   * or copying as it chooses.
   * @param options `zeroCopy: false` makes every message a plain copy; `spin` is how long
   *   (µs) a receive polls before it sleeps (see {@link ReceiverOptions})
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for bad `options`.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` for a `spin` that is not an integer from 0 to 10000.
   */
  receiver(options?: ReceiverOptions): Receiver;

  /** Graceful close from any thread: no more sends; receivers get what was sent, then end. */
  close(): void;

  /**
   * Counters since creation: `sent`/`bytesSent`; `received`, `bytesReceived` and
   * `lagged` summed over every receiver; `pending` 0 (it is per receiver: see
   * `receiver.stats()`). Never waits.
   */
  stats(): ChannelStats;
}

/**
 * The sending end of a {@link Broadcast}. Nothing it does ever waits: the oldest
 * messages make room for new ones.
 */
export class BroadcastSender implements AsyncDisposable {
  private constructor();

  /** `true` once `close()` or `closeWithError()` was called. */
  readonly closed: boolean;

  /**
   * Publishes `data` (a string is sent as UTF-8) to every receiver. Resolves at once.
   * @throws {ChannelError} rejects with `ERR_CHANNEL_CLOSED` after a close,
   *   `ERR_MESSAGE_TOO_LARGE`, or `ERR_CHANNEL_FULL` when memory for a large message
   *   cannot be had at all.
   * @throws {TypeError} rejects with `ERR_INVALID_ARG_TYPE` for other `data`.
   */
  send(data: MessageData): Promise<void>;

  /** As {@link BroadcastSender.send}, synchronously; returns `true` (never full). Throws instead of rejecting. */
  trySend(data: MessageData): boolean;

  /** As {@link BroadcastSender.send}, synchronously. Throws instead of rejecting. */
  sendSync(data: MessageData): void;

  /**
   * Publishes every item of `list` in order, with one crossing into native code.
   * Rejects as `send()`: an item that cannot be sent (`ERR_MESSAGE_TOO_LARGE`, or the
   * sender closed) rejects the call, with the items before it published and it and
   * the rest not. A bad item rejects the whole batch before anything is sent.
   */
  sendBatch(list: readonly MessageData[]): Promise<void>;

  /** Graceful: no more sends; receivers get what was sent, then end. Idempotent. */
  close(): void;

  /**
   * Immediate: each receiver's next receive rejects with an error of the same `name`,
   * `message` and `code` as `error`; what it had not received is dropped.
   */
  closeWithError(error: unknown): void;

  /** Nothing a broadcast sender does keeps the event loop alive; these return `this`. */
  ref(): this;
  unref(): this;

  /** The broadcast's counters (see {@link Broadcast.stats}). */
  stats(): ChannelStats;

  /** Same as {@link BroadcastSender.close}; for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of {@link Watch} and {@link Mailbox}. */
export interface ValueChannelOptions {
  /**
   * The largest value in bytes, exactly (not rounded): 1 to 2^30. Larger sends fail
   * with `ERR_MESSAGE_TOO_LARGE`. The shared memory holds three buffers of this size.
   * Default 64 KiB.
   */
  capacity?: number | undefined;
}

/** A structured-clonable value naming a {@link Watch}'s shared memory (see {@link ChannelHandle}). */
export interface WatchHandle {
  /** Always `'ringport.watch'`. */
  readonly type: 'ringport.watch';
  /** Layout version of the shared memory; `from()` accepts only its own. */
  readonly version: number;
  /** The watch itself: header and value slot. */
  readonly buffer: SharedArrayBuffer;
}

/** A structured-clonable value naming a {@link Mailbox}'s shared memory (see {@link ChannelHandle}). */
export interface MailboxHandle {
  /** Always `'ringport.mailbox'`. */
  readonly type: 'ringport.mailbox';
  /** Layout version of the shared memory; `from()` accepts only its own. */
  readonly version: number;
  /** The mailbox itself: header and value slot. */
  readonly buffer: SharedArrayBuffer;
}

/**
 * What the sending ends of a {@link Watch} and a {@link Mailbox} ({@link WatchSender},
 * {@link MailboxSender}) share.
 */
export interface ValueSender extends AsyncDisposable {
  /** True once `close()` or `closeWithError()` was called on this sender. */
  readonly closed: boolean;

  /** No effect: a sender never waits, so it never keeps the event loop alive. @returns this sender */
  ref(): this;

  /** No effect (see {@link ValueSender.ref}). @returns this sender */
  unref(): this;

  /** Its watch's or mailbox's counters (see {@link Watch.stats}, {@link Mailbox.stats}). Never waits. */
  stats(): ChannelStats;

  /** Same as `close()`; for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * What the receiving ends of a {@link Watch} and a {@link Mailbox} ({@link WatchReceiver},
 * {@link MailboxReceiver}) share.
 */
export interface ValueReceiver extends AsyncIterable<ArrayBuffer>, AsyncDisposable {
  /** A pending `recv()` keeps the event loop alive (the default). @returns this receiver */
  ref(): this;

  /** A pending `recv()` no longer keeps the event loop alive. @returns this receiver */
  unref(): this;

  /** Its watch's or mailbox's counters (see {@link Watch.stats}, {@link Mailbox.stats}). Never waits. */
  stats(): ChannelStats;

  /** Same as `close()`; for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * The latest value: one sender replaces it, any number of receivers in any threads read
 * it. Each receiver's `recv()` resolves with the newest value that receiver has not seen
 * (values sent in between are skipped); `latest()` reads the current value at once. A
 * send never waits, for anything. Values are copied in and out (receivers get
 * `ArrayBuffer` copies), so keep them small: a state, a configuration, a progress count.
 *
 * Lives in a `SharedArrayBuffer`: pass {@link Watch.handle} to another thread and attach
 * there with {@link Watch.from}.
 *
 * @example
 * const watch = new Watch();
 * new Worker('./reporter.js', { workerData: watch.handle });   // sends its progress
 * for await (const state of watch.receiver()) render(JSON.parse(Buffer.from(state).toString()));
 */
export class Watch {
  /**
   * Creates a watch in a new `SharedArrayBuffer`.
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` when `options` or `capacity` has the wrong type.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` for a `capacity` outside 1 to 2^30.
   */
  constructor(options?: ValueChannelOptions);

  /**
   * Attaches to a watch created in any thread, without copying.
   * @throws {ChannelError} `ERR_INVALID_HANDLE` when `handle` is not a live ringport
   *   watch handle of this layout version (a channel's or a mailbox's handle included).
   */
  static from(handle: WatchHandle): Watch;

  /** A structured-clonable value that attaches to this watch in any thread (a new object on each read). */
  readonly handle: WatchHandle;

  /** The largest value in bytes. */
  readonly capacity: number;

  /**
   * Claims the one sending end, which then belongs to this thread.
   * @throws {ChannelError} `ERR_CHANNEL_ROLE_TAKEN` when a sender was claimed before, in
   *   any thread (even if it has closed since).
   */
  sender(): WatchSender;

  /** A new receiving end in this thread; any number may exist, in any threads. Never throws. */
  receiver(): WatchReceiver;

  /**
   * Closes gracefully, from any thread attached to it: later sends fail with
   * `ERR_CHANNEL_CLOSED`; each receiver still gets the last value it has not seen, then
   * ends. Closing twice does nothing.
   */
  close(): void;

  /**
   * Counters since creation: `sent`/`bytesSent` count sends, `received`/`bytesReceived`
   * the values all receivers got from `recv()`. `dropped`, `lagged`, `pending` and
   * `pendingBytes` are 0, and so is `pool` (a watch has no buffer pool). Never waits.
   */
  stats(): ChannelStats;
}

/** The one sending end of a {@link Watch}; create it with `watch.sender()`. Use it in the thread that created it. */
export interface WatchSender extends ValueSender {
  /**
   * Replaces the value with a copy of `data` (a string is sent as UTF-8). Never waits:
   * resolves at once. Receivers that have not seen the previous value skip it.
   * Never throws: bad arguments and failures reject the promise.
   * @throws {TypeError} rejects with `ERR_INVALID_ARG_TYPE` when `data` is not a string,
   *   an `ArrayBuffer`, a `SharedArrayBuffer` or an `ArrayBufferView`.
   * @throws {ChannelError} rejects with `ERR_MESSAGE_TOO_LARGE` (larger than `capacity`)
   *   or `ERR_CHANNEL_CLOSED` (after a close of this sender or of the watch).
   */
  send(data: MessageData): Promise<void>;

  /**
   * `send()`, synchronously. A watch is never full, so it returns `true` or throws.
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for `data` of the wrong type.
   * @throws {ChannelError} `ERR_MESSAGE_TOO_LARGE` or `ERR_CHANNEL_CLOSED`.
   */
  trySend(data: MessageData): true;

  /**
   * Graceful close: no more sends. Each receiver still gets the last value it has not
   * seen, then its `recv()` resolves `null` and `for await` ends. Calling it again does
   * nothing. A sender whose thread exits or is terminated, or that is
   * garbage-collected, without `close()` ends the watch the same way except that
   * receivers then fail with `ERR_CHANNEL_DISCONNECTED`.
   */
  close(): void;

  /**
   * Immediate close: every receiver's next `recv()` rejects with an error of the same
   * `name`, `message` and `code` as `error`, even over a value it has not seen. Does
   * nothing after `close()`.
   */
  closeWithError(error: unknown): void;
}

/**
 * A receiving end of a {@link Watch}; create it with `watch.receiver()` (any number, in
 * any threads). Use it in the thread that created it. A new receiver has not seen the
 * current value: its first `recv()` returns it at once if one was ever sent. Every value
 * is a fresh `ArrayBuffer` copy, valid for as long as you hold it.
 */
export interface WatchReceiver extends ValueReceiver {
  /**
   * Yields each newest unseen value as it arrives (values sent in between are skipped).
   * Ends after a graceful close; throws after `closeWithError()` or when the sender is
   * gone. Leaving the loop early does not close the receiver.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<ArrayBuffer>;

  /**
   * The newest value this receiver has not seen; waits (without blocking the thread)
   * until one is sent. Resolves `null` once the watch closed gracefully and the last
   * value was seen, or this receiver was closed. A pending `recv()` keeps the event loop
   * alive unless {@link WatchReceiver.unref} was called.
   * Never throws: bad arguments and failures reject the promise.
   * @throws {TypeError} rejects with `ERR_INVALID_ARG_TYPE` for bad `options`.
   * @throws {RangeError} rejects with `ERR_OUT_OF_RANGE` for a negative or NaN `timeout`.
   * @throws {ChannelError} rejects with `ERR_TIMEOUT` after `timeout` ms,
   *   `ERR_CHANNEL_DISCONNECTED` once the sender's thread died (after its last value), or
   *   the error relayed by `closeWithError()`.
   * @throws {Error} rejects with an `AbortError` (`code` `'ABORT_ERR'`) when `signal` aborts.
   */
  recv(options?: RecvOptions): Promise<ArrayBuffer | null>;

  /**
   * The newest unseen value, or `undefined` when there is none (also once ended
   * gracefully). Never waits.
   * @throws {ChannelError} as `recv()` rejects, once the watch failed.
   */
  tryRecv(): ArrayBuffer | undefined;

  /**
   * The current value, whether this receiver has seen it or not; `undefined` if none
   * was ever sent. Never waits, and does not mark the value seen (the next `recv()` is
   * unchanged). Still reads the last value after the watch closed.
   * @throws {ChannelError} `ERR_INVALID_HANDLE` if the shared memory is corrupted.
   */
  latest(): ArrayBuffer | undefined;

  /**
   * Ends this receiver only: pending and later `recv()` calls resolve `null`. The sender
   * and other receivers are not affected. A receiver that is garbage-collected or whose
   * thread ends goes away just as quietly.
   */
  close(): void;
}

/**
 * A single slot between one sender and one receiver. A send puts a message in the slot,
 * overwriting one the receiver has not taken (counted in `stats().dropped`), and never
 * waits; `recv()` takes the message and empties the slot. Good for "the latest command"
 * or "the latest frame" handed from one thread to another. Values are copied in and out.
 *
 * Lives in a `SharedArrayBuffer`: pass {@link Mailbox.handle} to another thread and
 * attach there with {@link Mailbox.from}.
 *
 * @example
 * const mailbox = new Mailbox({ capacity: 1 << 20 });
 * new Worker('./renderer.js', { workerData: mailbox.handle });   // receives frames
 * const tx = mailbox.sender();
 * setInterval(() => tx.trySend(drawFrame()), 16);   // a frame not taken in time is replaced
 */
export class Mailbox {
  /**
   * Creates a mailbox in a new `SharedArrayBuffer`.
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` when `options` or `capacity` has the wrong type.
   * @throws {RangeError} `ERR_OUT_OF_RANGE` for a `capacity` outside 1 to 2^30.
   */
  constructor(options?: ValueChannelOptions);

  /**
   * Attaches to a mailbox created in any thread, without copying.
   * @throws {ChannelError} `ERR_INVALID_HANDLE` when `handle` is not a live ringport
   *   mailbox handle of this layout version (a channel's or a watch's handle included).
   */
  static from(handle: MailboxHandle): Mailbox;

  /** A structured-clonable value that attaches to this mailbox in any thread (a new object on each read). */
  readonly handle: MailboxHandle;

  /** The largest message in bytes. */
  readonly capacity: number;

  /**
   * Claims the one sending end, which then belongs to this thread.
   * @throws {ChannelError} `ERR_CHANNEL_ROLE_TAKEN` when a sender was claimed before, in any thread.
   */
  sender(): MailboxSender;

  /**
   * Claims the one receiving end, which then belongs to this thread.
   * @throws {ChannelError} `ERR_CHANNEL_ROLE_TAKEN` when a receiver was claimed before, in any thread.
   */
  receiver(): MailboxReceiver;

  /**
   * Closes gracefully, from any thread attached to it: later sends fail with
   * `ERR_CHANNEL_CLOSED`; the receiver still takes a message left in the slot, then ends.
   * Closing twice does nothing.
   */
  close(): void;

  /**
   * Counters since creation: `sent`, `received` (taken), their bytes, `dropped`
   * (messages overwritten before the receiver took them), `pending`/`pendingBytes` (1
   * and its size while a message waits in the slot, else 0). `lagged` and `pool` are 0.
   * Every message sent is eventually taken or dropped, except the one still pending.
   * Never waits.
   */
  stats(): ChannelStats;
}

/**
 * The one sending end of a {@link Mailbox}; create it with `mailbox.sender()`. Use it in
 * the thread that created it. If the receiver is gone (closed, its thread exited or was
 * terminated, or it was garbage-collected), sends fail with `ERR_CHANNEL_DISCONNECTED`.
 */
export interface MailboxSender extends ValueSender {
  /**
   * Puts a copy of `data` (a string as UTF-8) in the slot, overwriting a message the
   * receiver has not taken. Never waits: resolves at once.
   * Never throws: bad arguments and failures reject the promise.
   * @throws {TypeError} rejects with `ERR_INVALID_ARG_TYPE` for `data` of the wrong type.
   * @throws {ChannelError} rejects with `ERR_MESSAGE_TOO_LARGE` (larger than `capacity`),
   *   `ERR_CHANNEL_CLOSED` (after a close) or `ERR_CHANNEL_DISCONNECTED` (the receiver is gone).
   */
  send(data: MessageData): Promise<void>;

  /**
   * `send()`, synchronously. A mailbox is never full, so it returns `true` or throws.
   * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for `data` of the wrong type.
   * @throws {ChannelError} `ERR_MESSAGE_TOO_LARGE`, `ERR_CHANNEL_CLOSED` or `ERR_CHANNEL_DISCONNECTED`.
   */
  trySend(data: MessageData): true;

  /**
   * Graceful close: no more sends. The receiver still takes a message left in the slot,
   * then its `recv()` resolves `null`. A sender whose thread exits or is terminated, or
   * that is garbage-collected, without `close()` ends the mailbox the same way except
   * that the receiver then fails with `ERR_CHANNEL_DISCONNECTED`. Calling it again does nothing.
   */
  close(): void;

  /**
   * Immediate close: a message in the slot is dropped and the receiver's next `recv()`
   * rejects with an error of the same `name`, `message` and `code` as `error`. Does
   * nothing after `close()`.
   */
  closeWithError(error: unknown): void;
}

/**
 * The one receiving end of a {@link Mailbox}; create it with `mailbox.receiver()`. Use it
 * in the thread that created it. Each message is a fresh `ArrayBuffer` copy, valid for as
 * long as you hold it.
 */
export interface MailboxReceiver extends ValueReceiver {
  /**
   * Takes each message as it arrives (messages overwritten before they were taken are
   * skipped). Ends after a graceful close; throws after `closeWithError()` or when the
   * sender is gone. Leaving the loop early does not close the receiver.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<ArrayBuffer>;

  /**
   * Takes the message, emptying the slot; waits (without blocking the thread) until one
   * is sent. Resolves `null` once the mailbox closed gracefully and is empty, or this
   * receiver was closed. A pending `recv()` keeps the event loop alive unless
   * {@link MailboxReceiver.unref} was called.
   * Never throws: bad arguments and failures reject the promise.
   * @throws {TypeError} rejects with `ERR_INVALID_ARG_TYPE` for bad `options`.
   * @throws {RangeError} rejects with `ERR_OUT_OF_RANGE` for a negative or NaN `timeout`.
   * @throws {ChannelError} rejects with `ERR_TIMEOUT` after `timeout` ms,
   *   `ERR_CHANNEL_DISCONNECTED` once the sender's thread died (after a message it left),
   *   or the error relayed by `closeWithError()`.
   * @throws {Error} rejects with an `AbortError` (`code` `'ABORT_ERR'`) when `signal` aborts.
   */
  recv(options?: RecvOptions): Promise<ArrayBuffer | null>;

  /**
   * Takes the message if there is one, else `undefined` (also once ended gracefully).
   * Never waits.
   * @throws {ChannelError} as `recv()` rejects, once the mailbox failed.
   */
  tryRecv(): ArrayBuffer | undefined;

  /**
   * Ends the receiving end: pending and later `recv()` calls resolve `null`, and the
   * sender's later sends fail with `ERR_CHANNEL_DISCONNECTED`.
   */
  close(): void;
}
