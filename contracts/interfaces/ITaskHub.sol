// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IModelRegistry} from "./IModelRegistry.sol";

/// @title ITaskHub
/// @notice Balances, escrow and the task lifecycle: request, lazy draw, commit, reveal, finalize, expire,
/// callback, and for models with a tolerance rule the reconciliation of results that agree only within
/// it (revealSketch, settleTolerant). Every task reaches Finalized or Failed by its deadlines, whatever
/// workers and consumers do.
interface ITaskHub {
    /// @notice Task states: Requested -> Revealing -> Finalized, or -> Failed (expired, refunded); for a
    /// model with a tolerance whose commits closed without Q equal hashes, Requested -> Reconciling (first
    /// sketch revealed) -> Finalized (settleTolerant) or Failed. Values are appended, never reordered.
    enum TaskStatus {
        None,
        Requested,
        Revealing,
        Finalized,
        Failed,
        Reconciling
    }

    /// @notice Why a task is where it is (see `taskState`). For a model with a tolerance rule,
    /// NoQuorumPossible and CommitDeadlinePassed with >= Q commits read AwaitingSketches instead (the
    /// reconciliation: sketches until the reveal deadline, settleTolerant as soon as all committers
    /// revealed, no expiry before the deadline), then SketchDeadlinePassed. Values are appended.
    enum WaitReason {
        None, // unknown task
        SeedPending, // the randomness is not available yet (seed block not mined, VRF not fulfilled)
        AwaitingCommits, // the draw is possible (or done); drawn workers may commit
        NotEnoughWorkers, // the pool had fewer workers than R before the request; expirable at the deadline
        SeedExpired, // the randomness will never come (blockhash horizon passed undrawn): expirable now
        NoQuorumPossible, // all R committed without Q equal hashes: expirable now
        CommitDeadlinePassed, // no Q equal hashes by the commit deadline: expirable now
        AwaitingReveals, // commits closed (all R, or the deadline) with Q equal hashes: their committers reveal
        RevealDeadlinePassed, // finalizable (at least one reveal) or expirable (none) now
        Done, // terminal state
        AwaitingSketches, // tolerant model, commits closed without Q equal: committers reveal sketches
        SketchDeadlinePassed // sketch reveals closed: settleTolerant, or expire (see `expire`)
    }

    /// @notice Progress of one drawn worker in one task.
    enum ContributionState {
        None,
        Drawn,
        Committed,
        Revealed
    }

    /// @notice What happened to the consumer callback.
    enum CallbackOutcome {
        None, // not yet attempted
        Skipped, // no callback asked (gas limit 0) or the requester has no code
        Succeeded,
        Failed // reverted, ran out of gas, re-entered: recorded, settlement stands
    }

    /// @notice Parameters of a request.
    /// @param modelId A registered, active model.
    /// @param replication R, the number of workers drawn (1..MAX_REPLICATION).
    /// @param quorum Q, equal result hashes needed (R/2 < Q <= R).
    /// @param reward Split among the workers who reveal the consensus result.
    /// @param maxFee Highest model fee the requester accepts (the request reverts when the fee is above).
    /// @param commitWindow Seconds from the request to the commit deadline.
    /// @param revealWindow Seconds from the commit deadline to the reveal deadline.
    /// @param callbackGasLimit Gas for the callback to the requester; 0 for none.
    /// @param input `ipfs://...` or `https://...` of the image.
    /// @param params Model parameters for the workers (opaque to the hub).
    struct RequestParams {
        uint32 modelId;
        uint8 replication;
        uint8 quorum;
        uint96 reward;
        uint96 maxFee;
        uint32 commitWindow;
        uint32 revealWindow;
        uint24 callbackGasLimit;
        string input;
        bytes params;
    }

    /// @notice A task as stored (three slots). `requestHash`: what commits must repeat (see `commit`).
    struct Task {
        address requester;
        uint32 modelId;
        uint8 replication;
        uint8 quorum;
        TaskStatus status;
        uint8 commits;
        uint8 reveals;
        uint8 leaderCount;
        CallbackOutcome callbackOutcome;
        uint96 reward;
        uint96 fee;
        uint40 requestBlock;
        uint24 callbackGasLimit;
        uint40 commitDeadline;
        uint40 revealDeadline;
        bytes22 requestHash;
    }

