// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Vm} from "forge-std/Vm.sol";
import {ModelRegistry} from "../contracts/ModelRegistry.sol";
import {TaskHub} from "../contracts/TaskHub.sol";
import {WorkerRegistry} from "../contracts/WorkerRegistry.sol";
import {ExampleConsumer} from "../contracts/examples/ExampleConsumer.sol";

/// @title MaskOracleDeployer
/// @notice Deploys the MaskOracle contracts in one fixed order; used by the deploy script and by the
/// test fixture, so tests run against exactly what ships.
/// @dev The WorkerRegistry and the TaskHub point at each other without any admin setter: the hub's
/// address is predicted from the deployer's nonce (CREATE) before the registry is deployed.
library MaskOracleDeployer {
    /// @dev The hub did not land at the predicted address (the deployer's nonce moved in between).
    error MaskOracleDeployerHubMismatch(address predicted, address actual);

    Vm private constant VM = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// @notice Deployment parameters.
    /// @param token The ERC-20 of fees and stakes.
    /// @param taskStake Stake locked per drawn worker per task.
    /// @param unbondingDelay Seconds between requestUnstake and withdrawUnstaked.
    /// @param consumerOwner Owner of the example consumer.
    struct Config {
        IERC20 token;
        uint96 taskStake;
        uint40 unbondingDelay;
        address consumerOwner;
    }

    /// @notice The deployed contracts.
    struct Deployment {
        IERC20 token;
        ModelRegistry modelRegistry;
        WorkerRegistry workerRegistry;
        TaskHub taskHub;
        ExampleConsumer exampleConsumer;
    }

    /// @notice Deploys ModelRegistry, WorkerRegistry, TaskHub and ExampleConsumer, in that order, as
    /// CREATEs from `deployer` (the broadcaster in a script, the calling contract in a test).
    function deploy(Config memory c, address deployer) internal returns (Deployment memory d) {
        uint64 nonce = VM.getNonce(deployer);
        address predictedHub = VM.computeCreateAddress(deployer, nonce + 2);
        d.token = c.token;
        d.modelRegistry = new ModelRegistry();
        d.workerRegistry =
            new WorkerRegistry(c.token, d.modelRegistry, predictedHub, c.taskStake, c.unbondingDelay);
        d.taskHub = new TaskHub(c.token, d.modelRegistry, d.workerRegistry);
        if (address(d.taskHub) != predictedHub) {
            revert MaskOracleDeployerHubMismatch(predictedHub, address(d.taskHub));
        }
        d.exampleConsumer = new ExampleConsumer(d.taskHub, c.consumerOwner);
    }
}
