// Request a segmentation: pick a model, give an image (upload to the node's IPFS service, or an
// ipfs:// / https:// reference), set R/Q/reward/windows, then approve + deposit + request.
import { useEffect, useMemo, useState } from 'react';
import { useAccount } from 'wagmi';
import { parseEventLogs, parseUnits, type Hex } from 'viem';
import { taskHubAbi } from '../abi';
import { useAccountState, useAppConfig, useModels } from '../hooks';
import { useSender } from '../tx';
import { MODEL_KINDS, progressText, tokens } from '../lib/format';
import { erc20Abi } from 'viem';

function parseTokens(s: string): bigint | null {
  try {
    if (!/^\d+(\.\d{0,18})?$/.test(s.trim())) return null;
    return parseUnits(s.trim(), 18);
  } catch {
    return null;
  }
}

export function RequestPage() {
  const cfg = useAppConfig();
  const d = cfg.deployment;
  const { address } = useAccount();
  const models = useModels();
  const acct = useAccountState(address);
  const { send, run, progress, error, busy } = useSender();

  const active = useMemo(() => (models.data ?? []).filter((m) => !m.retired), [models.data]);
  const [modelId, setModelId] = useState<number | null>(null);
  useEffect(() => {
    if (modelId === null && active.length) setModelId(active[0].id);
  }, [active, modelId]);
  const model = active.find((m) => m.id === modelId);

  const [source, setSource] = useState<'file' | 'url'>('file');
  const [file, setFile] = useState<File | null>(null);
  const [preview, setPreview] = useState<string | null>(null);
  const [url, setUrl] = useState('');
  const [replication, setReplication] = useState('3');
  const [quorum, setQuorum] = useState('2');
  const [reward, setReward] = useState('10');
  const [maxFee, setMaxFee] = useState('');
  const [commitWindow, setCommitWindow] = useState('300');
  const [revealWindow, setRevealWindow] = useState('300');
  const [uploaded, setUploaded] = useState<string | null>(null);

  useEffect(() => {
    if (!file) return setPreview(null);
    const u = URL.createObjectURL(file);
    setPreview(u);
    return () => URL.revokeObjectURL(u);
  }, [file]);

  const r = Number(replication);
  const q = Number(quorum);
  const rewardWei = parseTokens(reward);
  const fee = model?.fee ?? 0n;
  const maxFeeWei = maxFee === '' ? fee : parseTokens(maxFee);
  const cost = rewardWei !== null ? rewardWei + fee : null;
  const hubBalance = acct.data?.hubBalance ?? 0n;
  const toDeposit = cost !== null && cost > hubBalance ? cost - hubBalance : 0n;
  const hints: string[] = [];
  if (!(r >= 1 && r <= 16)) hints.push('R must be 1 to 16.');
  if (!(q > r / 2 && q <= r)) hints.push(`Q must be more than half of R and at most R (for R = ${r}: ${Math.floor(r / 2) + 1} to ${r}).`);
  if (rewardWei === null) hints.push('The reward must be a token amount.');
  for (const [n, v] of [['commit', commitWindow], ['reveal', revealWindow]] as const) {
    const w = Number(v);
    if (!(w >= 60 && w <= 30 * 86400)) hints.push(`The ${n} window must be 60 s to 30 days.`);
  }
  const input = source === 'url' ? url.trim() : uploaded;
  if (source === 'url' && url && !/^(ipfs|https):\/\//.test(url.trim())) hints.push('The input must start with ipfs:// or https://.');

  async function upload(f: File): Promise<string> {
    const body = new FormData();
    body.append('file', f, f.name);
    const res = await fetch(`${cfg.ipfsApi}/add?cid-version=1&raw-leaves=true&pin=true`, { method: 'POST', body });
    const j = (await res.json()) as { Hash?: string; Message?: string };
    if (!res.ok || !j.Hash) throw new Error(`IPFS upload failed: ${j.Message ?? res.status}`);
    return `ipfs://${j.Hash}`;
  }

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    if (!address || !model || cost === null || rewardWei === null || maxFeeWei === null) return;
    await run(async () => {
      let inputRef = input;
      if (source === 'file') {
        if (!file) throw new Error('Choose an image to upload first.');
        inputRef = await upload(file);
        setUploaded(inputRef);
      }
      if (!inputRef) throw new Error('Give an input: an ipfs:// or https:// reference.');
      if (toDeposit > 0n) {
        const allowance = acct.data?.allowanceHub ?? 0n;
        if (allowance < toDeposit) {
          await send('Approve the hub to take the tokens', { address: d.token, abi: erc20Abi, functionName: 'approve', args: [d.taskHub, toDeposit] });
        }
        await send('Deposit into your hub balance', { address: d.taskHub, abi: taskHubAbi, functionName: 'deposit', args: [address, toDeposit] });
      }
      const { receipt } = await send('Request the segmentation', {
        address: d.taskHub,
        abi: taskHubAbi,
        functionName: 'request',
        args: [
          {
            modelId: model.id,
            replication: r,
            quorum: q,
            reward: rewardWei,
            maxFee: maxFeeWei,
            commitWindow: Number(commitWindow),
            revealWindow: Number(revealWindow),
            callbackGasLimit: 0,
            input: inputRef,
            params: '0x' as Hex,
          },
        ],
      });
      const ev = parseEventLogs({ abi: taskHubAbi, eventName: 'TaskRequested', logs: receipt.logs });
      if (ev[0]) window.location.hash = `#/task/${ev[0].args.taskId}`;
    });
  }

  return (
    <section aria-labelledby="req-h">
      <h1 id="req-h">Request a segmentation</h1>
      <form onSubmit={submit} className="card form">
        <label>
          Model
          <select value={modelId ?? ''} onChange={(e) => setModelId(Number(e.target.value))} aria-describedby="model-info">
            {active.map((m) => (
              <option key={m.id} value={m.id}>
                {m.id}: {m.name} ({MODEL_KINDS[m.kind] ?? m.kind}, fee {tokens(m.fee)})
              </option>
            ))}
          </select>
        </label>
        {models.isLoading && <p>Loading models…</p>}
        {model && (
          <p id="model-info" className="muted small">
            {model.name}: {MODEL_KINDS[model.kind]} segmentation, labels {model.labels.slice(1).join(', ') || '—'}, fee {tokens(model.fee)} per finalized task.
          </p>
        )}

        <fieldset>
          <legend>Image</legend>
          <div className="row">
            <label className="inline">
              <input type="radio" name="source" checked={source === 'file'} onChange={() => setSource('file')} /> Upload to the node's IPFS
            </label>
            <label className="inline">
              <input type="radio" name="source" checked={source === 'url'} onChange={() => setSource('url')} /> ipfs:// or https:// reference
            </label>
          </div>
          {source === 'file' ? (
            <label>
              Image file
              <input type="file" accept="image/*" onChange={(e) => { setFile(e.target.files?.[0] ?? null); setUploaded(null); }} />
            </label>
          ) : (
            <label>
              Input reference
              <input type="text" inputMode="url" placeholder="ipfs://bafy… or https://…" value={url} onChange={(e) => setUrl(e.target.value)} />
            </label>
          )}
          {source === 'file' && preview && <img className="preview" src={preview} alt="The chosen image" />}
          {uploaded && <p className="small mono">Uploaded: {uploaded}</p>}
        </fieldset>

        <fieldset>
          <legend>Terms</legend>
          <div className="grid">
            <label>
              Workers drawn (R)
              <input type="number" min={1} max={16} value={replication} onChange={(e) => setReplication(e.target.value)} />
            </label>
            <label>
              Equal results needed (Q)
              <input type="number" min={1} max={16} value={quorum} onChange={(e) => setQuorum(e.target.value)} />
            </label>
            <label>
              Reward (tokens)
              <input type="text" inputMode="decimal" value={reward} onChange={(e) => setReward(e.target.value)} />
            </label>
            <label>
              Max fee (tokens)
              <input type="text" inputMode="decimal" placeholder={tokens(fee)} value={maxFee} onChange={(e) => setMaxFee(e.target.value)} />
            </label>
            <label>
              Commit window (s)
              <input type="number" min={60} value={commitWindow} onChange={(e) => setCommitWindow(e.target.value)} />
            </label>
            <label>
              Reveal window (s)
              <input type="number" min={60} value={revealWindow} onChange={(e) => setRevealWindow(e.target.value)} />
            </label>
          </div>
        </fieldset>

        <div className="cost" aria-live="polite" data-testid="cost">
          <div>
            Cost: <strong>{cost === null ? '…' : tokens(cost)}</strong> tokens (reward {tokens(rewardWei ?? undefined)} + fee {tokens(fee)}; refunded in full if the task fails)
          </div>
          {address && (
            <div className="small muted">
              Hub balance {tokens(acct.data?.hubBalance)}, wallet {tokens(acct.data?.token)} tokens
              {toDeposit > 0n ? `: ${tokens(toDeposit)} will be deposited first` : ': enough on the hub'}.
            </div>
          )}
        </div>
        {hints.length > 0 && (
          <ul className="hints small" aria-label="Checks">
            {hints.map((h) => (
              <li key={h}>{h} The hub will refuse this request.</li>
            ))}
          </ul>
        )}
        {!address && <p className="muted">Connect a wallet to send the request.</p>}
        <button type="submit" disabled={!address || busy || !model}>
          {busy ? 'Working…' : toDeposit > 0n ? 'Approve, deposit and request' : 'Request'}
        </button>
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
      </form>
    </section>
  );
}