    /// @notice A task's result hashes. `resultHash` is the leading (after consensus: the winning) hash;
    /// `summaryHash` and `resultSha256` are recorded by the first reveal.
    struct Result {
        bytes32 resultHash;
        bytes32 summaryHash;
        bytes32 resultSha256;
    }

    /// @notice A revealed sketch's opening, as `settleTolerant` takes it (one per revealed worker, slot
    /// order): the two digest inputs and the sketch bytes (SketchRule layout).
    struct Opening {
        bytes32 summaryHash;
        bytes32 resultSha256;
        bytes sketch;
    }

    /// @notice One drawn worker's record in a task.
    /// @param commitment First 11 bytes of keccak256(abi.encode(resultHash, resultSeal)) as committed.
    struct Contribution {
        address worker;
        ContributionState state;
        bytes11 commitment;
    }

    /// @dev The amount is zero.
    error TaskHubZeroAmount();
    /// @dev The account's free balance is below the amount.
    error TaskHubInsufficientBalance(address account, uint256 balance, uint256 needed);
    /// @dev R or Q out of range.
    error TaskHubInvalidReplication(uint256 replication, uint256 quorum);
    /// @dev A window is outside [MIN_WINDOW, MAX_WINDOW].
    error TaskHubInvalidWindow(uint256 window);
    /// @dev The reward is zero.
    error TaskHubZeroReward();
    /// @dev The callback gas limit is above MAX_CALLBACK_GAS.
    error TaskHubCallbackGasTooHigh(uint256 gasLimit, uint256 max);
    /// @dev The input does not start with `ipfs://` or `https://` (e.g. `http://`, a bare CID).
    error TaskHubInputSchemeInvalid();
    /// @dev The input is a scheme with nothing after it (`ipfs://`, `https://`).
    error TaskHubInputEmptyReference();
    /// @dev The input is longer than MAX_INPUT_BYTES.
    error TaskHubInputTooLong(uint256 length, uint256 max);
    /// @dev The params are longer than MAX_PARAMS_BYTES.
    error TaskHubParamsTooLong(uint256 length);
    /// @dev The model is unknown or retired.
    error TaskHubModelInactive(uint32 modelId);
    /// @dev No task has this id.
    error TaskHubUnknownTask(uint256 taskId);
    /// @dev The task is not in the state the call needs (e.g. a commit after consensus).
    error TaskHubWrongStatus(uint256 taskId, TaskStatus status);
    /// @dev The randomness is not available yet (seed block not mined, VRF not fulfilled).
    error TaskHubSeedPending(uint256 taskId);
    /// @dev The randomness will never be available (blockhash horizon passed): the task can only expire.
    error TaskHubSeedExpired(uint256 taskId);
    /// @dev The pool had fewer workers with stake than R at the end of the block before the request.
    error TaskHubNotEnoughWorkers(uint256 taskId, uint256 found, uint256 needed);
    /// @dev The model's fee is above the request's maxFee (e.g. raised just before the request).
    error TaskHubFeeAboveMax(uint32 modelId, uint256 fee, uint256 maxFee);
    /// @dev The commit names another request than the one stored under this id.
    error TaskHubRequestHashMismatch(uint256 taskId, bytes32 given, bytes32 stored);
    /// @dev The worker registry does not point back at this hub with the same token and model registry.
    error TaskHubRegistryMismatch(address workerRegistry);
    /// @dev The workers are already drawn.
    error TaskHubAlreadyDrawn(uint256 taskId);
    /// @dev The commit deadline has passed.
    error TaskHubCommitDeadlinePassed(uint256 taskId, uint256 deadline);
    /// @dev The reveal deadline has passed.
    error TaskHubRevealDeadlinePassed(uint256 taskId, uint256 deadline);
    /// @dev The reveal deadline has not passed.
    error TaskHubRevealDeadlineNotPassed(uint256 taskId, uint256 deadline);
    /// @dev The caller was not drawn for the task.
    error TaskHubNotDrawn(uint256 taskId, address worker);
    /// @dev The worker has committed already.
    error TaskHubAlreadyCommitted(uint256 taskId, address worker);
    /// @dev The result hash is zero.
    error TaskHubZeroResultHash();
    /// @dev The worker has not committed (or revealed already).
    error TaskHubNotCommitted(uint256 taskId, address worker);
    /// @dev The revealed data does not reproduce the consensus result hash.
    error TaskHubResultMismatch(uint256 taskId);
    /// @dev The revealed data does not open the worker's commitment (copied hash, wrong seal).
    error TaskHubSealMismatch(uint256 taskId, address worker);
    /// @dev The summary is required (first reveal, finalize) or does not match the recorded hash.
    error TaskHubSummaryMismatch(uint256 taskId);
    /// @dev The task cannot expire yet; `reason` says what it waits for.
    error TaskHubNotExpirable(uint256 taskId, WaitReason reason);
    /// @dev Too little gas left to give the callback its full gas limit (63/64 rule); retry with more.
    error TaskHubInsufficientGasForCallback(uint256 gasLeft, uint256 needed);
    /// @dev A constructor address is zero.
    error TaskHubZeroAddress();
    /// @dev revealSketch on a Requested task whose commits have not closed without a quorum (`reason`:
    /// still open, or closed with Q equal hashes, or fewer than Q commits at the deadline).
    error TaskHubNotReconcilable(uint256 taskId, WaitReason reason);
    /// @dev revealSketch on a task whose model has no tolerance rule (exact agreement only).
    error TaskHubNoTolerance(uint256 taskId, uint32 modelId);
    /// @dev settleTolerant before the reveal deadline while some committer has not revealed its sketch.
    error TaskHubSketchesPending(uint256 taskId, uint256 revealed, uint256 committed);
    /// @dev settleTolerant got another number of openings than revealed sketches.
    error TaskHubOpeningCount(uint256 taskId, uint256 given, uint256 revealed);
    /// @dev settleTolerant's representative is not an index into the openings.
    error TaskHubInvalidRepresentative(uint256 taskId, uint256 representative);
    /// @dev The summary's status, count, labels or scores differ from the representative's sketch.
    error TaskHubSummaryContradictsSketch(uint256 taskId);
    /// @dev Fewer than Q revealed sketches (the representative's included) agree with the representative's.
    error TaskHubToleranceQuorumNotReached(uint256 taskId, uint256 members, uint256 quorum);

