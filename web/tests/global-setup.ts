// Starts one real devnet (`maskoracle devnet --keep`: anvil, contracts, embedded IPFS, 3 workers
// of which the last is faulty, a keeper, one demo request) and waits for the URL of its web app.
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { killGroup } from './global-teardown';

export const STATE = resolve(import.meta.dirname, '..', 'test-results', 'devnet.json');

export default async function globalSetup() {
  mkdirSync(resolve(import.meta.dirname, '..', 'test-results'), { recursive: true });
  // A devnet already running (`maskoracle devnet --keep --workers 3 --faulty 1`), for quick reruns.
  const reuse = process.env.MASKORACLE_WEB_DEVNET;
  if (reuse) {
    const cfg = await (await fetch(new URL('config.json', reuse))).json();
    writeFileSync(STATE, JSON.stringify({ pid: null, url: reuse, chainId: cfg.chainId }));
    return;
  }
  const root = resolve(import.meta.dirname, '..', '..');
  const bin = process.env.MASKORACLE_BIN ?? join(root, 'target', 'debug', 'maskoracle');
  // The devnet's folder (deployment, logs, IPFS repository), replaced on each run.
  const out = resolve(import.meta.dirname, '..', 'test-results', 'devnet');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const log = join(out, 'devnet.log');
  const fd = openSync(log, 'w');
  const child = spawn(bin, ['devnet', '--keep', '--workers', '3', '--faulty', '1', '--out', out], {
    cwd: root,
    stdio: ['ignore', 'pipe', fd],
    detached: true,
  });
  const started = Date.now();
  let printed = '';
  const url = await new Promise<string>((ok, fail) => {
    let buf = '';
    const timer = setTimeout(() => {
      killGroup(child.pid!);
      fail(new Error(`devnet not ready after 900 s; see ${log}`));
    }, 900_000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = buf.match(/web app: (http\S+)/);
      if (m) {
        printed = buf;
        clearTimeout(timer);
        ok(m[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      killGroup(child.pid!);
      fail(new Error(`devnet exited with ${code} before serving the app; see ${log}\n${buf.slice(-2000)}`));
    });
  });
  child.stdout!.resume();
  const cfg = await (await fetch(new URL('config.json', url))).json();
  // What `maskoracle ui` needs to serve the same chain (the devnet prints it for other shells).
  const env = (name: string) => printed.match(new RegExp(`${name}=(\\S+)`))?.[1];
  const chain = { rpcUrl: env('MASKORACLE_RPC_URL'), deployment: env('MASKORACLE_DEPLOYMENT'), kuboUrl: env('MASKORACLE_IPFS__KUBO_URL') };
  writeFileSync(STATE, JSON.stringify({ pid: child.pid, url, out, log, bin, chain, chainId: cfg.chainId, setupSeconds: (Date.now() - started) / 1000 }));
  console.log(`devnet up in ${((Date.now() - started) / 1000).toFixed(0)} s: ${url}`);
}
