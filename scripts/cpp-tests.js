'use strict';

// Builds and runs the GoogleTest suite of the C++ core (test/cpp/*.cc) with CMake.
//
//   npm run test:cpp          node scripts/cpp-tests.js             Release build in build-tests/
//   npm run test:sanitize     node scripts/cpp-tests.js --sanitize  ASan+UBSan in build-asan/, TSan in build-tsan/
//
// Any other argument goes to ctest, e.g. `npm run test:cpp -- -R QueueStress`.
// Stress tests scale their counts down under sanitizers; RINGPORT_STRESS_SCALE=<factor>
// scales them (test/cpp/test_channel.hpp). Output is streamed; the exit code is non-zero
// if any configure, build or test step fails.

const { spawnSync } = require('node:child_process');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');

const PLAIN = { name: 'tests', dir: 'build-tests', cmake: [], env: {} };
const SANITIZED = [
  {
    name: 'ASan+UBSan',
    dir: 'build-asan',
    cmake: ['-DRINGPORT_SANITIZE=address'],
    env: { ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=1', UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1' },
  },
  {
    name: 'TSan',
    dir: 'build-tsan',
    cmake: ['-DRINGPORT_SANITIZE=thread'],
    env: { TSAN_OPTIONS: 'halt_on_error=1:second_deadlock_stack=1' },
  },
];

function main() {
  const args = process.argv.slice(2);
  const sanitize = args.includes('--sanitize');
  const ctestArgs = args.filter((a) => a !== '--sanitize');
  const configs = sanitize ? SANITIZED : [PLAIN];

  const summary = configs.map((config) => runConfig(config, ctestArgs));
  console.log('\nC++ core tests:');
  for (const { name, dir, failed, seconds } of summary) {
    console.log(`  ${name.padEnd(10)} ${dir.padEnd(11)} ${failed ? `FAILED at ${failed}` : 'passed'} (${seconds.toFixed(1)} s)`);
  }
  process.exitCode = summary.some((s) => s.failed) ? 1 : 0;
}

// The cmake arguments that configure a test build (also scripts/mutate.js).
function configureArgs({ dir, cmake }) {
  return ['-S', '.', '-B', dir, '-DRINGPORT_ADDON=OFF', '-DRINGPORT_TESTS=ON', '-DCMAKE_BUILD_TYPE=Release', ...cmake];
}

// Configure, build and test one build directory; stops at the first failing step.
function runConfig({ name, dir, cmake, env }, ctestArgs) {
  const started = Date.now();
  const steps = [
    ['configure', 'cmake', configureArgs({ dir, cmake })],
    ['build', 'cmake', ['--build', dir, '-j2']],
    ['test', 'ctest', ['--test-dir', dir, '--output-on-failure', ...ctestArgs], env],
  ];
  let failed = null;
  for (const [step, command, commandArgs, extraEnv = {}] of steps) {
    console.log(`\n=== ${name}: ${step}: ${command} ${commandArgs.join(' ')}`);
    if (!run(command, commandArgs, extraEnv)) {
      failed = step;
      break;
    }
  }
  return { name, dir, failed, seconds: (Date.now() - started) / 1000 };
}

// Runs a command from the repository root with its output streamed; true on success.
function run(command, args, extraEnv) {
  const r = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit', env: { ...process.env, ...extraEnv } });
  if (r.error) {
    console.error(`${command}: ${r.error.code === 'ENOENT' ? 'not found on PATH (install cmake, g++ and libgtest-dev)' : r.error.message}`);
    return false;
  }
  if (r.signal) console.error(`${command} was killed by ${r.signal}`);
  return r.status === 0;
}

if (require.main === module) main();

module.exports = { PLAIN, SANITIZED, configureArgs };
