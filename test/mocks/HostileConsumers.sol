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

/// @notice Re-enters the hub from the callback through one of its entry points (`which`, set before the
/// request), records whether the hub refused it, and lets nothing propagate.
contract ReentrantAnyConsumer is RequestingConsumer {
    uint8 public which;
    bool public attempted;
    bool public refused;

    constructor(ITaskHub hub_) RequestingConsumer(hub_) {}

    function setWhich(uint8 w) external {
        which = w;
    }

    function _fulfillSegmentation(uint256 taskId, bool, bytes32, bytes calldata summary) internal override {
        attempted = true;
        uint8 w = which % 8;
        bytes memory data;
        if (w == 0) {
            data = abi.encodeCall(ITaskHub.settleTolerant, (taskId, 0, new ITaskHub.Opening[](0), summary));
        } else if (w == 1) {
            data = abi.encodeCall(ITaskHub.revealSketch, (taskId, bytes32(0), bytes32(0), new bytes(70)));
        } else if (w == 2) {
            data = abi.encodeCall(ITaskHub.expire, (taskId));
        } else if (w == 3) {
            data = abi.encodeCall(ITaskHub.withdraw, (1));
        } else if (w == 4) {
            data = abi.encodeCall(ITaskHub.deposit, (address(this), 1));
        } else if (w == 5) {
            data = abi.encodeCall(ITaskHub.finalize, (taskId, summary));
        } else if (w == 6) {
            data = abi.encodeCall(ITaskHub.reveal, (taskId, bytes32(0), bytes32(0), summary));
        } else {
            data = abi.encodeCall(ITaskHub.draw, (taskId));
        }
        (bool ok, bytes memory ret) = address(hub).call(data);
        // ReentrancyGuardReentrantCall(): the guard refused before anything else ran.
        refused = !ok && ret.length == 4 && bytes4(ret) == bytes4(keccak256("ReentrancyGuardReentrantCall()"));
    }
}
