// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {Version} from "../contracts/Version.sol";

contract VersionTest is Test {
    function test_ProtocolVersion_IsOne() public {
        Version v = new Version();
        assertEq(v.protocolVersion(), 1);
    }
}
