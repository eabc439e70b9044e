// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title Version
/// @notice Placeholder until the protocol contracts land: reports the protocol version.
contract Version {
    /// @notice Version of the MaskOracle protocol these contracts implement.
    function protocolVersion() external pure returns (uint256) {
        return 1;
    }
}
