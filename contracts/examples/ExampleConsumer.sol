// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ITaskHub} from "../interfaces/ITaskHub.sol";
import {SegmentationConsumer} from "../SegmentationConsumer.sol";
import {Summary} from "../types/Summary.sol";

/// @title ExampleConsumer
/// @notice A minimal consumer: its owner requests segmentations paid from the consumer's hub balance;
/// the consumer keeps the last delivered outcome per task.
contract ExampleConsumer is SegmentationConsumer {
    using SafeERC20 for IERC20;

    /// @dev Only the owner may spend the consumer's balance.
    error ExampleConsumerNotOwner(address caller);

    /// @dev A task's outcome arrived.
    event SegmentationReceived(uint256 indexed taskId, bool finalized, bytes32 resultSha256);

    /// @notice What the hub delivered for a task.
    struct Delivery {
        bool delivered;
        bool finalized;
        bytes32 resultSha256;
        bytes summary;
    }

    /// @notice May request and withdraw.
    address public immutable owner;

    mapping(uint256 taskId => Delivery) private _deliveries;
    uint256 private _lastTaskId;

    constructor(ITaskHub hub_, address owner_) SegmentationConsumer(hub_) {
        owner = owner_;
    }

    /// @notice Requests a segmentation paid from this consumer's hub balance (fund it with
    /// `hub.deposit(address(consumer), amount)`).
    function requestSegmentation(ITaskHub.RequestParams calldata p) external returns (uint256 taskId) {
        if (msg.sender != owner) revert ExampleConsumerNotOwner(msg.sender);
        taskId = hub.request(p);
        _lastTaskId = taskId;
    }

    /// @notice Withdraws `amount` of the consumer's hub balance to the owner.
    function withdraw(uint256 amount) external {
        if (msg.sender != owner) revert ExampleConsumerNotOwner(msg.sender);
        hub.withdraw(amount);
        hub.token().safeTransfer(owner, amount);
    }

    /// @notice The outcome delivered for a task (delivered = false until the hub called back).
    function delivery(uint256 taskId) external view returns (Delivery memory) {
        return _deliveries[taskId];
    }

    /// @notice The decoded summary of a finalized task.
    function summaryOf(uint256 taskId) external view returns (Summary memory) {
        return abi.decode(_deliveries[taskId].summary, (Summary));
    }

    /// @notice The id of the last task this consumer requested.
    function lastTaskId() external view returns (uint256) {
        return _lastTaskId;
    }

    /// @inheritdoc SegmentationConsumer
    function _fulfillSegmentation(
        uint256 taskId,
        bool finalized,
        bytes32 resultSha256,
        bytes calldata summary
    ) internal override {
        _deliveries[taskId] = Delivery({
            delivered: true, finalized: finalized, resultSha256: resultSha256, summary: summary
        });
        emit SegmentationReceived(taskId, finalized, resultSha256);
    }
}
