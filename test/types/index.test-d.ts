// Type tests for index.d.ts. Never run: `tsc -p test/types/tsconfig.json` only checks
// that correct uses compile with exact types, and that each `@ts-expect-error` line
// (a misuse) is still rejected, so the typings cannot silently become looser.

import { Worker, workerData } from 'node:worker_threads';
import { Broadcast, BroadcastSender, Channel, ChannelError, Receiver, Sender } from 'ringport';
import type {
  Backpressure,
  BroadcastHandle,
  BroadcastOptions,
  ChannelErrorCode,
  ChannelHandle,
  ChannelOptions,
  ChannelStats,
  Framing,
  MessageData,
  PoolStats,
  Producers,
  ReceiverOptions,
} from 'ringport';
import { Mailbox, Watch } from 'ringport';
import type {
  MailboxHandle,
  MailboxReceiver,
  MailboxSender,
  ValueChannelOptions,
  ValueReceiver,
  ValueSender,
  WatchHandle,
  WatchReceiver,
  WatchSender,
} from 'ringport';
import ringport = require('ringport');

// Exact type equality: fails for `any`, wider or narrower types alike.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
declare function assertType<T>(value: T): { is<U>(...exact: Equal<T, U> extends true ? [] : ['types differ']): void };
declare function use(...values: unknown[]): void;

async function channel(): Promise<void> {
  const defaults = new Channel();
  const options: ChannelOptions = {
    capacity: 1 << 16,
    backpressure: 'reject',
    producers: 'single',
    framing: 'message',
    maxMessageSize: 1 << 20,
    slabSize: 1 << 16,
    poolSlabs: 64,
  };
  const ch = new Channel(options);
  new Channel({ backpressure: 'dropOldest' }); // one sender; full sends drop the oldest unread messages
  new Channel({ backpressure: 'grow', framing: 'bytes', producers: 'auto' });
  new Channel({ capacity: undefined }); // explicit undefined = default

  assertType(ch.capacity).is<number>();
  assertType(ch.backpressure).is<Backpressure>();
  assertType(ch.handle).is<ChannelHandle>();
  assertType(ch.handle.type).is<'ringport.channel'>();
  assertType(ch.handle.version).is<number>();
  assertType(ch.handle.buffer).is<SharedArrayBuffer>();
  assertType(ch.stats()).is<ChannelStats>();
  assertType(ch.sender()).is<Sender>();
  assertType(ch.receiver()).is<Receiver>();
  assertType(ch.close()).is<void>();

  // The handle crosses threads and attaches there.
  const worker = new Worker('./producer.js', { workerData: ch.handle });
  worker.postMessage(ch.handle);
  assertType(Channel.from(structuredClone(ch.handle))).is<Channel>();
  assertType(Channel.from(workerData)).is<Channel>(); // workerData is `any`
  assertType(defaults.handle).is<ChannelHandle>();

  const modes: Backpressure[] = ['block', 'reject', 'dropOldest', 'grow'];
  const producers: Producers[] = ['auto', 'single'];
  const framings: Framing[] = ['message', 'bytes'];
  use(modes, producers, framings);

  // @ts-expect-error unknown backpressure mode
  new Channel({ backpressure: 'drop' });
  // @ts-expect-error unknown producers mode
  new Channel({ producers: 'multi' });
  // @ts-expect-error unknown framing
  new Channel({ framing: 'stream' });
  // @ts-expect-error capacity is a number
  new Channel({ capacity: '1MiB' });
  // @ts-expect-error no such option
  new Channel({ capacty: 1024 });
  // @ts-expect-error options is an object
  new Channel(1024);
  // @ts-expect-error a handle, not any object
  Channel.from({});
  // @ts-expect-error a handle, not the channel itself
  Channel.from(ch);
  const foreign = { type: 'other.channel', version: 1, buffer: new SharedArrayBuffer(64) } as const;
  // @ts-expect-error the handle's tag is fixed
  Channel.from(foreign);
  // @ts-expect-error read-only
  ch.capacity = 2;
  // @ts-expect-error read-only
  ch.handle = defaults.handle;
  // @ts-expect-error stats are read through stats()
  ch.sent;
}

