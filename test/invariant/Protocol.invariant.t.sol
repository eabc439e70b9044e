// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {console} from "forge-std/console.sol";
import {ITaskHub} from "../../contracts/interfaces/ITaskHub.sol";
import {IWorkerRegistry} from "../../contracts/interfaces/IWorkerRegistry.sol";
import {Fixture} from "../utils/Fixture.sol";
import {Sketches} from "../utils/Sketches.sol";
import {ProtocolHandler} from "./handlers/ProtocolHandler.sol";

/// @notice Protocol invariants under random sequences of every user action and time warps.
contract ProtocolInvariantTest is Fixture {
    ProtocolHandler internal handler;

    function setUp() public override {
        super.setUp();
        vm.prank(publisher);
        uint32 tolerantId = models.registerWithTolerance(
            MODEL_CID, keccak256("tolerant model.pt"), 0, FEE, Sketches.tolerance()
        );
        handler = new ProtocolHandler(hub, registry, token, modelId, tolerantId, publisher);
        // Start with staked, opted-in workers so tasks get drawn.
        for (uint256 i; i < handler.workerCount(); ++i) {
            address w = handler.workers(i);
            token.mint(w, WORKER_STAKE);
            vm.startPrank(w);
            token.approve(address(registry), WORKER_STAKE);
            registry.stake(WORKER_STAKE);
            registry.optIn(modelId);
            registry.optIn(tolerantId);
            vm.stopPrank();
        }
        _fund(handler.requesters(0), 10_000e18);
        _fund(handler.requesters(1), 10_000e18);
        _fund(handler.requesters(2), 10_000e18);
        // The fixture's own requester holds a balance too: withdraw it so that the handler's account
        // list covers every balance.
        vm.startPrank(requester);
        hub.withdraw(hub.balanceOf(requester));
        vm.stopPrank();
        vm.roll(block.number + 1);
        targetContract(address(handler));
    }

    /// @notice Hub tokens == free balances + escrow; registry tokens == stakes + unbonding.
    /// @notice All protocol invariants, checked after every call of one campaign (one campaign instead
    /// of five keeps the CI run short while every check sees every state).
    function invariant_Protocol() public {
        _tokensEqualAccounts();
        _noLockWithoutLiveTask();
        _poolWeightEqualsOptedInStake();
        _terminalTaskNeverChanges();
        _everyTaskCanTerminate();
        _drawNeverMoves();
    }

    /// @notice The handler reaches the fallback: a tolerant task with three different results (two
    /// agreeing within the tolerance, one tampered) is reconciled and settled, and every invariant holds.
    function test_Handler_DrivesTheFallback() public {
        handler.request(0, 3, 2, 2); // an even reward: the tolerant model
        uint256 id = hub.taskCount();
        vm.roll(block.number + 2);
        handler.commit(id - 1, 1); // variant 1
        handler.commit(id - 1, 5); // variant 2: noise
        handler.commit(id - 1, 11); // variant 3: tampered
        (ITaskHub.TaskStatus st, ITaskHub.WaitReason why) = hub.taskState(id);
        assertEq(uint8(st), uint8(ITaskHub.TaskStatus.Requested));
        assertEq(uint8(why), uint8(ITaskHub.WaitReason.AwaitingSketches));
        for (uint256 i; i < 4 && hub.task(id).status != ITaskHub.TaskStatus.Finalized; ++i) {
            handler.advance(id - 1);
        }
        assertEq(uint8(hub.task(id).status), uint8(ITaskHub.TaskStatus.Finalized), "settled by the fallback");
        assertLt(hub.task(id).leaderCount, hub.task(id).quorum, "without Q equal hashes");
        invariant_Protocol();
    }

    /// @notice Once a task's randomness is available, its draw is what it was then, whatever stake,
    /// unstake, top-up and opt-in/out calls came after (H-1).
    function _drawNeverMoves() internal view {
        for (uint256 id = 1; id <= hub.taskCount(); ++id) {
            bytes32 ghost = handler.ghostDraw(id);
            if (ghost == bytes32(0)) continue;
            if (!_live(hub.task(id).status)) continue;
            bytes32 now_ = handler.drawPrint(id);
            if (now_ != bytes32(0)) assertEq(now_, ghost, "draw moved after the request");
        }
    }

    function _tokensEqualAccounts() internal view {
        uint256 balances;
        for (uint256 i; i < handler.accountCount(); ++i) {
            balances += hub.balanceOf(handler.accounts(i));
        }
        uint256 escrow;
        for (uint256 id = 1; id <= hub.taskCount(); ++id) {
            escrow += hub.escrowOf(id);
        }
        assertEq(
            token.balanceOf(address(hub)),
            balances + escrow + hub.reserve(),
            "hub tokens != balances + escrow"
        );
        uint256 stakes;
        for (uint256 i; i < handler.workerCount(); ++i) {
            IWorkerRegistry.WorkerInfo memory info = registry.workerInfo(handler.workers(i));
            stakes += uint256(info.stake) + info.unbonding;
        }
        assertEq(token.balanceOf(address(registry)), stakes, "registry tokens != stakes + unbonding");
    }

    /// @notice Locked stake == taskStake x the live tasks a worker committed to (no lock without one).
    function _noLockWithoutLiveTask() internal view {
        for (uint256 i; i < handler.workerCount(); ++i) {
            address w = handler.workers(i);
            uint256 live;
            for (uint256 id = 1; id <= hub.taskCount(); ++id) {
                if (!_live(hub.task(id).status)) continue;
                ITaskHub.Contribution[] memory cs = hub.contributions(id);
                for (uint256 k; k < cs.length; ++k) {
                    if (cs[k].worker == w && cs[k].state != ITaskHub.ContributionState.Drawn) ++live;
                }
            }
            assertEq(registry.workerInfo(w).locked, live * TASK_STAKE, "locked stake without a live task");
        }
    }

    /// @notice The pool's draw weight equals the stake of the opted-in workers.
    function _poolWeightEqualsOptedInStake() internal view {
        uint256 sum;
        for (uint256 i; i < handler.workerCount(); ++i) {
            address w = handler.workers(i);
            if (registry.isOptedIn(w, modelId)) {
                sum += registry.workerInfo(w).stake;
                assertEq(registry.weightOf(modelId, w), registry.workerInfo(w).stake, "leaf weight != stake");
            }
        }
        (uint256 total,) = registry.pool(modelId);
        assertEq(total, sum, "pool total != opted-in stake");
    }

    /// @notice A terminal task never changes afterwards.
    function _terminalTaskNeverChanges() internal view {
        for (uint256 id = 1; id <= hub.taskCount(); ++id) {
            bytes32 print = handler.ghostTerminalPrint(id);
            if (print != bytes32(0)) assertEq(handler.fingerprint(id), print, "terminal task changed");
        }
    }

    /// @notice Every live task past its deadlines can be brought to a terminal state by anyone.
    function _everyTaskCanTerminate() internal {
        uint256 n = hub.taskCount();
        for (uint256 id = 1; id <= n; ++id) {
            ITaskHub.Task memory t = hub.task(id);
            if (!_live(t.status)) continue;
            uint256 snap = vm.snapshotState();
            // Past every deadline and the settlement grace: a reconciliation expires too.
            vm.warp(uint256(t.revealDeadline) + hub.SETTLE_GRACE() + 1);
            vm.prank(makeAddr("keeper"));
            if (t.status == ITaskHub.TaskStatus.Revealing && t.reveals > 0) {
                hub.finalize(id, handler.recordedSummary(id));
            } else {
                hub.expire(id);
            }
            ITaskHub.TaskStatus after_ = hub.task(id).status;
            assertTrue(
                after_ == ITaskHub.TaskStatus.Finalized || after_ == ITaskHub.TaskStatus.Failed, "task stuck"
            );
            vm.revertToState(snap);
        }
    }

    /// @dev Tasks finalized without Q equal hashes (settled by the fallback): recorded sha of a variant
    /// other than the one a quorum could have had is not enough to tell, so count those whose draw has
    /// fewer than Q equal commits: leaderCount < quorum.
    function _tolerantFinalized() internal view returns (uint256 n) {
        for (uint256 id = 1; id <= hub.taskCount(); ++id) {
            ITaskHub.Task memory t = hub.task(id);
            if (t.status == ITaskHub.TaskStatus.Finalized && t.leaderCount < t.quorum) ++n;
        }
    }

    function _live(ITaskHub.TaskStatus st) internal pure returns (bool) {
        return st == ITaskHub.TaskStatus.Requested || st == ITaskHub.TaskStatus.Revealing
            || st == ITaskHub.TaskStatus.Reconciling;
    }

    function afterInvariant() external view {
        uint256 finalized;
        uint256 failed;
        for (uint256 id = 1; id <= hub.taskCount(); ++id) {
            ITaskHub.TaskStatus st = hub.task(id).status;
            if (st == ITaskHub.TaskStatus.Finalized) ++finalized;
            if (st == ITaskHub.TaskStatus.Failed) ++failed;
        }
        console.log("tasks", hub.taskCount());
        console.log("finalized", finalized);
        console.log("failed", failed);
        console.log("requests", handler.calls("request"));
        console.log("commits", handler.calls("commit"));
        console.log("reveals", handler.calls("reveal"));
        console.log("finalizes", handler.calls("finalize"));
        console.log("sketch reveals", handler.calls("revealSketch"));
        console.log("tolerant settlements", handler.calls("settleTolerant"));
        console.log("settled tolerant (events aside: tasks)", _tolerantFinalized());
        console.log("expires", handler.calls("expire"));
        console.log("deposits", handler.calls("deposit"));
        console.log("withdraws", handler.calls("withdraw"));
        console.log("opt-ins/outs", handler.calls("optInOut"));
        console.log("warps", handler.calls("warp"));
        console.log("stakes", handler.calls("stake"));
        console.log("unstakes", handler.calls("requestUnstake"));
        console.log("pool changes under pending draws", handler.ghostPoolChangesUnderPendingDraws());
    }
}
