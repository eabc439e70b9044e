// The explorer: recent tasks (with filters), workers (stake, locked, slashes, earnings),
// models, and an audit view of one settlement (the checks of `maskoracle audit`).
import { useState } from 'react';
import { useAccount } from 'wagmi';
import { useAudit, useChainNow, useModels, useRecentTasks, useWorkers } from '../hooks';
import { MODEL_KINDS, TASK_STATUS, WAIT_REASONS, countdown, short, tokens } from '../lib/format';

function Tasks() {
  const q = useRecentTasks(50);
  const { address } = useAccount();
  const [status, setStatus] = useState('all');
  const [who, setWho] = useState('');
  const [mine, setMine] = useState(false);
  const rows = (q.data ?? []).filter(
    (t) =>
      (status === 'all' || TASK_STATUS[t.status] === status) &&
      (!who || t.requester.toLowerCase().includes(who.toLowerCase())) &&
      (!mine || (address && t.requester.toLowerCase() === address.toLowerCase())),
  );
  return (
    <section aria-labelledby="tasks-h" className="card">
      <h2 id="tasks-h">Recent tasks</h2>
      <div className="row filters">
        <label>
          Status
          <select value={status} onChange={(e) => setStatus(e.target.value)}>
            <option value="all">all</option>
            {TASK_STATUS.slice(1).map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Requester
          <input type="search" placeholder="0x…" value={who} onChange={(e) => setWho(e.target.value)} />
        </label>
        <label className="inline">
          <input type="checkbox" checked={mine} onChange={(e) => setMine(e.target.checked)} disabled={!address} /> mine
        </label>
      </div>
      {q.isLoading && <p>Loading…</p>}
      <div className="scroll">
        <table>
          <thead>
            <tr>
              <th scope="col">Task</th>
              <th scope="col">Status</th>
              <th scope="col">Model</th>
              <th scope="col">R/Q</th>
              <th scope="col">Commits</th>
              <th scope="col">Reward</th>
              <th scope="col">Requester</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((t) => (
              <tr key={t.id.toString()}>
                <td>
                  <a href={`#/task/${t.id}`}>#{t.id.toString()}</a>
                </td>
                <td title={WAIT_REASONS[t.reason]?.words}>
                  <span className={`badge s${t.status}`}>{TASK_STATUS[t.status]}</span>
                </td>
                <td>{t.modelId}</td>
                <td>
                  {t.replication}/{t.quorum}
                </td>
                <td>{t.commits}</td>
                <td>{tokens(t.reward)}</td>
                <td className="mono">{short(t.requester)}</td>
              </tr>
            ))}
            {q.data && rows.length === 0 && (
              <tr>
                <td colSpan={7}>no task matches</td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Workers() {
  const q = useWorkers();
  const now = useChainNow();
  return (
    <section aria-labelledby="workers-h" className="card">
      <h2 id="workers-h">Workers</h2>
      {q.isLoading && <p>Loading…</p>}
      {q.error && <p role="alert" className="error">{q.error.message}</p>}
      <div className="scroll">
        <table>
          <thead>
            <tr>
              <th scope="col">Worker</th>
              <th scope="col">Stake</th>
              <th scope="col">Locked</th>
              <th scope="col">Unbonding</th>
              <th scope="col">Models</th>
              <th scope="col">Slashes</th>
              <th scope="col">Earnings</th>
            </tr>
          </thead>
          <tbody>
            {(q.data ?? []).map((w) => (
              <tr key={w.address} data-testid={`worker-${w.address.toLowerCase()}`} className={w.slashes ? 'slashed' : ''}>
                <td className="mono" title={w.address}>
                  {short(w.address)}
                </td>
                <td>{tokens(w.stake)}</td>
                <td>{tokens(w.locked)}</td>
                <td>{w.unbonding ? `${tokens(w.unbonding)} (${countdown(w.unbondingReleaseTime - now)})` : '0'}</td>
                <td>{w.models.join(', ') || '—'}</td>
                <td data-testid="slashes">{w.slashes ? `${w.slashes} slashed (${tokens(w.slashedAmount)})` : '0'}</td>
                <td>{tokens(w.earnings)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p className="small muted">Earnings: the worker's free balance on the hub (rewards and slash shares credited, not yet withdrawn).</p>
    </section>
  );
}

function Models() {
  const q = useModels();
  return (
    <section aria-labelledby="models-h" className="card">
      <h2 id="models-h">Models</h2>
      <div className="scroll">
        <table>
          <thead>
            <tr>
              <th scope="col">Id</th>
              <th scope="col">Name</th>
              <th scope="col">Kind</th>
              <th scope="col">Fee</th>
              <th scope="col">Status</th>
              <th scope="col">Publisher</th>
            </tr>
          </thead>
          <tbody>
            {(q.data ?? []).map((m) => (
              <tr key={m.id}>
                <td>{m.id}</td>
                <td title={m.cid}>{m.name}</td>
                <td>{MODEL_KINDS[m.kind] ?? m.kind}</td>
                <td>{tokens(m.fee)}</td>
                <td>{m.retired ? 'retired' : 'active'}</td>
                <td className="mono">{short(m.publisher)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Audit({ initial }: { initial?: string }) {
  const [text, setText] = useState(initial ?? '');
  const [id, setId] = useState<bigint | null>(initial && /^\d+$/.test(initial) ? BigInt(initial) : null);
  const q = useAudit(id);
  const t = q.data?.tasks[0];
  return (
    <section aria-labelledby="audit-h" className="card">
      <h2 id="audit-h">Audit a settlement</h2>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          if (/^\d+$/.test(text.trim())) {
            setId(BigInt(text.trim()));
            window.location.hash = `#/explorer/audit/${text.trim()}`;
          }
        }}
      >
        <label>
          Task id
          <input type="text" inputMode="numeric" value={text} onChange={(e) => setText(e.target.value)} />
        </label>
        <button type="submit">Audit</button>
      </form>
      {q.isFetching && <p>Rebuilding the task from the chain's events…</p>}
      {q.error && <p role="alert" className="error">{q.error.message}</p>}
      {q.data && !t && <p>No events for this task.</p>}
      {t && (
        <div data-testid="audit-result">
          <p className={t.problems.length ? 'error' : 'ok'}>
            {t.problems.length
              ? `✗ Task ${BigInt(t.task_id)}: the settlement does not check out`
              : t.settlement
                ? `✓ Task ${BigInt(t.task_id)} (${t.outcome}): the settlement checks out`
                : `Task ${BigInt(t.task_id)} is not settled yet (${t.outcome || 'open'})`}
          </p>
          {t.problems.length > 0 && (
            <ul>
              {t.problems.map((p) => (
                <li key={p}>{p}</li>
              ))}
            </ul>
          )}
          <dl className="facts">
            <dt>Drawn</dt>
            <dd className="mono">{t.drawn.map(short).join(', ') || '—'}</dd>
            <dt>Commits</dt>
            <dd className="mono">{t.commits.map(([w, h]) => `${short(w)} ${h === t.consensus ? 'consensus' : 'DISSENT'}`).join('; ') || '—'}</dd>
            <dt>Revealed</dt>
            <dd className="mono">{t.revealed.map(short).join(', ') || '—'}</dd>
            <dt>Slashed</dt>
            <dd className="mono">{t.slashed_workers.map(short).join(', ') || 'nobody'}</dd>
            {t.settlement && (
              <>
                <dt>Settlement</dt>
                <dd>
                  {t.settlement.finalized
                    ? `finalized: ${t.settlement.winners.length} winner(s), ${tokens(BigInt(t.settlement.reward_each))} each, ${tokens(BigInt(t.settlement.slashed))} slashed, fee ${tokens(BigInt(t.settlement.fee))}`
                    : `expired (${t.settlement.expiry_reason}): ${tokens(BigInt(t.settlement.refund))} refunded`}
                </dd>
              </>
            )}
            <dt>Callback</dt>
            <dd>{t.callback ?? '—'}</dd>
            <dt>Result</dt>
            <dd className="mono wrap">{t.result_cid ? `ipfs://${t.result_cid}` : '—'}</dd>
          </dl>
          <p>
            <a href={`#/task/${BigInt(t.task_id)}`}>Open the task</a>
          </p>
        </div>
      )}
    </section>
  );
}

export function ExplorerPage({ tab, arg }: { tab?: string; arg?: string }) {
  const tabs = [
    ['tasks', 'Tasks'],
    ['workers', 'Workers'],
    ['models', 'Models'],
    ['audit', 'Audit'],
  ];
  const current = tab && tabs.some(([t]) => t === tab) ? tab : 'tasks';
  return (
    <section aria-labelledby="ex-h">
      <h1 id="ex-h">Explorer</h1>
      <nav className="tabs" aria-label="Explorer">
        {tabs.map(([t, label]) => (
          <a key={t} href={`#/explorer/${t}`} aria-current={current === t ? 'page' : undefined}>
            {label}
          </a>
        ))}
      </nav>
      {current === 'tasks' && <Tasks />}
      {current === 'workers' && <Workers />}
      {current === 'models' && <Models />}
      {current === 'audit' && <Audit initial={arg} key={arg} />}
    </section>
  );
}
