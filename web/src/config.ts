// Run-time configuration, served by the node at /config.json (one build for every chain).
import type { Address } from 'viem';

/** The deployment record `deploy/Deploy.s.sol` writes (camelCase, as the node serves it). */
export interface Deployment {
  chainId: number;
  deployBlock: number;
  token: Address;
  modelRegistry: Address;
  workerRegistry: Address;
  taskHub: Address;
  exampleConsumer: Address;
  randomness: string;
}

/** What the app reads at start-up. URLs are relative to the page unless absolute. */
export interface AppConfig {
  chainId: number;
  rpcUrl: string;
  ipfsApi: string;
  catUrl: string;
  auditUrl: string;
  deployment: Deployment;
}

function absolute(u: string): string {
  return new URL(u, window.location.href).toString();
}

/** Loads /config.json next to the page. */
export async function loadConfig(): Promise<AppConfig> {
  const r = await fetch(new URL('config.json', window.location.href));
  if (!r.ok) throw new Error(`config.json: HTTP ${r.status}`);
  const c = (await r.json()) as AppConfig;
  return { ...c, rpcUrl: absolute(c.rpcUrl), ipfsApi: absolute(c.ipfsApi), catUrl: absolute(c.catUrl), auditUrl: absolute(c.auditUrl) };
}
