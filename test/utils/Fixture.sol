// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {RequestHashSlot} from "./RequestHashSlot.sol";
import {TestToken} from "../../contracts/devnet/TestToken.sol";
import {ExampleConsumer} from "../../contracts/examples/ExampleConsumer.sol";
import {ITaskHub} from "../../contracts/interfaces/ITaskHub.sol";
import {ResultHash} from "../../contracts/libraries/ResultHash.sol";
import {ModelRegistry} from "../../contracts/ModelRegistry.sol";
import {TaskHub} from "../../contracts/TaskHub.sol";
import {Detection, Summary} from "../../contracts/types/Summary.sol";
import {WorkerRegistry} from "../../contracts/WorkerRegistry.sol";
import {MaskOracleDeployer} from "../../deploy/MaskOracleDeployer.sol";
import {SKETCH_HASH} from "./Sketches.sol";

/// @notice Base fixture: deploys through the deploy script's library, registers a model, funds a
/// requester, and offers helpers that play workers honestly or not.
abstract contract Fixture is Test {
    uint96 internal constant TASK_STAKE = 100e18;
    uint40 internal constant UNBONDING = 7 days;
    uint96 internal constant FEE = 1e18;
    uint96 internal constant REWARD = 30e18;
    uint256 internal constant WORKER_STAKE = 1000e18;
    uint32 internal constant COMMIT_WINDOW = 10 minutes;
    uint32 internal constant REVEAL_WINDOW = 10 minutes;
    bytes32 internal constant MODEL_SHA = keccak256("model.pt");
    string internal constant MODEL_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
    string internal constant INPUT = "ipfs://bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";

    TestToken internal token;
    ModelRegistry internal models;
    WorkerRegistry internal registry;
    TaskHub internal hub;
    ExampleConsumer internal consumer;
    MaskOracleDeployer.Deployment internal deployment;

    address internal publisher = makeAddr("publisher");
    address internal requester = makeAddr("requester");
    uint32 internal modelId;
    address[] internal workers;

    function setUp() public virtual {
        vm.roll(1000);
        vm.warp(1_800_000_000);
        token = new TestToken();
        MaskOracleDeployer.Deployment memory d = MaskOracleDeployer.deploy(
            MaskOracleDeployer.Config({
                token: token,
                taskStake: TASK_STAKE,
                unbondingDelay: UNBONDING,
                consumerOwner: address(this),
                vrfMock: _useVrf()
            }),
            address(this)
        );
        deployment = d;
        models = d.modelRegistry;
        registry = d.workerRegistry;
        hub = d.taskHub;
        consumer = d.exampleConsumer;
        vm.prank(publisher);
        modelId = models.register(MODEL_CID, MODEL_SHA, 0, FEE);
        _fund(requester, 1_000_000e18);
    }

    /// @dev Overridden by the VRF tests to deploy with VRFCoordinatorV2_5Mock.
    function _useVrf() internal view virtual returns (bool) {
        return false;
    }

    /*//////////////////////////////////////////////////////////////
                                 ACCOUNTS
    //////////////////////////////////////////////////////////////*/

    /// @dev Mints `amount` to `who` and deposits it into the hub for `who`.
    function _fund(address who, uint256 amount) internal {
        token.mint(who, amount);
        vm.startPrank(who);
        token.approve(address(hub), amount);
        hub.deposit(who, amount);
        vm.stopPrank();
    }

    /// @dev A worker with `stakeAmount` staked, opted into the model.
    function _addWorker(string memory name, uint256 stakeAmount) internal returns (address w) {
        w = makeAddr(name);
        token.mint(w, stakeAmount);
        vm.startPrank(w);
        token.approve(address(registry), stakeAmount);
        registry.stake(stakeAmount);
        registry.optIn(modelId);
        vm.stopPrank();
        workers.push(w);
    }

    function _addWorkers(uint256 n) internal {
        for (uint256 i; i < n; ++i) {
            _addWorker(string.concat("worker", vm.toString(i)), WORKER_STAKE);
        }
    }

    /*//////////////////////////////////////////////////////////////
                                  TASKS
    //////////////////////////////////////////////////////////////*/

    function _params(uint8 r, uint8 q) internal view returns (ITaskHub.RequestParams memory p) {
        p = ITaskHub.RequestParams({
            modelId: modelId,
            replication: r,
            quorum: q,
            reward: REWARD,
            maxFee: FEE,
            commitWindow: COMMIT_WINDOW,
            revealWindow: REVEAL_WINDOW,
            callbackGasLimit: 0,
            input: INPUT,
            params: ""
        });
    }

    /// @dev One block passes (a task is drawn from the pool as at the end of the block before its
    /// request, so workers added in setUp count), the requester asks for a task, then one block passes
    /// so that the seed block exists.
    function _request(uint8 r, uint8 q) internal returns (uint256 taskId) {
        vm.roll(block.number + 1);
        vm.prank(requester);
        taskId = hub.request(_params(r, q));
        _mineSeed();
    }

    function _mineSeed() internal {
        vm.roll(block.number + 2);
    }

    function _drawn(uint256 taskId) internal view returns (address[] memory ws) {
        (ws,) = hub.previewDraw(taskId);
    }

    /// @dev A summary with `n` detections (status OK) or an error status with none.
    function _summary(uint8 status, uint256 n) internal pure returns (bytes memory) {
        Detection[] memory dets = new Detection[](n);
        for (uint256 i; i < n; ++i) {
            dets[i] = Detection({
                label: uint16(i + 1),
                scoreBps: uint16(9000 - i),
                x0: uint16(i),
                y0: uint16(2 * i),
                x1: uint16(i + 10),
                y1: uint16(2 * i + 10),
                maskArea: uint32(50 + i)
            });
        }
        return abi.encode(
            Summary({
                status: status, width: status == 0 ? 64 : 0, height: status == 0 ? 48 : 0, detections: dets
            })
        );
    }

    function _goodSummary() internal pure returns (bytes memory) {
        return _summary(0, 2);
    }

    /// @dev sha256("canonical result"), as a constant: calling the sha256 precompile would consume a
    /// pending vm.expectRevert.
    bytes32 internal constant GOOD_SHA = 0x527ede4070675e8bebf2ea53a40373c60819e1aa7b7fbfbde80868148ea084f1;

    function _goodSha() internal pure returns (bytes32) {
        return GOOD_SHA;
    }

    function _digest(bytes memory summary, bytes32 sha) internal pure returns (bytes32) {
        return ResultHash.digest(keccak256(summary), sha);
    }

    /// @dev Commits (summary, sha) as `w`.
    function _commit(address w, uint256 taskId, bytes memory summary, bytes32 sha) internal {
        bytes32 d = _digest(summary, sha);
        vm.prank(w);
        hub.commit(
            taskId,
            RequestHashSlot.read(address(hub), taskId),
            ResultHash.resultHash(taskId, d),
            ResultHash.resultSeal(w, taskId, d, SKETCH_HASH)
        );
    }

    function _reveal(address w, uint256 taskId, bytes memory summary, bytes32 sha) internal {
        vm.prank(w);
        hub.reveal(taskId, sha, SKETCH_HASH, summary);
    }

    /// @dev The first `count` drawn workers commit the good result. When that leaves commits open
    /// (count < R) with a quorum, time passes to the commit deadline, so that reveals open.
    function _commitHonest(uint256 taskId, uint256 count) internal returns (address[] memory ws) {
        ws = _drawn(taskId);
        for (uint256 i; i < count; ++i) {
            _commit(ws[i], taskId, _goodSummary(), _goodSha());
        }
        ITaskHub.Task memory t = hub.task(taskId);
        if (t.status == ITaskHub.TaskStatus.Requested && count >= t.quorum) _closeCommits(taskId);
    }

    /// @dev Moves time just past the task's commit deadline.
    function _closeCommits(uint256 taskId) internal {
        vm.warp(uint256(hub.task(taskId).commitDeadline) + 1);
    }

    function _status(uint256 taskId) internal view returns (ITaskHub.TaskStatus) {
        return hub.task(taskId).status;
    }
}
