'use strict';

// Node and WHATWG streams over the ends of a channel: `receiver.readable()` and
// `sender.writable()` are built here. Each stream owns its end: ending or destroying
// the stream closes it.
const { Readable, Writable, getDefaultHighWaterMark } = require('node:stream');
const { ReadableStream, WritableStream, ByteLengthQueuingStrategy } = require('node:stream/web');
const { abortError } = require('./errors');
const { validateObject, validateInteger, validateSignal } = require('./validate');

/**
 * A byte Readable over a receiver: each message is pushed as one Buffer that views the
 * received ArrayBuffer (no copy). Messages are pulled only while the Readable is below
 * its highWaterMark, so a paused stream lets the channel fill and its sender wait.
 */
class ReceiverReadable extends Readable {
  #receiver;
  #receiving = false; // a recv() is pending; what it brings is pushed on arrival

  constructor(receiver, { highWaterMark, signal }) {
    super({ highWaterMark, signal });
    this.#receiver = receiver;
  }

  _read() {
    this.#receive();
  }

  #receive() {
    if (this.#receiving) return;
    this.#receiving = true;
    // recv() first, not tryRecv(): it yields a turn of the event loop after many
    // pool-backed buffers, so that their finalizers can return slabs to the pool.
    this.#receiver.recv().then(
      (buffer) => {
        this.#receiving = false;
        this.#deliver(buffer);
      },
      (error) => {
        this.#receiving = false;
        this.destroy(error);
      }
    );
  }

  // Pushes `buffer` and every message ready after it, until push() asks to stop.
  #deliver(buffer) {
    if (this.destroyed) return;
    if (buffer === null) {
      this.push(null);
      return;
    }
    try {
      for (; buffer !== undefined; buffer = this.#receiver.tryRecv()) {
        // A zero-length message carries no bytes; pushing it would be a no-op anyway.
        if (buffer.byteLength !== 0 && !this.push(Buffer.from(buffer))) return;
      }
    } catch (error) {
      this.destroy(error);
      return;
    }
    this.#receive(); // below highWaterMark and nothing ready: wait for the next message
  }

  _destroy(error, callback) {
    // The stream owns the receiver: the sender learns (ERR_CHANNEL_DISCONNECTED) that
    // nobody reads any more. A no-op once the channel has ended.
    this.#receiver.close();
    callback(error);
  }
}

/**
 * A Writable over a sender: each chunk is sent as one message. A chunk that finds the
 * channel full stays pending until the receiver makes room; meanwhile the Writable
 * buffers later writes, so write() returns false and 'drain' waits for the channel.
 * No _writev: the Writable then drains its buffer synchronously through trySend(),
 * which measured faster than one sendBatch() per batch.
 */
class SenderWritable extends Writable {
  #sender;

  constructor(sender, { highWaterMark, signal }) {
    super({ highWaterMark, signal });
    this.#sender = sender;
  }

  _write(chunk, encoding, callback) {
    try {
      if (this.#sender.trySend(chunk)) {
        callback();
        return;
      }
    } catch (error) {
      callback(error);
      return;
    }
    // Full ('reject' rejects here with ERR_CHANNEL_FULL, which destroys the stream).
    this.#sender.send(chunk).then(() => callback(), callback);
  }

  _final(callback) {
    this.#sender.close(); // every write has called back: all of them are in the channel
    callback();
  }

  _destroy(error, callback) {
    // After 'finish', _final has closed the sender and closeWithError() does nothing.
    if (error || !this.writableFinished) this.#sender.closeWithError(error ?? prematureCloseError());
    callback(error);
  }
}

// What `stream.finished()` reports for a Writable destroyed before it finished: the
// receiver sees the same, so a truncated stream never looks like a complete one.
function prematureCloseError() {
  const error = new Error('Premature close');
  error.code = 'ERR_STREAM_PREMATURE_CLOSE';
  return error;
}

/** `{ highWaterMark?, signal? }` of a Node stream, validated. */
function nodeStreamOptions(options) {
  const o = validateObject(options, 'options');
  return { highWaterMark: validateHighWaterMark(o.highWaterMark), signal: validateSignal(o.signal) };
}

/** `highWaterMark` of a WHATWG stream (bytes), validated; Node's default when absent. */
function webHighWaterMark(options) {
  return validateHighWaterMark(validateObject(options, 'options').highWaterMark) ?? getDefaultHighWaterMark(false);
}

function validateHighWaterMark(value) {
  return value === undefined ? undefined : validateInteger(value, 'options.highWaterMark', 0, Number.MAX_SAFE_INTEGER);
}

/** `receiver.readable(options)`: a `stream.Readable` of zero-copy Buffers. */
function createReadable(receiver, options) {
  return new ReceiverReadable(receiver, nodeStreamOptions(options));
}

/** `sender.writable(options)`: a `stream.Writable`; each chunk is one message. */
function createWritable(sender, options) {
  return new SenderWritable(sender, nodeStreamOptions(options));
}

/**
 * A WHATWG ReadableStream of Uint8Arrays, one per message (zero-length ones included),
 * each a view over the received ArrayBuffer. Cancelling it closes the receiver.
 */
function createReadableStream(receiver, options) {
  const highWaterMark = webHighWaterMark(options);
  let failure = null; // an error that came behind chunks the stream still queues
  return new ReadableStream(
    {
      async pull(controller) {
        if (failure === null) {
          try {
            const buffer = await receiver.recv();
            if (buffer === null) {
              controller.close();
              return;
            }
            controller.enqueue(new Uint8Array(buffer));
            // What else is ready goes too, while the queue wants more: a pull (a promise
            // and a turn of the stream's machinery) per batch of messages, not per message.
            for (let next; controller.desiredSize > 0 && (next = receiver.tryRecv()) !== undefined; ) {
              controller.enqueue(new Uint8Array(next));
            }
          } catch (error) {
            failure = error;
          }
        }
        // Erroring a stream discards what it queues: the error waits until the reader has
        // taken every chunk that came before it (the queue is empty when the stream asks
        // again), as a drain-then-disconnect must.
        if (failure !== null && controller.desiredSize >= highWaterMark) throw failure;
      },
      cancel() {
        receiver.close();
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark })
  );
}

/**
 * A WHATWG WritableStream; each chunk (string, ArrayBuffer or view) is one message.
 * close() closes the sender gracefully; abort(reason) and a failed write call
 * `closeWithError`.
 */
function createWritableStream(sender, options) {
  const highWaterMark = webHighWaterMark(options);
  return new WritableStream(
    {
      async write(chunk) {
        try {
          if (!sender.trySend(chunk)) await sender.send(chunk);
        } catch (error) {
          sender.closeWithError(error);
          throw error;
        }
      },
      close() {
        sender.close();
      },
      abort(reason) {
        sender.closeWithError(reason ?? abortError());
      },
    },
    { highWaterMark, size: chunkSize }
  );
}

// Queued bytes of a chunk (a string counts its length: close enough for a strategy).
function chunkSize(chunk) {
  return (typeof chunk === 'string' ? chunk.length : chunk?.byteLength) ?? 0;
}

module.exports = { createReadable, createWritable, createReadableStream, createWritableStream };