async function sender(ch: Channel): Promise<void> {
  const tx = ch.sender();
  const data: MessageData[] = [
    'text',
    new ArrayBuffer(8),
    new SharedArrayBuffer(8),
    new Uint8Array(8),
    new Float64Array(2),
    new DataView(new ArrayBuffer(8)),
    Buffer.from('buffer'),
  ];
  for (const d of data) assertType(tx.send(d)).is<Promise<void>>();
  assertType(await tx.send('x')).is<void>();
  assertType(tx.trySend(new Uint8Array(4))).is<boolean>();
  assertType(tx.sendSync('x')).is<void>();
  assertType(tx.sendSync('x', { timeout: 100 })).is<void>();
  assertType(tx.sendSync('x', {})).is<void>();
  assertType(tx.closed).is<boolean>();
  assertType(tx.ref()).is<Sender>();
  assertType(tx.unref().ref()).is<Sender>();
  assertType(tx.stats()).is<ChannelStats>();
  assertType(tx.close()).is<void>();
  assertType(tx.closeWithError(new TypeError('bad input'))).is<void>();
  tx.closeWithError(Object.assign(new Error('gone'), { code: 'E_APP' }));
  tx.closeWithError('any value');
  assertType(tx[Symbol.asyncDispose]()).is<Promise<void>>();
  {
    await using disposable = ch.sender();
    disposable.trySend('closed when the block ends');
  }

  // @ts-expect-error a number is not message data
  tx.send(42);
  // @ts-expect-error nor is a plain array
  tx.trySend([1, 2, 3]);
  // @ts-expect-error nor an object
  tx.sendSync({ text: 'x' });
  // @ts-expect-error timeout is a number
  tx.sendSync('x', { timeout: '1s' });
  // @ts-expect-error timeout is a number
  tx.send('x', { timeout: '10' });
  // @ts-expect-error read-only
  tx.closed = true;
  // @ts-expect-error created by channel.sender()
  new Sender();
  // @ts-expect-error a list, not one message
  tx.sendBatch('a');
  // @ts-expect-error items are message data
  tx.sendBatch([1, 2]);
  // @ts-expect-error reserve takes a size
  tx.reserve('16');
  // @ts-expect-error ready() resolves to nothing
  const readyValue: boolean = await tx.ready();
  use(readyValue);
  // @ts-expect-error ref() returns the sender
  const wrong: Receiver = tx.ref();
  use(wrong);
}

