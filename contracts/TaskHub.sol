// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {IRandomnessSource} from "./interfaces/IRandomnessSource.sol";
import {ISegmentationConsumer} from "./interfaces/ISegmentationConsumer.sol";
import {ITaskHub} from "./interfaces/ITaskHub.sol";
import {IWorkerRegistry} from "./interfaces/IWorkerRegistry.sol";
import {ResultHash} from "./libraries/ResultHash.sol";
import {SketchRule} from "./libraries/SketchRule.sol";
import {SketchJudge} from "./SketchJudge.sol";

/// @title TaskHub
/// @notice Balances, escrow and the task lifecycle of MaskOracle: request, lazy stake-weighted draw,
/// commit (request hash + result hash + seal), consensus at Q equal hashes, reveal, settlement, expiry,
/// capped callback.
/// @dev Token balance of this contract == sum of free balances + escrow of live tasks (reward + fee) +
/// the reserve (slashed stake of tasks that expired with no reveal; owned by no one).
/// A full task is 1 + R + R transactions when every winner reveals: the draw happens inside the first
/// commit and settlement inside the last reveal of the winning hash.
/// Commits stay open until all R drawn workers committed or the commit deadline: a drawn worker that
/// delivers in time is paid when right, whatever the others' speed; reveals open only then, so no
/// digest is public while commits are open (a copied result hash cannot be opened, and is slashed).
/// For a model with a tolerance rule, a task whose commits close without Q equal hashes is reconciled
/// instead of expiring: committers reveal the sketch their seal bound (revealSketch), and anyone settles
/// it on a representative and the revealed sketches that agree with its one (settleTolerant).
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
    /// @notice Seconds past the reveal deadline after which a settlement that cannot give the callback
    /// its gas (a chain whose transaction gas limit is below the budget) settles without it (Skipped).
    uint256 public constant CALLBACK_GRACE = 1 days;
    /// @notice Seconds past the reveal deadline during which a reconciled task with Q or more revealed
    /// sketches can only be settled (settleTolerant), not expired: a settlement has priority.
    uint256 public constant SETTLE_GRACE = 1 hours;
    /// @notice Largest callback gas limit.
    uint256 public constant MAX_CALLBACK_GAS = 5_000_000;
    /// @notice Gas kept back around the callback: the call's own cost and the bookkeeping after it.
    uint256 public constant CALLBACK_GAS_RESERVE = 30_000;
    /// @notice Longest input reference, bytes.
    uint256 public constant MAX_INPUT_BYTES = 2048;
    /// @notice Longest params, bytes.
    uint256 public constant MAX_PARAMS_BYTES = 4096;

    /// @inheritdoc ITaskHub
    IERC20 public immutable token;
    /// @notice Models and their fees.
    IModelRegistry public immutable modelRegistry;
    /// @notice Stakes and the draw.
    IWorkerRegistry public immutable workerRegistry;
    /// @notice Where each task's draw randomness comes from; fixed for the hub's life.
    IRandomnessSource public immutable randomness;
    /// @notice The pure sketch comparisons of tolerant settlements, created by this hub's constructor.
    SketchJudge public immutable sketchJudge;
    /// @dev Copy of workerRegistry.taskStake().
    uint256 private immutable _taskStake;
    /// @dev Copy of randomness.needsRequest(): whether request calls randomness.requestSeed.
    bool private immutable _requestSeeds;

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
    /// @dev Slashed stake of tasks that expired after consensus with no reveal: kept, owned by no one.
    uint256 private _reserve;

    struct Record {
        bytes32 hashOrSha;
        bytes32 summaryHash;
    }

    /*//////////////////////////////////////////////////////////////
                               CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    constructor(
        IERC20 token_,
        IModelRegistry modelRegistry_,
        IWorkerRegistry workerRegistry_,
        IRandomnessSource randomness_
    ) {
        if (
            address(token_) == address(0) || address(modelRegistry_) == address(0)
                || address(workerRegistry_) == address(0) || address(randomness_) == address(0)
        ) revert TaskHubZeroAddress();
        if (
            workerRegistry_.hub() != address(this) || workerRegistry_.token() != token_
                || workerRegistry_.modelRegistry() != modelRegistry_
        ) revert TaskHubRegistryMismatch(address(workerRegistry_));
        token = token_;
        modelRegistry = modelRegistry_;
        workerRegistry = workerRegistry_;
        randomness = randomness_;
        _taskStake = workerRegistry_.taskStake();
        _requestSeeds = randomness_.needsRequest();
        sketchJudge = new SketchJudge(modelRegistry_);
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
        if (fee > p.maxFee) revert TaskHubFeeAboveMax(p.modelId, fee, p.maxFee);
        uint256 cost = uint256(p.reward) + fee;
        uint256 bal = _balances[msg.sender];
        if (bal < cost) revert TaskHubInsufficientBalance(msg.sender, bal, cost);
        // bal >= cost was just checked.
        unchecked {
            _balances[msg.sender] = bal - cost;
        }
        taskId = ++_taskCount;
        _storeTask(taskId, p, fee);
        if (_requestSeeds) randomness.requestSeed(taskId);
    }

    /// @inheritdoc ITaskHub
    function draw(uint256 taskId) external nonReentrant {
        Task storage t = _requestedTask(taskId);
        if (_contributions[taskId][0].worker != address(0)) revert TaskHubAlreadyDrawn(taskId);
        _draw(taskId, t);
    }

    /// @inheritdoc ITaskHub
    function commit(uint256 taskId, bytes32 requestHash, bytes32 resultHash, bytes32 resultSeal)
        external
        nonReentrant
    {
        // Late commits (after all R or the deadline) fail here, before any storage write.
        Task storage t = _requestedTask(taskId);
        if (block.timestamp > t.commitDeadline) revert TaskHubCommitDeadlinePassed(taskId, t.commitDeadline);
        bytes32 stored = bytes32(t.requestHash);
        if (requestHash != stored) revert TaskHubRequestHashMismatch(taskId, requestHash, stored);
        if (resultHash == bytes32(0)) revert TaskHubZeroResultHash();
        mapping(uint256 => Contribution) storage cs = _contributions[taskId];
        if (cs[0].worker == address(0)) _draw(taskId, t);
        Contribution storage c = cs[_slotOf(cs, t.replication, taskId, msg.sender)];
        if (c.state != ContributionState.Drawn) revert TaskHubAlreadyCommitted(taskId, msg.sender);
        c.state = ContributionState.Committed;
        c.commitment = _commitment(resultHash, resultSeal);
        uint256 commits = t.commits + 1;
        t.commits = uint8(commits);
        emit Committed(taskId, msg.sender, resultHash);

        // The leading hash is the first one committed until another reaches Q (Q > R/2: at most one
        // can); then it is the winning hash and later dissents are not counted.
        Record storage rec = _records[taskId];
        bytes32 leader = rec.hashOrSha;
        uint256 quorum = t.quorum;
        uint256 leaderCount = t.leaderCount;
        if (leader == bytes32(0)) {
            rec.hashOrSha = resultHash;
            leader = resultHash;
            leaderCount = 1;
            t.leaderCount = 1;
        } else if (leader == resultHash) {
            t.leaderCount = uint8(++leaderCount);
        } else if (leaderCount < quorum) {
            uint256 count = ++_otherCounts[taskId][resultHash];
            if (count == quorum) {
                rec.hashOrSha = resultHash;
                leader = resultHash;
                leaderCount = count;
                t.leaderCount = uint8(count);
            }
        }
        if (commits == t.replication && leaderCount >= quorum) {
            t.status = TaskStatus.Revealing;
            emit ConsensusReached(taskId, leader);
        }
        workerRegistry.lock(taskId, msg.sender);
    }

    /// @inheritdoc ITaskHub
    function reveal(uint256 taskId, bytes32 resultSha256, bytes32 sketchHash, bytes calldata summary)
        external
        nonReentrant
    {
        Task storage t = _tasks[taskId];
        if (_quorumAtDeadline(t)) {
            // Commits closed at the deadline with a quorum: reveals open now.
            t.status = TaskStatus.Revealing;
            emit ConsensusReached(taskId, _records[taskId].hashOrSha);
        } else {
            _requireStatus(taskId, t.status, TaskStatus.Revealing);
        }
        if (block.timestamp > t.revealDeadline) revert TaskHubRevealDeadlinePassed(taskId, t.revealDeadline);
        Contribution storage c =
            _contributions[taskId][_slotOf(_contributions[taskId], t.replication, taskId, msg.sender)];
        if (c.state != ContributionState.Committed) revert TaskHubNotCommitted(taskId, msg.sender);

        Record storage rec = _records[taskId];
        uint256 reveals = t.reveals;
        // Settles at the last reveal of the winning hash's committers (or finalize after the deadline).
        bool last = reveals + 1 == t.leaderCount;
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
        _checkOpening(taskId, winning, c.commitment, summaryHash, resultSha256, sketchHash);

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
        // A task whose commits closed at the deadline with a quorum but no reveal is still Requested.
        if (!_quorumAtDeadline(t)) _requireStatus(taskId, t.status, TaskStatus.Revealing);
        if (block.timestamp <= t.revealDeadline) {
            revert TaskHubRevealDeadlineNotPassed(taskId, t.revealDeadline);
        }
        if (t.reveals == 0) revert TaskHubNotExpirable(taskId, WaitReason.RevealDeadlinePassed);
        Record storage rec = _records[taskId];
        _laterSummaryHash(taskId, t, rec, summary, true);
        _finalize(taskId, t, rec.hashOrSha, summary);
    }

    /// @inheritdoc ITaskHub
    function revealSketch(uint256 taskId, bytes32 summaryHash, bytes32 resultSha256, bytes calldata sketch)
        external
        nonReentrant
    {
        Task storage t = _tasks[taskId];
        TaskStatus st = t.status;
        if (st == TaskStatus.Requested) {
            WaitReason why = _closedWithoutQuorum(t);
            if (why == WaitReason.None) revert TaskHubNotReconcilable(taskId, _reason(taskId, t, false));
            if (!_hasTolerance(t.modelId)) revert TaskHubNoTolerance(taskId, t.modelId);
            t.status = TaskStatus.Reconciling;
            emit ReconciliationOpened(taskId, why);
        } else {
            _requireStatus(taskId, st, TaskStatus.Reconciling);
        }
        if (block.timestamp > t.revealDeadline) revert TaskHubRevealDeadlinePassed(taskId, t.revealDeadline);
        mapping(uint256 => Contribution) storage cs = _contributions[taskId];
        Contribution storage c = cs[_slotOf(cs, t.replication, taskId, msg.sender)];
        if (c.state != ContributionState.Committed) revert TaskHubNotCommitted(taskId, msg.sender);
        SketchRule.checkFormat(sketch);
        // The seal bound this sketch at commit time: another worker's sketch does not open it.
        if (
            ResultHash.commitmentOf(taskId, msg.sender, summaryHash, resultSha256, keccak256(sketch))
                != c.commitment
        ) {
            revert TaskHubSealMismatch(taskId, msg.sender);
        }
        c.state = ContributionState.Revealed;
        t.reveals += 1;
        emit SketchRevealed(taskId, msg.sender, summaryHash, resultSha256, sketch);
    }

    // As in `expire`: after the registry's release only the callback outcome is written, and every entry
    // point is nonReentrant.
    // slither-disable-start reentrancy-no-eth
    /// @inheritdoc ITaskHub
    /// @dev The judge reads the openings and the summary from this call's own arguments (msg.data),
    /// checks them against the commitments and returns its verdict over slots, or reverts with this
    /// hub's errors (bubbled).
    function settleTolerant(uint256 taskId, uint256, Opening[] calldata, bytes calldata summary)
        external
        nonReentrant
    {
        Task storage t = _tasks[taskId];
        _requireStatus(taskId, t.status, TaskStatus.Reconciling);
        uint8 status = ResultHash.validateSummary(summary);
        SketchJudge.Verdict memory v = sketchJudge.verdict(msg.data[4:]);

        t.status = TaskStatus.Finalized;
        Record storage rec = _records[taskId];
        rec.hashOrSha = v.resultSha256;
        rec.summaryHash = v.summaryHash;
        emit ResultRecorded(taskId, v.resultSha256, status, summary);
        emit TaskSettledTolerant(taskId, v.representative, v.members, v.slashedOutliers);
        _payout(taskId, t, v.members, v.slashCount * _taskStake);
        workerRegistry.release(taskId, v.locked, v.slashMask);
        _callback(taskId, t, true, v.resultSha256, summary);
    }

    // slither-disable-end reentrancy-no-eth

    // The only write after the registry call is the callback outcome, which exists only after the
    // consumer call; every entry point is nonReentrant (docs/slither.md).
    // slither-disable-start reentrancy-no-eth
    /// @inheritdoc ITaskHub
    function expire(uint256 taskId) external nonReentrant {
        Task storage t = _tasks[taskId];
        TaskStatus st = t.status;
        if (st == TaskStatus.None) revert TaskHubUnknownTask(taskId);
        if (st != TaskStatus.Requested && st != TaskStatus.Revealing && st != TaskStatus.Reconciling) {
            revert TaskHubWrongStatus(taskId, st);
        }
        WaitReason reason = _reason(taskId, t, false);
        // A reconciliation (AwaitingSketches until the reveal deadline) cannot be cut short; past it, a
        // task with Q or more sketches waits SETTLE_GRACE more for a settlement.
        bool reconciled = reason == WaitReason.SketchDeadlinePassed;
        bool expirable = reason == WaitReason.SeedExpired || reason == WaitReason.NoQuorumPossible
            || reason == WaitReason.CommitDeadlinePassed
            || (reason == WaitReason.RevealDeadlinePassed && t.reveals == 0)
            || (reconciled
                && (t.reveals < t.quorum || block.timestamp > uint256(t.revealDeadline) + SETTLE_GRACE));
        if (!expirable) revert TaskHubNotExpirable(taskId, reason);

        t.status = TaskStatus.Failed;
        // After consensus with no reveal, every committer is a non-revealer or a dissenter: slashed. The
        // slashed stake goes to the reserve, not to the requester (who chose the reveal window). A
        // reconciliation slashes the committers who revealed no sketch and releases the others.
        bool slashCommitted = reconciled || st == TaskStatus.Revealing || t.leaderCount >= t.quorum;
        (address[] memory workers, uint256 slashMask, uint256 slashCount,) =
            _settlementSets(taskId, t, slashCommitted);
        uint256 slashed = slashCount * _taskStake;
        uint256 refund = uint256(t.reward) + t.fee;
        _balances[t.requester] += refund;
        if (slashed != 0) _reserve += slashed;
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
        (IRandomnessSource.SeedStatus ss, bytes32 seed) = _seed(taskId, t.requestBlock);
        if (ss != IRandomnessSource.SeedStatus.Ready) return (workers, false);
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
        if (st != TaskStatus.Requested && st != TaskStatus.Revealing && st != TaskStatus.Reconciling) {
            return 0;
        }
        return uint256(t.reward) + t.fee;
    }

    /// @inheritdoc ITaskHub
    function taskCount() external view returns (uint256) {
        return _taskCount;
    }

    /// @inheritdoc ITaskHub
    function reserve() external view returns (uint256) {
        return _reserve;
    }

    /// @inheritdoc ITaskHub
    function requestHashOf(uint256 taskId) external view returns (bytes32) {
        return bytes32(_tasks[taskId].requestHash);
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
        // What a commit must repeat: binds it to this request on this hub and chain (a result computed
        // for another request at the same id, e.g. before a reorg, cannot settle this one): the call's
        // whole calldata (all the params), requester, fee, id, hub and chain. 176 bits, stored in the
        // task's third slot.
        bytes22 requestHash = bytes22(
            keccak256(abi.encode(block.chainid, address(this), taskId, msg.sender, fee, keccak256(msg.data)))
        );
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
            revealDeadline: commitDeadline + p.revealWindow,
            requestHash: requestHash
        });
        _tasks[taskId] = tk;
        emit TaskRequested(taskId, msg.sender, p.modelId, tk, p.input, p.params);
    }

    /// @dev Draws and stores the task's workers. The seed mixes the source's randomness with the task
    /// id; the weights are the pool's at the end of block requestBlock - 1 (fixed before the request).
    function _draw(uint256 taskId, Task storage t) private {
        uint256 requestBlock = t.requestBlock;
        (IRandomnessSource.SeedStatus ss, bytes32 seed) = _seed(taskId, requestBlock);
        if (ss != IRandomnessSource.SeedStatus.Ready) {
            if (ss == IRandomnessSource.SeedStatus.Pending) revert TaskHubSeedPending(taskId);
            revert TaskHubSeedExpired(taskId);
        }
        uint256 r = t.replication;
        address[] memory workers = workerRegistry.previewDraw(t.modelId, uint256(seed), r, requestBlock);
        if (workers.length < r) revert TaskHubNotEnoughWorkers(taskId, workers.length, r);
        mapping(uint256 => Contribution) storage cs = _contributions[taskId];
        for (uint256 i; i < r; ++i) {
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
        bytes32 resultSha256,
        bytes32 sketchHash
    ) private view {
        bytes32 d = ResultHash.digest(summaryHash, resultSha256);
        if (ResultHash.resultHash(taskId, d) != winning) revert TaskHubResultMismatch(taskId);
        if (_commitment(winning, ResultHash.resultSeal(msg.sender, taskId, d, sketchHash)) != commitment) {
            revert TaskHubSealMismatch(taskId, msg.sender);
        }
    }

    /// @dev How a Requested task's commits closed without Q equal hashes (all R committed, or the deadline
    /// with at least Q commits), or None when they did not (still open, a quorum, too few commits).
    function _closedWithoutQuorum(Task storage t) private view returns (WaitReason) {
        uint256 commits = t.commits;
        if (t.leaderCount >= t.quorum || commits < t.quorum) return WaitReason.None;
        if (block.timestamp > t.commitDeadline) return WaitReason.CommitDeadlinePassed;
        if (commits == t.replication) return WaitReason.NoQuorumPossible;
        return WaitReason.None;
    }

    // slither-disable-start reentrancy-no-eth
    /// @dev Credits rewards, slashed stake and fee, releases the locks, then calls back.
    function _finalize(uint256 taskId, Task storage t, bytes32 resultSha256, bytes calldata summary) private {
        t.status = TaskStatus.Finalized;
        (address[] memory workers, uint256 slashMask, uint256 slashCount, address[] memory winners) =
            _settlementSets(taskId, t, true);
        _payout(taskId, t, winners, slashCount * _taskStake);
        if (workers.length != 0) workerRegistry.release(taskId, workers, slashMask);
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

    /// @dev The workers whose stake the task locked (those that committed), which of them lose it
    /// (bit i: committed but not revealed, when `slashCommitted`), and the revealed winners.
    function _settlementSets(uint256 taskId, Task storage t, bool slashCommitted)
        private
        view
        returns (address[] memory locked, uint256 slashMask, uint256 slashCount, address[] memory winners)
    {
        mapping(uint256 => Contribution) storage cs = _contributions[taskId];
        if (cs[0].worker == address(0)) return (locked, 0, 0, winners);
        uint256 r = t.replication;
        locked = new address[](t.commits);
        winners = new address[](t.reveals);
        uint256 m = 0;
        uint256 n = 0;
        for (uint256 i; i < r; ++i) {
            Contribution storage c = cs[i];
            ContributionState s = c.state;
            if (s == ContributionState.Drawn) continue;
            address w = c.worker;
            locked[m] = w;
            if (s == ContributionState.Revealed) {
                winners[n] = w;
                ++n;
            } else if (slashCommitted) {
                slashMask |= 1 << m;
                ++slashCount;
            }
            ++m;
        }
    }

    /// @dev Calls the requester back with exactly `callbackGasLimit` gas, copying no return data. Reverts
    /// only when the caller of this transaction left too little gas (63/64 rule), until CALLBACK_GRACE
    /// past the reveal deadline: from then on it records Skipped instead, so a task whose callback
    /// budget exceeds what a transaction can carry on this chain still settles. A consumer that
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
            if (left < needed) {
                if (block.timestamp <= uint256(t.revealDeadline) + CALLBACK_GRACE) {
                    revert TaskHubInsufficientGasForCallback(left, needed);
                }
                outcome = CallbackOutcome.Skipped;
            } else {
                bool ok;
                assembly ("memory-safe") {
                    ok := call(gasLimit, target, 0, add(data, 0x20), mload(data), 0, 0)
                }
                outcome = ok ? CallbackOutcome.Succeeded : CallbackOutcome.Failed;
            }
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
        if (st == TaskStatus.Reconciling) return _sketchReason(t);
        if (st == TaskStatus.Revealing) {
            return
                block.timestamp > t.revealDeadline
                    ? WaitReason.RevealDeadlinePassed
                    : WaitReason.AwaitingReveals;
        }
        if (block.timestamp > t.commitDeadline) {
            // Commits closed at the deadline: with a quorum, reveals are open.
            if (t.leaderCount >= t.quorum) {
                return block.timestamp > t.revealDeadline
                    ? WaitReason.RevealDeadlinePassed
                    : WaitReason.AwaitingReveals;
            }
            if (t.commits >= t.quorum && _hasTolerance(t.modelId)) return _sketchReason(t);
            return WaitReason.CommitDeadlinePassed;
        }
        if (_contributions[taskId][0].worker != address(0)) {
            if (t.commits != t.replication) return WaitReason.AwaitingCommits;
            return _hasTolerance(t.modelId) ? _sketchReason(t) : WaitReason.NoQuorumPossible;
        }
        (IRandomnessSource.SeedStatus ss,) = _seed(taskId, t.requestBlock);
        if (ss == IRandomnessSource.SeedStatus.Pending) return WaitReason.SeedPending;
        if (ss == IRandomnessSource.SeedStatus.Expired) return WaitReason.SeedExpired;
        if (withPreview) {
            (address[] memory workers,) = previewDraw(taskId);
            if (workers.length < t.replication) return WaitReason.NotEnoughWorkers;
        }
        return WaitReason.AwaitingCommits;
    }

    /// @dev A reconciliation's reason: sketches until the reveal deadline, then settle or expire.
    function _sketchReason(Task storage t) private view returns (WaitReason) {
        return
            block.timestamp > t.revealDeadline ? WaitReason.SketchDeadlinePassed : WaitReason.AwaitingSketches;
    }

    /// @dev Whether the model has a tolerance rule (fixed at registration: the answer never changes).
    function _hasTolerance(uint32 modelId) private view returns (bool set) {
        // The first word of toleranceOf's answer: a static call to the registry fixed at deployment.
        IModelRegistry registry = modelRegistry;
        bytes4 selector = IModelRegistry.toleranceOf.selector;
        assembly ("memory-safe") {
            mstore(0x00, selector)
            mstore(0x04, modelId)
            if iszero(staticcall(gas(), registry, 0x00, 0x24, 0x00, 0x20)) {
                returndatacopy(0x00, 0x00, returndatasize())
                revert(0x00, returndatasize())
            }
            set := iszero(iszero(mload(0x00)))
        }
    }

    /// @dev The draw seed: the source's randomness for the task, mixed with the task id.
    function _seed(uint256 taskId, uint256 requestBlock)
        private
        view
        returns (IRandomnessSource.SeedStatus status, bytes32 seed)
    {
        bytes32 raw;
        (status, raw) = randomness.seedOf(address(this), taskId, requestBlock);
        if (status == IRandomnessSource.SeedStatus.Ready) seed = keccak256(abi.encode(raw, taskId));
    }

    /// @dev Still Requested, commits closed by the deadline, and Q or more commits on one hash.
    function _quorumAtDeadline(Task storage t) private view returns (bool) {
        return
            t.status == TaskStatus.Requested && block.timestamp > t.commitDeadline
                && t.leaderCount >= t.quorum;
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
    /// 88 bits suffice: the committer gets one try, fixed before the digest is public. The same as
    /// ResultHash.commitment (which the judge uses), written here so that the exact path makes no call.
    function _commitment(bytes32 resultHash, bytes32 resultSeal) private pure returns (bytes11) {
        bytes32 h;
        assembly ("memory-safe") {
            mstore(0x00, resultHash)
            mstore(0x20, resultSeal)
            h := keccak256(0x00, 0x40)
        }
        return bytes11(h);
    }

    /// @dev `ipfs://` or `https://` followed by at least one byte, at most MAX_INPUT_BYTES in all; each
    /// way of failing has its own error.
    function _checkInput(bytes calldata input) private pure {
        uint256 len = input.length;
        if (len > MAX_INPUT_BYTES) revert TaskHubInputTooLong(len, MAX_INPUT_BYTES);
        uint256 schemeLen = 0;
        if (len >= 7 && bytes7(input[0:7]) == bytes7("ipfs://")) schemeLen = 7;
        else if (len >= 8 && bytes8(input[0:8]) == bytes8("https://")) schemeLen = 8;
        else revert TaskHubInputSchemeInvalid();
        if (len == schemeLen) revert TaskHubInputEmptyReference();
    }
}
