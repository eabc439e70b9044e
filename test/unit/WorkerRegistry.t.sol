// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IWorkerRegistry} from "../../contracts/interfaces/IWorkerRegistry.sol";
import {WorkerRegistry} from "../../contracts/WorkerRegistry.sol";
import {IModelRegistry} from "../../contracts/interfaces/IModelRegistry.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Fixture} from "../utils/Fixture.sol";

contract WorkerRegistryTest is Fixture {
    address internal w;

    function setUp() public override {
        super.setUp();
        w = _addWorker("w", WORKER_STAKE);
    }

    function _mintApprove(address who, uint256 amount) internal {
        token.mint(who, amount);
        vm.prank(who);
        token.approve(address(registry), amount);
    }

    /*////////////////////////////////////////////////////////////// stake */

    function test_Stake_AddsWeightAndEmits() public {
        _mintApprove(w, 5e18);
        vm.roll(block.number + 7);
        vm.expectEmit(address(registry));
        emit IWorkerRegistry.Staked(w, 5e18, WORKER_STAKE + 5e18);
        vm.prank(w);
        registry.stake(5e18);
        IWorkerRegistry.WorkerInfo memory info = registry.workerInfo(w);
        assertEq(info.stake, WORKER_STAKE + 5e18);
        assertEq(info.lastIncreaseBlock, block.number);
        assertEq(registry.weightOf(modelId, w), WORKER_STAKE + 5e18);
        (uint256 total,) = registry.pool(modelId);
        assertEq(total, WORKER_STAKE + 5e18);
        assertEq(token.balanceOf(address(registry)), WORKER_STAKE + 5e18);
    }

    function test_Stake_RevertWhen_ZeroAmount() public {
        vm.expectRevert(IWorkerRegistry.WorkerRegistryZeroAmount.selector);
        vm.prank(w);
        registry.stake(0);
    }

    function test_Stake_RevertWhen_Overflow() public {
        uint256 amount = uint256(type(uint96).max);
        _mintApprove(w, amount);
        vm.expectRevert(
            abi.encodeWithSelector(
                IWorkerRegistry.WorkerRegistryStakeOverflow.selector, amount + WORKER_STAKE
            )
        );
        vm.prank(w);
        registry.stake(amount);
    }

    function test_Stake_RevertWhen_NotApproved() public {
        token.mint(w, 1e18);
        vm.expectRevert();
        vm.prank(w);
        registry.stake(1e18);
    }

    /*////////////////////////////////////////////////////////////// requestUnstake */

    function test_RequestUnstake_MovesToUnbonding() public {
        vm.expectEmit(address(registry));
        emit IWorkerRegistry.UnstakeRequested(w, 400e18, 400e18, block.timestamp + UNBONDING);
        vm.prank(w);
        registry.requestUnstake(400e18);
        IWorkerRegistry.WorkerInfo memory info = registry.workerInfo(w);
        assertEq(info.stake, 600e18);
        assertEq(info.unbonding, 400e18);
        assertEq(info.unbondingReleaseTime, block.timestamp + UNBONDING);
        assertEq(registry.weightOf(modelId, w), 600e18);
    }

    function test_RequestUnstake_AllRemovesLeaf() public {
        vm.prank(w);
        registry.requestUnstake(WORKER_STAKE);
        assertEq(registry.weightOf(modelId, w), 0);
        (uint256 total,) = registry.pool(modelId);
        assertEq(total, 0);
        // Staking again re-enters the pool on the freed leaf.
        _mintApprove(w, 1e18);
        vm.prank(w);
        registry.stake(1e18);
        (uint256 total2, uint256 leaves) = registry.pool(modelId);
        assertEq(total2, 1e18);
        assertEq(leaves, 1);
    }

    function test_RequestUnstake_RevertWhen_ZeroAmount() public {
        vm.expectRevert(IWorkerRegistry.WorkerRegistryZeroAmount.selector);
        vm.prank(w);
        registry.requestUnstake(0);
    }

    function test_RequestUnstake_RevertWhen_StakeLocked() public {
        vm.prank(address(hub));
        registry.lock(1, w);
        vm.expectRevert(
            abi.encodeWithSelector(
                IWorkerRegistry.WorkerRegistryInsufficientFreeStake.selector,
                w,
                WORKER_STAKE - TASK_STAKE,
                WORKER_STAKE
            )
        );
        vm.prank(w);
        registry.requestUnstake(WORKER_STAKE);
    }

    /*////////////////////////////////////////////////////////////// withdrawUnstaked */

    function test_WithdrawUnstaked_PaysAfterDelay() public {
        vm.prank(w);
        registry.requestUnstake(300e18);
        vm.warp(block.timestamp + UNBONDING);
        vm.expectEmit(address(registry));
        emit IWorkerRegistry.UnstakeWithdrawn(w, 300e18);
        vm.prank(w);
        registry.withdrawUnstaked();
        assertEq(token.balanceOf(w), 300e18);
        assertEq(registry.workerInfo(w).unbonding, 0);
    }

    function test_WithdrawUnstaked_RevertWhen_NothingUnbonding() public {
        vm.expectRevert(abi.encodeWithSelector(IWorkerRegistry.WorkerRegistryNothingUnbonding.selector, w));
        vm.prank(w);
        registry.withdrawUnstaked();
    }

    function test_WithdrawUnstaked_RevertWhen_StillUnbonding() public {
        vm.prank(w);
        registry.requestUnstake(1e18);
        uint256 release = block.timestamp + UNBONDING;
        vm.warp(release - 1);
        vm.expectRevert(
            abi.encodeWithSelector(IWorkerRegistry.WorkerRegistryStillUnbonding.selector, w, release)
        );
        vm.prank(w);
        registry.withdrawUnstaked();
    }

    /*////////////////////////////////////////////////////////////// optIn / optOut */

    function test_OptIn_JoinsPool() public {
        vm.prank(publisher);
        uint32 m2 = models.register("bafy-m2", MODEL_SHA, 1, 0);
        vm.expectEmit(address(registry));
        emit IWorkerRegistry.OptedIn(w, m2);
        vm.prank(w);
        registry.optIn(m2);
        assertTrue(registry.isOptedIn(w, m2));
        assertEq(registry.weightOf(m2, w), WORKER_STAKE);
        uint32[] memory ms = registry.modelsOf(w);
        assertEq(ms.length, 2);
        assertEq(ms[1], m2);
    }

    function test_OptIn_RevertWhen_ModelUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(IWorkerRegistry.WorkerRegistryModelInactive.selector, 99));
        vm.prank(w);
        registry.optIn(99);
    }

    function test_OptIn_RevertWhen_ModelRetired() public {
        vm.prank(publisher);
        uint32 m2 = models.register("bafy-m2", MODEL_SHA, 1, 0);
        vm.prank(publisher);
        models.retire(m2);
        vm.expectRevert(abi.encodeWithSelector(IWorkerRegistry.WorkerRegistryModelInactive.selector, m2));
        vm.prank(w);
        registry.optIn(m2);
    }

    function test_OptIn_RevertWhen_AlreadyOptedIn() public {
        vm.expectRevert(
            abi.encodeWithSelector(IWorkerRegistry.WorkerRegistryAlreadyOptedIn.selector, w, modelId)
        );
        vm.prank(w);
        registry.optIn(modelId);
    }

    function test_OptIn_RevertWhen_TooManyModels() public {
        for (uint256 i; i < 7; ++i) {
            vm.prank(publisher);
            uint32 m = models.register("bafy-m", MODEL_SHA, 0, 0);
            vm.prank(w);
            registry.optIn(m);
        }
        vm.prank(publisher);
        uint32 extra = models.register("bafy-m", MODEL_SHA, 0, 0);
        vm.expectRevert(abi.encodeWithSelector(IWorkerRegistry.WorkerRegistryTooManyModels.selector, w, 8));
        vm.prank(w);
        registry.optIn(extra);
    }

    function test_OptOut_LeavesPool() public {
        vm.prank(publisher);
        uint32 m2 = models.register("bafy-m2", MODEL_SHA, 1, 0);
        vm.prank(w);
        registry.optIn(m2);
        vm.expectEmit(address(registry));
        emit IWorkerRegistry.OptedOut(w, modelId);
        vm.prank(w);
        registry.optOut(modelId);
        assertFalse(registry.isOptedIn(w, modelId));
        assertTrue(registry.isOptedIn(w, m2));
        assertEq(registry.weightOf(modelId, w), 0);
        assertEq(registry.modelsOf(w).length, 1);
        assertEq(registry.modelsOf(w)[0], m2);
    }

    function test_OptOut_RevertWhen_NotOptedIn() public {
        vm.expectRevert(abi.encodeWithSelector(IWorkerRegistry.WorkerRegistryNotOptedIn.selector, w, 42));
        vm.prank(w);
        registry.optOut(42);
    }

    /*////////////////////////////////////////////////////////////// hub-only */

    function test_Lock_RevertWhen_NotHub() public {
        vm.expectRevert(abi.encodeWithSelector(IWorkerRegistry.WorkerRegistryNotHub.selector, address(this)));
        registry.lock(1, w);
    }

    function test_Lock_RevertWhen_InsufficientFreeStake() public {
        address small = _addWorker("small", TASK_STAKE);
        vm.startPrank(address(hub));
        registry.lock(1, small);
        vm.expectRevert(
            abi.encodeWithSelector(
                IWorkerRegistry.WorkerRegistryInsufficientFreeStake.selector, small, 0, TASK_STAKE
            )
        );
        registry.lock(2, small);
        vm.stopPrank();
    }

    function test_Lock_LocksTaskStake() public {
        vm.prank(address(hub));
        registry.lock(1, w);
        assertEq(registry.workerInfo(w).locked, TASK_STAKE);
        assertEq(registry.freeStake(w), WORKER_STAKE - TASK_STAKE);
    }

    function test_Release_RevertWhen_NotHub() public {
        vm.expectRevert(abi.encodeWithSelector(IWorkerRegistry.WorkerRegistryNotHub.selector, address(this)));
        registry.release(1, new address[](0), 0);
    }

    function test_Release_SlashesAndPaysHub() public {
        vm.startPrank(address(hub));
        registry.lock(1, w);
        address[] memory ws = new address[](1);
        ws[0] = w;
        uint256 hubBefore = token.balanceOf(address(hub));
        registry.release(1, ws, 1);
        vm.stopPrank();
        assertEq(token.balanceOf(address(hub)), hubBefore + TASK_STAKE);
        assertEq(registry.workerInfo(w).stake, WORKER_STAKE - TASK_STAKE);
        assertEq(registry.workerInfo(w).locked, 0);
        assertEq(registry.weightOf(modelId, w), WORKER_STAKE - TASK_STAKE);
    }

    /*////////////////////////////////////////////////////////////// draw history */

    function test_PreviewDraw_IgnoresStakeAddedInOrAfterRequestBlock() public {
        vm.roll(block.number + 1);
        address late = _addWorker("late", WORKER_STAKE * 100); // staked in this block
        // A request in this block draws from the pool as at the end of the previous block.
        address[] memory ws = registry.previewDraw(modelId, 1, 1, block.number);
        assertEq(ws.length, 1);
        assertEq(ws[0], w, "fresh stake drawn");
        // A request in the next block sees the big worker.
        bool sawLate;
        for (uint256 s; s < 20; ++s) {
            address[] memory again = registry.previewDraw(modelId, s, 1, block.number + 1);
            if (again[0] == late) sawLate = true;
        }
        assertTrue(sawLate);
    }

    function test_PreviewDraw_LocksDoNotEnter() public {
        address small = _addWorker("small", TASK_STAKE);
        vm.roll(block.number + 1);
        address[] memory before = registry.previewDraw(modelId, 5, 2, block.number);
        vm.startPrank(address(hub));
        registry.lock(1, small);
        registry.lock(1, w);
        vm.stopPrank();
        assertEq(registry.freeStake(small), 0);
        address[] memory ws = registry.previewDraw(modelId, 5, 2, block.number);
        assertEq(ws.length, 2, "locks do not remove workers from the draw");
        assertEq(ws[0], before[0]);
        assertEq(ws[1], before[1]);
    }

    function test_PreviewDraw_DistinctWorkers() public {
        _addWorkers(4);
        vm.roll(block.number + 1);
        for (uint256 s; s < 30; ++s) {
            address[] memory ws = registry.previewDraw(modelId, s, 5, block.number);
            assertEq(ws.length, 5);
            for (uint256 i; i < 5; ++i) {
                for (uint256 j = i + 1; j < 5; ++j) {
                    assertTrue(ws[i] != ws[j], "duplicate draw");
                }
            }
        }
    }

    function test_Constructor_RevertWhen_InvalidParameters() public {
        vm.expectRevert(IWorkerRegistry.WorkerRegistryInvalidParameters.selector);
        new WorkerRegistry(IERC20(address(token)), IModelRegistry(address(models)), address(0), 1, 1);
        vm.expectRevert(IWorkerRegistry.WorkerRegistryInvalidParameters.selector);
        new WorkerRegistry(IERC20(address(token)), IModelRegistry(address(models)), address(1), 0, 1);
    }
}
