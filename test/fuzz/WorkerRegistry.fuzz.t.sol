// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IWorkerRegistry} from "../../contracts/interfaces/IWorkerRegistry.sol";
import {Fixture} from "../utils/Fixture.sol";

/// @notice Fuzz tests of stake amounts, unbonding and the draw.
contract WorkerRegistryFuzzTest is Fixture {
    function testFuzz_StakeUnstakeWithdraw(uint256 amount, uint256 out, uint32 wait) public {
        amount = bound(amount, 1, type(uint96).max);
        out = bound(out, 1, amount);
        address w = _addWorker("fz", amount);
        vm.prank(w);
        registry.requestUnstake(out);
        assertEq(registry.weightOf(modelId, w), amount - out);
        (uint256 total,) = registry.pool(modelId);
        assertEq(total, amount - out);
        wait = uint32(bound(wait, 0, 2 * UNBONDING));
        vm.warp(block.timestamp + wait);
        vm.prank(w);
        if (wait < UNBONDING) {
            vm.expectRevert();
            registry.withdrawUnstaked();
        } else {
            registry.withdrawUnstaked();
            assertEq(token.balanceOf(w), out);
        }
        assertEq(
            token.balanceOf(address(registry)),
            uint256(registry.workerInfo(w).stake) + registry.workerInfo(w).unbonding
        );
    }

    /// @dev Any stakes, any seed: the draw returns distinct, opted-in workers (as of the block before the request).
    function testFuzz_Draw_DistinctEligible(uint256 seed, uint8 n, uint8 count, uint256 stakeSeed) public {
        n = uint8(bound(n, 1, 24));
        count = uint8(bound(count, 1, 16));
        for (uint256 i; i < n; ++i) {
            uint256 s = bound(uint256(keccak256(abi.encode(stakeSeed, i))), TASK_STAKE, 1e24);
            _addWorker(string.concat("d", vm.toString(i)), s);
        }
        address[] memory ws = registry.previewDraw(modelId, seed, count, block.number + 1);
        assertEq(ws.length, count <= n ? count : n);
        for (uint256 i; i < ws.length; ++i) {
            assertTrue(registry.isOptedIn(ws[i], modelId));
            for (uint256 j = i + 1; j < ws.length; ++j) {
                assertTrue(ws[i] != ws[j]);
            }
        }
    }

    /// @dev Draw frequencies follow stake: a worker with 3/4 of the stake is drawn first ~3/4 of the time.
    function test_Draw_FrequencyFollowsStake() public {
        address big = _addWorker("big", 3000e18);
        _addWorker("small", 1000e18);
        uint256 hits;
        uint256 trials = 400;
        for (uint256 s; s < trials; ++s) {
            if (registry.previewDraw(modelId, s, 1, block.number + 1)[0] == big) ++hits;
        }
        // 300 expected; 4 standard deviations (~35) either side.
        assertGt(hits, 265);
        assertLt(hits, 335);
    }

    function testFuzz_Stake_RevertWhen_Overflow(uint256 extra) public {
        address w = _addWorker("of", type(uint96).max);
        extra = bound(extra, 1, type(uint128).max);
        token.mint(w, extra);
        vm.startPrank(w);
        token.approve(address(registry), extra);
        vm.expectRevert(
            abi.encodeWithSelector(
                IWorkerRegistry.WorkerRegistryStakeOverflow.selector, uint256(type(uint96).max) + extra
            )
        );
        registry.stake(extra);
        vm.stopPrank();
    }
}