    /// @dev `amount` was credited to `account`'s free balance, paid by `from`.
    event Deposited(address indexed account, address indexed from, uint256 amount);
    /// @dev `amount` was paid out of `account`'s free balance.
    event Withdrawn(address indexed account, uint256 amount);
    /// @dev A task was requested; reward + fee moved from the requester's balance into escrow. `task` is
    /// the stored record (deadlines, R, Q, reward, fee, request block, callback gas limit, request hash);
    /// `bytes32(task.requestHash)` (zero-padded) is what commits must repeat.
    event TaskRequested(
        uint256 indexed taskId,
        address indexed requester,
        uint32 indexed modelId,
        Task task,
        string input,
        bytes params
    );
    /// @dev The task's workers were drawn with `seed`, in slot order.
    event WorkersDrawn(uint256 indexed taskId, bytes32 seed, address[] workers);
    /// @dev A drawn worker committed.
    event Committed(uint256 indexed taskId, address indexed worker, bytes32 resultHash);
    /// @dev Commits closed (all R committed, or the commit deadline passed and this is the first reveal)
    /// with Q or more on `resultHash`: its committers reveal.
    event ConsensusReached(uint256 indexed taskId, bytes32 resultHash);
    /// @dev The first reveal recorded the result; the summary travels here (only its hash is stored).
    event ResultRecorded(uint256 indexed taskId, bytes32 resultSha256, uint8 status, bytes summary);
    /// @dev A winner revealed.
    event Revealed(uint256 indexed taskId, address indexed worker);
    /// @dev The task settled: `winners` each got `rewardEach` + `slashShareEach` (the first winner also
    /// the rounding remainders), `slashed` came from dissenters and non-revealers, the fee went to
    /// `publisher`.
    event TaskFinalized(
        uint256 indexed taskId,
        address[] winners,
        uint256 rewardEach,
        uint256 slashShareEach,
        uint256 slashed,
        address publisher,
        uint256 fee
    );
    /// @dev The task expired: `refund` (reward + fee) went to the requester; `slashed` (non-revealing
    /// committers after consensus, or committers who revealed no sketch in a reconciliation) went to the
    /// reserve.
    event TaskExpired(uint256 indexed taskId, WaitReason reason, uint256 refund, uint256 slashed);
    /// @dev The first sketch of a task was revealed: the reconciliation is open. `why`: how commits closed
    /// (NoQuorumPossible or CommitDeadlinePassed).
    event ReconciliationOpened(uint256 indexed taskId, WaitReason why);
    /// @dev A committer opened its commitment with its sketch (only the commitment is stored: the
    /// opening travels here and in settleTolerant's calldata).
    event SketchRevealed(
        uint256 indexed taskId,
        address indexed worker,
        bytes32 summaryHash,
        bytes32 resultSha256,
        bytes sketch
    );
    /// @dev A reconciled task settled on `representative`'s result (ResultRecorded before, TaskFinalized
    /// after: `members` are its winners, slot order). `slashedOutliers`: revealed workers outside the set
    /// whose sketch disagrees with every member (slashed; non-revealers are slashed too); other outsiders
    /// are released unpaid and unslashed.
    event TaskSettledTolerant(
        uint256 indexed taskId, address representative, address[] members, address[] slashedOutliers
    );
    /// @dev Outcome of the callback to the requester.
    event CallbackAttempted(uint256 indexed taskId, address indexed target, CallbackOutcome outcome);

