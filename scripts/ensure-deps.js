#!/usr/bin/env node
// Installs the dev dependencies with `npm ci` when node_modules is missing or does not match the lock file,
// so that `npm start` and `npm test` work on a fresh clone without a separate install step.
'use strict';
const fs = require('fs');
const path = require('path');
const { execSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const lock = path.join(root, 'package-lock.json');
// npm's record of what it installed in node_modules.
const marker = path.join(root, 'node_modules', '.package-lock.json');

// Compares contents, not modification times: a lock file rewritten without a dependency change (a version
// bump, a fresh checkout) must not trigger a reinstall.
function stale() {
  if (!fs.existsSync(marker)) return true;
  const wanted = JSON.parse(fs.readFileSync(lock, 'utf8')).packages || {};
  const installed = JSON.parse(fs.readFileSync(marker, 'utf8')).packages || {};
  for (const [name, entry] of Object.entries(wanted)) {
    // "" is the project itself; optional packages for other platforms are never installed.
    if (name === '' || entry.optional) continue;
    if (!installed[name] || installed[name].version !== entry.version) return true;
  }
  return false;
}

if (stale()) {
  console.log('wsflow: installing dev dependencies (npm ci)…');
  execSync('npm ci --no-audit --no-fund', { cwd: root, stdio: 'inherit' });
}
