// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Vm} from "forge-std/Vm.sol";

/// @notice Reads a task's request hash straight from the hub's storage (a cheatcode, so it does not
/// consume a pending vm.prank the way a call to `hub.requestHashOf` would). TaskHub layout: `_tasks`
/// is slot 1; the hash is the top 22 bytes of the task's third slot. `test_RequestHashSlot_MatchesView`
/// checks it against `requestHashOf`.
library RequestHashSlot {
    Vm private constant VM = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    function read(address hub, uint256 taskId) internal view returns (bytes32) {
        uint256 base = uint256(keccak256(abi.encode(taskId, uint256(1))));
        uint256 v = uint256(VM.load(hub, bytes32(base + 2)));
        return bytes32((v >> 80) << 80);
    }
}
