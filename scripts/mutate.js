'use strict';

// A mutation check of the test suite: plants each bug listed in scripts/mutants.json,
// one at a time, in a scratch copy of the repository, runs the tests that should
// catch it, and prints a table of what caught it. Not part of CI (it takes about half
// an hour); docs/robustness.md has its table.
//
//   npm run mutate                     every mutant
//   npm run mutate -- <id> [<id>...]   only those
//
// A mutant is { id, what, file, search, replace, build, ctest?, mocha? }: `search` is
// exact text found once in `file` (else the mutant is stale: fix it), replaced by
// `replace`. `build` says what to rebuild and where the tests run:
//   'none'   lib/ only: the mocha files in `mocha`
//   'addon'  the addon (cmake-js), then the mocha files in `mocha`
//   'tests'  the Release C++ tests, then `ctest -R <ctest>`
//   'tsan', 'asan'  the same under TSan or ASan+UBSan (scripts/cpp-tests.js' builds)
// Every step is bounded (scripts/bounded.js): a test run that hangs counts as caught
// by the timeout, and the table says so. The scratch copy (<tmpdir>/ringport-mutate)
// keeps its build directories between mutants and runs, so rebuilds are incremental;
// its node_modules is a symlink to ours. Each mutant's output is in logs/<id>.log there.
// Keep the list growing with the code: each new path gets a mutant its tests catch.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { PLAIN, SANITIZED, configureArgs } = require('./cpp-tests');

const ROOT = path.join(__dirname, '..');
const SCRATCH = path.join(os.tmpdir(), 'ringport-mutate');
const LOGS = path.join(SCRATCH, 'logs');
const BUILD_MINUTES = 15;
const TEST_MINUTES = 10;
const CPP = { tests: PLAIN, tsan: SANITIZED.find((c) => c.name === 'TSan'), asan: SANITIZED.find((c) => c.name === 'ASan+UBSan') };

function main() {
  const mutants = JSON.parse(fs.readFileSync(path.join(__dirname, 'mutants.json'), 'utf8'));
  const only = process.argv.slice(2);
  const chosen = only.length ? mutants.filter((m) => only.includes(m.id)) : mutants;
  if (chosen.length === 0) {
    console.error(`no mutant named ${only.join(', ')}; see scripts/mutants.json`);
    process.exit(2);
  }
  prepareScratch();
  const rows = [];
  for (const mutant of chosen) {
    process.stdout.write(`${mutant.id} ... `);
    const row = runMutant(mutant);
    console.log(`${row.result} (${row.seconds} s)`);
    rows.push(row);
  }
  printTable(rows);
  process.exitCode = rows.every((r) => r.caught) ? 0 : 1;
}

// Copies the tracked files of the working tree into the scratch directory, writing
// only those that differ so that build directories there stay up to date.
function prepareScratch() {
  fs.mkdirSync(LOGS, { recursive: true });
  const files = spawnSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' }).stdout.split('\0').filter(Boolean);
  for (const file of files) {
    const from = path.join(ROOT, file);
    if (!fs.existsSync(from)) continue; // deleted in the working tree
    writeIfChanged(path.join(SCRATCH, file), fs.readFileSync(from));
  }
  const modules = path.join(SCRATCH, 'node_modules');
  if (!fs.existsSync(modules)) fs.symlinkSync(path.join(ROOT, 'node_modules'), modules);
}

function writeIfChanged(file, content) {
  if (fs.existsSync(file) && fs.readFileSync(file).equals(content)) return;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
}

