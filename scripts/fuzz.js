'use strict';

// Builds the libFuzzer targets of the core (test/fuzz/*_fuzzer.cc, clang 14, ASan+UBSan)
// and runs each in turn, then prints executions per target.
//
//   npm run fuzz                          every target for 10 minutes
//   npm run fuzz -- --seconds 30          every target for 30 s (.ci/run does this)
//   npm run fuzz -- queue_state_fuzzer    one target (any name containing the argument)
//   RINGPORT_FUZZ_SECONDS=3600 npm run fuzz
//
// The corpus grows across runs in build-fuzz/corpus/<target> (seeded from valid
// channels by the target itself); test/fuzz/regressions/<target> holds inputs that once
// failed, replayed as seeds. A crash, sanitizer report, broken invariant or timeout
// stops the run with a non-zero exit code and leaves the input in build-fuzz/artifacts.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const SOURCE = path.join(ROOT, 'test', 'fuzz');
const BUILD = path.join(ROOT, 'build-fuzz');
const CLANG = process.env.RINGPORT_FUZZ_CXX || 'clang++-14';
const INSTALL_HINT = 'apt-get install -y clang-14 libclang-rt-14-dev';

function parseArgs(argv) {
  let seconds = Number(process.env.RINGPORT_FUZZ_SECONDS || 600);
  const filters = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--seconds') seconds = Number(argv[++i]);
    else filters.push(argv[i]);
  }
  if (!(seconds > 0)) throw new Error('--seconds (or RINGPORT_FUZZ_SECONDS) must be a positive number');
  return { seconds: Math.ceil(seconds), filters };
}

function fail(message) {
  console.error(`fuzz: ${message}`);
  process.exit(1);
}

function run(command, args, options = {}) {
  const r = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit', ...options });
  if (r.error) fail(`${command}: ${r.error.code === 'ENOENT' ? `not found (${INSTALL_HINT})` : r.error.message}`);
  return r;
}

// clang and libFuzzer's runtime, or a message saying what to install.
function checkToolchain() {
  const dir = spawnSync(CLANG, ['-print-runtime-dir'], { encoding: 'utf8' });
  if (dir.error || dir.status !== 0) fail(`${CLANG} not found: ${INSTALL_HINT}`);
  const runtime = fs.existsSync(dir.stdout.trim()) && fs.readdirSync(dir.stdout.trim()).some((f) => /^libclang_rt\.fuzzer-/.test(f));
  if (!runtime) fail(`libFuzzer's runtime is missing next to ${CLANG}: ${INSTALL_HINT}`);
}

function build() {
  const started = Date.now();
  if (run('cmake', ['-S', SOURCE, '-B', BUILD, `-DCMAKE_CXX_COMPILER=${CLANG}`], { stdio: ['ignore', 'ignore', 'inherit'] }).status !== 0) {
    fail('configure failed');
  }
  if (run('cmake', ['--build', BUILD, '-j2']).status !== 0) fail('build failed');
  return (Date.now() - started) / 1000;
}

// Reads libFuzzer's -print_final_stats lines and its last status line.
function statsOf(log) {
  const stat = (name) => Number((log.match(new RegExp(`stat::${name}:\\s+(\\d+)`)) || [])[1] || 0);
  const status = log.match(/#\d+\s+DONE\s+cov: (\d+).*?corp: (\d+)/);
  return {
    executions: stat('number_of_executed_units'),
    perSecond: stat('average_exec_per_sec'),
    coverage: status ? Number(status[1]) : 0,
    corpus: status ? Number(status[2]) : 0,
  };
}

function fuzzTarget(name, seconds) {
  const corpus = path.join(BUILD, 'corpus', name);
  const regressions = path.join(SOURCE, 'regressions', name);
  const artifacts = path.join(BUILD, 'artifacts');
  for (const dir of [corpus, artifacts]) fs.mkdirSync(dir, { recursive: true });
  const dirs = fs.existsSync(regressions) ? [corpus, regressions] : [corpus];
  const args = [
    `-max_total_time=${seconds}`,
    '-timeout=10', // an operation that has not returned in 10 s is a hang (a finding)
    '-rss_limit_mb=2048',
    '-print_final_stats=1',
    `-artifact_prefix=${artifacts}/${name}-`,
    ...dirs,
  ];
  console.log(`\n=== ${name}: ${seconds} s`);
  const r = spawnSync(path.join(BUILD, name), args, {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 256 << 20,
    env: { ...process.env, RINGPORT_FUZZ_SEEDS: corpus },
  });
  const log = `${r.stdout}${r.stderr}`;
  fs.writeFileSync(path.join(BUILD, `${name}.log`), log);
  const ok = r.status === 0;
  if (!ok) {
    console.error(log.split('\n').slice(-60).join('\n'));
    const artifact = (log.match(/Test unit written to (\S+)/) || [])[1];
    if (artifact) console.error(`\nreproduce: build-fuzz/${name} ${path.relative(ROOT, artifact)}`);
  }
  return { name, ok, ...statsOf(log) };
}

function main() {
  const { seconds, filters } = parseArgs(process.argv.slice(2));
  checkToolchain();
  const buildSeconds = build();
  const targets = fs
    .readdirSync(SOURCE)
    .filter((f) => f.endsWith('_fuzzer.cc'))
    .map((f) => f.slice(0, -3))
    .filter((t) => filters.length === 0 || filters.some((f) => t.includes(f)));
  if (targets.length === 0) fail(`no target matches ${filters.join(', ')}`);

  const results = [];
  for (const t of targets) {
    const result = fuzzTarget(t, seconds);
    results.push(result);
    if (!result.ok) break;
  }
  console.log(`\nlibFuzzer, ${seconds} s per target (build ${buildSeconds.toFixed(0)} s):`);
  for (const r of results) {
    const figures = `${String(r.executions).padStart(10)} executions ${String(r.perSecond).padStart(6)}/s  coverage ${r.coverage}  corpus ${r.corpus}`;
    console.log(`  ${r.name.padEnd(22)} ${r.ok ? 'clean ' : 'FAILED'} ${figures}`);
  }
  process.exitCode = results.every((r) => r.ok) && results.length === targets.length ? 0 : 1;
}

main();
