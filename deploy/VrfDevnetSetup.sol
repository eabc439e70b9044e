// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {VRFCoordinatorV2_5Mock} from "@chainlink/contracts/src/v0.8/vrf/mocks/VRFCoordinatorV2_5Mock.sol";
import {VrfRandomness} from "../contracts/randomness/VrfRandomness.sol";

/// @title VrfDevnetSetup
/// @notice Devnets only: in one transaction, creates a subscription on a VRFCoordinatorV2_5Mock,
/// deploys the VrfRandomness source on it, credits the subscription and adds the source as consumer.
/// @dev One transaction because the mock derives subscription ids from the previous block's hash: a
/// script would simulate one id and get another on chain. This contract owns the subscription.
contract VrfDevnetSetup {
    /// @notice The source deployed (this contract's first CREATE).
    VrfRandomness public immutable source;
    /// @notice The subscription created on the mock.
    uint256 public immutable subscriptionId;

    constructor(
        VRFCoordinatorV2_5Mock coordinator,
        address hub,
        bytes32 keyHash,
        uint16 confirmations,
        uint32 callbackGasLimit,
        uint256 funds
    ) {
        uint256 subId = coordinator.createSubscription();
        VrfRandomness s =
            new VrfRandomness(hub, address(coordinator), keyHash, subId, confirmations, callbackGasLimit);
        coordinator.fundSubscription(subId, funds);
        coordinator.addConsumer(subId, address(s));
        source = s;
        subscriptionId = subId;
    }
}
