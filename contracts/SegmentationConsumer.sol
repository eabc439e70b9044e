// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ISegmentationConsumer} from "./interfaces/ISegmentationConsumer.sol";
import {ITaskHub} from "./interfaces/ITaskHub.sol";

/// @title SegmentationConsumer
/// @notice Base for contracts that request segmentations from the hub and receive the results.
/// @dev Inherit, request through `hub.request(...)` (the consumer is then the requester and the callback
/// target), and implement `_fulfillSegmentation`. The hub calls with a fixed gas limit and ignores
/// failures: keep the hook cheap and non-reverting, store what you need and act on it later.
abstract contract SegmentationConsumer is ISegmentationConsumer {
    /// @dev Only the hub may deliver results.
    error SegmentationConsumerOnlyHub(address caller);

    /// @notice The hub this consumer trusts.
    ITaskHub public immutable hub;

    constructor(ITaskHub hub_) {
        hub = hub_;
    }

    /// @inheritdoc ISegmentationConsumer
    function rawFulfillSegmentation(
        uint256 taskId,
        bool finalized,
        bytes32 resultSha256,
        bytes calldata summary
    ) external {
        if (msg.sender != address(hub)) revert SegmentationConsumerOnlyHub(msg.sender);
        _fulfillSegmentation(taskId, finalized, resultSha256, summary);
    }

    /// @notice Receives a task's outcome. `finalized` false means expired and refunded (no result).
    function _fulfillSegmentation(
        uint256 taskId,
        bool finalized,
        bytes32 resultSha256,
        bytes calldata summary
    ) internal virtual;
}
