'use strict';

// One throughput run: one case, one message size, one direction, in this process.
//
//   node bench/js/throughput.js <case> <bytes> <w2m|m2w> [seconds | --messages=N]
//
// Prints one JSON line: { case, size, direction, messages, seconds, msgPerSec,
// bytesPerSec, checksum, maxRss, rssGrowth, fallbacks? }. bench/run.js runs each run in
// a fresh process (so a fresh worker and a JIT that has seen only this case) and takes
// medians.
//
// The sender produces the payload (bench/js/payload.js) as fast as it can until the
// receiver's meter raises the stop flag (or, with --messages, until N are sent); the
// receiver reads every message (bench/js/touch.js), counts a window of `seconds` after
// a warm-up, drains the rest, and the run checks that every message sent arrived whole:
// count, bytes, and the checksum of the bytes read. The rings get CAPACITY bytes of
// buffer (ringport's capacity, the rings' sizes, thread-stream's bufferSize);
// MessageChannel's memory bound is min(64 MiB, 4096 messages) in flight, or none.

const { Worker, isMainThread, workerData } = require('node:worker_threads');
const { CASES } = require('./cases');
const { Control, Meter } = require('./control');
const { payload } = require('./payload');
const { touch, Tally } = require('./touch');
const { mcWindow } = require('./mc-window');

const CAPACITY = Number(process.env.RINGPORT_BENCH_CAPACITY) || 4 << 20;

async function measure(name, size, direction, { seconds, limit }) {
  const c = CASES[name];
  const control = new Control();
  const options = { name, size, direction, seconds, limit, control: control.sab };
  const { local, remote, transferList = [] } = c.setup(size, CAPACITY, options);
  const roles = [];
  if (!c.ownWorker) {
    const worker = new Worker(__filename, { workerData: { ...options, remote }, transferList });
    roles.push(
      new Promise((resolve, reject) => {
        worker.once('error', reject);
        worker.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exit code ${code}`))));
      }),
    );
  }
  roles.push(play(c, local, direction === 'w2m' ? 'receive' : 'send', options));
  await Promise.all(roles);

  const sent = control.get('sent');
  const messages = control.get('messages');
  const bytes = control.get('bytes');
  const checksum = control.get('checksum');
  if (messages !== sent || bytes !== sent * size) {
    throw new Error(`${name}: sent ${sent} messages of ${size} B, received ${messages} (${bytes} B)`);
  }
  if (!c.byteStream && checksum !== sent * touch(payload(size))) {
    throw new Error(`${name}: the bytes read from the ${sent} messages are not the payload's (checksum ${checksum})`);
  }
  const windowSeconds = control.get('windowSeconds');
  if (!(windowSeconds > 0)) throw new Error(`${name}: the stream ended before the measurement window did`);
  const bytesPerSec = control.get('windowBytes') / windowSeconds;
  const maxRss = process.resourceUsage().maxRSS * 1024;
  const result = {
    case: name,
    size,
    direction,
    messages: sent,
    seconds: windowSeconds,
    msgPerSec: bytesPerSec / size,
    bytesPerSec,
    checksum,
    maxRss,
    rssGrowth: maxRss - control.get('rssBase'),
    // Growth after warm-up (0 when the run was shorter than the warm-up).
    rssGrowthAfterWarmup: control.get('rssWarm') > 0 ? maxRss - control.get('rssWarm') : 0,
  };
  if (c.library === 'ringport') result.fallbacks = local.stats().pool.fallbacks;
  return result;
}

// Runs this thread's side of the case and records what it did in the control block.
async function play(c, endpoint, role, { size, seconds, limit, control: sab }) {
  const control = new Control(sab);
  const ctx = { size, payload: payload(size), more: control.more(limit), credit: control.credit(mcWindow(size)) };
  if (role === 'send') {
    control.set('sent', await c.send(endpoint, ctx));
    return;
  }
  const meter = new Meter(control, size, seconds);
  const tally = (ctx.tally = new Tally(meter));
  await c.receive(endpoint, ctx);
  meter.finish();
  control.set('messages', c.byteStream ? tally.bytes / size : tally.messages);
  control.set('bytes', tally.bytes);
  control.set('checksum', tally.checksum);
}

function parseArgs(argv) {
  const [name, size, direction, ...rest] = argv;
  const c = CASES[name];
  const limitArg = rest.find((a) => a.startsWith('--messages='));
  const limit = limitArg ? Number(limitArg.slice(11)) : Infinity;
  const seconds = limitArg ? Infinity : Number(rest[0] ?? process.env.RINGPORT_BENCH_SECONDS ?? 1);
  if (!c || !(Number(size) > 0) || !c.directions.includes(direction) || !(seconds > 0) || !(limit > 0)) {
    console.error(`usage: node ${__filename} <${Object.keys(CASES).join('|')}> <bytes> <w2m|m2w> [seconds | --messages=N]`);
    process.exit(2);
  }
  return [name, Number(size), direction, { seconds, limit }];
}

if (isMainThread && require.main === module) {
  measure(...parseArgs(process.argv.slice(2))).then(
    (result) => console.log(JSON.stringify(result)),
    (error) => {
      console.error(error);
      process.exit(1); // a peer left waiting (a port, a ring) would keep the process alive
    },
  );
} else if (!isMainThread && workerData?.remote !== undefined) {
  const c = CASES[workerData.name];
  const endpoint = c.attach ? c.attach(workerData.remote) : workerData.remote;
  play(c, endpoint, workerData.direction === 'w2m' ? 'send' : 'receive', workerData);
}
