// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ISegmentationConsumer} from "./interfaces/ISegmentationConsumer.sol";
import {ITaskHub} from "./interfaces/ITaskHub.sol";

/// @title SegmentationConsumer
/// @notice Base for contracts that request segmentations from the hub and receive the results.
/// @dev Inherit, request through `hub.request(...)` (the consumer is then the requester and the callback
/// target), and implement `_fulfillSegmentation`. The hub calls with a fixed gas limit and ignores
/// failures: keep the hook cheap and non-reverting, store what you need and act on it later. When the
/// callback failed anyway (reverted, ran out of gas), `recoverSegmentation` delivers the same outcome
/// once, from the hub's records: anyone may call it, the hub's stored `summaryHash` vouches for the data.
abstract contract SegmentationConsumer is ISegmentationConsumer {
    /// @dev Only the hub may deliver results.
    error SegmentationConsumerOnlyHub(address caller);
    /// @dev The hub records no callback to this consumer for the task that failed (or it was recovered).
    error SegmentationConsumerNotRecoverable(uint256 taskId);
    /// @dev The summary given is not the recorded one: keccak256(summary) != hub.result(taskId).summaryHash
    /// (or a summary was given for an expired task, which has none).
    error SegmentationConsumerSummaryMismatch(uint256 taskId);

    /// @dev A failed callback's outcome was delivered by `recoverSegmentation`.
    event SegmentationRecovered(uint256 indexed taskId, address indexed by);

    /// @notice The hub this consumer trusts.
    ITaskHub public immutable hub;

    mapping(uint256 taskId => bool) private _recovered;

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

    /// @notice Delivers, once, the outcome of a task of this consumer whose callback failed (outcome
    /// `Failed`, or `Skipped` because settlement could not carry the callback's gas), with the gas of
    /// this transaction instead of the callback limit.
    /// @param summary For a finalized task, the `summary` of its `ResultRecorded` event (checked against
    /// `hub.result(taskId).summaryHash`); empty for an expired one.
    function recoverSegmentation(uint256 taskId, bytes calldata summary) external {
        ITaskHub.Task memory t = hub.task(taskId);
        bool missed = t.callbackOutcome == ITaskHub.CallbackOutcome.Failed
            || (t.callbackOutcome == ITaskHub.CallbackOutcome.Skipped && t.callbackGasLimit != 0);
        if (t.requester != address(this) || !missed || _recovered[taskId]) {
            revert SegmentationConsumerNotRecoverable(taskId);
        }
        bool finalized = t.status == ITaskHub.TaskStatus.Finalized;
        bytes32 resultSha256 = bytes32(0);
        if (finalized) {
            ITaskHub.Result memory r = hub.result(taskId);
            if (keccak256(summary) != r.summaryHash) revert SegmentationConsumerSummaryMismatch(taskId);
            resultSha256 = r.resultSha256;
        } else if (summary.length != 0) {
            revert SegmentationConsumerSummaryMismatch(taskId);
        }
        _recovered[taskId] = true;
        emit SegmentationRecovered(taskId, msg.sender);
        _fulfillSegmentation(taskId, finalized, resultSha256, summary);
    }

    /// @notice Whether `recoverSegmentation` delivered the task's outcome.
    function recovered(uint256 taskId) external view returns (bool) {
        return _recovered[taskId];
    }

    /// @notice Receives a task's outcome. `finalized` false means expired and refunded (no result).
    /// Called by the hub (callback) or, after a failed callback, by `recoverSegmentation` (any caller,
    /// data checked against the hub): do not rely on `msg.sender` inside.
    function _fulfillSegmentation(
        uint256 taskId,
        bool finalized,
        bytes32 resultSha256,
        bytes calldata summary
    ) internal virtual;
}
