// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {SegmentationConsumer} from "maskoracle/contracts/SegmentationConsumer.sol";
import {ITaskHub} from "maskoracle/contracts/interfaces/ITaskHub.sol";
import {Summary} from "maskoracle/contracts/types/Summary.sol";

/// @notice Asks the oracle to segment photos and keeps, per task, how many objects were found.
contract DetectionCounter is SegmentationConsumer {
    error DetectionCounterNotOwner(address caller);
    error DetectionCounterModelInactive(uint32 modelId);

    event Counted(uint256 indexed taskId, uint8 status, uint256 detections);

    struct Outcome {
        bool done; // the hub called back (or recoverSegmentation delivered)
        bool finalized; // false: expired, refunded, no result
        uint8 status; // 0 Ok; 1..5 the input could not be segmented (docs/protocol.md, Formats)
        uint16 detections;
        bytes32 resultSha256; // the full result on IPFS: CIDv1 raw of this sha256
    }

    address public immutable owner;
    uint32 public immutable modelId;
    mapping(uint256 taskId => Outcome) public outcomes;

    constructor(ITaskHub hub_, uint32 modelId_, address owner_) SegmentationConsumer(hub_) {
        modelId = modelId_;
        owner = owner_;
    }

    /// @notice Requests a segmentation of `ipfs://imageCid`, paid from this contract's hub balance
    /// (fund it first: token.approve(hub, x); hub.deposit(address(this), x)).
    function ask(string calldata imageCid, uint96 reward, uint24 callbackGasLimit) external returns (uint256 taskId) {
        if (msg.sender != owner) revert DetectionCounterNotOwner(msg.sender);
        // The model's fee, read now and passed as maxFee: the request reverts if it was raised.
        (uint96 fee, bool active) = hub.modelRegistry().requestTerms(modelId);
        if (!active) revert DetectionCounterModelInactive(modelId);
        taskId = hub.request(
            ITaskHub.RequestParams({
                modelId: modelId,
                replication: 3,
                quorum: 2,
                reward: reward,
                maxFee: fee,
                commitWindow: 600,
                revealWindow: 600,
                callbackGasLimit: callbackGasLimit,
                input: string.concat("ipfs://", imageCid),
                params: ""
            })
        );
    }

    /// @dev Called by the hub with exactly callbackGasLimit gas (or by recoverSegmentation after a
    /// failed callback, data checked against the hub). Two new storage slots and a decode: see
    /// docs/integrate.md for the measured gas.
    function _fulfillSegmentation(uint256 taskId, bool finalized, bytes32 resultSha256, bytes calldata summary)
        internal
        override
    {
        Outcome storage o = outcomes[taskId];
        o.done = true;
        o.finalized = finalized;
        if (!finalized) return;
        Summary memory s = abi.decode(summary, (Summary));
        o.status = s.status;
        o.detections = uint16(s.detections.length);
        o.resultSha256 = resultSha256;
        emit Counted(taskId, s.status, s.detections.length);
    }
}
