// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Vm} from "forge-std/Vm.sol";
import {ITaskHub} from "../../contracts/interfaces/ITaskHub.sol";
import {IRandomnessSource} from "../../contracts/interfaces/IRandomnessSource.sol";
import {VrfRandomness} from "../../contracts/randomness/VrfRandomness.sol";
import {Fixture} from "../utils/Fixture.sol";

/// @notice The hub with Chainlink VRF v2.5 randomness, deployed by the deploy library with Chainlink's
/// own VRFCoordinatorV2_5Mock: request -> fulfil through the mock -> draw -> commit -> reveal -> settle.
contract VrfTest is Fixture {
    function _useVrf() internal pure override returns (bool) {
        return true;
    }

    /// @dev Requests a task and returns its VRF request id (from the source's SeedRequested event).
    function _vrfRequest(uint8 r, uint8 q) internal returns (uint256 id, uint256 requestId) {
        vm.roll(block.number + 1);
        vm.recordLogs();
        vm.prank(requester);
        id = hub.request(_params(r, q));
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == VrfRandomness.SeedRequested.selector) {
                assertEq(uint256(logs[i].topics[1]), id);
                requestId = uint256(logs[i].topics[2]);
            }
        }
        assertTrue(requestId != 0, "no VRF request");
    }

    function test_Vrf_RequestFulfilDrawSettle() public {
        _addWorkers(5);
        assertEq(hub.randomness().kind(), "vrf-v2.5");
        (uint256 id, uint256 requestId) = _vrfRequest(3, 2);
        // Blocks pass, but with VRF the seed is the coordinator's answer: pending until fulfilled.
        vm.roll(block.number + 5);
        (, ITaskHub.WaitReason why) = hub.taskState(id);
        assertEq(uint8(why), uint8(ITaskHub.WaitReason.SeedPending));
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubSeedPending.selector, id));
        hub.draw(id);

        deployment.vrfCoordinator.fulfillRandomWords(requestId, address(deployment.randomness));
        (IRandomnessSource.SeedStatus st, bytes32 seed) = deployment.randomness.seedOf(address(hub), id, 0);
        assertEq(uint8(st), uint8(IRandomnessSource.SeedStatus.Ready));
        assertTrue(seed != bytes32(0));

        hub.draw(id);
        address[] memory ws = _commitHonest(id, 3);
        _reveal(ws[0], id, _goodSummary(), _goodSha());
        _reveal(ws[1], id, "", _goodSha());
        _reveal(ws[2], id, "", _goodSha());
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Finalized));
        assertEq(hub.balanceOf(ws[0]) + hub.balanceOf(ws[1]) + hub.balanceOf(ws[2]), REWARD);
    }

    /// @notice The draw uses the pool as it stood before the request even though the seed arrives
    /// blocks later: stake moved between request and fulfilment does not enter.
    function test_Vrf_PoolChangesBeforeFulfilmentDoNotEnter() public {
        _addWorkers(5);
        (uint256 id, uint256 requestId) = _vrfRequest(3, 2);
        uint256 snap = vm.snapshotState();
        deployment.vrfCoordinator.fulfillRandomWords(requestId, address(deployment.randomness));
        (address[] memory expected,) = hub.previewDraw(id);
        vm.revertToState(snap);
        vm.roll(block.number + 3);
        _addWorker("whale", 1_000_000e18);
        vm.prank(workers[0]);
        registry.requestUnstake(WORKER_STAKE);
        deployment.vrfCoordinator.fulfillRandomWords(requestId, address(deployment.randomness));
        hub.draw(id);
        (address[] memory ws,) = hub.previewDraw(id);
        assertEq(keccak256(abi.encode(ws)), keccak256(abi.encode(expected)));
    }

    function test_Vrf_RequestSeed_RevertWhen_NotHub() public {
        vm.expectRevert(abi.encodeWithSelector(VrfRandomness.VrfRandomnessNotHub.selector, address(this)));
        deployment.randomness.requestSeed(1);
    }

    /// @notice A VRF that never answers: the task expires at its commit deadline, refunded in full.
    function test_Vrf_NeverFulfilled_Expires() public {
        _addWorkers(3);
        uint256 before = hub.balanceOf(requester);
        (uint256 id,) = _vrfRequest(3, 2);
        vm.warp(hub.task(id).commitDeadline + 1);
        hub.expire(id);
        assertEq(hub.balanceOf(requester), before);
    }
}
