// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Fixture} from "../utils/Fixture.sol";
import {ITaskHub} from "../../contracts/interfaces/ITaskHub.sol";

contract SmokeTest is Fixture {
    function test_Smoke() public {
        _addWorkers(5);
        uint256 id = _request(3, 3);
        address[] memory ws = _commitHonest(id, 3);
        for (uint256 i; i < 3; ++i) {
            _reveal(ws[i], id, _goodSummary(), _goodSha());
        }
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Finalized));
        emit log_named_uint("bh", uint256(blockhash(block.number - 1)));
    }
}
