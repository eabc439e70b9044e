// Sending a transaction: simulate first (so a revert is decoded before the wallet is asked),
// then sign in the wallet, then wait for the receipt. Failures come back in words (lib/errors).
import { useState } from 'react';
import { useConfig } from 'wagmi';
import { simulateContract, waitForTransactionReceipt, writeContract, switchChain, getAccount } from 'wagmi/actions';
import type { Abi, Address, ContractFunctionArgs, ContractFunctionName } from 'viem';
import { explain, type Explained } from './lib/errors';
import { useAppConfig } from './hooks';

export interface Call<abi extends Abi, fn extends ContractFunctionName<abi, 'nonpayable'>> {
  address: Address;
  abi: abi;
  functionName: fn;
  args: ContractFunctionArgs<abi, 'nonpayable', fn>;
}

/** A step's progress, for display. */
export type Progress = { step: string; state: 'running' | 'done' | 'failed' } | null;

export function useSender() {
  const config = useConfig();
  const cfg = useAppConfig();
  const [progress, setProgress] = useState<Progress>(null);
  const [error, setError] = useState<Explained | null>(null);
  const [busy, setBusy] = useState(false);

  async function send<abi extends Abi, fn extends ContractFunctionName<abi, 'nonpayable'>>(step: string, call: Call<abi, fn>) {
    setProgress({ step, state: 'running' });
    const account = getAccount(config);
    if (account.chainId !== cfg.chainId) await switchChain(config, { chainId: cfg.chainId as never });
    const { request, result } = await simulateContract(config, { ...call, account: account.address } as never);
    const hash = await writeContract(config, request as never);
    const receipt = await waitForTransactionReceipt(config, { hash, timeout: 120_000 });
    if (receipt.status !== 'success') throw new Error(`${step}: the transaction was mined but reverted`);
    setProgress({ step, state: 'done' });
    return { receipt, result: result as unknown };
  }

  /** Runs `steps` (which call `send`), catching and explaining the first failure. */
  async function run(steps: () => Promise<void>): Promise<boolean> {
    setBusy(true);
    setError(null);
    try {
      await steps();
      return true;
    } catch (e) {
      setProgress((p) => (p && p.state === 'running' ? { ...p, state: 'failed' } : p));
      setError(explain(e));
      return false;
    } finally {
      setBusy(false);
    }
  }

  return { send, run, progress, error, busy, setError };
}
