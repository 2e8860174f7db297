'use strict';

// Runs one stage of the tests with a time bound, so that a hang fails the run within
// minutes, by name, instead of at CI's 90-minute limit:
//
//   node scripts/bounded.js <minutes> <stage> -- <command> [args...]
//
// The command runs in its own process group with its output streamed. Past the bound
// the whole group is killed (a thread blocked in a futex wait answers no gentler
// signal), the mocha test that was running is named (test/current-test.js records
// it; ctest prints "Start <name>" itself), and the exit code is 124, as timeout(1)'s.
// Otherwise the command's own exit code is returned.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function main() {
  const args = process.argv.slice(2);
  const dashes = args.indexOf('--');
  const minutes = Number(args[0]);
  const stage = args[1];
  if (dashes !== 2 || !(minutes > 0) || args.length < 4) {
    console.error('usage: node scripts/bounded.js <minutes> <stage> -- <command> [args...]');
    process.exit(2);
  }
  const [command, ...commandArgs] = args.slice(3);
  const currentTest = path.join(os.tmpdir(), `ringport-current-test-${process.pid}`);
  const child = spawn(command, commandArgs, {
    stdio: 'inherit',
    detached: true, // its own process group: killed whole, workers and grandchildren too
    env: { ...process.env, RINGPORT_CURRENT_TEST: currentTest },
  });
  // Detached, the group misses a Ctrl-C or a CI cancel sent to us: pass them on.
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.kill(-child.pid, signal));
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    let running = '';
    try {
      running = `; the test running then: "${fs.readFileSync(currentTest, 'utf8')}"`;
    } catch {
      // not a mocha stage, or no test had started
    }
    console.error(`\n${stage}: still running after ${minutes} min: killed as hung${running}`);
    process.kill(-child.pid, 'SIGKILL');
  }, minutes * 60_000);
  child.on('error', (error) => {
    console.error(`${stage}: ${command}: ${error.message}`);
    process.exitCode = 1;
  });
  child.on('exit', (code, signal) => {
    clearTimeout(timer);
    fs.rmSync(currentTest, { force: true });
    process.exitCode = hung ? 124 : signal ? 1 : code;
  });
}

main();
