// One task, shareable as #/task/<id>: a live timeline from the hub's events and views, the
// deadlines counting down in chain time, and the result fetched by CID, its sha256 checked here
// against the on-chain resultSha256, decoded and drawn over the image.
import { useEffect, useRef, useState } from 'react';
import { hexToBytes, sha256, zeroAddress } from 'viem';
import { useAppConfig, useChainNow, useModels, useTask } from '../hooks';
import { CALLBACK_OUTCOMES, CONTRIBUTION_STATES, TASK_STATUS, WAIT_REASONS, countdown, short, tokens } from '../lib/format';
import { cidOfSha256, parseCanonical, type CanonicalResult } from '../lib/canonical';
import { drawOverlay, labelColour } from '../lib/overlay';

const NO_LABELS: string[] = [];

type Step = { key: string; title: string; state: 'done' | 'active' | 'pending' | 'failed'; body: React.ReactNode };

function inputUrl(input: string, catUrl: string): string | null {
  if (input.startsWith('ipfs://')) return catUrl + input.slice(7).split('/')[0];
  if (input.startsWith('https://')) return input;
  return null;
}

interface Fetched {
  bytes?: Uint8Array;
  sha256Ok?: boolean;
  computed?: string;
  decoded?: CanonicalResult;
  decodeError?: string;
  fetchError?: string;
}

function useResult(cid: string | null, expected: string | null): Fetched | null {
  const cfg = useAppConfig();
  const [f, setF] = useState<Fetched | null>(null);
  useEffect(() => {
    if (!cid || !expected) return;
    let live = true;
    (async () => {
      try {
        const r = await fetch(cfg.catUrl + cid);
        if (!r.ok) throw new Error(`HTTP ${r.status}: ${await r.text()}`);
        const bytes = new Uint8Array(await r.arrayBuffer());
        const computed = sha256(bytes);
        const out: Fetched = { bytes, computed, sha256Ok: computed.toLowerCase() === expected.toLowerCase() };
        try {
          out.decoded = parseCanonical(bytes);
        } catch (e) {
          out.decodeError = e instanceof Error ? e.message : String(e);
        }
        if (live) setF(out);
      } catch (e) {
        if (live) setF({ fetchError: e instanceof Error ? e.message : String(e) });
      }
    })();
    return () => {
      live = false;
    };
  }, [cid, expected, cfg.catUrl]);
  return f;
}

function Overlay({ src, result, labels }: { src: string | null; result: CanonicalResult; labels: string[] }) {
  const ref = useRef<HTMLCanvasElement>(null);
  const [imgError, setImgError] = useState(false);
  useEffect(() => {
    const canvas = ref.current;
    if (!canvas) return;
    if (!src) {
      drawOverlay(canvas, null, result, labels);
      return;
    }
    const img = new Image();
    img.onload = () => drawOverlay(canvas, img, result, labels);
    img.onerror = () => {
      setImgError(true);
      drawOverlay(canvas, null, result, labels);
    };
    img.src = src;
  }, [src, result, labels]);
  return (
    <figure className="overlay">
      <canvas ref={ref} role="img" aria-label={`The image with ${result.detections.length} detections drawn over it`} data-testid="overlay" />
      {imgError && <figcaption className="small muted">The input could not be loaded here; the masks are drawn on a blank image.</figcaption>}
    </figure>
  );
}

