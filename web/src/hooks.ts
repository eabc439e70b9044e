// Typed reads of the hub and the registries (one hook per view), polled so that the pages follow
// the chain; the chain is the only source of truth.
import { createContext, useContext, useEffect, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { usePublicClient } from 'wagmi';
import { erc20Abi, parseEventLogs, toHex, zeroHash, type Address, type Hex, type PublicClient } from 'viem';
import { taskHubAbi, workerRegistryAbi, modelRegistryAbi } from './abi';
import type { AppConfig } from './config';

export const ConfigContext = createContext<AppConfig | null>(null);

export function useAppConfig(): AppConfig {
  const c = useContext(ConfigContext);
  if (!c) throw new Error('no configuration');
  return c;
}

function useClient(): PublicClient {
  const c = usePublicClient();
  if (!c) throw new Error('no client');
  return c as PublicClient;
}

const POLL_MS = 1500;

/** Chain time: the latest block's timestamp, advanced by the wall clock since it was read. */
export function useChainNow(): number {
  const client = useClient();
  const q = useQuery({
    queryKey: ['head'],
    queryFn: async () => ({ ts: Number((await client.getBlock()).timestamp), at: Date.now() }),
    refetchInterval: 5000,
  });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setTick((x) => x + 1), 1000);
    return () => clearInterval(t);
  }, []);
  void tick;
  if (!q.data) return Math.floor(Date.now() / 1000);
  return q.data.ts + Math.floor((Date.now() - q.data.at) / 1000);
}

export interface ModelRow {
  id: number;
  publisher: Address;
  kind: number;
  retired: boolean;
  fee: bigint;
  sha256: Hex;
  cid: string;
  name: string;
  labels: string[];
}

