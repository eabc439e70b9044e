// A test-only EIP-1193 wallet, announced by EIP-6963 in the page, whose requests go through
// `page.exposeBinding` to viem in Node, signing with an anvil dev key. It returns no accounts
// from eth_accounts until eth_requestAccounts, as a real wallet does before the user connects.
import type { Page } from '@playwright/test';
import { createPublicClient, createWalletClient, http, type Hex } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';

/** anvil's public test mnemonic (its dev accounts; never real funds). */
const MNEMONIC = 'test test test test test test test test test test test junk';

export function devAccount(index: number) {
  return mnemonicToAccount(MNEMONIC, { addressIndex: index });
}

/** Installs the wallet (dev account `index`) in `page`; `rpcUrl` is the chain it signs for. */
export async function installWallet(page: Page, rpcUrl: string, chainId: number, index: number) {
  const account = devAccount(index);
  const transport = http(rpcUrl);
  const wallet = createWalletClient({ account, transport });
  const client = createPublicClient({ transport });
  await page.exposeBinding('__testWalletRequest', async (_source, req: { method: string; params?: unknown[] }) => {
    const p = req.params ?? [];
    switch (req.method) {
      case 'eth_requestAccounts':
      case 'eth_accounts':
        return [account.address];
      case 'eth_chainId':
        return `0x${chainId.toString(16)}`;
      case 'wallet_switchEthereumChain':
      case 'wallet_addEthereumChain':
        return null;
      case 'eth_sendTransaction': {
        const tx = p[0] as { to: Hex; data?: Hex; value?: Hex; gas?: Hex };
        const chain = { id: chainId, name: 'devnet', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [rpcUrl] } } };
        return wallet.sendTransaction({
          chain,
          to: tx.to,
          data: tx.data,
          value: tx.value ? BigInt(tx.value) : undefined,
          gas: tx.gas ? BigInt(tx.gas) : undefined,
        });
      }
      case 'personal_sign':
        return account.signMessage({ message: { raw: p[0] as Hex } });
      default:
        return client.request({ method: req.method as never, params: p as never });
    }
  });
  await page.addInitScript(
    ({ address, chainId }) => {
      let accounts: string[] = [];
      const listeners: Record<string, ((x: unknown) => void)[]> = {};
      const emit = (e: string, v: unknown) => (listeners[e] ?? []).forEach((f) => f(v));
      const call = (window as unknown as { __testWalletRequest: (r: unknown) => Promise<unknown> }).__testWalletRequest;
      const provider = {
        async request({ method, params }: { method: string; params?: unknown[] }) {
          if (method === 'eth_accounts') return accounts;
          if (method === 'eth_requestAccounts') {
            accounts = [address];
            emit('accountsChanged', accounts);
            return accounts;
          }
          if (method === 'wallet_revokePermissions') {
            accounts = [];
            emit('accountsChanged', accounts);
            return null;
          }
          if (method === 'eth_chainId') return `0x${chainId.toString(16)}`;
          try {
            return await call({ method, params });
          } catch (e) {
            throw Object.assign(new Error(e instanceof Error ? e.message : String(e)), { code: -32603 });
          }
        },
        on(e: string, f: (x: unknown) => void) {
          (listeners[e] ??= []).push(f);
        },
        removeListener(e: string, f: (x: unknown) => void) {
          listeners[e] = (listeners[e] ?? []).filter((g) => g !== f);
        },
      };
      const info = {
        uuid: '6f1c9a44-6a7b-4d0c-9f43-000000000001',
        name: 'Test Wallet',
        icon: 'data:image/svg+xml,%3Csvg xmlns="http://www.w3.org/2000/svg" width="16" height="16"/%3E',
        rdns: 'org.maskoracle.testwallet',
      };
      const announce = () => window.dispatchEvent(new CustomEvent('eip6963:announceProvider', { detail: Object.freeze({ info, provider }) }));
      window.addEventListener('eip6963:requestProvider', announce);
      announce();
    },
    { address: account.address, chainId },
  );
  return account;
}
