'use strict';

// README's set-up ends with `npm run demo`: it must run and print its comparison. Small
// settings, and nothing here looks at a time or a rate.
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const path = require('node:path');
const { promisify } = require('node:util');

const ROOT = path.join(__dirname, '..');
const run = promisify(execFile);

describe('demo', function () {
  this.timeout(60000);

  it('`npm run demo` streams over each transport, checks every message and prints the comparison', async () => {
    const { stdout } = await run('npm', ['run', '--silent', 'demo'], {
      cwd: ROOT,
      timeout: 60000,
      env: {
        ...process.env,
        DEMO_MIB: '4',
        DEMO_MESSAGE_KIB: '16',
        // The script's `node` is the one running these tests.
        PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}`,
      },
    });
    assert.match(stdout, /^A worker sends 4 MiB in 256 messages of 16 KiB to the main thread/);
    for (const label of ['ringport (for await)', 'MessageChannel (clone)', 'MessageChannel (transfer)']) {
      assert.match(stdout, new RegExp(`^${label.replace(/[()]/g, '\\$&')} +[\\d.]+ s +[\\d,]+$`, 'm'));
    }
    assert.match(stdout, /^ringport: [\d.]+× the throughput of MessageChannel at its best \((clone|transfer)\)\.$/m);
    assert.match(stdout, /^Every message arrived in order and whole\./m);
    assert.doesNotMatch(stdout, /\x1b\[/, 'no bar or escape codes when stdout is not a terminal');
  });
});