/** Every registered model, with its published manifest's name and labels. */
export function useModels() {
  const client = useClient();
  const cfg = useAppConfig();
  return useQuery({
    queryKey: ['models'],
    queryFn: async (): Promise<ModelRow[]> => {
      const address = cfg.deployment.modelRegistry;
      const n = await client.readContract({ address, abi: modelRegistryAbi, functionName: 'modelCount' });
      const ids = Array.from({ length: Number(n) }, (_, i) => i + 1);
      return Promise.all(
        ids.map(async (id) => {
          const [m, cid] = await Promise.all([
            client.readContract({ address, abi: modelRegistryAbi, functionName: 'model', args: [id] }),
            client.readContract({ address, abi: modelRegistryAbi, functionName: 'cidOf', args: [id] }),
          ]);
          let name = `model ${id}`;
          let labels: string[] = [];
          try {
            const r = await fetch(cfg.catUrl + cid.replace(/^ipfs:\/\//, ''));
            if (r.ok) {
              const manifest = (await r.json()) as { name?: string; labels?: string[] };
              name = manifest.name ?? name;
              labels = manifest.labels ?? [];
            }
          } catch {
            // The manifest is informational here; the registry's fields stand without it.
          }
          return { id, publisher: m.publisher, kind: m.kind, retired: m.retired, fee: m.fee, sha256: m.sha256, cid, name, labels };
        }),
      );
    },
    refetchInterval: 15000,
  });
}

/** One task: record, state, result hashes, contributions and its events (hub + stake locks). */
export function useTask(id: bigint) {
  const client = useClient();
  const cfg = useAppConfig();
  const hub = cfg.deployment.taskHub;
  return useQuery({
    queryKey: ['task', id.toString()],
    queryFn: async () => {
      const count = await client.readContract({ address: hub, abi: taskHubAbi, functionName: 'taskCount' });
      if (id < 1n || id > count) return null;
      const [task, state, result, contributions, preview] = await Promise.all([
        client.readContract({ address: hub, abi: taskHubAbi, functionName: 'task', args: [id] }),
        client.readContract({ address: hub, abi: taskHubAbi, functionName: 'taskState', args: [id] }),
        client.readContract({ address: hub, abi: taskHubAbi, functionName: 'result', args: [id] }),
        client.readContract({ address: hub, abi: taskHubAbi, functionName: 'contributions', args: [id] }),
        client.readContract({ address: hub, abi: taskHubAbi, functionName: 'previewDraw', args: [id] }).catch(() => null),
      ]);
      const raw = await client.request({
        method: 'eth_getLogs',
        params: [
          {
            address: [hub, cfg.deployment.workerRegistry],
            fromBlock: toHex(BigInt(task.requestBlock)),
            toBlock: 'latest',
            topics: [null, toHex(id, { size: 32 })],
          },
        ],
      } as never);
      const logs = parseEventLogs({ abi: [...taskHubAbi, ...workerRegistryAbi], logs: raw as never });
      return {
        task,
        status: Number(state[0]),
        reason: Number(state[1]),
        result,
        contributions,
        preview,
        logs,
        hasResult: result.resultSha256 !== zeroHash,
      };
    },
    refetchInterval: (q) => (q.state.data && q.state.data.status >= 3 && q.state.data.task.callbackOutcome !== 0 ? 10000 : POLL_MS),
  });
}

export interface TaskRow {
  id: bigint;
  requester: Address;
  modelId: number;
  replication: number;
  quorum: number;
  commits: number;
  reveals: number;
  reward: bigint;
  status: number;
  reason: number;
}

/** The most recent tasks (newest first). */
export function useRecentTasks(limit = 50) {
  const client = useClient();
  const cfg = useAppConfig();
  const hub = cfg.deployment.taskHub;
  return useQuery({
    queryKey: ['tasks', limit],
    queryFn: async (): Promise<TaskRow[]> => {
      const count = await client.readContract({ address: hub, abi: taskHubAbi, functionName: 'taskCount' });
      const ids: bigint[] = [];
      for (let i = count; i >= 1n && ids.length < limit; i--) ids.push(i);
      return Promise.all(
        ids.map(async (id) => {
          const [t, s] = await Promise.all([
            client.readContract({ address: hub, abi: taskHubAbi, functionName: 'task', args: [id] }),
            client.readContract({ address: hub, abi: taskHubAbi, functionName: 'taskState', args: [id] }),
          ]);
          return {
            id,
            requester: t.requester,
            modelId: t.modelId,
            replication: t.replication,
            quorum: t.quorum,
            commits: t.commits,
            reveals: t.reveals,
            reward: t.reward,
            status: Number(s[0]),
            reason: Number(s[1]),
          };
        }),
      );
    },
    refetchInterval: 3000,
  });
}

export interface WorkerRow {
  address: Address;
  stake: bigint;
  locked: bigint;
  unbonding: bigint;
  unbondingReleaseTime: number;
  models: number[];
  /** Tasks in which the worker's task stake was slashed. */
  slashes: number;
  slashedAmount: bigint;
  /** Free balance on the hub: rewards, slash shares and fees credited, not yet withdrawn. */
  earnings: bigint;
}

/** Every worker that ever staked, from the registry's events. */
export function useWorkers() {
  const client = useClient();
  const cfg = useAppConfig();
  const reg = cfg.deployment.workerRegistry;
  return useQuery({
    queryKey: ['workers'],
    queryFn: async (): Promise<WorkerRow[]> => {
      const logs = parseEventLogs({
        abi: workerRegistryAbi,
        logs: (await client.getLogs({ address: reg, fromBlock: BigInt(cfg.deployment.deployBlock) })) as never,
      });
      const addrs = new Set<Address>();
      const slashes = new Map<Address, { n: number; amount: bigint }>();
      for (const l of logs) {
        if (l.eventName === 'Staked') addrs.add(l.args.worker);
        if (l.eventName === 'StakesReleased') {
          l.args.workers.forEach((w, i) => {
            if ((l.args.slashMask >> BigInt(i)) & 1n) {
              const s = slashes.get(w) ?? { n: 0, amount: 0n };
              slashes.set(w, { n: s.n + 1, amount: s.amount + l.args.amountEach });
            }
          });
        }
      }
      return Promise.all(
        [...addrs].map(async (address) => {
          const [info, models, earnings] = await Promise.all([
            client.readContract({ address: reg, abi: workerRegistryAbi, functionName: 'workerInfo', args: [address] }),
            client.readContract({ address: reg, abi: workerRegistryAbi, functionName: 'modelsOf', args: [address] }),
            client.readContract({ address: cfg.deployment.taskHub, abi: taskHubAbi, functionName: 'balanceOf', args: [address] }),
          ]);
          const s = slashes.get(address);
          return {
            address,
            stake: info.stake,
            locked: info.locked,
            unbonding: info.unbonding,
            unbondingReleaseTime: Number(info.unbondingReleaseTime),
            models: [...models],
            slashes: s?.n ?? 0,
            slashedAmount: s?.amount ?? 0n,
            earnings,
          };
        }),
      );
    },
    refetchInterval: 4000,
  });
}

/** The connected account's balances and worker record. */
export function useAccountState(account: Address | undefined) {
  const client = useClient();
  const cfg = useAppConfig();
  const d = cfg.deployment;
  return useQuery({
    queryKey: ['account', account],
    enabled: !!account,
    queryFn: async () => {
      const a = account!;
      const [token, hubBalance, allowanceHub, allowanceRegistry, info, free, models, taskStake] = await Promise.all([
        client.readContract({ address: d.token, abi: erc20Abi, functionName: 'balanceOf', args: [a] }),
        client.readContract({ address: d.taskHub, abi: taskHubAbi, functionName: 'balanceOf', args: [a] }),
        client.readContract({ address: d.token, abi: erc20Abi, functionName: 'allowance', args: [a, d.taskHub] }),
        client.readContract({ address: d.token, abi: erc20Abi, functionName: 'allowance', args: [a, d.workerRegistry] }),
        client.readContract({ address: d.workerRegistry, abi: workerRegistryAbi, functionName: 'workerInfo', args: [a] }),
        client.readContract({ address: d.workerRegistry, abi: workerRegistryAbi, functionName: 'freeStake', args: [a] }),
        client.readContract({ address: d.workerRegistry, abi: workerRegistryAbi, functionName: 'modelsOf', args: [a] }),
        client.readContract({ address: d.workerRegistry, abi: workerRegistryAbi, functionName: 'taskStake' }),
      ]);
      return { token, hubBalance, allowanceHub, allowanceRegistry, info, free, models: [...models], taskStake };
    },
    refetchInterval: 3000,
  });
}

/** The audit of one task, as `maskoracle audit --task N --json` reports it. */
export interface AuditReport {
  ok: boolean;
  tasks: {
    task_id: string;
    outcome: string;
    problems: string[];
    drawn: string[];
    commits: [string, string][];
    consensus: string | null;
    revealed: string[];
    slashed_workers: string[];
    result_cid: string | null;
    callback: string | null;
    settlement: { finalized: boolean; winners: string[]; reward_each: string; slashed: string; fee: string; refund: string; expiry_reason: string | null } | null;
  }[];
}

export function useAudit(id: bigint | null) {
  const cfg = useAppConfig();
  return useQuery({
    queryKey: ['audit', id?.toString()],
    enabled: id !== null,
    queryFn: async (): Promise<AuditReport> => {
      const r = await fetch(cfg.auditUrl + id!.toString());
      if (!r.ok) throw new Error(`audit: HTTP ${r.status}: ${await r.text()}`);
      return (await r.json()) as AuditReport;
    },
  });
}
