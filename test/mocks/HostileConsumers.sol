// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ITaskHub} from "../../contracts/interfaces/ITaskHub.sol";
import {SegmentationConsumer} from "../../contracts/SegmentationConsumer.sol";

/// @notice Base of the hostile consumers: can request (it is then requester and callback target).
abstract contract RequestingConsumer is SegmentationConsumer {
    uint256 public calls;

    constructor(ITaskHub hub_) SegmentationConsumer(hub_) {}

    function request(ITaskHub.RequestParams calldata p) external returns (uint256) {
        return hub.request(p);
    }
}

/// @notice Reverts with a message on every callback.
contract RevertingConsumer is RequestingConsumer {
    error RevertingConsumerNo();

    constructor(ITaskHub hub_) RequestingConsumer(hub_) {}

    function _fulfillSegmentation(uint256, bool, bytes32, bytes calldata) internal pure override {
        revert RevertingConsumerNo();
    }
}

/// @notice Burns all the gas it is given.
contract GasBurningConsumer is RequestingConsumer {
    constructor(ITaskHub hub_) RequestingConsumer(hub_) {}

    function _fulfillSegmentation(uint256, bool, bytes32, bytes calldata) internal view override {
        while (gasleft() > 0) {}
    }
}

/// @notice Re-enters the hub (expire, withdraw) from the callback and records that both were refused.
contract ReentrantConsumer is RequestingConsumer {
    bool public expireRefused;
    bool public withdrawRefused;

    constructor(ITaskHub hub_) RequestingConsumer(hub_) {}

    function _fulfillSegmentation(uint256 taskId, bool, bytes32, bytes calldata) internal override {
        try hub.expire(taskId) {}
        catch {
            expireRefused = true;
        }
        try hub.withdraw(1) {}
        catch {
            withdrawRefused = true;
        }
    }
}

/// @notice Re-enters the hub and lets the refusal propagate (the callback fails).
contract ReentrantRevertingConsumer is RequestingConsumer {
    constructor(ITaskHub hub_) RequestingConsumer(hub_) {}

    function _fulfillSegmentation(uint256 taskId, bool, bytes32, bytes calldata) internal override {
        hub.finalize(taskId, "");
    }
}

/// @notice Returns 1 MiB of data from the callback.
contract HugeReturnConsumer is RequestingConsumer {
    constructor(ITaskHub hub_) RequestingConsumer(hub_) {}

    function _fulfillSegmentation(uint256, bool, bytes32, bytes calldata) internal pure override {
        assembly ("memory-safe") {
            return(0, 0x100000)
        }
    }
}

/// @notice A well-behaved consumer that counts deliveries.
contract CountingConsumer is RequestingConsumer {
    bool public lastFinalized;
    bytes public lastSummary;

    constructor(ITaskHub hub_) RequestingConsumer(hub_) {}

    function _fulfillSegmentation(uint256, bool finalized, bytes32, bytes calldata summary)
        internal
        override
    {
        ++calls;
        lastFinalized = finalized;
        lastSummary = summary;
    }
}

/// @notice Stores the whole summary: more than a small callback gas limit pays for, so its callback
/// fails, and `recoverSegmentation` (any caller, more gas) delivers the same outcome afterwards.
contract StoringConsumer is RequestingConsumer {
    mapping(uint256 => bytes) public summaries;
    mapping(uint256 => bytes32) public shas;
    mapping(uint256 => bool) public expired;

    constructor(ITaskHub hub_) RequestingConsumer(hub_) {}

    function _fulfillSegmentation(
        uint256 taskId,
        bool finalized,
        bytes32 resultSha256,
        bytes calldata summary
    ) internal override {
        ++calls;
        if (!finalized) {
            expired[taskId] = true;
            return;
        }
        summaries[taskId] = summary;
        shas[taskId] = resultSha256;
    }
}
