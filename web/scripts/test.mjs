// `make test-web`: the ABI drift check, the unit tests (vitest) and the browser tests
// (Playwright against a devnet), then one closing line CI can read: `N passed, N failed`.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = join(dirname(fileURLToPath(import.meta.url)), '..');
const results = join(web, 'test-results');
const bin = (name) => join(web, 'node_modules', '.bin', name);
const run = (cmd, args) => spawnSync(cmd, args, { cwd: web, stdio: 'inherit' }).status ?? 1;
const t0 = Date.now();
let passed = 0;
let failed = 0;

// 1. ABI drift (one check).
if (run('node', ['scripts/abi.mjs', '--check']) === 0) passed++;
else failed++;

// 2. Unit tests.
rmSync(join(results, 'unit.json'), { force: true });
run(bin('vitest'), ['run', '--reporter=default', '--reporter=json', `--outputFile=${join(results, 'unit.json')}`]);
if (existsSync(join(results, 'unit.json'))) {
  const u = JSON.parse(readFileSync(join(results, 'unit.json'), 'utf8'));
  passed += u.numPassedTests;
  failed += u.numFailedTests + (u.numTotalTestSuites > 0 && u.success === false && u.numFailedTests === 0 ? 1 : 0);
} else failed++;

// 3. Browser tests.
if (process.env.MASKORACLE_SKIP_BROWSER === '1') {
  console.log('browser tests skipped (MASKORACLE_SKIP_BROWSER=1)');
} else {
  rmSync(join(results, 'report.json'), { force: true });
  const code = run(bin('playwright'), ['test']);
  const report = join(results, 'report.json');
  if (existsSync(report)) {
    const s = JSON.parse(readFileSync(report, 'utf8')).stats;
    passed += s.expected + s.flaky;
    failed += s.unexpected;
    if (code !== 0 && s.unexpected === 0) failed++; // set-up or teardown failed
  } else failed++;
}

console.log(`web tests took ${((Date.now() - t0) / 1000).toFixed(0)} s`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
