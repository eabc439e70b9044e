// The web app in a real browser against a real devnet (tests/global-setup.ts): request, task
// timeline to Finalized with the sha256 checked and the overlay drawn, a decoded revert, the
// faulty worker slashed in the explorer, the audit, the operator page, phone width, keyboard.
import { test, expect, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { STATE } from './global-setup';
import { devAccount, installWallet } from './wallet';

const devnet = JSON.parse(readFileSync(STATE, 'utf8')) as {
  url: string;
  chainId: number;
  bin?: string;
  out?: string;
  chain?: { rpcUrl?: string; deployment?: string; kuboUrl?: string };
};
const root = resolve(import.meta.dirname, '..', '..');
const SHOTS = resolve(import.meta.dirname, '..', 'test-results', 'screenshots');
const PHOTO = resolve(root, 'inference/tests/data/photos/astronaut.png');
/** The devnet's workers are dev accounts 1..3; `--faulty 1` makes the last one cheat. */
const FAULTY = devAccount(3).address;
const REQUESTER = 8;
const OPERATOR = 9;

test.describe.configure({ mode: 'serial' });

/** Console errors and uncaught exceptions of a page; every test asserts there are none. */
function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}

async function open(page: Page, hash: string, account: number | null) {
  if (account !== null) await installWallet(page, new URL('rpc', devnet.url).toString(), devnet.chainId, account);
  await page.goto(`${devnet.url}${hash}`);
}

async function connect(page: Page) {
  await page.getByRole('button', { name: 'Connect Test Wallet' }).click();
  await expect(page.getByTestId('account')).toBeVisible();
}

async function shot(page: Page, name: string) {
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

test('request page: models from the registry, live cost', async ({ page }) => {
  const errors = watchConsole(page);
  await open(page, '#/', REQUESTER);
  await expect(page.getByRole('heading', { name: 'Request a segmentation' })).toBeVisible();
  const model = page.getByLabel('Model');
  await expect(model).toContainText('selfie-segmentation');
  // reward 10 (the default) + the model's fee (1 token on the devnet)
  await expect(page.getByTestId('cost')).toContainText('Cost: 11 tokens');
  await page.getByLabel('Reward (tokens)').fill('12.5');
  await expect(page.getByTestId('cost')).toContainText('Cost: 13.5 tokens');
  await connect(page);
  await expect(page.getByTestId('cost')).toContainText('will be deposited first');
  await shot(page, 'request');
  expect(errors).toEqual([]);
});

test('a reverting request shows the decoded custom error', async ({ page }) => {
  const errors = watchConsole(page);
  await open(page, '#/', REQUESTER);
  await connect(page);
  await page.getByLabel('ipfs:// or https:// reference').check();
  await page.getByLabel('Input reference').fill('https://example.invalid/photo.png');
  await page.getByLabel('Equal results needed (Q)').fill('1');
  await expect(page.getByLabel('Checks')).toContainText('Q must be more than half of R');
  await page.getByRole('button', { name: /request/i }).click();
  const alert = page.getByTestId('error');
  await expect(alert).toContainText('TaskHubInvalidReplication', { timeout: 60_000 });
  await expect(alert).toContainText('Replication R = 3 and quorum Q = 1 are not allowed');
  await expect(alert).not.toContainText('0x');
  await shot(page, 'request-revert');
  expect(errors).toEqual([]);
});

test('end to end: upload, request, timeline to Finalized, sha256 checked, overlay drawn', async ({ page }) => {
  test.setTimeout(420_000);
  const errors = watchConsole(page);
  await open(page, '#/', REQUESTER);
  await connect(page);
  await page.getByLabel('Image file').setInputFiles(PHOTO);
  await expect(page.getByRole('img', { name: 'The chosen image' })).toBeVisible();
  await page.getByRole('button', { name: /request/i }).click();
  await expect(page).toHaveURL(/#\/task\/\d+$/, { timeout: 90_000 });
  const id = page.url().split('/').pop();
  await expect(page.getByRole('heading', { name: `Task ${id}` })).toBeVisible();
  await expect(page.getByTestId('step-requested')).toHaveAttribute('data-state', 'done');
  await shot(page, 'task-live');
  await expect(page.getByTestId('task-state')).toContainText('Finalized', { timeout: 360_000 });
  await expect(page.getByTestId('step-settlement')).toHaveAttribute('data-state', 'done');
  await expect(page.getByTestId('step-callback')).toContainText('skipped');
  await expect(page.getByTestId('sha-check')).toContainText('sha256 checked in this browser');
  const table = page.getByRole('table', { name: 'Detections' });
  await expect(table).toContainText('person');
  const overlay = page.getByTestId('overlay');
  await expect(overlay).toBeVisible();
  // The canvas holds the image with the mask drawn: some pixels carry the mask colour.
  const drawn = await overlay.evaluate((c: HTMLCanvasElement) => {
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let tinted = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] > d[i + 1] + 60 && d[i] > d[i + 2] + 40) tinted++;
    return { w: c.width, h: c.height, tinted };
  });
  expect(drawn.w).toBe(320); // the astronaut photo is 320x320
  expect(drawn.tinted).toBeGreaterThan(1000);
  await shot(page, 'task-finalized');
  // The faulty worker committed another hash: shown as dissent and slashed.
  await expect(page.getByTestId('step-commits')).toContainText('(dissent)');
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, 'task-phone');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(1);
  expect(errors).toEqual([]);
});

