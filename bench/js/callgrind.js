'use strict';

// Instructions per message of the C++ channel layer (bench/cpp/callgrind_counts.cc)
// under callgrind: a count that repeats to the instruction on a shared machine, where
// times swing by tens of percent.
//
// 200,000 messages per count, as the earlier figures were taken: the per-message
// figure includes the loop's setup (a queue of 64 KiB, about 1 instruction a message
// at this count), so only counts at the same message count compare.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const MESSAGES = 200_000;

/** `which` (e.g. 'queue_push_pop') at `bytes` (8 or 64): { instructions } per message, or { error }. */
function instructionsPerMessage(binary, which, bytes) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringport-callgrind-'));
  const out = path.join(dir, 'callgrind.out');
  try {
    const r = spawnSync(
      'valgrind',
      ['--tool=callgrind', '--collect-atstart=no', '--toggle-collect=*run_*', `--callgrind-out-file=${out}`, binary, which, String(bytes), String(MESSAGES)],
      { encoding: 'utf8', timeout: 300_000 },
    );
    if (r.error?.code === 'ENOENT') return { error: 'valgrind is not installed' };
    if (r.status !== 0) return { error: `valgrind exit code ${r.status}: ${(r.stderr || '').trim().split('\n').at(-1)}` };
    const totals = /^totals: (\d+)/m.exec(fs.readFileSync(out, 'utf8'));
    if (!totals) return { error: 'no totals line in the callgrind output' };
    return { instructions: Number(totals[1]) / MESSAGES };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = { instructionsPerMessage, MESSAGES };
