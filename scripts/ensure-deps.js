#!/usr/bin/env node
// Installs the dev dependencies with `npm ci` when node_modules is missing or older than the lock file,
// so that `npm start` and `npm test` work on a fresh clone without a separate install step.
'use strict';
const fs = require('fs');
const path = require('path');
const { execSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const lock = path.join(root, 'package-lock.json');
const marker = path.join(root, 'node_modules', '.package-lock.json');

function stale() {
  if (!fs.existsSync(marker)) return true;
  return fs.statSync(lock).mtimeMs > fs.statSync(marker).mtimeMs;
}

if (stale()) {
  console.log('wsflow: installing dev dependencies (npm ci)…');
  execSync('npm ci --no-audit --no-fund', { cwd: root, stdio: 'inherit' });
}
