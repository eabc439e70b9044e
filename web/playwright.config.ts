import { defineConfig, devices } from '@playwright/test';

// Debian's chromium-headless-shell, never a downloaded browser (see docs/web.md).
const executablePath = process.env.MASKORACLE_CHROMIUM ?? '/usr/bin/chromium-headless-shell';

export default defineConfig({
  testDir: 'tests',
  // One devnet for the whole run (tests/global-setup.ts); the tests share its chain, in order.
  globalSetup: './tests/global-setup.ts',
  globalTeardown: './tests/global-teardown.ts',
  workers: 1,
  fullyParallel: false,
  timeout: 240_000,
  expect: { timeout: 20_000 },
  outputDir: 'test-results/artifacts',
  reporter: [['list'], ['json', { outputFile: 'test-results/report.json' }]],
  use: {
    ...devices['Desktop Chrome'],
    viewport: { width: 1280, height: 860 },
    launchOptions: { executablePath, args: ['--no-sandbox', '--disable-gpu'] },
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
  },
});
