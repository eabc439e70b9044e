// Names and words for the hub's enums, and number formatting.
import { formatUnits } from 'viem';

export const TASK_STATUS = ['None', 'Requested', 'Revealing', 'Finalized', 'Failed', 'Reconciling'] as const;

/** `taskState`'s reason, in words (ITaskHub.WaitReason). */
export const WAIT_REASONS: { name: string; words: string }[] = [
  { name: 'None', words: 'unknown task' },
  { name: 'SeedPending', words: 'waiting for the randomness (the seed block is not mined or the VRF answer has not come)' },
  { name: 'AwaitingCommits', words: 'the drawn workers are computing and committing their results' },
  { name: 'NotEnoughWorkers', words: 'the pool had fewer staked workers than R: the task expires at the commit deadline' },
  { name: 'SeedExpired', words: 'the randomness will never come: the task can be expired now' },
  { name: 'NoQuorumPossible', words: 'all workers committed without Q equal results: the task can be expired now' },
  { name: 'CommitDeadlinePassed', words: 'no Q equal results by the commit deadline: the task can be expired now' },
  { name: 'AwaitingReveals', words: 'a quorum agreed: its workers are revealing the result' },
  { name: 'RevealDeadlinePassed', words: 'the reveal deadline passed: the task can be finalized (or expired without reveals) now' },
  { name: 'Done', words: 'settled' },
  { name: 'AwaitingSketches', words: 'no Q equal results: the committed workers are revealing their sketches for the tolerant fallback' },
  { name: 'SketchDeadlinePassed', words: 'the sketch reveals closed: the task settles on the largest agreeing set (or expires) now' },
];

export const CALLBACK_OUTCOMES = ['not attempted yet', 'skipped (no callback asked)', 'succeeded', 'failed (recorded; settlement stands)'];
export const CONTRIBUTION_STATES = ['None', 'Drawn', 'Committed', 'Revealed'];
export const MODEL_KINDS = ['instance', 'semantic'];

/** Token amount (18 decimals) with at most 4 fraction digits. */
export function tokens(v: bigint | undefined): string {
  if (v === undefined) return '…';
  const s = formatUnits(v, 18);
  const [i, f] = s.split('.');
  return f ? `${i}.${f.slice(0, 4).replace(/0+$/, '') || '0'}`.replace(/\.0$/, '') : i;
}

export function short(a: string | undefined): string {
  return a ? `${a.slice(0, 6)}…${a.slice(-4)}` : '';
}

/** "1 min 05 s" from seconds (negative: "passed"). */
export function countdown(s: number): string {
  if (s <= 0) return 'passed';
  const m = Math.floor(s / 60);
  const r = Math.floor(s % 60);
  return m > 0 ? `${m} min ${String(r).padStart(2, '0')} s` : `${r} s`;
}

/** Labels of the shipped models by kind (instance: the shapes Mask R-CNN; semantic: selfie). */
export function labelName(kind: number | undefined, label: number): string {
  if (kind === 1) return label === 1 ? 'person' : `class ${label}`;
  const shapes = ['background', 'circle', 'square', 'triangle'];
  return shapes[label] ?? `class ${label}`;
}

/** A transaction step's progress, in words. */
export function progressText(p: { step: string; state: 'running' | 'done' | 'failed' }): string {
  return p.state === 'running' ? `Working: ${p.step}…` : p.state === 'done' ? `Done: ${p.step}` : `Failed: ${p.step}`;
}