async function receiver(ch: Channel): Promise<void> {
  const rx = ch.receiver();
  assertType(rx.zeroCopy).is<boolean>();
  const copying: ReceiverOptions = { zeroCopy: false };
  assertType(new Channel().receiver(copying)).is<Receiver>();
  assertType(new Broadcast().receiver({ zeroCopy: undefined })).is<Receiver>();
  // @ts-expect-error zeroCopy is a boolean
  new Channel().receiver({ zeroCopy: 'no' });
  // @ts-expect-error zeroCopy is read-only
  rx.zeroCopy = false;
  assertType(rx.spin).is<number>();
  const spinning: ReceiverOptions = { spin: 200, zeroCopy: true };
  assertType(new Broadcast().receiver(spinning)).is<Receiver>();
  // @ts-expect-error spin is a number of microseconds
  new Channel().receiver({ spin: '200' });
  // @ts-expect-error spin is read-only
  rx.spin = 0;
  for await (const buf of rx) {
    assertType(buf).is<ArrayBuffer>();
    // @ts-expect-error messages are ArrayBuffers
    const text: string = buf;
    use(text);
    break; // does not close the receiver
  }
  for await (const buf of rx.iterate({ autoRelease: true })) assertType(buf).is<ArrayBuffer>();
  for await (const buf of rx.iterate()) assertType(buf).is<ArrayBuffer>();
  assertType(rx.iterate({})).is<AsyncIterableIterator<ArrayBuffer>>();
  assertType(rx[Symbol.asyncIterator]()).is<AsyncIterableIterator<ArrayBuffer>>();
  const iterable: AsyncIterable<ArrayBuffer> = rx;
  use(iterable);

  assertType(rx.recv()).is<Promise<ArrayBuffer | null>>();
  assertType(await rx.recv({ timeout: 50 })).is<ArrayBuffer | null>();
  assertType(await rx.recv({ signal: AbortSignal.timeout(50) })).is<ArrayBuffer | null>();
  assertType(await rx.recv({ signal: new AbortController().signal, timeout: 10 })).is<ArrayBuffer | null>();
  assertType(rx.tryRecv()).is<ArrayBuffer | undefined>();
  assertType(rx.recvSync()).is<ArrayBuffer | null>();
  assertType(rx.recvSync({ timeout: 5 })).is<ArrayBuffer | null>();
  const got = await rx.recv();
  if (got !== null) assertType(rx.release(got)).is<boolean>();
  assertType(rx.ref()).is<Receiver>();
  assertType(rx.unref()).is<Receiver>();
  assertType(rx.stats()).is<ChannelStats>();
  assertType(rx.close()).is<void>();
  assertType(rx[Symbol.asyncDispose]()).is<Promise<void>>();
  {
    await using disposable = ch.receiver();
    use(disposable.tryRecv());
  }

  // @ts-expect-error null once the channel ended
  const notNull: ArrayBuffer = await rx.recv();
  // @ts-expect-error undefined when nothing is ready
  const notUndefined: ArrayBuffer = rx.tryRecv();
  use(notNull, notUndefined);
  // @ts-expect-error timeout is a number
  rx.recv({ timeout: '5s' });
  // @ts-expect-error signal is an AbortSignal
  rx.recv({ signal: 'abort' });
  // @ts-expect-error recvSync cannot be aborted
  rx.recvSync({ signal: new AbortController().signal });
  // @ts-expect-error autoRelease is a boolean
  rx.iterate({ autoRelease: 1 });
  // @ts-expect-error release takes a received ArrayBuffer
  rx.release('buffer');
  // @ts-expect-error created by channel.receiver()
  new Receiver();
  // @ts-expect-error recvBatch resolves an array
  const one: ArrayBuffer = await rx.recvBatch(10);
  use(one);
  // @ts-expect-error read-only
  rx.pending = 3;
  // @ts-expect-error discard takes a count
  rx.discard('all');
  // @ts-expect-error read() returns a Uint8Array copy
  const asBuffer: ArrayBuffer = rx.read(10);
  use(asBuffer);
}

function stats(s: ChannelStats): void {
  const counters: number[] = [s.sent, s.received, s.bytesSent, s.bytesReceived, s.dropped, s.lagged, s.pending, s.pendingBytes];
  const pool: PoolStats = s.pool;
  const poolCounters: number[] = [pool.slabs, pool.inUse, pool.fallbacks, pool.highWater];
  use(counters, poolCounters);
  // @ts-expect-error no such counter
  s.pool.free;
  // @ts-expect-error counters are numbers
  const big: bigint = s.sent;
  use(big);
}

function errors(error: unknown): void {
  if (!(error instanceof ChannelError)) return;
  assertType(error.code).is<ChannelErrorCode>();
  assertType(error.missed).is<number | undefined>();
  assertType(error.message).is<string>();
  const base: Error = error;
  use(base);
  switch (error.code) {
    case 'ERR_CHANNEL_CLOSED':
    case 'ERR_CHANNEL_FULL':
    case 'ERR_CHANNEL_DISCONNECTED':
    case 'ERR_CHANNEL_ROLE_TAKEN':
    case 'ERR_CHANNEL_LAGGED':
    case 'ERR_MESSAGE_TOO_LARGE':
    case 'ERR_INVALID_HANDLE':
    case 'ERR_TIMEOUT':
      break;
    default:
      assertType(error.code).is<never>(); // the union is exhaustive
  }
  assertType(ChannelError.codes.ERR_TIMEOUT).is<string>();
  assertType(new ChannelError(undefined, 'ERR_CHANNEL_LAGGED', { missed: 3 })).is<ChannelError>();
  assertType(new ChannelError('custom message', 'ERR_TIMEOUT')).is<ChannelError>();

  // @ts-expect-error not a ringport code
  if (error.code === 'ERR_NOPE') use(error);
  // @ts-expect-error not a ringport code
  new ChannelError('m', 'ERR_BOGUS');
  // @ts-expect-error missed is a count
  new ChannelError('m', 'ERR_CHANNEL_LAGGED', { missed: 'many' });
  // @ts-expect-error codes are read-only
  ChannelError.codes.ERR_TIMEOUT = 'changed';
}

