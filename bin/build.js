#!/usr/bin/env node
// The one build step: compiles the runtime (tsconfig.build.json) to dist/ with tsc, unless dist/ was
// already built from exactly these sources. A hash of every source file (path and content), the
// tsconfigs and package-lock.json is kept in dist/.build-stamp; when it matches, nothing is done, so
// `npm start`, `npm run service`, the demo and the tests' meshes can call it every time.
// Concurrent callers (test files side by side) build once: the first takes dist/.build-lock, the others
// wait for it and find the fresh stamp.
'use strict';
const { createHash } = require('node:crypto');
const { execFileSync } = require('node:child_process');
const { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } = require('node:fs');
const { join, relative } = require('node:path');

const root = join(__dirname, '..');
const dist = join(root, 'dist');
const stampFile = join(dist, '.build-stamp');
const lockDir = join(dist, '.build-lock');
/** The folders compiled into the runtime (tsconfig.build.json's include) and the files that shape it. */
const SOURCE_DIRS = ['gen', 'services', 'orchestrator', 'mesh', 'cli', 'bin', 'types'];
const CONFIG_FILES = ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json'];
/** A lock older than this was left by a build that died; tsc takes well under a minute here. */
const STALE_LOCK_MS = 5 * 60_000;

function sourceFiles(dir, out) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) sourceFiles(path, out);
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** The hash of everything the build reads. */
function sourceHash() {
  const hash = createHash('sha256');
  const files = SOURCE_DIRS.flatMap((dir) => sourceFiles(join(root, dir), [])).sort();
  for (const file of [...files, ...CONFIG_FILES.map((name) => join(root, name))]) {
    hash.update(relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex');
}

const readStamp = () => (existsSync(stampFile) ? readFileSync(stampFile, 'utf8').trim() : '');

function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Builds dist/ when it is missing or stale; returns true when it compiled. Throws when tsc fails. */
function ensureBuilt({ quiet = false } = {}) {
  const hash = sourceHash();
  if (readStamp() === hash) return false;
  mkdirSync(dist, { recursive: true });
  for (;;) {
    try {
      mkdirSync(lockDir);
      break;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
      let age = 0;
      try {
        age = Date.now() - statSync(lockDir).mtimeMs;
      } catch {
        continue; // released between the two calls
      }
      if (age > STALE_LOCK_MS) rmSync(lockDir, { recursive: true, force: true });
      else sleepSync(200);
    }
  }
  try {
    if (readStamp() === hash) return false; // another caller built it while this one waited
    if (!quiet) process.stderr.write('build: compiling to dist/ (sources changed) ...\n');
    const started = Date.now();
    rmSync(stampFile, { force: true });
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], {
      cwd: root,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    writeFileSync(stampFile, `${hash}\n`);
    if (!quiet) process.stderr.write(`build: done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    return true;
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

module.exports = { ensureBuilt, sourceHash };

if (require.main === module) {
  try {
    ensureBuilt({ quiet: process.argv.includes('--quiet') });
  } catch (error) {
    process.stderr.write(`build failed: ${error.message}\n`);
    process.exit(1);
  }
}
