// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {IWorkerRegistry} from "./interfaces/IWorkerRegistry.sol";
import {SortitionTree} from "./libraries/SortitionTree.sol";

/// @title WorkerRegistry
/// @notice Worker stakes (the tokens live here), per-model draw pools and the stake-weighted draw.
/// @dev One place of truth for stake: `_workers[w].stake` is the bonded stake and the weight of `w` in
/// the pool of every model it opted into. Token balance of this contract == sum(stake + unbonding).
/// The pools keep their history per block (SortitionTree): a task is drawn from its pool as it stood at
/// the end of the block before its request, so no transaction after the request moves its draw. Stake
/// is locked when a drawn worker commits (`lock`), not at the draw: locks do not enter the draw.
contract WorkerRegistry is IWorkerRegistry, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SortitionTree for SortitionTree.Tree;

    /*//////////////////////////////////////////////////////////////
                                CONSTANTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Most models a worker can serve at once (bounds the cost of a stake update).
    uint256 public constant MAX_MODELS_PER_WORKER = 8;

    /// @notice The staking token (the hub's token).
    IERC20 public immutable token;
    /// @notice Where models are checked for opt-in.
    IModelRegistry public immutable modelRegistry;
    /// @inheritdoc IWorkerRegistry
    address public immutable hub;
    /// @inheritdoc IWorkerRegistry
    uint96 public immutable taskStake;
    /// @inheritdoc IWorkerRegistry
    uint40 public immutable unbondingDelay;

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    mapping(address worker => WorkerInfo) private _workers;
    /// @dev Up to 8 model ids packed as uint32 words, slot i at bits [32 i, 32 i + 32); modelCount used.
    mapping(address worker => uint256) private _modelSets;
    mapping(uint32 modelId => SortitionTree.Tree) private _pools;

    /*//////////////////////////////////////////////////////////////
                               CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    constructor(
        IERC20 token_,
        IModelRegistry modelRegistry_,
        address hub_,
        uint96 taskStake_,
        uint40 unbondingDelay_
    ) {
        if (
            address(token_) == address(0) || address(modelRegistry_) == address(0) || hub_ == address(0)
                || taskStake_ == 0
        ) revert WorkerRegistryInvalidParameters();
        token = token_;
        modelRegistry = modelRegistry_;
        hub = hub_;
        taskStake = taskStake_;
        unbondingDelay = unbondingDelay_;
    }

    /*//////////////////////////////////////////////////////////////
                                MODIFIERS
    //////////////////////////////////////////////////////////////*/

    modifier onlyHub() {
        if (msg.sender != hub) revert WorkerRegistryNotHub(msg.sender);
        _;
    }

    /*//////////////////////////////////////////////////////////////
                              PUBLIC WRITES
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IWorkerRegistry
    function stake(uint256 amount) external nonReentrant {
        if (amount == 0) revert WorkerRegistryZeroAmount();
        WorkerInfo storage info = _workers[msg.sender];
        uint256 old = info.stake;
        uint256 updated = old + amount;
        if (updated > type(uint96).max) revert WorkerRegistryStakeOverflow(updated);
        // updated <= type(uint96).max was just checked.
        info.stake = uint96(updated);
        info.lastIncreaseBlock = uint40(block.number);
        _reweigh(msg.sender, info.modelCount, old, updated);
        emit Staked(msg.sender, amount, updated);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IWorkerRegistry
    function requestUnstake(uint256 amount) external nonReentrant {
        if (amount == 0) revert WorkerRegistryZeroAmount();
        WorkerInfo storage info = _workers[msg.sender];
        uint256 old = info.stake;
        uint256 free = old - info.locked;
        if (amount > free) revert WorkerRegistryInsufficientFreeStake(msg.sender, free, amount);
        // amount <= free <= old < 2^96.
        uint256 updated = old - amount;
        info.stake = uint96(updated);
        uint256 unbonding = uint256(info.unbonding) + amount;
        info.unbonding = SafeCast.toUint96(unbonding);
        uint256 releaseTime = block.timestamp + unbondingDelay;
        info.unbondingReleaseTime = uint40(releaseTime);
        _reweigh(msg.sender, info.modelCount, old, updated);
        emit UnstakeRequested(msg.sender, amount, unbonding, releaseTime);
    }

    /// @inheritdoc IWorkerRegistry
    function withdrawUnstaked() external nonReentrant {
        WorkerInfo storage info = _workers[msg.sender];
        uint256 amount = info.unbonding;
        if (amount == 0) revert WorkerRegistryNothingUnbonding(msg.sender);
        if (block.timestamp < info.unbondingReleaseTime) {
            revert WorkerRegistryStillUnbonding(msg.sender, info.unbondingReleaseTime);
        }
        info.unbonding = 0;
        info.unbondingReleaseTime = 0;
        emit UnstakeWithdrawn(msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IWorkerRegistry
    function optIn(uint32 modelId) external {
        if (!modelRegistry.isActive(modelId)) revert WorkerRegistryModelInactive(modelId);
        WorkerInfo storage info = _workers[msg.sender];
        uint256 count = info.modelCount;
        uint256 set = _modelSets[msg.sender];
        if (_position(set, count, modelId) < count) revert WorkerRegistryAlreadyOptedIn(msg.sender, modelId);
        if (count == MAX_MODELS_PER_WORKER) {
            revert WorkerRegistryTooManyModels(msg.sender, MAX_MODELS_PER_WORKER);
        }
        _modelSets[msg.sender] = set | (uint256(modelId) << (32 * count));
        info.modelCount = uint8(count + 1);
        info.lastIncreaseBlock = uint40(block.number);
        _pools[modelId].update(msg.sender, 0, info.stake);
        emit OptedIn(msg.sender, modelId);
    }

    /// @inheritdoc IWorkerRegistry
    function optOut(uint32 modelId) external {
        WorkerInfo storage info = _workers[msg.sender];
        uint256 count = info.modelCount;
        uint256 set = _modelSets[msg.sender];
        uint256 pos = _position(set, count, modelId);
        if (pos >= count) revert WorkerRegistryNotOptedIn(msg.sender, modelId);
        // Move the last entry into the freed position, then clear the last word.
        uint256 last = (set >> (32 * (count - 1))) & 0xffffffff;
        set &= ~(uint256(0xffffffff) << (32 * pos));
        set |= last << (32 * pos);
        set &= ~(uint256(0xffffffff) << (32 * (count - 1)));
        _modelSets[msg.sender] = set;
        info.modelCount = uint8(count - 1);
        _pools[modelId].update(msg.sender, info.stake, 0);
        emit OptedOut(msg.sender, modelId);
    }

    /// @inheritdoc IWorkerRegistry
    function lock(uint256 taskId, address worker) external onlyHub {
        WorkerInfo storage info = _workers[worker];
        uint96 amount = taskStake;
        uint256 locked = info.locked;
        uint256 free = info.stake - locked;
        if (free < amount) revert WorkerRegistryInsufficientFreeStake(worker, free, amount);
        // locked + amount <= stake < 2^96.
        info.locked = uint96(locked + amount);
        address[] memory ws = new address[](1);
        ws[0] = worker;
        emit StakesLocked(taskId, ws, amount);
    }

    /// @inheritdoc IWorkerRegistry
    function release(uint256 taskId, address[] calldata workers, uint256 slashMask) external onlyHub {
        uint96 amount = taskStake;
        uint256 slashed = 0;
        uint256 n = workers.length;
        for (uint256 i; i < n; ++i) {
            address w = workers[i];
            WorkerInfo storage info = _workers[w];
            // The hub releases only what lock locked, once per (task, worker).
            info.locked -= amount;
            if (slashMask & (1 << i) != 0) {
                uint256 old = info.stake;
                uint256 updated = old - amount;
                info.stake = uint96(updated);
                _reweigh(w, info.modelCount, old, updated);
                slashed += amount;
            }
        }
        emit StakesReleased(taskId, workers, slashMask, amount);
        if (slashed != 0) token.safeTransfer(hub, slashed);
    }

    /*//////////////////////////////////////////////////////////////
                              PUBLIC READS
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IWorkerRegistry
    function previewDraw(uint32 modelId, uint256 seed, uint256 count, uint256 requestBlock)
        external
        view
        returns (address[] memory workers)
    {
        return _select(modelId, seed, count, requestBlock);
    }

    /// @inheritdoc IWorkerRegistry
    function workerInfo(address worker) external view returns (WorkerInfo memory) {
        return _workers[worker];
    }

    /// @inheritdoc IWorkerRegistry
    function freeStake(address worker) external view returns (uint256) {
        WorkerInfo storage info = _workers[worker];
        return info.stake - info.locked;
    }

    /// @inheritdoc IWorkerRegistry
    function modelsOf(address worker) external view returns (uint32[] memory models) {
        uint256 count = _workers[worker].modelCount;
        uint256 set = _modelSets[worker];
        models = new uint32[](count);
        for (uint256 i; i < count; ++i) {
            models[i] = uint32(set >> (32 * i));
        }
    }

    /// @inheritdoc IWorkerRegistry
    function isOptedIn(address worker, uint32 modelId) external view returns (bool) {
        uint256 count = _workers[worker].modelCount;
        return _position(_modelSets[worker], count, modelId) < count;
    }

    /// @inheritdoc IWorkerRegistry
    function pool(uint32 modelId) external view returns (uint256 totalWeight, uint256 leaves) {
        SortitionTree.Tree storage t = _pools[modelId];
        return (t.totalAt(block.number), t.size);
    }

    /// @inheritdoc IWorkerRegistry
    function poolWeightAt(uint32 modelId, uint256 blockNumber) external view returns (uint256) {
        return _pools[modelId].totalAt(blockNumber);
    }

    /// @notice The draw weight of `worker` in a model's pool as the tree holds it (equals its stake when
    /// opted in, 0 otherwise).
    function weightOf(uint32 modelId, address worker) external view returns (uint256) {
        return _pools[modelId].weightOf(worker);
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @dev Sets the worker's weight from `old` to `updated` in each model pool it opted into.
    function _reweigh(address worker, uint256 modelCount, uint256 old, uint256 updated) private {
        uint256 set = _modelSets[worker];
        for (uint256 i; i < modelCount; ++i) {
            _pools[uint32(set >> (32 * i))].update(worker, old, updated);
        }
    }

    /// @dev Draws up to `count` distinct workers, weighted by their weight in the pool at the end of block
    /// requestBlock - 1, without replacement: each drawn leaf is excluded from the following draws (in
    /// memory). Only history is read: stake, opt-ins and locks changed since then do not enter. Fewer
    /// than `count` come back only when fewer leaves had weight then.
    function _select(uint32 modelId, uint256 seed, uint256 count, uint256 requestBlock)
        private
        view
        returns (address[] memory workers)
    {
        SortitionTree.Tree storage t = _pools[modelId];
        uint256 at = requestBlock - 1;
        uint256 remaining = t.totalAt(at);
        uint256[] memory excluded = new uint256[](count);
        uint256[] memory excludedWeights = new uint256[](count);
        workers = new address[](count);
        uint256 found;
        while (found < count && remaining != 0) {
            uint256 u = uint256(keccak256(abi.encode(seed, found))) % remaining;
            (uint256 idx, uint256 weight) = t.find(u, at, excluded, excludedWeights, found);
            workers[found] = t.ownerOf[idx];
            excluded[found] = idx;
            excludedWeights[found] = weight;
            remaining -= weight;
            ++found;
        }
        // Shrink the array to the workers found (found <= count, so this only shortens it).
        assembly ("memory-safe") {
            mstore(workers, found)
        }
    }

    /// @dev Position of `modelId` among the first `count` words of `set`, or `count` when absent.
    function _position(uint256 set, uint256 count, uint32 modelId) private pure returns (uint256) {
        for (uint256 i; i < count; ++i) {
            if (uint32(set >> (32 * i)) != modelId) continue;
            return i;
        }
        return count;
    }
}