// The CommonJS shape `import x = require()` sees the same classes.
function commonjs(): void {
  assertType(new ringport.Channel()).is<Channel>();
  assertType(ringport.ChannelError).is<typeof ChannelError>();
  assertType(ringport.Sender).is<typeof Sender>();
  assertType(ringport.Receiver).is<typeof Receiver>();
  assertType(ringport.Broadcast).is<typeof Broadcast>();
}

use(channel, sender, receiver, stats, errors, commonjs);

// Members added with the complete queue.
async function queueMembers(ch: Channel, tx: Sender, rx: Receiver): Promise<void> {
  const framing: 'message' | 'bytes' = ch.framing;
  await tx.send('x', { timeout: 5, signal: AbortSignal.timeout(10) });
  await tx.sendBatch(['a', new Uint8Array(2), new ArrayBuffer(1)], { timeout: 1 });
  await tx.ready({ signal: new AbortController().signal });
  const batch: ArrayBuffer[] = await rx.recvBatch(5, { timeout: 1 });
  for await (const group of rx.chunks(3)) {
    const g: ArrayBuffer[] = group;
    use(g);
  }
  for await (const group of rx.readyChunks(3)) {
    const g: ArrayBuffer[] = group;
    use(g);
  }
  for await (const batch of rx.batches()) {
    const n: number = batch.length;
    const first: Uint8Array | undefined = batch.at(0);
    for (const view of batch) {
      const v: Uint8Array = view;
      use(v);
    }
    use(n, first);
  }
  const bytes: Uint8Array = rx.read(10);
  const skipped: number = rx.discard(2);
  const buffered: number = rx.pending + rx.pendingBytes;
  use(framing, batch, bytes, skipped, buffered);
}
use(queueMembers);

// Zero-copy sends, streams and the producers getter.
async function moreMembers(ch: Channel, tx: Sender, rx: Receiver): Promise<void> {
  const producers: 'auto' | 'single' = ch.producers;
  const view: Uint8Array = tx.reserve(128);
  await tx.commit(view, 64);
  tx.abort(tx.reserve(8));
  const readable: import('node:stream').Readable = rx.readable({ highWaterMark: 1024 });
  const writable: import('node:stream').Writable = tx.writable({ highWaterMark: 1024 });
  const web: import('node:stream/web').ReadableStream<Uint8Array> = rx.readableStream();
  const webOut: import('node:stream/web').WritableStream = tx.writableStream({ highWaterMark: 4 });
  // @ts-expect-error commit resolves to nothing
  const committed: number = await tx.commit(view);
  use(producers, readable, writable, web, webOut, committed);
}
use(moreMembers);

// Broadcast: one sender, many receivers (plain Receivers), sends never wait.
async function broadcast(): Promise<void> {
  const options: BroadcastOptions = { capacity: 1 << 16, maxMessageSize: 1 << 20, slabSize: 1 << 16, poolSlabs: 8 };
  const bc = new Broadcast(options);
  const handle: BroadcastHandle = bc.handle;
  const again: Broadcast = Broadcast.from(handle);
  const tx: BroadcastSender = bc.sender();
  const rx: Receiver = again.receiver();
  await tx.send('hello');
  const sent: boolean = tx.trySend(new Uint8Array(4));
  tx.sendSync(new ArrayBuffer(2));
  await tx.sendBatch(['a', new Uint8Array(1)]);
  const capacity: number = bc.capacity;
  const stats: ChannelStats = tx.stats();
  try {
    await rx.recv();
  } catch (e) {
    if (e instanceof ChannelError && e.code === 'ERR_CHANNEL_LAGGED') use(e.missed);
  }
  // @ts-expect-error a broadcast handle is not a channel handle
  Channel.from(handle);
  // @ts-expect-error broadcast sends never wait, so they take no wait options
  await tx.send('x', { timeout: 5 });
  // @ts-expect-error there is no backpressure to choose
  new Broadcast({ backpressure: 'block' });
  tx.close();
  use(sent, capacity, stats, bc.stats().lagged);
}
use(broadcast);

