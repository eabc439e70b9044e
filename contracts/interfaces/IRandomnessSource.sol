// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title IRandomnessSource
/// @notice Where the hub gets each task's draw randomness. Chosen at deployment (an immutable of the hub),
/// never changed under live tasks. The hub asks once, in the request transaction, and reads the value
/// when it draws; the draw's weights are fixed at the block before the request whatever the source's
/// delay, so a slow source delays the draw but does not open it to re-rolls.
interface IRandomnessSource {
    /// @notice Where a task's randomness stands.
    enum SeedStatus {
        Pending, // not available yet (seed block not mined, VRF not fulfilled)
        Ready, // `seedOf` returns it
        Expired // will never be available (blockhash horizon passed): the task can only expire
    }

    /// @notice Asks for the randomness of task `taskId` of the calling hub, requested in this block.
    /// Called by the hub in the request transaction only when `needsRequest()`.
    function requestSeed(uint256 taskId) external;

    /// @notice Whether the hub must call `requestSeed` for each task (constant; read once by the hub).
    function needsRequest() external pure returns (bool);

    /// @notice The randomness of task `taskId` of `hub`, requested in block `requestBlock`.
    /// @return status Pending, Ready or Expired.
    /// @return seed The random value when Ready, else 0.
    function seedOf(address hub, uint256 taskId, uint256 requestBlock)
        external
        view
        returns (SeedStatus status, bytes32 seed);

    /// @notice A short name of the kind of source ("blockhash", "vrf-v2.5").
    function kind() external pure returns (string memory);
}