    /// @notice Credits `amount` tokens, pulled from the caller, to `account`'s free balance.
    function deposit(address account, uint256 amount) external;

    /// @notice Pays `amount` of the caller's free balance to the caller.
    function withdraw(uint256 amount) external;

    /// @notice Requests a segmentation; moves reward + model fee from the caller's balance into escrow.
    /// The caller is the requester and, when `callbackGasLimit > 0` and it has code, the callback target.
    /// @return taskId The new task (ids start at 1).
    function request(RequestParams calldata p) external returns (uint256 taskId);

    /// @notice Draws the task's workers now (permissionless, once the randomness is available; commit
    /// does it lazily). Who calls it and when does not change the draw.
    function draw(uint256 taskId) external;

    /// @notice Commits a drawn worker's result and locks its task stake; the first commit of a task also
    /// draws its workers. Open until all R committed or the commit deadline.
    /// @param requestHash The task's request hash (TaskRequested event, `requestHashOf`); reverts with
    /// TaskHubRequestHashMismatch when it is not the stored one.
    /// @param resultHash keccak256(abi.encode(taskId, digest)), counted towards the quorum.
    /// @param resultSeal keccak256(abi.encode(worker, taskId, digest, sketchHash)) with sketchHash =
    /// keccak256(sketch bytes) (seal v2); only a commitment to it is stored.
    function commit(uint256 taskId, bytes32 requestHash, bytes32 resultHash, bytes32 resultSeal) external;

    /// @notice Reveals a winning commit, once commits closed with a quorum (all R committed, or the
    /// commit deadline passed); the last reveal of the winning hash finalizes the task and calls back.
    /// @param resultSha256 sha256 of the canonical result bytes (later revealers: the recorded one).
    /// @param sketchHash keccak256 of the caller's sketch bytes, as sealed in its commit.
    /// @param summary `abi.encode(Summary)`: required from the first revealer, and from the revealer
    /// whose reveal settles a task that calls a consumer back; otherwise may be empty (checked if given).
    function reveal(uint256 taskId, bytes32 resultSha256, bytes32 sketchHash, bytes calldata summary) external;