// Watch and Mailbox.
async function valueChannels(): Promise<void> {
  const watch = new Watch({ capacity: 1024 });
  const mailbox = new Mailbox();
  new Watch({ capacity: undefined });
  assertType(watch.capacity).is<number>();
  assertType(watch.handle).is<WatchHandle>();
  assertType(watch.handle.type).is<'ringport.watch'>();
  assertType(mailbox.handle).is<MailboxHandle>();
  assertType(mailbox.handle.type).is<'ringport.mailbox'>();
  assertType(Watch.from(structuredClone(watch.handle))).is<Watch>();
  assertType(Mailbox.from(workerData)).is<Mailbox>();
  assertType(watch.stats()).is<ChannelStats>();
  assertType(mailbox.close()).is<void>();
  const options: ValueChannelOptions = { capacity: 8 };
  new Mailbox(options);

  const tx: WatchSender = watch.sender();
  const rx: WatchReceiver = watch.receiver();
  assertType(tx.send('state')).is<Promise<void>>();
  assertType(tx.trySend(new Uint8Array(2))).is<true>();
  assertType(tx.closed).is<boolean>();
  assertType(tx.ref().unref()).is<WatchSender>();
  assertType(tx.closeWithError(new Error('x'))).is<void>();
  assertType(await rx.recv({ timeout: 10, signal: AbortSignal.timeout(5) })).is<ArrayBuffer | null>();
  assertType(rx.tryRecv()).is<ArrayBuffer | undefined>();
  assertType(rx.latest()).is<ArrayBuffer | undefined>();
  assertType(rx.unref()).is<WatchReceiver>();
  for await (const value of rx) assertType(value).is<ArrayBuffer>();
  {
    await using disposable = watch.receiver();
    use(disposable.latest());
  }

  const mtx: MailboxSender = mailbox.sender();
  const mrx: MailboxReceiver = mailbox.receiver();
  assertType(mtx.send(new ArrayBuffer(4))).is<Promise<void>>();
  assertType(await mrx.recv()).is<ArrayBuffer | null>();
  assertType(mrx.tryRecv()).is<ArrayBuffer | undefined>();
  assertType(mrx[Symbol.asyncDispose]()).is<Promise<void>>();
  for await (const message of mrx) assertType(message).is<ArrayBuffer>();

  // The members the two kinds share (ValueSender, ValueReceiver) keep each end's own type.
  assertType(mtx.closed).is<boolean>();
  assertType(mtx.ref().unref()).is<MailboxSender>();
  assertType(mrx.ref().unref()).is<MailboxReceiver>();
  assertType(rx.ref()).is<WatchReceiver>();
  assertType(tx.stats()).is<ChannelStats>();
  assertType(rx.stats()).is<ChannelStats>();
  assertType(mtx.stats()).is<ChannelStats>();
  assertType(mrx.stats()).is<ChannelStats>();
  assertType(tx[Symbol.asyncDispose]()).is<Promise<void>>();
  assertType(mtx[Symbol.asyncDispose]()).is<Promise<void>>();
  const senders: ValueSender[] = [tx, mtx];
  const receivers: ValueReceiver[] = [rx, mrx];
  for (const end of [...senders, ...receivers]) assertType(end.unref().stats()).is<ChannelStats>();

  // @ts-expect-error a watch handle does not attach a mailbox
  Mailbox.from(watch.handle);
  // @ts-expect-error nor a channel's
  Watch.from(new Channel().handle);
  // @ts-expect-error a mailbox receiver has no latest()
  mrx.latest();
  // @ts-expect-error capacity is a number
  new Watch({ capacity: '64k' });
  // @ts-expect-error no queue options
  new Mailbox({ backpressure: 'block' });
  // @ts-expect-error sends never wait: no sendSync
  tx.sendSync('x');
  // @ts-expect-error send needs data
  mtx.send();
  // @ts-expect-error the shared part has no send(): each kind declares its own
  senders[0]?.send('x');
  // @ts-expect-error read-only
  watch.capacity = 1;
  assertType(new ringport.Watch()).is<Watch>();
  assertType(ringport.Mailbox).is<typeof Mailbox>();
}
use(valueChannels);
