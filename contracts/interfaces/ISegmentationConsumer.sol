// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title ISegmentationConsumer
/// @notice What the hub calls when a task it requested reaches a terminal state.
interface ISegmentationConsumer {
    /// @notice Called by the hub, with exactly the task's callback gas limit, once per task.
    /// @param taskId The task.
    /// @param finalized True with a result; false when the task expired (refunded, no result).
    /// @param resultSha256 sha256 of the canonical result bytes (its IPFS CID follows from it); zero
    /// when not finalized.
    /// @param summary `abi.encode(Summary)` (types/Summary.sol); empty when not finalized.
    function rawFulfillSegmentation(
        uint256 taskId,
        bool finalized,
        bytes32 resultSha256,
        bytes calldata summary
    ) external;
}
