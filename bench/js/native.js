'use strict';

// The benchmark's standalone C++ programs (bench/cpp/limit.cc, callgrind_counts.cc),
// compiled with g++ straight into build-bench/: they need only the core's headers, so
// `npm run bench` runs them without CMake or Google Benchmark. The flags are CMake's
// Release flags, so that instruction counts match a CMake build of the same file.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');
const BUILD_DIR = path.join(ROOT, 'build-bench');
const FLAGS = ['-O3', '-DNDEBUG', '-std=c++20', '-pthread', '-Wall', '-Wextra', `-I${path.join(ROOT, 'src', 'core')}`];

/**
 * Compiles bench/cpp/<name>.cc into build-bench/ringport_<name>: { binary } or
 * { skipped: why } (no g++, or it failed).
 */
function buildProgram(name) {
  const source = path.join(ROOT, 'bench', 'cpp', `${name}.cc`);
  const binary = path.join(BUILD_DIR, `ringport_${name}`);
  fs.mkdirSync(BUILD_DIR, { recursive: true });
  const r = spawnSync('g++', [...FLAGS, source, '-o', binary], { encoding: 'utf8' });
  if (r.status === 0) return { binary };
  const why = r.error?.code === 'ENOENT' ? 'g++ is not installed' : (r.stderr || '').trim().split('\n').slice(-3).join(' ');
  return { skipped: `g++ could not build bench/cpp/${name}.cc: ${why || `exit code ${r.status}`}` };
}

module.exports = { buildProgram, BUILD_DIR };
