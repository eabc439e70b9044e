// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ITaskHub} from "../../contracts/interfaces/ITaskHub.sol";
import {TolerantFixture} from "../utils/TolerantFixture.sol";

/// @notice Fuzzed properties of the tolerant fallback.
contract TolerantFuzzTest is TolerantFixture {
    function setUp() public override {
        super.setUp();
        _addBothWorkers(8);
    }

    /// @dev R honest workers whose results differ only by noise within the tolerance (4 to 16 detections
    /// of one label, each field moved by up to its tolerance) always settle, whoever is named the
    /// representative: all R are members, each paid, nobody slashed.
    function testFuzz_HonestNoise_AlwaysSettles(uint256 seed, uint8 rChoice, uint8 repChoice, uint8 count)
        public
    {
        uint8[3] memory rs = [uint8(3), 5, 7];
        uint8 r = rs[rChoice % 3];
        uint256 id = _requestTolerant(r, r / 2 + 1);
        address[] memory ws = _commitAll(id, _honestOf(r, bound(count, 4, 16), seed));
        for (uint256 i; i < r; ++i) {
            _revealSealed(ws[(i + seed % r) % r], id);
        }
        address rep = ws[repChoice % r];
        _settle(makeAddr("keeper"), id, rep);
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Finalized));
        assertEq(hub.result(id).resultSha256, sealed_[id][rep].sha);
        uint256 paid;
        for (uint256 i; i < r; ++i) {
            assertGe(hub.balanceOf(ws[i]), REWARD / r, "every honest worker paid");
            assertEq(_stake(ws[i]), WORKER_STAKE, "nobody slashed");
            assertEq(_locked(ws[i]), 0);
            paid += hub.balanceOf(ws[i]);
        }
        assertEq(paid, REWARD, "the reward, whole");
    }
}