test('explorer: tasks, the faulty worker slashed, models, audit', async ({ page }) => {
  const errors = watchConsole(page);
  await open(page, '#/explorer/tasks', null);
  await expect(page.getByRole('link', { name: '#1' })).toBeVisible();
  await expect(page.getByRole('table')).toContainText('Finalized');
  await page.getByLabel('Status').selectOption('Failed');
  await expect(page.getByRole('table')).toContainText('no task matches');
  await page.getByLabel('Status').selectOption('all');
  await shot(page, 'explorer-tasks');

  await page.getByRole('link', { name: 'Workers' }).click();
  const row = page.getByTestId(`worker-${FAULTY.toLowerCase()}`);
  await expect(row.getByTestId('slashes')).toContainText('slashed');
  for (const honest of [1, 2]) {
    await expect(page.getByTestId(`worker-${devAccount(honest).address.toLowerCase()}`).getByTestId('slashes')).toHaveText('0');
  }
  await shot(page, 'explorer-workers');

  await page.getByRole('link', { name: 'Models' }).click();
  await expect(page.getByRole('table')).toContainText('selfie-segmentation');
  await expect(page.getByRole('table')).toContainText('semantic');
  await shot(page, 'explorer-models');

  await page.getByRole('link', { name: 'Audit' }).click();
  await page.getByLabel('Task id').fill('1');
  await page.getByRole('button', { name: 'Audit' }).click();
  await expect(page.getByTestId('audit-result')).toContainText('the settlement checks out', { timeout: 60_000 });
  await expect(page.getByTestId('audit-result')).toContainText('DISSENT');
  await shot(page, 'explorer-audit');
  expect(errors).toEqual([]);
});

test('operator page: stake, opt in and out, withdraw earnings', async ({ page }) => {
  const errors = watchConsole(page);
  await open(page, '#/operator', OPERATOR);
  await connect(page);
  const stake = page.getByTestId('stake');
  await expect(stake).not.toHaveText('…');
  const before = Number(await stake.textContent());
  await page.getByLabel('Amount (tokens)', { exact: true }).fill('150');
  await page.getByRole('button', { name: 'Approve and stake' }).click();
  await expect(page.getByTestId('progress')).toHaveText('Done: Stake', { timeout: 60_000 });
  await expect(stake).toHaveText(String(before + 150));
  const row = page.getByRole('row', { name: /selfie-segmentation/ });
  await row.getByRole('button', { name: 'Opt in' }).click();
  await expect(row).toContainText('yes', { timeout: 60_000 });
  await row.getByRole('button', { name: 'Opt out' }).click();
  await expect(row.getByRole('button', { name: 'Opt in' })).toBeVisible({ timeout: 60_000 });
  // Nothing earned yet: the hub refuses a zero withdrawal, in words.
  await page.getByRole('button', { name: 'Withdraw', exact: true }).click();
  await expect(page.getByTestId('error')).toContainText('The amount is zero', { timeout: 60_000 });
  await shot(page, 'operator');
  expect(errors).toEqual([]);
});

