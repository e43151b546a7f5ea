#!/usr/bin/env node
// `prepack`: builds what the package ships, dist/src (the library, its .d.ts files, no source maps: the
// sources are not shipped, so maps would point at nothing). dist/src is emptied first so that files left
// by an earlier build (a module since removed, maps from `npm run build`) cannot end up in the tarball.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const root = path.resolve(__dirname, '..');
fs.rmSync(path.join(root, 'dist', 'src'), { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc', { paths: [root] }), '-p', path.join(root, 'tsconfig.package.json')], {
  cwd: root,
  stdio: 'inherit',
});
