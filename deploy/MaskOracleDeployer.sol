// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {VRFCoordinatorV2_5Mock} from "@chainlink/contracts/src/v0.8/vrf/mocks/VRFCoordinatorV2_5Mock.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Vm} from "forge-std/Vm.sol";
import {IRandomnessSource} from "../contracts/interfaces/IRandomnessSource.sol";
import {BlockhashRandomness} from "../contracts/randomness/BlockhashRandomness.sol";
import {VrfDevnetSetup} from "./VrfDevnetSetup.sol";
import {ModelRegistry} from "../contracts/ModelRegistry.sol";
import {TaskHub} from "../contracts/TaskHub.sol";
import {WorkerRegistry} from "../contracts/WorkerRegistry.sol";
import {ExampleConsumer} from "../contracts/examples/ExampleConsumer.sol";

/// @title MaskOracleDeployer
/// @notice Deploys the MaskOracle contracts in one fixed order; used by the deploy script and by the
/// test fixture, so tests run against exactly what ships.
/// @dev The WorkerRegistry (and a VRF source) and the TaskHub point at each other without any admin
/// setter: the hub's address is predicted from the deployer's nonce (CREATE) before they are deployed.
/// Randomness: BlockhashRandomness by default; with `vrfMock` (devnets only) Chainlink's
/// VRFCoordinatorV2_5Mock, a funded subscription and a VrfRandomness consumer of it.
library MaskOracleDeployer {
    /// @dev The hub did not land at the predicted address (the deployer's nonce moved in between).
    error MaskOracleDeployerHubMismatch(address predicted, address actual);

    Vm private constant VM = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// @notice Deployment parameters.
    /// @param token The ERC-20 of fees and stakes.
    /// @param taskStake Stake locked per drawn worker per task.
    /// @param unbondingDelay Seconds between requestUnstake and withdrawUnstaked.
    /// @param consumerOwner Owner of the example consumer.
    /// @param vrfMock Use Chainlink VRF v2.5 through a freshly deployed VRFCoordinatorV2_5Mock (devnets).
    struct Config {
        IERC20 token;
        uint96 taskStake;
        uint40 unbondingDelay;
        address consumerOwner;
        bool vrfMock;
    }

    /// @notice VRF settings used with the mock coordinator.
    bytes32 internal constant VRF_KEY_HASH = keccak256("maskoracle-devnet-vrf-lane");
    uint16 internal constant VRF_CONFIRMATIONS = 1;
    uint32 internal constant VRF_CALLBACK_GAS = 100_000;
    /// @notice LINK-equivalent credited to the mock subscription (the mock mints nothing real).
    uint256 internal constant VRF_MOCK_FUNDS = 1e27;

    /// @notice The deployed contracts.
    struct Deployment {
        IERC20 token;
        ModelRegistry modelRegistry;
        WorkerRegistry workerRegistry;
        TaskHub taskHub;
        ExampleConsumer exampleConsumer;
        IRandomnessSource randomness;
        VRFCoordinatorV2_5Mock vrfCoordinator; // zero unless vrfMock
        VrfDevnetSetup vrfSetup; // zero unless vrfMock; owns the subscription (`subscriptionId()`)
    }

    /// @notice Deploys ModelRegistry, [the VRF mock and its subscription], the randomness source,
    /// WorkerRegistry, TaskHub and ExampleConsumer, in that order, as CREATEs from `deployer` (the
    /// broadcaster in a script, the calling contract in a test).
    function deploy(Config memory c, address deployer) internal returns (Deployment memory d) {
        d.token = c.token;
        d.modelRegistry = new ModelRegistry();
        if (c.vrfMock) d.vrfCoordinator = new VRFCoordinatorV2_5Mock(1e17, 1e9, 4e15);
        // Next CREATEs: randomness source (or the VRF set-up that creates it), registry, hub.
        uint64 nonce = VM.getNonce(deployer);
        address predictedHub = VM.computeCreateAddress(deployer, nonce + 2);
        if (c.vrfMock) {
            d.vrfSetup = new VrfDevnetSetup(
                d.vrfCoordinator,
                predictedHub,
                VRF_KEY_HASH,
                VRF_CONFIRMATIONS,
                VRF_CALLBACK_GAS,
                VRF_MOCK_FUNDS
            );
            d.randomness = d.vrfSetup.source();
        } else {
            d.randomness = new BlockhashRandomness();
        }
        d.workerRegistry =
            new WorkerRegistry(c.token, d.modelRegistry, predictedHub, c.taskStake, c.unbondingDelay);
        d.taskHub = new TaskHub(c.token, d.modelRegistry, d.workerRegistry, d.randomness);
        if (address(d.taskHub) != predictedHub) {
            revert MaskOracleDeployerHubMismatch(predictedHub, address(d.taskHub));
        }
        d.exampleConsumer = new ExampleConsumer(d.taskHub, c.consumerOwner);
    }
}