test('IPFS from the page: upload and fetch back a file of several blocks, same origin', async ({ page }) => {
  const errors = watchConsole(page);
  await open(page, '#/', null);
  const r = await page.evaluate(async () => {
    const data = new Uint8Array(700_000).map((_, i) => (i * 2654435761) >>> 24);
    const body = new FormData();
    body.append('file', new Blob([data]), 'big.bin');
    const added = await (await fetch('api/v0/add?cid-version=1&raw-leaves=true&pin=true', { method: 'POST', body })).json();
    const back = new Uint8Array(await (await fetch(`ui/cat/${added.Hash}`)).arrayBuffer());
    return { cid: added.Hash as string, same: back.length === data.length && back.every((b, i) => b === data[i]) };
  });
  // 700,000 bytes in 256 KiB chunks: a UnixFS DAG (dag-pb root), not one raw block.
  expect(r.cid.startsWith('bafybei')).toBe(true);
  expect(r.same).toBe(true);
  expect(errors).toEqual([]);
});

test('maskoracle ui serves the app against the same chain from its flags', async ({ page }) => {
  const c = devnet.chain;
  test.skip(!devnet.bin || !c?.rpcUrl || !c.deployment || !c.kuboUrl, 'needs the devnet started by the tests');
  const errors = watchConsole(page);
  const ui = spawn(devnet.bin!, [
    'ui', '--rpc-url', c!.rpcUrl!, '--deployment', c!.deployment!, '--ipfs-backend', 'kubo', '--kubo-url', c!.kuboUrl!,
    '--data-dir', `${devnet.out}/nodes/ui`, '--listen', '127.0.0.1:0',
  ], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const url = await new Promise<string>((ok, fail) => {
      let buf = '';
      ui.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        const m = buf.match(/^(http\S+)/m);
        if (m) ok(m[1]);
      });
      ui.on('exit', (code) => fail(new Error(`maskoracle ui exited with ${code}`)));
    });
    await page.goto(`${url}#/explorer/tasks`);
    await expect(page.getByRole('link', { name: '#1' })).toBeVisible();
    await page.goto(`${url}#/task/1`);
    await expect(page.getByTestId('sha-check')).toContainText('sha256 checked in this browser');
    expect(errors).toEqual([]);
  } finally {
    ui.kill('SIGINT');
  }
});

test('keyboard: the navigation and a form work without a mouse', async ({ page }) => {
  const errors = watchConsole(page);
  await open(page, '#/', null);
  await expect(page.getByRole('heading', { name: 'Request a segmentation' })).toBeVisible();
  for (let i = 0; i < 10; i++) {
    await page.keyboard.press('Tab');
    if (await page.getByRole('link', { name: 'Explorer' }).evaluate((el) => el === document.activeElement)) break;
  }
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { name: 'Explorer' })).toBeVisible();
  await page.goto(`${devnet.url}#/explorer/audit`);
  await page.getByLabel('Task id').focus();
  await page.keyboard.type('1');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('audit-result')).toBeVisible({ timeout: 60_000 });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${devnet.url}#/`);
  await expect(page.getByRole('heading', { name: 'Request a segmentation' })).toBeVisible();
  await shot(page, 'request-phone');
  expect(errors).toEqual([]);
});