// Plants the mutant, builds, runs its tests, and restores the file.
function runMutant(mutant) {
  const started = Date.now();
  const row = { id: mutant.id, what: mutant.what, tests: testsOf(mutant), caught: false };
  const original = fs.readFileSync(path.join(ROOT, mutant.file), 'utf8');
  const finish = (result, caught) => Object.assign(row, { result, caught, seconds: Math.round((Date.now() - started) / 1000) });
  if (original.split(mutant.search).length !== 2) return finish('STALE: search text not found exactly once', false);
  const log = path.join(LOGS, `${mutant.id}.log`);
  fs.writeFileSync(log, `${mutant.id}: ${mutant.what}\n`);
  const target = path.join(SCRATCH, mutant.file);
  fs.writeFileSync(target, original.replace(mutant.search, () => mutant.replace));
  try {
    for (const [what, command, args] of buildSteps(mutant)) {
      const built = bounded(BUILD_MINUTES, what, command, args, {}, log);
      if (built.status !== 0) return finish(`BUILD FAILED (${what}; see ${log})`, false);
    }
    const [command, args, env] = testCommand(mutant);
    const r = bounded(TEST_MINUTES, 'tests', command, args, env, log);
    if (r.status === 0) return finish('SURVIVED', false);
    if (r.status === 124) return finish(`caught by timeout: still running after ${TEST_MINUTES} min${firstFailure(r.output)}`, true);
    return finish(`caught${firstFailure(r.output)}`, true);
  } finally {
    fs.writeFileSync(target, original);
  }
}

function testsOf(mutant) {
  if (mutant.mocha) return `mocha ${mutant.mocha.map((f) => path.basename(f)).join(' ')}`;
  return `${mutant.build === 'tests' ? '' : `${CPP[mutant.build].name} `}ctest -R '${mutant.ctest}'`;
}

// The addon is rebuilt before every mocha run: the previous mutant may have been in it.
function buildSteps(mutant) {
  if (mutant.mocha) return [['addon build', process.execPath, ['node_modules/cmake-js/bin/cmake-js', 'compile', '--log-level', 'warn']]];
  const config = CPP[mutant.build];
  const steps = [];
  if (!fs.existsSync(path.join(SCRATCH, config.dir, 'CMakeCache.txt'))) steps.push(['configure', 'cmake', configureArgs(config)]);
  steps.push(['C++ build', 'cmake', ['--build', config.dir, '-j2']]);
  return steps;
}

function testCommand(mutant) {
  if (mutant.mocha) {
    const mocha = ['node_modules/mocha/bin/mocha.js', '--no-config', '--expose-gc', '--exit', '--timeout', '60000'];
    return [process.execPath, [...mocha, '--require', 'test/current-test.js', ...mutant.mocha], {}];
  }
  const config = CPP[mutant.build];
  return ['ctest', ['--test-dir', config.dir, '--output-on-failure', '-R', mutant.ctest], config.env];
}

// Runs a step under scripts/bounded.js in the scratch copy, appending its output to `log`.
function bounded(minutes, stage, command, args, env, log) {
  const r = spawnSync(process.execPath, [path.join(SCRATCH, 'scripts', 'bounded.js'), String(minutes), stage, '--', command, ...args], {
    cwd: SCRATCH,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  const output = `${r.stdout}${r.stderr}`;
  fs.appendFileSync(log, `\n$ ${command} ${args.join(' ')}\n${output}`);
  return { status: r.status, output };
}

// Names what failed: a sanitizer report, the ctest tests (up to 3), or the first mocha test.
function firstFailure(output) {
  const found = [];
  if (/WARNING: ThreadSanitizer/.test(output)) found.push('a TSan report');
  if (/ERROR: AddressSanitizer|runtime error:/.test(output)) found.push('an ASan/UBSan report');
  const failed = output.split('The following tests FAILED:')[1] ?? '';
  for (const [, name, how] of [...failed.matchAll(/^\s*\d+ - (\S+) \(([^)]+)\)$/gm)].slice(0, 3)) found.push(`${name} (${how})`);
  const mocha = output.match(/^\s+1\) (.+)$/m);
  if (mocha) found.push(`"${mocha[1].trim()}"`);
  const named = output.match(/the test running then: (".*")/);
  if (named) found.push(`hung in ${named[1]}`);
  return found.length ? `: ${found.join('; ')}` : '';
}

function printTable(rows) {
  const caught = rows.filter((r) => r.caught).length;
  console.log(`\n${caught} of ${rows.length} mutants caught\n`);
  console.log('| mutant | planted bug | tests run | result | s |');
  console.log('|---|---|---|---|---|');
  const cell = (text) => String(text).replaceAll('|', '\\|'); // a ctest regex's | would end the cell
  for (const r of rows) console.log(`| ${[r.id, r.what, r.tests, r.result, r.seconds].map(cell).join(' | ')} |`);
}

main();
