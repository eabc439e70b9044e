// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {ITaskHub} from "maskoracle/contracts/interfaces/ITaskHub.sol";
import {Detection, Summary} from "maskoracle/contracts/types/Summary.sol";
import {DetectionCounter} from "../src/DetectionCounter.sol";

/// @notice What the callback costs: run it as the hub would, with fresh storage, for the smallest and
/// the largest summary (16 detections), and keep the callback gas limit above the most it took.
contract DetectionCounterGasTest is Test {
    /// The callback gas limit docs/integrate.md recommends for this consumer.
    uint24 internal constant CALLBACK_GAS = 150_000;

    address internal hub = makeAddr("hub");
    DetectionCounter internal counter = new DetectionCounter(ITaskHub(hub), 1, address(this));

    function _summary(uint256 n) internal pure returns (bytes memory) {
        Detection[] memory ds = new Detection[](n);
        for (uint256 i; i < n; ++i) {
            ds[i] = Detection({label: 1, scoreBps: 9800, x0: 1, y0: 2, x1: 300, y1: 400, maskArea: 70_000});
        }
        return abi.encode(Summary({status: 0, width: 512, height: 512, detections: ds}));
    }

    function _callbackGas(uint256 taskId, bytes memory summary) internal returns (uint256 used) {
        vm.prank(hub);
        uint256 before = gasleft();
        counter.rawFulfillSegmentation(taskId, true, keccak256("result"), summary);
        used = before - gasleft();
    }

    function test_CallbackGas_FitsTheBudget() public {
        uint256 one = _callbackGas(1, _summary(1));
        uint256 sixteen = _callbackGas(2, _summary(16));
        emit log_named_uint("callback gas, 1 detection", one);
        emit log_named_uint("callback gas, 16 detections", sixteen);
        assertLt(sixteen, CALLBACK_GAS, "raise the callback gas limit in docs/integrate.md");
        (bool done,,, uint16 n,) = counter.outcomes(2);
        assertTrue(done);
        assertEq(n, 16);
    }

    function test_Callback_RevertWhen_NotTheHub() public {
        vm.expectRevert();
        counter.rawFulfillSegmentation(1, true, bytes32(0), _summary(1));
    }
}