    /// @notice Reconciliation (tolerant models only): a committer opens its commitment with its sketch,
    /// once commits closed without Q equal hashes (all R committed, or the commit deadline with >= Q
    /// commits), until the reveal deadline. The first call moves the task to Reconciling. Checks
    /// bytes11(keccak256(abi.encode(resultHash(taskId, digest), resultSeal(worker, taskId, digest,
    /// keccak256(sketch))))) against the stored commitment, with digest = digest(summaryHash,
    /// resultSha256), and the sketch's length against its count.
    function revealSketch(uint256 taskId, bytes32 summaryHash, bytes32 resultSha256, bytes calldata sketch)
        external;

    /// @notice Settles a Reconciling task (permissionless) once every committer revealed its sketch, or
    /// after the reveal deadline: the members are the revealed workers whose sketch agrees with the
    /// representative's under the model's tolerance (SketchRule.compare(representative, other)), the
    /// representative included; at least Q. Members are paid as winners; non-revealers are slashed, and
    /// revealed outsiders whose sketch disagrees with every member; other outsiders are released.
    /// @param representative Index into `openings` of the result to record and deliver.
    /// @param openings Every revealed sketch's opening, in slot order (checked against the commitments).
    /// @param summary `abi.encode(Summary)` hashing to the representative's summaryHash, with the status,
    /// count, labels and scores of its sketch.
    function settleTolerant(
        uint256 taskId,
        uint256 representative,
        Opening[] calldata openings,
        bytes calldata summary
    ) external;

    /// @notice After the reveal deadline, settles a task with at least one reveal (permissionless).
    /// @param summary The recorded summary (from the ResultRecorded event); required when the task
    /// calls a consumer back, otherwise may be empty (checked if given).
    function finalize(uint256 taskId, bytes calldata summary) external;

    /// @notice Ends a task that cannot reach a result: refunds the requester in full (permissionless). A
    /// task awaiting sketches cannot expire before the reveal deadline; with Q or more sketches revealed,
    /// not before SETTLE_GRACE after it (its committers who revealed none are slashed to the reserve).
    function expire(uint256 taskId) external;

    /// @notice The task's stored record.
    function task(uint256 taskId) external view returns (Task memory);

    /// @notice The task's result hashes.
    function result(uint256 taskId) external view returns (Result memory);

    /// @notice The drawn workers of a task and their progress (empty before the draw).
    function contributions(uint256 taskId) external view returns (Contribution[] memory);

    /// @notice The task's status and the reason it waits.
    function taskState(uint256 taskId) external view returns (TaskStatus status, WaitReason reason);

    /// @notice The workers the draw picks (the stored ones once drawn; else what a draw now would pick).
    /// @return workers Drawn or would-be-drawn workers; fewer than R when not enough are eligible.
    /// @return stored Whether the draw is already stored.
    function previewDraw(uint256 taskId) external view returns (address[] memory workers, bool stored);

    /// @notice Whether `worker` is (or, drawn now, would be) one of the task's workers.
    function isDrawn(uint256 taskId, address worker) external view returns (bool);

    /// @notice An account's free balance.
    function balanceOf(address account) external view returns (uint256);

    /// @notice Tokens held in escrow by a live task (reward + fee); 0 once terminal.
    function escrowOf(uint256 taskId) external view returns (uint256);

    /// @notice The token of balances, fees and stakes.
    function token() external view returns (IERC20);

    /// @notice The model registry this hub charges fees from: `requestTerms(modelId)` gives a model's
    /// current fee (pass it as `maxFee`) and whether it is active.
    function modelRegistry() external view returns (IModelRegistry);

    /// @notice Number of tasks requested so far (the highest id).
    function taskCount() external view returns (uint256);

    /// @notice Slashed stake of tasks that expired with no reveal after consensus; no one can take it.
    function reserve() external view returns (uint256);

    /// @notice The request hash a commit to `taskId` must repeat (0 for an unknown task).
    function requestHashOf(uint256 taskId) external view returns (bytes32);
}
