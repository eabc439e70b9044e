// Screenshots of an audit report (`maskoracle audit --report FILE.html`) in headless Chromium,
// for the docs: the top of the report (banner and summary table) and one task's section.
//   node scripts/report-screenshot.mjs REPORT.html OUT_PREFIX [TASK_ID]
// writes OUT_PREFIX.png (top) and, with TASK_ID, OUT_PREFIX-task.png.
// Uses Debian's chromium-headless-shell (scripts/setup --browser) or MASKORACLE_CHROMIUM.
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const require = createRequire(path.resolve('web/package.json'));
const { chromium } = require('@playwright/test');

const [report, prefix, task] = process.argv.slice(2);
if (!report || !prefix) {
  console.error('usage: node scripts/report-screenshot.mjs REPORT.html OUT_PREFIX [TASK_ID]');
  process.exit(2);
}
const executablePath = process.env.MASKORACLE_CHROMIUM ?? '/usr/bin/chromium-headless-shell';
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(pathToFileURL(path.resolve(report)).href);
  await page.screenshot({ path: `${prefix}.png` });
  console.log(`wrote ${prefix}.png`);
  if (task) {
    const el = page.locator(`#t${task}`);
    await el.scrollIntoViewIfNeeded();
    await el.screenshot({ path: `${prefix}-task.png` });
    console.log(`wrote ${prefix}-task.png`);
  }
} finally {
  await browser.close();
}
