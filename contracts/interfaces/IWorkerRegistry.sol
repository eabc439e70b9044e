// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IModelRegistry} from "./IModelRegistry.sol";

/// @title IWorkerRegistry
/// @notice Worker stakes and the stake-weighted draw. Workers stake tokens (held here), opt into the
/// models they serve, and are drawn per task with probability proportional to their stake among the
/// model's opted-in workers as they stood at the end of the block before the request. The hub locks the
/// task stake of a drawn worker when it commits, and releases or slashes it at settlement. Stake leaves
/// through an unbonding delay.
interface IWorkerRegistry {
    /// @notice A worker's stake accounts.
    /// @param stake Bonded stake: the draw weight in every model the worker opted into.
    /// @param locked Part of `stake` locked by live tasks (taskStake per task committed to).
    /// @param lastIncreaseBlock Block of the last stake increase or opt-in (informational: the draw reads
    /// the pool's history, so changes after a request never enter its draw).
    /// @param modelCount Number of models opted into.
    /// @param unbonding Stake on its way out, no longer drawn, not slashable.
    /// @param unbondingReleaseTime When `unbonding` can be withdrawn.
    struct WorkerInfo {
        uint96 stake;
        uint96 locked;
        uint40 lastIncreaseBlock;
        uint8 modelCount;
        uint96 unbonding;
        uint40 unbondingReleaseTime;
    }

    /// @dev The amount is zero.
    error WorkerRegistryZeroAmount();
    /// @dev The stake would exceed uint96.
    error WorkerRegistryStakeOverflow(uint256 stake);
    /// @dev Not enough unlocked stake for the operation.
    error WorkerRegistryInsufficientFreeStake(address worker, uint256 free, uint256 needed);
    /// @dev Nothing is unbonding.
    error WorkerRegistryNothingUnbonding(address worker);
    /// @dev The unbonding delay has not passed.
    error WorkerRegistryStillUnbonding(address worker, uint256 releaseTime);
    /// @dev Only the hub may call this.
    error WorkerRegistryNotHub(address caller);
    /// @dev The model is unknown or retired.
    error WorkerRegistryModelInactive(uint32 modelId);
    /// @dev The worker already opted into the model.
    error WorkerRegistryAlreadyOptedIn(address worker, uint32 modelId);
    /// @dev The worker has not opted into the model.
    error WorkerRegistryNotOptedIn(address worker, uint32 modelId);
    /// @dev The worker serves MAX_MODELS_PER_WORKER models already.
    error WorkerRegistryTooManyModels(address worker, uint256 max);
    /// @dev The constructor's hub address is zero or the parameters are out of range.
    error WorkerRegistryInvalidParameters();

    /// @dev `worker` added `amount` to its stake.
    event Staked(address indexed worker, uint256 amount, uint256 newStake);
    /// @dev `amount` left the bonded stake and unbonds until `releaseTime` (the whole unbonding balance).
    event UnstakeRequested(address indexed worker, uint256 amount, uint256 unbonding, uint256 releaseTime);
    /// @dev The unbonded stake was paid out to the worker.
    event UnstakeWithdrawn(address indexed worker, uint256 amount);
    /// @dev The worker joined a model's draw pool.
    event OptedIn(address indexed worker, uint32 indexed modelId);
    /// @dev The worker left a model's draw pool.
    event OptedOut(address indexed worker, uint32 indexed modelId);
    /// @dev The hub locked `amountEach` of each worker's stake for a task (one worker per event: the lock
    /// is taken when that worker commits).
    event StakesLocked(uint256 indexed taskId, address[] workers, uint256 amountEach);
    /// @dev The hub released a task's locks; `slashMask` bit i set means workers[i] lost `amountEach`.
    event StakesReleased(uint256 indexed taskId, address[] workers, uint256 slashMask, uint256 amountEach);

    /// @notice Adds `amount` tokens (pulled from the caller) to the caller's bonded stake.
    function stake(uint256 amount) external;

    /// @notice Moves `amount` of unlocked stake to unbonding; restarts the unbonding delay for the
    /// whole unbonding balance.
    function requestUnstake(uint256 amount) external;

    /// @notice Pays the caller's unbonded stake out once the delay passed.
    function withdrawUnstaked() external;

    /// @notice Joins the draw pool of an active model with the caller's whole stake.
    function optIn(uint32 modelId) external;

    /// @notice Leaves a model's draw pool (locks already taken stay until their tasks settle).
    function optOut(uint32 modelId) external;

    /// @notice Hub only: locks taskStake of `worker`'s free stake for a task it commits to; reverts with
    /// WorkerRegistryInsufficientFreeStake when less is free.
    function lock(uint256 taskId, address worker) external;

    /// @notice Hub only: unlocks the task stake of `workers`; those with bit i of `slashMask` set lose it,
    /// and the slashed tokens (taskStake x popcount(slashMask)) are sent to the hub.
    function release(uint256 taskId, address[] calldata workers, uint256 slashMask) external;

    /// @notice The draw of a task requested in block `requestBlock`: `count` distinct workers drawn with
    /// `seed`, weighted by stake in the model's pool at the end of block requestBlock - 1. The same for
    /// every call whatever happened after that block (the hub stores it at the task's draw).
    /// @return workers The drawn workers (fewer than `count` when fewer had weight then).
    function previewDraw(uint32 modelId, uint256 seed, uint256 count, uint256 requestBlock)
        external
        view
        returns (address[] memory workers);

    /// @notice A worker's stake accounts.
    function workerInfo(address worker) external view returns (WorkerInfo memory);

    /// @notice Unlocked bonded stake of a worker.
    function freeStake(address worker) external view returns (uint256);

    /// @notice Models a worker opted into.
    function modelsOf(address worker) external view returns (uint32[] memory);

    /// @notice Whether a worker is in a model's draw pool.
    function isOptedIn(address worker, uint32 modelId) external view returns (bool);

    /// @notice Total draw weight and number of leaves (every worker that ever joined) of a model's pool.
    function pool(uint32 modelId) external view returns (uint256 totalWeight, uint256 leaves);

    /// @notice Total draw weight of a model's pool at the end of block `blockNumber`.
    function poolWeightAt(uint32 modelId, uint256 blockNumber) external view returns (uint256);

    /// @notice The staking token.
    function token() external view returns (IERC20);

    /// @notice Where models are checked for opt-in.
    function modelRegistry() external view returns (IModelRegistry);

    /// @notice Stake locked per drawn worker per task (and slashed on misbehaviour).
    function taskStake() external view returns (uint96);

    /// @notice Seconds between requestUnstake and withdrawUnstaked.
    function unbondingDelay() external view returns (uint40);

    /// @notice The only caller of lock and release.
    function hub() external view returns (address);
}
