// Reverts in words: every custom error the hub and the registries can raise, decoded by viem
// from the ABIs (src/abi.ts), then phrased for a person. Never a raw revert hex.
import { BaseError, ContractFunctionRevertedError, UserRejectedRequestError, formatUnits } from 'viem';
import { WAIT_REASONS, TASK_STATUS } from './format';

type Args = readonly unknown[];
const tok = (v: unknown) => `${formatUnits(BigInt(v as bigint), 18)} tokens`;
const ts = (v: unknown) => new Date(Number(v) * 1000).toLocaleString();

/** Words for each custom error, from its decoded arguments. */
export const ERROR_WORDS: Record<string, (a: Args) => string> = {
  TaskHubZeroAmount: () => 'The amount is zero.',
  TaskHubInsufficientBalance: (a) => `Your balance on the hub is ${tok(a[1])}, but ${tok(a[2])} is needed.`,
  TaskHubInvalidReplication: (a) =>
    `Replication R = ${a[0]} and quorum Q = ${a[1]} are not allowed: R must be 1..16 and Q must be more than half of R and at most R.`,
  TaskHubInvalidWindow: (a) => `A window of ${a[0]} s is outside the allowed range (60 s to 30 days).`,
  TaskHubZeroReward: () => 'The reward must be more than zero.',
  TaskHubCallbackGasTooHigh: (a) => `The callback gas limit ${a[0]} is above the maximum ${a[1]}.`,
  TaskHubInputSchemeInvalid: () => 'The input must start with ipfs:// or https:// (http:// and bare CIDs are refused).',
  TaskHubInputEmptyReference: () => 'The input is a scheme with nothing after it: give ipfs://CID or https://host/path.',
  TaskHubInputTooLong: (a) => `The input is ${a[0]} bytes long; at most ${a[1]} are allowed.`,
  TaskHubParamsTooLong: (a) => `The model parameters are too long (${a[0]} bytes).`,
  TaskHubModelInactive: (a) => `Model ${a[0]} is unknown or retired.`,
  TaskHubUnknownTask: (a) => `There is no task ${a[0]}.`,
  TaskHubWrongStatus: (a) => `Task ${a[0]} is ${TASK_STATUS[Number(a[1])] ?? a[1]}: this action is not possible in that state.`,
  TaskHubSeedPending: (a) => `The randomness for task ${a[0]} is not available yet.`,
  TaskHubSeedExpired: (a) => `The randomness for task ${a[0]} will never come: it can only expire.`,
  TaskHubNotEnoughWorkers: (a) => `Task ${a[0]}: only ${a[1]} workers with stake were available, ${a[2]} needed.`,
  TaskHubFeeAboveMax: (a) => `Model ${a[0]}'s fee (${tok(a[1])}) is above the maximum fee you accept (${tok(a[2])}).`,
  TaskHubRequestHashMismatch: (a) => `The commit names another request than task ${a[0]}.`,
  TaskHubRegistryMismatch: () => 'The worker registry does not belong to this hub.',
  TaskHubAlreadyDrawn: (a) => `The workers of task ${a[0]} are already drawn.`,
  TaskHubCommitDeadlinePassed: (a) => `The commit deadline of task ${a[0]} passed (${ts(a[1])}).`,
  TaskHubRevealDeadlinePassed: (a) => `The reveal deadline of task ${a[0]} passed (${ts(a[1])}).`,
  TaskHubRevealDeadlineNotPassed: (a) => `The reveal deadline of task ${a[0]} has not passed yet (${ts(a[1])}).`,
  TaskHubNotDrawn: (a) => `${a[1]} was not drawn for task ${a[0]}.`,
  TaskHubAlreadyCommitted: (a) => `${a[1]} has already committed to task ${a[0]}.`,
  TaskHubZeroResultHash: () => 'The result hash is zero.',
  TaskHubNotCommitted: (a) => `${a[1]} has not committed to task ${a[0]} (or revealed already).`,
  TaskHubResultMismatch: (a) => `The revealed data of task ${a[0]} does not reproduce the consensus hash.`,
  TaskHubSealMismatch: (a) => `The reveal does not open ${a[1]}'s commitment in task ${a[0]}.`,
  TaskHubSummaryMismatch: (a) => `The summary of task ${a[0]} is missing or does not match the recorded one.`,
  TaskHubNotExpirable: (a) => `Task ${a[0]} cannot expire yet: ${WAIT_REASONS[Number(a[1])]?.words ?? a[1]}.`,
  TaskHubInsufficientGasForCallback: (a) => `Too little gas for the callback (${a[0]} left, ${a[1]} needed): retry with more gas.`,
  TaskHubZeroAddress: () => 'An address is zero.',
  TaskHubNotReconcilable: (a) => `Task ${a[0]} is not in the tolerant fallback: ${WAIT_REASONS[Number(a[1])]?.words ?? a[1]}.`,
  TaskHubNoTolerance: (a) => `Model ${a[1]} of task ${a[0]} has no tolerance rule: only identical results settle.`,
  TaskHubSketchesPending: (a) => `Task ${a[0]}: ${a[1]} of ${a[2]} committed workers have revealed their sketches; settle when all have, or after the reveal deadline.`,
  TaskHubOpeningCount: (a) => `Task ${a[0]}: ${a[1]} openings given, ${a[2]} sketches revealed.`,
  TaskHubInvalidRepresentative: (a) => `Task ${a[0]}: representative ${a[1]} is not one of the revealed sketches.`,
  TaskHubSummaryContradictsSketch: (a) => `Task ${a[0]}: the representative's summary does not match its sketch.`,
  TaskHubToleranceQuorumNotReached: (a) => `Task ${a[0]}: only ${a[1]} workers agree with this representative within the tolerance; Q = ${a[2]}.`,
  WorkerRegistryZeroAmount: () => 'The amount is zero.',
  WorkerRegistryStakeOverflow: (a) => `The stake would overflow (${a[0]}).`,
  WorkerRegistryInsufficientFreeStake: (a) => `Free stake is ${tok(a[1])}, but ${tok(a[2])} is needed (the rest is locked by live tasks).`,
  WorkerRegistryNothingUnbonding: () => 'Nothing is unbonding: request an unstake first.',
  WorkerRegistryStillUnbonding: (a) => `The stake is still unbonding until ${ts(a[1])}.`,
  WorkerRegistryNotHub: () => 'Only the hub may do this.',
  WorkerRegistryModelInactive: (a) => `Model ${a[0]} is unknown or retired.`,
  WorkerRegistryAlreadyOptedIn: (a) => `Already opted in to model ${a[1]}.`,
  WorkerRegistryNotOptedIn: (a) => `Not opted in to model ${a[1]}.`,
  WorkerRegistryTooManyModels: (a) => `Too many models: at most ${a[1]} per worker.`,
  WorkerRegistryInvalidParameters: () => 'Invalid registry parameters.',
  ModelRegistryInvalidCid: (a) => `The model CID is empty or too long (${a[0]} bytes).`,
  ModelRegistryZeroSha256: () => 'The model sha256 is zero.',
  ModelRegistryInvalidKind: (a) => `Model kind ${a[0]} is neither instance (0) nor semantic (1).`,
  ModelRegistryUnknownModel: (a) => `There is no model ${a[0]}.`,
  ModelRegistryToleranceBpsTooHigh: (a) => `A tolerance in basis points (${a[0]}) is above 10,000.`,
  ModelRegistryToleranceEmpty: () => 'The tolerance is all zeros: register without one instead.',
  ModelRegistryNotPublisher: (a) => `Only the publisher of model ${a[0]} may do this.`,
  ModelRegistryModelRetired: (a) => `Model ${a[0]} is retired.`,
  ERC20InsufficientBalance: (a) => `Your token balance is ${tok(a[1])}, but ${tok(a[2])} is needed.`,
  ERC20InsufficientAllowance: (a) => `The token allowance is ${tok(a[1])}, but ${tok(a[2])} is needed.`,
};

/** A decoded failure, for display: a title (the error's name, when a contract raised it) and words. */
export interface Explained {
  name: string;
  words: string;
}

/** Explains any error thrown by a viem/wagmi call. */
export function explain(e: unknown): Explained {
  if (e instanceof BaseError) {
    const revert = e.walk((x) => x instanceof ContractFunctionRevertedError);
    if (revert instanceof ContractFunctionRevertedError) {
      const name = revert.data?.errorName;
      if (name && name !== 'Error' && name !== 'Panic') {
        const f = ERROR_WORDS[name];
        return { name, words: f ? f(revert.data?.args ?? []) : `The contract refused: ${name}.` };
      }
      if (revert.reason) return { name: 'Reverted', words: revert.reason };
      return { name: 'Reverted', words: revert.shortMessage };
    }
    if (e.walk((x) => x instanceof UserRejectedRequestError)) {
      return { name: 'Rejected', words: 'You rejected the request in your wallet.' };
    }
    return { name: e.name.replace(/Error$/, ''), words: e.shortMessage };
  }
  return { name: 'Error', words: e instanceof Error ? e.message : String(e) };
}
