#!/usr/bin/env node
// `npx erasure …` from a clone: the TypeScript CLI through tsx (no build step), or the compiled one.
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');
if (existsSync(join(__dirname, 'erasure.ts'))) {
  require('tsx/cjs');
  require('./erasure.ts').main();
} else {
  require('./erasure.js').main();
}
