// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {console} from "forge-std/console.sol";
import {ITaskHub} from "../../contracts/interfaces/ITaskHub.sol";
import {Fixture} from "../utils/Fixture.sol";

/// @notice Gas of the draw (R = 3) and of a stake update against the number of workers in the pool
/// (10, 100, 1,000). Each measured call runs with all storage cold, as its own transaction would.
/// The draw is averaged over 8 tasks (its cost depends on where the random positions fall); the stake
/// update is measured on leaf 1, whose Fenwick path is the longest.
contract DrawScalingTest is Fixture {
    uint256 internal constant DRAWS = 8;

    function test_Scaling_DrawAndStakeUpdate() public {
        (uint256 draw10, uint256 stake10) = _measure(10);
        (uint256 draw100, uint256 stake100) = _measure(100);
        (uint256 draw1000, uint256 stake1000) = _measure(1000);
        console.log("workers | draw R=3 (hub.draw) | stake update (registry.stake)");
        console.log("10      ", draw10, stake10);
        console.log("100     ", draw100, stake100);
        console.log("1000    ", draw1000, stake1000);
        console.log("draw 1000/10 x1000 ", draw1000 * 1000 / draw10);
        console.log("stake 1000/10 x1000", stake1000 * 1000 / stake10);
        // Logarithmic: each tenfold increase adds about the same amount, far from tenfold.
        assertLt(draw1000, draw10 * 3 / 2, "draw grows too fast");
        assertLt(stake1000, stake10 * 2, "stake update grows too fast");
        assertLt(draw1000 - draw100, (draw100 - draw10) * 2, "draw growth not logarithmic");
    }

    /// @notice The draw when every worker's stake changed in each of the `rounds` blocks between the
    /// request and the draw (every node on the walk then answers from its archive, by binary search),
    /// against the same draw with no change. 100 workers.
    function test_Scaling_DrawAfterPoolChanges() public {
        uint256 plain = _drawAfterChanges(0);
        uint256 after1 = _drawAfterChanges(1);
        uint256 after8 = _drawAfterChanges(8);
        console.log("draw R=3, 100 workers | no change | 1 block of changes | 8 blocks of changes");
        console.log("                      ", plain, after1, after8);
        assertLt(after8, plain * 3, "historical draw too dear");
    }

    function _drawAfterChanges(uint256 rounds) internal returns (uint256 drawGas) {
        setUp();
        delete workers;
        for (uint256 i; i < 100; ++i) {
            _addWorker(string.concat("hist", vm.toString(i)), WORKER_STAKE + i * 1e18);
        }
        for (uint256 i; i < 100; ++i) {
            address w = workers[i];
            token.mint(w, rounds * 1e18);
            vm.prank(w);
            token.approve(address(registry), rounds * 1e18);
        }
        uint256 id = _request(3, 2);
        for (uint256 k; k < rounds; ++k) {
            vm.roll(block.number + 1);
            for (uint256 i; i < 100; ++i) {
                vm.prank(workers[i]);
                registry.stake(1e18);
            }
        }
        _cool();
        hub.draw(id);
        drawGas = vm.lastCallGas().gasTotalUsed;
    }

    function _measure(uint256 n) internal returns (uint256 drawGas, uint256 stakeGas) {
        // A fresh deployment per size.
        setUp();
        delete workers;
        for (uint256 i; i < n; ++i) {
            _addWorker(string.concat("scale", vm.toString(i)), WORKER_STAKE + i * 1e18);
        }
        vm.roll(block.number + 1);
        for (uint256 k; k < DRAWS; ++k) {
            uint256 id = _request(3, 2);
            _cool();
            hub.draw(id);
            drawGas += vm.lastCallGas().gasTotalUsed;
        }
        drawGas /= DRAWS;
        address first = workers[0];
        token.mint(first, 1e18);
        vm.prank(first);
        token.approve(address(registry), 1e18);
        _cool();
        vm.prank(first);
        registry.stake(1e18);
        stakeGas = vm.lastCallGas().gasTotalUsed;
    }

    function _cool() internal {
        vm.cool(address(hub));
        vm.cool(address(registry));
        vm.cool(address(models));
        vm.cool(address(token));
    }
}
