'use strict';

// The README's quick start must run exactly as written.
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');

describe('README quick start', function () {
  this.timeout(30000);

  it('runs as written and prints what README says', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const quickStart = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('## API'));
    const files = {};
    for (const [, code] of quickStart.matchAll(/```js\n([\s\S]*?)```/g)) {
      const name = /^\/\/ (\S+\.js)\n/.exec(code)[1];
      files[name] = code;
    }
    assert.deepEqual(Object.keys(files).sort(), ['main.js', 'producer.js']);
    const expected = /```sh\n\$ node main\.js\n([\s\S]*?)```/.exec(quickStart)[1];

    // Inside the package, so that require('ringport') resolves to it (self-reference).
    const dir = fs.mkdtempSync(path.join(ROOT, 'test', '.quickstart-'));
    try {
      for (const [name, code] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), code);
      const output = execFileSync(process.execPath, ['main.js'], { cwd: dir, encoding: 'utf8' });
      assert.equal(output, expected);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
