// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {VRFConsumerBaseV2Plus} from "@chainlink/contracts/src/v0.8/vrf/dev/VRFConsumerBaseV2Plus.sol";
import {VRFV2PlusClient} from "@chainlink/contracts/src/v0.8/vrf/dev/libraries/VRFV2PlusClient.sol";
import {IRandomnessSource} from "../interfaces/IRandomnessSource.sol";

/// @title VrfRandomness
/// @notice Chainlink VRF v2.5 as the hub's randomness: each request asks the coordinator for one word,
/// paid from a subscription this contract is a consumer of; the fulfilment stores it for the task.
/// @dev Serves one hub, fixed at construction. The coordinator is fixed too: VRFConsumerBaseV2Plus lets
/// its owner (or the coordinator) move `s_vrfCoordinator`, but a fulfilment is only accepted while it
/// is still the coordinator given here, so a moved coordinator can stall tasks (they expire, refunded)
/// but never choose a seed.
contract VrfRandomness is IRandomnessSource, VRFConsumerBaseV2Plus {
    /// @dev A constructor address is zero or the parameters are out of range.
    error VrfRandomnessInvalidParameters();
    /// @dev Only the hub may request.
    error VrfRandomnessNotHub(address caller);
    /// @dev The fulfilment came through another coordinator than the one fixed at construction.
    error VrfRandomnessCoordinatorChanged(address current, address fixedCoordinator);

    /// @dev Randomness asked for task `taskId` under VRF request `requestId`.
    event SeedRequested(uint256 indexed taskId, uint256 indexed requestId);
    /// @dev The coordinator delivered task `taskId`'s randomness.
    event SeedFulfilled(uint256 indexed taskId, uint256 indexed requestId, bytes32 seed);

    /// @notice The only hub served.
    address public immutable hub;
    /// @notice The coordinator whose fulfilments count.
    address public immutable coordinator;
    /// @notice VRF key hash (gas lane).
    bytes32 public immutable keyHash;
    /// @notice Subscription paying the requests.
    uint256 public immutable subscriptionId;
    /// @notice Confirmations the coordinator waits for before answering.
    uint16 public immutable requestConfirmations;
    /// @notice Gas for the fulfilment call.
    uint32 public immutable callbackGasLimit;

    /// @dev VRF request -> task id + 1 (0: unknown request).
    mapping(uint256 requestId => uint256) private _taskOfRequest;
    mapping(uint256 taskId => bytes32) private _seeds;

    constructor(
        address hub_,
        address coordinator_,
        bytes32 keyHash_,
        uint256 subscriptionId_,
        uint16 requestConfirmations_,
        uint32 callbackGasLimit_
    ) VRFConsumerBaseV2Plus(coordinator_) {
        if (hub_ == address(0) || subscriptionId_ == 0 || callbackGasLimit_ == 0) {
            revert VrfRandomnessInvalidParameters();
        }
        hub = hub_;
        coordinator = coordinator_;
        keyHash = keyHash_;
        subscriptionId = subscriptionId_;
        requestConfirmations = requestConfirmations_;
        callbackGasLimit = callbackGasLimit_;
    }

    /// @inheritdoc IRandomnessSource
    function requestSeed(uint256 taskId) external {
        if (msg.sender != hub) revert VrfRandomnessNotHub(msg.sender);
        uint256 requestId = s_vrfCoordinator.requestRandomWords(
            VRFV2PlusClient.RandomWordsRequest({
                keyHash: keyHash,
                subId: subscriptionId,
                requestConfirmations: requestConfirmations,
                callbackGasLimit: callbackGasLimit,
                numWords: 1,
                extraArgs: VRFV2PlusClient._argsToBytes(VRFV2PlusClient.ExtraArgsV1({nativePayment: false}))
            })
        );
        _taskOfRequest[requestId] = taskId + 1;
        emit SeedRequested(taskId, requestId);
    }

    /// @inheritdoc IRandomnessSource
    function needsRequest() external pure returns (bool) {
        return true;
    }

    /// @inheritdoc IRandomnessSource
    function seedOf(address hub_, uint256 taskId, uint256)
        external
        view
        returns (SeedStatus status, bytes32 seed)
    {
        if (hub_ != hub) return (SeedStatus.Pending, bytes32(0));
        seed = _seeds[taskId];
        status = seed == bytes32(0) ? SeedStatus.Pending : SeedStatus.Ready;
    }

    /// @inheritdoc IRandomnessSource
    function kind() external pure returns (string memory) {
        return "vrf-v2.5";
    }

    /// @dev Stores the word for its task, once. A zero word is stored as 1 (0 marks "pending").
    function fulfillRandomWords(uint256 requestId, uint256[] calldata randomWords) internal override {
        if (address(s_vrfCoordinator) != coordinator) {
            revert VrfRandomnessCoordinatorChanged(address(s_vrfCoordinator), coordinator);
        }
        uint256 key = _taskOfRequest[requestId];
        if (key == 0 || randomWords.length == 0) return;
        uint256 taskId = key - 1;
        if (_seeds[taskId] != bytes32(0)) return;
        bytes32 seed = bytes32(randomWords[0]);
        if (seed == bytes32(0)) seed = bytes32(uint256(1));
        _seeds[taskId] = seed;
        emit SeedFulfilled(taskId, requestId, seed);
    }
}