export function TaskPage({ id }: { id: bigint }) {
  const cfg = useAppConfig();
  const q = useTask(id);
  const models = useModels();
  const now = useChainNow();
  const data = q.data;
  const expected = data?.hasResult ? data.result.resultSha256 : null;
  const cid = expected ? cidOfSha256(hexToBytes(expected)) : null;
  const fetched = useResult(cid, expected);

  if (q.isLoading) return <p>Loading task {id.toString()}…</p>;
  if (q.error) return <p role="alert" className="error">Cannot read task {id.toString()}: {String(q.error.message)}</p>;
  if (!data) return <p role="alert" className="error">There is no task {id.toString()} on this chain.</p>;

  const { task, status, reason, logs, contributions } = data;
  const model = models.data?.find((m) => m.id === task.modelId);
  const ev = <N extends string>(name: N) => logs.filter((l) => l.eventName === name) as (typeof logs[number] & { eventName: N; args: any })[];
  const requested = ev('TaskRequested')[0];
  const drawn = ev('WorkersDrawn')[0];
  const commits = ev('Committed');
  const consensus = ev('ConsensusReached')[0];
  const recorded = ev('ResultRecorded')[0];
  const reveals = ev('Revealed');
  const finalized = ev('TaskFinalized')[0];
  const expired = ev('TaskExpired')[0];
  const released = ev('StakesReleased')[0];
  const callback = ev('CallbackAttempted')[0];
  const reconciliation = ev('ReconciliationOpened')[0];
  const sketches = ev('SketchRevealed');
  const tolerant = ev('TaskSettledTolerant')[0];
  const terminal = status === 3 || status === 4;
  const commitLeft = Number(task.commitDeadline) - now;
  const revealLeft = Number(task.revealDeadline) - now;
  const slashedSet = new Set<string>();
  if (released) {
    (released.args.workers as string[]).forEach((w, i) => {
      if ((released.args.slashMask >> BigInt(i)) & 1n) slashedSet.add(w.toLowerCase());
    });
  }
  const input = requested?.args.input as string | undefined;
  const src = input ? inputUrl(input, cfg.catUrl) : null;

  const steps: Step[] = [
    {
      key: 'requested',
      title: 'Requested',
      state: 'done',
      body: (
        <>
          by <span className="mono">{short(task.requester)}</span> at block {task.requestBlock.toString()}: model {task.modelId}
          {model ? ` (${model.name})` : ''}, R = {task.replication}, Q = {task.quorum}, reward {tokens(task.reward)}, fee {tokens(task.fee)}.
          {input && (
            <div className="small mono wrap">input {input}</div>
          )}
        </>
      ),
    },
    {
      key: 'seed',
      title: 'Seed and draw',
      state: drawn ? 'done' : terminal ? 'failed' : 'active',
      body: drawn ? (
        <>
          seed <span className="mono">{(drawn.args.seed as string).slice(0, 18)}…</span>; drawn:{' '}
          {(drawn.args.workers as string[]).map((w) => (
            <span key={w} className="mono chip">
              {short(w)}
            </span>
          ))}
        </>
      ) : reason === 1 ? (
        'waiting for the randomness'
      ) : data.preview && data.preview[0].length ? (
        <>a draw now would pick {data.preview[0].length} worker(s); the first commit stores it</>
      ) : (
        'not drawn yet'
      ),
    },
    {
      key: 'commits',
      title: `Commits (${commits.length}/${task.replication})`,
      state: consensus || commits.length >= task.replication ? 'done' : terminal ? 'failed' : drawn ? 'active' : 'pending',
      body: (
        <>
          {commits.length === 0 ? 'no commit yet' : (
            <ul className="plain">
              {commits.map((c) => (
                <li key={c.transactionHash + c.logIndex}>
                  <span className="mono">{short(c.args.worker)}</span> committed <span className="mono">{(c.args.resultHash as string).slice(0, 12)}…</span>
                  {consensus && (c.args.resultHash === consensus.args.resultHash ? ' (consensus)' : ' (dissent)')}
                </li>
              ))}
            </ul>
          )}
          {!terminal && !consensus && <div className="small">commit deadline in <strong data-testid="commit-countdown">{countdown(commitLeft)}</strong></div>}
        </>
      ),
    },
    {
      key: 'consensus',
      title: 'Consensus',
      state: consensus || tolerant ? 'done' : terminal ? 'failed' : reconciliation ? 'active' : 'pending',
      body: consensus ? (
        <>Q equal results on <span className="mono">{(consensus.args.resultHash as string).slice(0, 18)}…</span></>
      ) : reconciliation ? (
        <div data-testid="tolerant">
          no Q equal results: tolerant fallback ({sketches.length} sketch{sketches.length === 1 ? '' : 'es'} revealed)
          {sketches.map((s) => (
            <div key={s.transactionHash + s.logIndex}>
              <span className="mono">{short(s.args.worker)}</span> revealed its sketch ({((s.args.sketch as string).length - 2) / 2} bytes), sha256{' '}
              <span className="mono">{(s.args.resultSha256 as string).slice(0, 12)}…</span>
            </div>
          ))}
          {tolerant && (
            <div>
              settled on {(tolerant.args.members as string[]).length} agreeing worker(s) within the model's tolerance; representative{' '}
              <span className="mono">{short(tolerant.args.representative)}</span>
              {(tolerant.args.slashedOutliers as string[]).length > 0 && <>; outliers slashed: {(tolerant.args.slashedOutliers as string[]).map((w) => short(w)).join(', ')}</>}
            </div>
          )}
        </div>
      ) : (
        'no quorum yet'
      ),
    },
    {
      key: 'reveals',
      title: reconciliation ? 'Result (from the representative)' : `Reveals (${reveals.length})`,
      state: finalized ? 'done' : expired ? 'failed' : consensus ? 'active' : 'pending',
      body: (
        <>
          {recorded && <div>result recorded: status {recorded.args.status}, sha256 <span className="mono">{(recorded.args.resultSha256 as string).slice(0, 18)}…</span></div>}
          {reveals.map((r) => (
            <div key={r.transactionHash + r.logIndex}>
              <span className="mono">{short(r.args.worker)}</span> revealed
            </div>
          ))}
          {consensus && !terminal && <div className="small">reveal deadline in <strong>{countdown(revealLeft)}</strong></div>}
        </>
      ),
    },
    {
      key: 'settlement',
      title: 'Settlement',
      state: finalized ? 'done' : expired ? 'failed' : 'pending',
      body: finalized ? (
        <>
          Finalized: {(finalized.args.winners as string[]).length} winner(s) got {tokens(finalized.args.rewardEach)} + {tokens(finalized.args.slashShareEach)} each;{' '}
          {tokens(finalized.args.slashed)} slashed; fee {tokens(finalized.args.fee)} to the publisher.
          {slashedSet.size > 0 && (
            <div>
              slashed:{' '}
              {[...slashedSet].map((w) => (
                <span key={w} className="mono chip">
                  {short(w)}
                </span>
              ))}
            </div>
          )}
        </>
      ) : expired ? (
        <>Expired ({WAIT_REASONS[Number(expired.args.reason)]?.words}): {tokens(expired.args.refund)} refunded, {tokens(expired.args.slashed)} slashed.</>
      ) : (
        'not settled yet'
      ),
    },
    {
      key: 'callback',
      title: 'Callback',
      state: callback ? (Number(callback.args.outcome) === 3 ? 'failed' : 'done') : 'pending',
      body: callback ? CALLBACK_OUTCOMES[Number(callback.args.outcome)] : CALLBACK_OUTCOMES[0],
    },
  ];

  return (
    <section aria-labelledby="task-h">
      <h1 id="task-h">Task {id.toString()}</h1>
      <p className="state" data-testid="task-state">
        <span className={`badge s${status}`}>{TASK_STATUS[status]}</span> {WAIT_REASONS[reason]?.words}
      </p>
      <div className="columns">
        <ol className="timeline" aria-label="Timeline">
          {steps.map((s) => (
            <li key={s.key} className={`step ${s.state}`} data-testid={`step-${s.key}`} data-state={s.state}>
              <h2>{s.title}</h2>
              <div>{s.body}</div>
            </li>
          ))}
        </ol>
        <div>
          <div className="card">
            <h2>Workers</h2>
            <table>
              <thead>
                <tr>
                  <th scope="col">Worker</th>
                  <th scope="col">Progress</th>
                  <th scope="col">Slashed</th>
                </tr>
              </thead>
              <tbody>
                {contributions.length === 0 && (
                  <tr>
                    <td colSpan={3}>not drawn yet</td>
                  </tr>
                )}
                {contributions.map((c) => (
                  <tr key={c.worker}>
                    <td className="mono">{c.worker === zeroAddress ? '—' : short(c.worker)}</td>
                    <td>{CONTRIBUTION_STATES[c.state]}</td>
                    <td>{released ? (slashedSet.has(c.worker.toLowerCase()) ? 'yes' : 'no') : '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div className="card" aria-live="polite">
            <h2>Result</h2>
            {!expected && <p>No result recorded yet.</p>}
            {!fetched?.decoded && src && <img className="preview" src={src} alt="The input image" />}
            {cid && <p className="small mono wrap">ipfs://{cid}</p>}
            {fetched?.fetchError && <p role="alert" className="error">Cannot fetch the result: {fetched.fetchError}</p>}
            {fetched?.computed && (
              <p data-testid="sha-check" className={fetched.sha256Ok ? 'ok' : 'error'}>
                {fetched.sha256Ok
                  ? '✓ sha256 checked in this browser: it equals the on-chain resultSha256'
                  : `✗ sha256 mismatch: computed ${fetched.computed}, on chain ${expected}`}
              </p>
            )}
            {fetched?.decodeError && <p role="alert" className="error">The result is not a valid canonical result: {fetched.decodeError}</p>}
            {fetched?.decoded && (
              <>
                <p className="small">
                  status {fetched.decoded.status}, {fetched.decoded.width}×{fetched.decoded.height}, {fetched.decoded.detections.length} detection(s)
                  {fetched.decoded.truncated ? ' (truncated)' : ''}; {fetched.bytes?.length} bytes
                </p>
                <Overlay src={src} result={fetched.decoded} labels={model?.labels ?? NO_LABELS} />
                <table aria-label="Detections">
                  <thead>
                    <tr>
                      <th scope="col">Label</th>
                      <th scope="col">Score</th>
                      <th scope="col">Box [x0, y0, x1, y1)</th>
                      <th scope="col">Mask px</th>
                    </tr>
                  </thead>
                  <tbody>
                    {fetched.decoded.detections.map((d, i) => (
                      <tr key={i}>
                        <td>
                          <span className="swatch" style={{ background: labelColour(d.label) }} aria-hidden="true" />
                          {model?.labels[d.label] ?? `class ${d.label}`}
                        </td>
                        <td>{(d.scoreBps / 100).toFixed(1)} %</td>
                        <td className="mono">[{d.bbox.join(', ')})</td>
                        <td>{d.maskArea}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
                <p className="small muted mono wrap">model sha256 {fetched.decoded.modelSha256.slice(0, 20)}…, input sha256 {fetched.decoded.inputSha256.slice(0, 20)}…</p>
              </>
            )}
          </div>
          <p>
            <a href={`#/explorer/audit/${id}`}>Audit this settlement</a>
          </p>
        </div>
      </div>
    </section>
  );
}
