'use strict';

// Runs the mocha suite against an addon built with AddressSanitizer and UBSan:
// every native path the tests reach (binding and core) is checked for invalid
// accesses and undefined behaviour. Node itself is not instrumented, so the ASan
// runtime is preloaded; leak detection is off (Node does not free all at exit).
//
//   npm run test:asan

const { spawnSync } = require('node:child_process');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const OUT = 'build-addon-asan';

function run(command, args, env = {}) {
  const result = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit', env: { ...process.env, ...env } });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

function runtime(name) {
  const found = spawnSync('gcc', [`-print-file-name=${name}`], { encoding: 'utf8' }).stdout.trim();
  if (!path.isAbsolute(found)) {
    console.error(`${name} not found (gcc -print-file-name). Install gcc's sanitizer runtimes.`);
    process.exit(1);
  }
  return found;
}

run(process.execPath, [require.resolve('cmake-js/bin/cmake-js'), 'compile', '--out', OUT, '--CDRINGPORT_SANITIZE=address', '--log-level', 'warn']);
run(process.execPath, [require.resolve('mocha/bin/mocha.js')], {
  RINGPORT_ADDON: path.join(ROOT, OUT, 'Release', 'ringport.node'),
  LD_PRELOAD: `${runtime('libasan.so')} ${runtime('libubsan.so')}`,
  ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1',
  UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
});
console.log('mocha under ASan+UBSan: clean');
