// The operator page, for the connected account: stake, opt in/out of models, unstake and
// withdraw the unbonded stake, withdraw earnings from the hub.
import { useState } from 'react';
import { useAccount } from 'wagmi';
import { erc20Abi, parseUnits } from 'viem';
import { taskHubAbi, workerRegistryAbi } from '../abi';
import { useAccountState, useAppConfig, useChainNow, useModels } from '../hooks';
import { useSender } from '../tx';
import { countdown, progressText, tokens } from '../lib/format';

function amount(s: string): bigint | null {
  if (!/^\d+(\.\d{0,18})?$/.test(s.trim())) return null;
  return parseUnits(s.trim(), 18);
}

export function OperatorPage() {
  const cfg = useAppConfig();
  const d = cfg.deployment;
  const { address } = useAccount();
  const acct = useAccountState(address);
  const models = useModels();
  const now = useChainNow();
  const { send, run, progress, error, busy } = useSender();
  const [stakeAmt, setStakeAmt] = useState('100');
  const [unstakeAmt, setUnstakeAmt] = useState('');
  const [withdrawAmt, setWithdrawAmt] = useState('');

  if (!address) {
    return (
      <section>
        <h1>Operator</h1>
        <p>Connect the worker's wallet to manage its stake, models and earnings.</p>
      </section>
    );
  }
  const a = acct.data;
  const refresh = () => acct.refetch();

  return (
    <section aria-labelledby="op-h">
      <h1 id="op-h">Operator</h1>
      <div className="card">
        <h2>Account</h2>
        <dl className="facts" data-testid="operator-facts">
          <dt>Wallet tokens</dt>
          <dd>{tokens(a?.token)}</dd>
          <dt>Stake</dt>
          <dd data-testid="stake">{tokens(a?.info.stake)}</dd>
          <dt>Locked by live tasks</dt>
          <dd>{tokens(a?.info.locked)}</dd>
          <dt>Free stake</dt>
          <dd>{tokens(a?.free)}</dd>
          <dt>Unbonding</dt>
          <dd>
            {tokens(a?.info.unbonding)}
            {a && a.info.unbonding > 0n && ` (withdrawable ${Number(a.info.unbondingReleaseTime) <= now ? 'now' : `in ${countdown(Number(a.info.unbondingReleaseTime) - now)}`})`}
          </dd>
          <dt>Earnings (hub balance)</dt>
          <dd data-testid="earnings">{tokens(a?.hubBalance)}</dd>
          <dt>Task stake</dt>
          <dd>{tokens(a?.taskStake)} per committed task</dd>
        </dl>
      </div>

      <div className="card">
        <h2>Stake</h2>
        <form
          className="row"
          onSubmit={(e) => {
            e.preventDefault();
            const v = amount(stakeAmt);
            if (v === null || !a) return;
            void run(async () => {
              if (a.allowanceRegistry < v) await send('Approve the registry', { address: d.token, abi: erc20Abi, functionName: 'approve', args: [d.workerRegistry, v] });
              await send('Stake', { address: d.workerRegistry, abi: workerRegistryAbi, functionName: 'stake', args: [v] });
              await refresh();
            });
          }}
        >
          <label>
            Amount (tokens)
            <input type="text" inputMode="decimal" value={stakeAmt} onChange={(e) => setStakeAmt(e.target.value)} />
          </label>
          <button type="submit" disabled={busy}>Approve and stake</button>
        </form>
        <form
          className="row"
          onSubmit={(e) => {
            e.preventDefault();
            const v = amount(unstakeAmt);
            if (v === null) return;
            void run(async () => {
              await send('Request unstake', { address: d.workerRegistry, abi: workerRegistryAbi, functionName: 'requestUnstake', args: [v] });
              await refresh();
            });
          }}
        >
          <label>
            Unstake (tokens)
            <input type="text" inputMode="decimal" value={unstakeAmt} onChange={(e) => setUnstakeAmt(e.target.value)} />
          </label>
          <button type="submit" disabled={busy}>Request unstake</button>
          <button
            type="button"
            className="secondary"
            disabled={busy}
            onClick={() =>
              void run(async () => {
                await send('Withdraw unbonded stake', { address: d.workerRegistry, abi: workerRegistryAbi, functionName: 'withdrawUnstaked', args: [] });
                await refresh();
              })
            }
          >
            Withdraw unbonded
          </button>
        </form>
      </div>

      <div className="card">
        <h2>Models</h2>
        <table>
          <thead>
            <tr>
              <th scope="col">Model</th>
              <th scope="col">Fee</th>
              <th scope="col">Opted in</th>
              <th scope="col">Action</th>
            </tr>
          </thead>
          <tbody>
            {(models.data ?? []).map((m) => {
              const inIt = a?.models.includes(m.id) ?? false;
              return (
                <tr key={m.id}>
                  <td>
                    {m.id}: {m.name}
                  </td>
                  <td>{tokens(m.fee)}</td>
                  <td>{inIt ? 'yes' : 'no'}</td>
                  <td>
                    <button
                      type="button"
                      className="secondary"
                      disabled={busy}
                      onClick={() =>
                        void run(async () => {
                          await send(inIt ? `Opt out of model ${m.id}` : `Opt in to model ${m.id}`, {
                            address: d.workerRegistry,
                            abi: workerRegistryAbi,
                            functionName: inIt ? 'optOut' : 'optIn',
                            args: [m.id],
                          });
                          await refresh();
                        })
                      }
                    >
                      {inIt ? 'Opt out' : 'Opt in'}
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>

      <div className="card">
        <h2>Earnings</h2>
        <form
          className="row"
          onSubmit={(e) => {
            e.preventDefault();
            const v = withdrawAmt === '' ? a?.hubBalance ?? 0n : amount(withdrawAmt);
            if (v === null) return;
            void run(async () => {
              await send('Withdraw earnings', { address: d.taskHub, abi: taskHubAbi, functionName: 'withdraw', args: [v] });
              await refresh();
            });
          }}
        >
          <label>
            Amount (tokens; empty: all)
            <input type="text" inputMode="decimal" placeholder={tokens(a?.hubBalance)} value={withdrawAmt} onChange={(e) => setWithdrawAmt(e.target.value)} />
          </label>
          <button type="submit" disabled={busy}>Withdraw</button>
        </form>
      </div>
      {progress && (
        <p className="small" aria-live="polite" data-testid="progress">
          {progressText(progress)}
        </p>
      )}
      {error && (
        <div role="alert" className="error" data-testid="error">
          <strong>{error.name}</strong>: {error.words}
        </div>
      )}
    </section>
  );
}
