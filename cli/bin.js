#!/usr/bin/env node
// `npx erasure …` from a clone: run the TypeScript CLI through tsx (no build step needed).
'use strict';
require('tsx/cjs');
require('./erasure.ts');
