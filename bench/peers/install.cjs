// The peers' npm packages (@duckdb/node-api, pinned by package-lock.json), installed on first
// use: `npm install` when node_modules is missing or older than the lock file, under a lock so
// that harnesses started together (ctest -j) do not install twice. Not `npm ci`: the registry
// here carries only the Linux builds of DuckDB's optional per-platform bindings, so the lock
// file lists only those, and npm ci refuses a lock file without every platform's entry.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

// Returns null when the packages are there, else why they are not.
function installPeerPackages() {
  const stamp = path.join(__dirname, 'node_modules/.package-lock.json');
  const lock = path.join(__dirname, 'package-lock.json');
  if (fs.existsSync(stamp) && fs.statSync(lock).mtimeMs <= fs.statSync(stamp).mtimeMs) return null;
  const r = spawnSync('flock', [lock, 'npm', 'install', '--no-audit', '--no-fund', '--loglevel=error'],
    { cwd: __dirname, stdio: ['ignore', 'inherit', 'inherit'] });
  return r.status === 0 ? null : 'npm install in bench/peers failed: @duckdb/node-api is not installed';
}

module.exports = { installPeerPackages };
