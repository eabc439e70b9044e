// The wagmi configuration, built at run time from /config.json: one chain (the node's), reads
// through the node's /rpc pass-through, wallets found by EIP-6963 discovery (plus window.ethereum).
import { createConfig, http, injected } from 'wagmi';
import { defineChain } from 'viem';
import type { AppConfig } from './config';

export function makeWagmiConfig(cfg: AppConfig) {
  const chain = defineChain({
    id: cfg.chainId,
    name: cfg.chainId === 31337 ? 'MaskOracle devnet' : `Chain ${cfg.chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [cfg.rpcUrl] } },
  });
  return createConfig({
    chains: [chain],
    connectors: [injected()],
    multiInjectedProviderDiscovery: true,
    transports: { [chain.id]: http(cfg.rpcUrl, { batch: true }) },
    pollingInterval: 1000,
  });
}
