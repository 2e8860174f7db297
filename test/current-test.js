'use strict';

// A mocha root hook (.mocharc.json "require"): writes the full title of each test as it
// starts to the file RINGPORT_CURRENT_TEST names, if set. A test that blocks its
// thread (a synchronous wait with no timeout) stops mocha's own timeout and reporter
// too; scripts/bounded.js then kills the run and names the test from this file.
const fs = require('node:fs');

const file = process.env.RINGPORT_CURRENT_TEST;

exports.mochaHooks = file
  ? {
      beforeEach() {
        fs.writeFileSync(file, this.currentTest.fullTitle());
      },
    }
  : {};
