'use strict';

// A one-thread receive loop for counting instructions, not for timing: `rounds` times,
// fill a channel with 256 trySend()s of `size` bytes, then read them with batches().
//   valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*PollInto*' \
//     node bench/js/receive-loop.js 64 400
// counts the native receive (pollInto: drain and copy into the staging buffer);
// divide the total by rounds × 256 for instructions per message.

const { Channel } = require('../..');

const size = Number(process.argv[2] ?? 64);
const rounds = Number(process.argv[3] ?? 400);
const PER_ROUND = 256;

async function main() {
  const channel = new Channel({ capacity: 1 << 20 });
  const tx = channel.sender();
  const batches = channel.receiver().batches()[Symbol.asyncIterator]();
  const payload = new Uint8Array(size);
  let received = 0;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < PER_ROUND; i++) if (!tx.trySend(payload)) throw new Error('the channel is full');
    for (let n = 0; n < PER_ROUND; ) n += (await batches.next()).value.length;
    received += PER_ROUND;
  }
  console.log(`received ${received} messages of ${size} B`);
  channel.close();
}

main();
