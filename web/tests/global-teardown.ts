import { readFileSync } from 'node:fs';
import { STATE } from './global-setup';

export default async function globalTeardown() {
  const { pid } = JSON.parse(readFileSync(STATE, 'utf8')) as { pid: number | null };
  if (!pid) return;
  // SIGINT: the devnet stops its workers, keeper, anvil and IPFS node itself.
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return;
  }
  for (let i = 0; i < 60; i++) {
    await new Promise((r) => setTimeout(r, 500));
    try {
      process.kill(pid, 0);
    } catch {
      break;
    }
  }
  killGroup(pid);
}

/** Kills what is left of the devnet's process group (it was started as the group's leader). */
export function killGroup(pid: number) {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Nothing left.
  }
}
