// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {ISegmentationConsumer} from "./interfaces/ISegmentationConsumer.sol";
import {ITaskHub} from "./interfaces/ITaskHub.sol";
import {IWorkerRegistry} from "./interfaces/IWorkerRegistry.sol";
import {ResultHash} from "./libraries/ResultHash.sol";

/// @title TaskHub
/// @notice Balances, escrow and the task lifecycle of MaskOracle: request, lazy stake-weighted draw,
/// commit (hash + seal), consensus at Q equal hashes, reveal, settlement, expiry, capped callback.
/// @dev Token balance of this contract == sum of free balances + escrow of live tasks (reward + fee).
/// A full task is 1 + R + R transactions when every winner reveals: the draw happens inside the first
/// commit and settlement inside the last needed reveal.
contract TaskHub is ITaskHub, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /*//////////////////////////////////////////////////////////////
                                CONSTANTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Largest replication R.
    uint256 public constant MAX_REPLICATION = 16;
    /// @notice Shortest commit or reveal window, seconds.
    uint256 public constant MIN_WINDOW = 60;
    /// @notice Longest commit or reveal window, seconds.
    uint256 public constant MAX_WINDOW = 30 days;
    /// @notice Largest callback gas limit.
    uint256 public constant MAX_CALLBACK_GAS = 5_000_000;
    /// @notice Gas kept back around the callback: the call's own cost and the bookkeeping after it.
    uint256 public constant CALLBACK_GAS_RESERVE = 30_000;
    /// @notice Longest input reference, bytes.
    uint256 public constant MAX_INPUT_BYTES = 2048;
    /// @notice Longest params, bytes.
    uint256 public constant MAX_PARAMS_BYTES = 4096;
    /// @notice Blocks for which `blockhash` is available.
    uint256 public constant BLOCKHASH_HORIZON = 256;

    /// @inheritdoc ITaskHub
    IERC20 public immutable token;
    /// @notice Models and their fees.
    IModelRegistry public immutable modelRegistry;
    /// @notice Stakes and the draw.
    IWorkerRegistry public immutable workerRegistry;
    /// @dev Copy of workerRegistry.taskStake().
    uint256 private immutable _taskStake;

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    mapping(address account => uint256) private _balances;
    mapping(uint256 taskId => Task) private _tasks;
    /// @dev Per task: `hashOrSha` holds the leading (then winning) resultHash until the first reveal, and
    /// resultSha256 from then on (the winning hash is recomputed from it): one slot serves both.
    mapping(uint256 taskId => Record) private _records;
    mapping(uint256 taskId => mapping(uint256 slot => Contribution)) private _contributions;
    /// @dev Commit counts of hashes other than the leading one (the leading one counts in the task).
    mapping(uint256 taskId => mapping(bytes32 resultHash => uint256)) private _otherCounts;
    uint256 private _taskCount;

    struct Record {
        bytes32 hashOrSha;
        bytes32 summaryHash;
    }

    /*//////////////////////////////////////////////////////////////
                               CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    constructor(IERC20 token_, IModelRegistry modelRegistry_, IWorkerRegistry workerRegistry_) {
        if (
            address(token_) == address(0) || address(modelRegistry_) == address(0)
                || address(workerRegistry_) == address(0)
        ) revert TaskHubZeroAddress();
        token = token_;
        modelRegistry = modelRegistry_;
        workerRegistry = workerRegistry_;
        _taskStake = workerRegistry_.taskStake();
    }

    /*//////////////////////////////////////////////////////////////
                              PUBLIC WRITES
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc ITaskHub
    function deposit(address account, uint256 amount) external nonReentrant {
        if (amount == 0) revert TaskHubZeroAmount();
        _balances[account] += amount;
        emit Deposited(account, msg.sender, amount);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc ITaskHub
    function withdraw(uint256 amount) external nonReentrant {
        if (amount == 0) revert TaskHubZeroAmount();
        uint256 bal = _balances[msg.sender];
        if (bal < amount) revert TaskHubInsufficientBalance(msg.sender, bal, amount);
        // bal >= amount was just checked.
        unchecked {
            _balances[msg.sender] = bal - amount;
        }
        emit Withdrawn(msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc ITaskHub
    function request(RequestParams calldata p) external nonReentrant returns (uint256 taskId) {
        _validateRequest(p);
        (uint96 fee, bool active) = modelRegistry.requestTerms(p.modelId);
        if (!active) revert TaskHubModelInactive(p.modelId);
        uint256 cost = uint256(p.reward) + fee;
        uint256 bal = _balances[msg.sender];
        if (bal < cost) revert TaskHubInsufficientBalance(msg.sender, bal, cost);
        // bal >= cost was just checked.
        unchecked {
            _balances[msg.sender] = bal - cost;
        }
        taskId = ++_taskCount;
        _storeTask(taskId, p, fee);
    }

    /// @inheritdoc ITaskHub
    function draw(uint256 taskId) external nonReentrant {
        Task storage t = _requestedTask(taskId);
        if (_contributions[taskId][0].worker != address(0)) revert TaskHubAlreadyDrawn(taskId);
        _draw(taskId, t);
    }

    /// @inheritdoc ITaskHub
    function commit(uint256 taskId, bytes32 resultHash, bytes32 resultSeal) external nonReentrant {
        // Late commits (after consensus or the deadline) fail here, before any storage write.
        Task storage t = _requestedTask(taskId);
        if (block.timestamp > t.commitDeadline) revert TaskHubCommitDeadlinePassed(taskId, t.commitDeadline);
        if (resultHash == bytes32(0)) revert TaskHubZeroResultHash();
        mapping(uint256 => Contribution) storage cs = _contributions[taskId];
        if (cs[0].worker == address(0)) _draw(taskId, t);
        Contribution storage c = cs[_slotOf(cs, t.replication, taskId, msg.sender)];
        if (c.state != ContributionState.Drawn) revert TaskHubAlreadyCommitted(taskId, msg.sender);
        c.state = ContributionState.Committed;
        c.commitment = _commitment(resultHash, resultSeal);
        ++t.commits;
        emit Committed(taskId, msg.sender, resultHash);

        Record storage rec = _records[taskId];
        bytes32 leader = rec.hashOrSha;
        uint256 count;
        if (leader == bytes32(0)) {
            rec.hashOrSha = resultHash;
            t.leaderCount = 1;
            count = 1;
        } else if (leader == resultHash) {
            count = ++t.leaderCount;
        } else {
            count = ++_otherCounts[taskId][resultHash];
        }
        if (count == t.quorum) {
            if (leader != resultHash) rec.hashOrSha = resultHash;
            t.status = TaskStatus.Revealing;
            emit ConsensusReached(taskId, resultHash);
        }
    }

    /// @inheritdoc ITaskHub
    function reveal(uint256 taskId, bytes32 resultSha256, bytes calldata summary) external nonReentrant {
        Task storage t = _tasks[taskId];
        _requireStatus(taskId, t.status, TaskStatus.Revealing);
        if (block.timestamp > t.revealDeadline) revert TaskHubRevealDeadlinePassed(taskId, t.revealDeadline);
        Contribution storage c =
            _contributions[taskId][_slotOf(_contributions[taskId], t.replication, taskId, msg.sender)];
        if (c.state != ContributionState.Committed) revert TaskHubNotCommitted(taskId, msg.sender);

        Record storage rec = _records[taskId];
        uint256 reveals = t.reveals;
        bool last = reveals + 1 == t.quorum;
        bytes32 winning;
        bytes32 summaryHash;
        if (reveals == 0) {
            if (summary.length == 0) revert TaskHubSummaryMismatch(taskId);
            summaryHash = keccak256(summary);
            winning = rec.hashOrSha;
        } else {
            bytes32 recordedSha = rec.hashOrSha;
            if (resultSha256 != recordedSha) revert TaskHubResultMismatch(taskId);
            summaryHash = _laterSummaryHash(taskId, t, rec, summary, last);
            winning = ResultHash.resultHash(taskId, ResultHash.digest(summaryHash, recordedSha));
        }
        _checkOpening(taskId, winning, c.commitment, summaryHash, resultSha256);

        c.state = ContributionState.Revealed;
        t.reveals = uint8(reveals + 1);
        if (reveals == 0) {
            uint8 status = ResultHash.validateSummary(summary);
            rec.hashOrSha = resultSha256;
            rec.summaryHash = summaryHash;
            emit ResultRecorded(taskId, resultSha256, status, summary);
        }
        emit Revealed(taskId, msg.sender);
        if (last) _finalize(taskId, t, resultSha256, summary);
    }

    /// @inheritdoc ITaskHub
    function finalize(uint256 taskId, bytes calldata summary) external nonReentrant {
        Task storage t = _tasks[taskId];
        _requireStatus(taskId, t.status, TaskStatus.Revealing);
        if (block.timestamp <= t.revealDeadline) {
            revert TaskHubRevealDeadlineNotPassed(taskId, t.revealDeadline);
        }
        if (t.reveals == 0) revert TaskHubNotExpirable(taskId, WaitReason.RevealDeadlinePassed);
        Record storage rec = _records[taskId];
        _laterSummaryHash(taskId, t, rec, summary, true);
        _finalize(taskId, t, rec.hashOrSha, summary);
    }

    // The only write after the registry call is the callback outcome, which exists only after the
    // consumer call; every entry point is nonReentrant (docs/slither.md).
    // slither-disable-start reentrancy-no-eth
    /// @inheritdoc ITaskHub
    function expire(uint256 taskId) external nonReentrant {
        Task storage t = _tasks[taskId];
        TaskStatus st = t.status;
        if (st == TaskStatus.None) revert TaskHubUnknownTask(taskId);
        if (st != TaskStatus.Requested && st != TaskStatus.Revealing) revert TaskHubWrongStatus(taskId, st);
        WaitReason reason = _reason(taskId, t, false);
        bool expirable = reason == WaitReason.SeedExpired || reason == WaitReason.NoQuorumPossible
            || reason == WaitReason.CommitDeadlinePassed
            || (reason == WaitReason.RevealDeadlinePassed && t.reveals == 0);
        if (!expirable) revert TaskHubNotExpirable(taskId, reason);

        t.status = TaskStatus.Failed;
        // After consensus with no reveal, every committer is a non-revealer or a dissenter: slashed.
        bool slashCommitted = st == TaskStatus.Revealing;
        (address[] memory workers, uint256 slashMask, uint256 slashCount,) =
            _settlementSets(taskId, t, slashCommitted);
        uint256 slashed = slashCount * _taskStake;
        uint256 refund = uint256(t.reward) + t.fee;
        _balances[t.requester] += refund + slashed;
        emit TaskExpired(taskId, reason, refund, slashed);
        if (workers.length != 0) workerRegistry.release(taskId, workers, slashMask);
        _callback(taskId, t, false, bytes32(0), "");
    }

    // slither-disable-end reentrancy-no-eth

    /*//////////////////////////////////////////////////////////////
                              PUBLIC READS
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc ITaskHub
    function task(uint256 taskId) external view returns (Task memory) {
        return _tasks[taskId];
    }

    /// @inheritdoc ITaskHub
    function result(uint256 taskId) external view returns (Result memory r) {
        Record storage rec = _records[taskId];
        r.summaryHash = rec.summaryHash;
        if (r.summaryHash == bytes32(0)) {
            r.resultHash = rec.hashOrSha;
        } else {
            r.resultSha256 = rec.hashOrSha;
            r.resultHash = ResultHash.resultHash(taskId, ResultHash.digest(r.summaryHash, r.resultSha256));
        }
    }

    /// @inheritdoc ITaskHub
    function contributions(uint256 taskId) external view returns (Contribution[] memory cs) {
        mapping(uint256 => Contribution) storage stored = _contributions[taskId];
        if (stored[0].worker == address(0)) return cs;
        uint256 r = _tasks[taskId].replication;
        cs = new Contribution[](r);
        for (uint256 i; i < r; ++i) {
            cs[i] = stored[i];
        }
    }

    /// @inheritdoc ITaskHub
    function taskState(uint256 taskId) external view returns (TaskStatus status, WaitReason reason) {
        Task storage t = _tasks[taskId];
        return (t.status, _reason(taskId, t, true));
    }

    /// @inheritdoc ITaskHub
    function previewDraw(uint256 taskId) public view returns (address[] memory workers, bool stored) {
        Task storage t = _tasks[taskId];
        mapping(uint256 => Contribution) storage cs = _contributions[taskId];
        uint256 r = t.replication;
        if (cs[0].worker != address(0)) {
            workers = new address[](r);
            for (uint256 i; i < r; ++i) {
                workers[i] = cs[i].worker;
            }
            return (workers, true);
        }
        if (t.status != TaskStatus.Requested) return (workers, false);
        (bytes32 seed, bool ok) = _seed(taskId, t.requestBlock);
        if (!ok) return (workers, false);
        workers = workerRegistry.previewDraw(t.modelId, uint256(seed), r, t.requestBlock);
    }

    /// @inheritdoc ITaskHub
    function isDrawn(uint256 taskId, address worker) external view returns (bool) {
        (address[] memory workers,) = previewDraw(taskId);
        for (uint256 i; i < workers.length; ++i) {
            if (workers[i] == worker) return true;
        }
        return false;
    }

    /// @inheritdoc ITaskHub
    function balanceOf(address account) external view returns (uint256) {
        return _balances[account];
    }

    /// @inheritdoc ITaskHub
    function escrowOf(uint256 taskId) external view returns (uint256) {
        Task storage t = _tasks[taskId];
        TaskStatus st = t.status;
        if (st != TaskStatus.Requested && st != TaskStatus.Revealing) return 0;
        return uint256(t.reward) + t.fee;
    }

    /// @inheritdoc ITaskHub
    function taskCount() external view returns (uint256) {
        return _taskCount;
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    function _validateRequest(RequestParams calldata p) private pure {
        uint256 r = p.replication;
        uint256 q = p.quorum;
        if (r == 0 || r > MAX_REPLICATION || q <= r / 2 || q > r) revert TaskHubInvalidReplication(r, q);
        if (p.commitWindow < MIN_WINDOW || p.commitWindow > MAX_WINDOW) {
            revert TaskHubInvalidWindow(p.commitWindow);
        }
        if (p.revealWindow < MIN_WINDOW || p.revealWindow > MAX_WINDOW) {
            revert TaskHubInvalidWindow(p.revealWindow);
        }
        if (p.reward == 0) revert TaskHubZeroReward();
        if (p.callbackGasLimit > MAX_CALLBACK_GAS) {
            revert TaskHubCallbackGasTooHigh(p.callbackGasLimit, MAX_CALLBACK_GAS);
        }
        _checkInput(bytes(p.input));
        if (p.params.length > MAX_PARAMS_BYTES) revert TaskHubParamsTooLong(p.params.length);
    }

    function _storeTask(uint256 taskId, RequestParams calldata p, uint96 fee) private {
        uint40 commitDeadline = uint40(block.timestamp + p.commitWindow);
        Task memory tk = Task({
            requester: msg.sender,
            modelId: p.modelId,
            replication: p.replication,
            quorum: p.quorum,
            status: TaskStatus.Requested,
            commits: 0,
            reveals: 0,
            leaderCount: 0,
            callbackOutcome: CallbackOutcome.None,
            reward: p.reward,
            fee: fee,
            requestBlock: uint40(block.number),
            callbackGasLimit: p.callbackGasLimit,
            commitDeadline: commitDeadline,
            revealDeadline: commitDeadline + p.revealWindow
        });
        _tasks[taskId] = tk;
        emit TaskRequested(taskId, msg.sender, p.modelId, tk, p.input, p.params);
    }

    /// @dev Draws and stores the task's workers; the seed is blockhash(requestBlock + 1) mixed with the
    /// task id, unknown to the requester when it sent the request.
    function _draw(uint256 taskId, Task storage t) private {
        uint256 requestBlock = t.requestBlock;
        (bytes32 seed, bool ok) = _seed(taskId, requestBlock);
        if (!ok) {
            if (block.number <= requestBlock + 1) revert TaskHubSeedPending(taskId, requestBlock + 1);
            revert TaskHubSeedExpired(taskId, requestBlock + 1);
        }
        address[] memory workers =
            workerRegistry.drawAndLock(taskId, t.modelId, uint256(seed), t.replication, requestBlock);
        mapping(uint256 => Contribution) storage cs = _contributions[taskId];
        for (uint256 i; i < workers.length; ++i) {
            cs[i] = Contribution({worker: workers[i], state: ContributionState.Drawn, commitment: bytes11(0)});
        }
        emit WorkersDrawn(taskId, seed, workers);
    }

    /// @dev The recorded summary hash, for reveals after the first and for finalize. A summary given
    /// must match it; one is required when settlement follows (`settles`) and will call a consumer back.
    function _laterSummaryHash(
        uint256 taskId,
        Task storage t,
        Record storage rec,
        bytes calldata summary,
        bool settles
    ) private view returns (bytes32 summaryHash) {
        summaryHash = rec.summaryHash;
        if (summary.length != 0) {
            if (keccak256(summary) != summaryHash) revert TaskHubSummaryMismatch(taskId);
        } else if (settles && t.callbackGasLimit != 0 && t.requester.code.length != 0) {
            revert TaskHubSummaryMismatch(taskId);
        }
    }

    /// @dev Checks that (summaryHash, resultSha256) reproduce the winning hash, and that the caller's
    /// commitment binds the winning hash to the caller's seal of that digest.
    function _checkOpening(
        uint256 taskId,
        bytes32 winning,
        bytes11 commitment,
        bytes32 summaryHash,
        bytes32 resultSha256
    ) private view {
        bytes32 d = ResultHash.digest(summaryHash, resultSha256);
        if (ResultHash.resultHash(taskId, d) != winning) revert TaskHubResultMismatch(taskId);
        if (_commitment(winning, ResultHash.resultSeal(msg.sender, taskId, d)) != commitment) {
            revert TaskHubSealMismatch(taskId, msg.sender);
        }
    }

    // slither-disable-start reentrancy-no-eth
    /// @dev Credits rewards, slashed stake and fee, releases the locks, then calls back.
    function _finalize(uint256 taskId, Task storage t, bytes32 resultSha256, bytes calldata summary) private {
        t.status = TaskStatus.Finalized;
        (address[] memory workers, uint256 slashMask, uint256 slashCount, address[] memory winners) =
            _settlementSets(taskId, t, true);
        _payout(taskId, t, winners, slashCount * _taskStake);
        workerRegistry.release(taskId, workers, slashMask);
        _callback(taskId, t, true, resultSha256, summary);
    }

    // slither-disable-end reentrancy-no-eth

    /// @dev Splits reward and slashed stake among the winners (remainders to the first), pays the fee.
    function _payout(uint256 taskId, Task storage t, address[] memory winners, uint256 slashed) private {
        uint256 n = winners.length; // >= 1: finalize needs a reveal
        uint256 reward = t.reward;
        uint256 rewardEach = reward / n;
        uint256 slashEach = slashed / n;
        for (uint256 k; k < n; ++k) {
            _balances[winners[k]] += rewardEach + slashEach;
        }
        // Rounding remainders go to the first winner.
        _balances[winners[0]] += reward % n + slashed % n;
        address publisher = modelRegistry.publisherOf(t.modelId);
        uint256 fee = t.fee;
        if (fee != 0) _balances[publisher] += fee;
        emit TaskFinalized(taskId, winners, rewardEach, slashEach, slashed, publisher, fee);
    }

    /// @dev The drawn workers, which of them lose their stake (committed but not revealed, when
    /// `slashCommitted`), and the revealed winners.
    function _settlementSets(uint256 taskId, Task storage t, bool slashCommitted)
        private
        view
        returns (address[] memory workers, uint256 slashMask, uint256 slashCount, address[] memory winners)
    {
        mapping(uint256 => Contribution) storage cs = _contributions[taskId];
        if (cs[0].worker == address(0)) return (workers, 0, 0, winners);
        uint256 r = t.replication;
        workers = new address[](r);
        winners = new address[](t.reveals);
        uint256 n = 0;
        for (uint256 i; i < r; ++i) {
            Contribution storage c = cs[i];
            address w = c.worker;
            ContributionState s = c.state;
            workers[i] = w;
            if (s == ContributionState.Revealed) {
                winners[n] = w;
                ++n;
            } else if (s == ContributionState.Committed && slashCommitted) {
                slashMask |= 1 << i;
                ++slashCount;
            }
        }
    }

    /// @dev Calls the requester back with exactly `callbackGasLimit` gas, copying no return data. Reverts
    /// only when the caller of this transaction left too little gas (63/64 rule); a consumer that
    /// reverts, burns its gas, re-enters (nonReentrant) or returns megabytes only records Failed.
    function _callback(
        uint256 taskId,
        Task storage t,
        bool finalized,
        bytes32 resultSha256,
        bytes memory summary
    ) private {
        uint256 gasLimit = t.callbackGasLimit;
        address target = t.requester;
        CallbackOutcome outcome;
        if (gasLimit == 0 || target.code.length == 0) {
            outcome = CallbackOutcome.Skipped;
        } else {
            bytes memory data = abi.encodeCall(
                ISegmentationConsumer.rawFulfillSegmentation, (taskId, finalized, resultSha256, summary)
            );
            uint256 needed = gasLimit + gasLimit / 63 + CALLBACK_GAS_RESERVE;
            uint256 left = gasleft();
            if (left < needed) revert TaskHubInsufficientGasForCallback(left, needed);
            bool ok;
            assembly ("memory-safe") {
                ok := call(gasLimit, target, 0, add(data, 0x20), mload(data), 0, 0)
            }
            outcome = ok ? CallbackOutcome.Succeeded : CallbackOutcome.Failed;
        }
        t.callbackOutcome = outcome;
        emit CallbackAttempted(taskId, target, outcome);
    }

    /// @dev Why a live task waits. `withPreview` also asks the registry whether the pool can fill R
    /// (views only; expire does not need it).
    function _reason(uint256 taskId, Task storage t, bool withPreview) private view returns (WaitReason) {
        TaskStatus st = t.status;
        if (st == TaskStatus.None) return WaitReason.None;
        if (st == TaskStatus.Finalized || st == TaskStatus.Failed) return WaitReason.Done;
        if (st == TaskStatus.Revealing) {
            return
                block.timestamp > t.revealDeadline
                    ? WaitReason.RevealDeadlinePassed
                    : WaitReason.AwaitingReveals;
        }
        if (block.timestamp > t.commitDeadline) return WaitReason.CommitDeadlinePassed;
        if (_contributions[taskId][0].worker != address(0)) {
            return t.commits == t.replication ? WaitReason.NoQuorumPossible : WaitReason.AwaitingCommits;
        }
        uint256 seedBlock = uint256(t.requestBlock) + 1;
        if (block.number <= seedBlock) return WaitReason.SeedPending;
        if (block.number > seedBlock + BLOCKHASH_HORIZON) return WaitReason.SeedExpired;
        if (withPreview) {
            (address[] memory workers,) = previewDraw(taskId);
            if (workers.length < t.replication) return WaitReason.NotEnoughWorkers;
        }
        return WaitReason.AwaitingCommits;
    }

    /// @dev The draw seed, when the seed block is mined and still within the blockhash horizon.
    function _seed(uint256 taskId, uint256 requestBlock) private view returns (bytes32 seed, bool ok) {
        uint256 seedBlock = requestBlock + 1;
        if (block.number <= seedBlock || block.number > seedBlock + BLOCKHASH_HORIZON) return (seed, false);
        bytes32 bh = blockhash(seedBlock);
        if (bh == bytes32(0)) return (seed, false);
        seed = keccak256(abi.encode(bh, taskId));
        ok = true;
    }

    function _requestedTask(uint256 taskId) private view returns (Task storage t) {
        t = _tasks[taskId];
        _requireStatus(taskId, t.status, TaskStatus.Requested);
    }

    function _requireStatus(uint256 taskId, TaskStatus actual, TaskStatus wanted) private pure {
        if (actual != wanted) {
            if (actual == TaskStatus.None) revert TaskHubUnknownTask(taskId);
            revert TaskHubWrongStatus(taskId, actual);
        }
    }

    /// @dev Slot of `worker` among the task's drawn workers; reverts when it was not drawn.
    function _slotOf(mapping(uint256 => Contribution) storage cs, uint256 r, uint256 taskId, address worker)
        private
        view
        returns (uint256)
    {
        for (uint256 i; i < r; ++i) {
            if (cs[i].worker == worker) return i;
        }
        revert TaskHubNotDrawn(taskId, worker);
    }

    /// @dev What a commit stores: the first 11 bytes of keccak256(abi.encode(resultHash, resultSeal)).
    /// 88 bits suffice: the committer gets one try, fixed before the digest is public.
    function _commitment(bytes32 resultHash, bytes32 resultSeal) private pure returns (bytes11) {
        bytes32 h;
        assembly ("memory-safe") {
            mstore(0x00, resultHash)
            mstore(0x20, resultSeal)
            h := keccak256(0x00, 0x40)
        }
        return bytes11(h);
    }

    /// @dev `ipfs://` or `https://` followed by at least one byte, at most MAX_INPUT_BYTES in all.
    function _checkInput(bytes calldata input) private pure {
        uint256 len = input.length;
        if (len > 8 && len <= MAX_INPUT_BYTES) {
            if (bytes7(input[0:7]) == bytes7("ipfs://") || bytes8(input[0:8]) == bytes8("https://")) return;
        }
        revert TaskHubInvalidInput(len);
    }
}
