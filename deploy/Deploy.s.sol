// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Script} from "forge-std/Script.sol";
import {TestToken} from "../contracts/devnet/TestToken.sol";
import {MaskOracleDeployer} from "./MaskOracleDeployer.sol";

/// @title Deploy
/// @notice Deploys MaskOracle to any RPC and writes `deploy/records/<chainId>.json` for the node.
/// @dev Environment:
///   MASKORACLE_DEVNET=true       also deploy TestToken and mint to the dev accounts (devnets only);
///   MASKORACLE_TOKEN=0x..        the token otherwise (required when not devnet);
///   MASKORACLE_TASK_STAKE        stake locked per drawn worker per task, wei (default 100e18);
///   MASKORACLE_UNBONDING_DELAY   seconds (default 7 days; devnet default 60);
///   MASKORACLE_DEV_MNEMONIC      devnet accounts' mnemonic (default: anvil's public test mnemonic);
///   MASKORACLE_DEV_ACCOUNTS      how many dev accounts to fund (default 10);
///   MASKORACLE_DEV_FUNDS         tokens minted to each, wei (default 1e24);
///   MASKORACLE_RANDOMNESS        `blockhash` (default) or `vrf`: Chainlink VRF v2.5 through a freshly
///                                deployed VRFCoordinatorV2_5Mock (devnets only: needs MASKORACLE_DEVNET);
///                                the devnet fulfils requests by calling the mock's
///                                fulfillRandomWords(requestId, randomnessSource);
///   MASKORACLE_RECORD_NAME       file name of the record under deploy/records/ (default <chainId>.json;
///                                tests and devnets running side by side use their own names).
/// Run: forge script deploy/Deploy.s.sol --rpc-url $RPC --broadcast --private-key $KEY
contract Deploy is Script {
    /// @dev Not a devnet and no MASKORACLE_TOKEN given.
    error DeployTokenRequired();
    /// @dev MASKORACLE_RANDOMNESS is neither `blockhash` nor `vrf`, or `vrf` off a devnet.
    error DeployRandomnessUnsupported(string randomness);

    /// @dev Anvil's well-known public test mnemonic; funds derived from it have no value anywhere.
    string internal constant ANVIL_MNEMONIC = "test test test test test test test test test test test junk";

    function run() external returns (MaskOracleDeployer.Deployment memory d) {
        bool devnet = vm.envOr("MASKORACLE_DEVNET", false);
        string memory randomness = vm.envOr("MASKORACLE_RANDOMNESS", string("blockhash"));
        bool vrf = keccak256(bytes(randomness)) == keccak256("vrf");
        if ((vrf && !devnet) || (!vrf && keccak256(bytes(randomness)) != keccak256("blockhash"))) {
            revert DeployRandomnessUnsupported(randomness);
        }
        uint256 deployBlock = block.number;
        // The VRF mock reads blockhash(block.number - 1): a fresh devnet simulates at block 0, while on
        // chain these transactions land in block 1 or later. Simulation only.
        if (vrf && block.number == 0) vm.roll(1);
        vm.startBroadcast();
        (, address deployer,) = vm.readCallers();
        IERC20 token;
        if (devnet) {
            TestToken testToken = new TestToken();
            _fundDevAccounts(testToken);
            token = IERC20(address(testToken));
        } else {
            token = IERC20(vm.envOr("MASKORACLE_TOKEN", address(0)));
            if (address(token) == address(0)) revert DeployTokenRequired();
        }
        MaskOracleDeployer.Config memory c = MaskOracleDeployer.Config({
            token: token,
            taskStake: uint96(vm.envOr("MASKORACLE_TASK_STAKE", uint256(100e18))),
            unbondingDelay: uint40(
                vm.envOr("MASKORACLE_UNBONDING_DELAY", devnet ? uint256(60) : uint256(7 days))
            ),
            consumerOwner: deployer,
            vrfMock: vrf
        });
        d = MaskOracleDeployer.deploy(c, deployer);
        vm.stopBroadcast();
        _writeRecord(d, deployBlock);
    }

    function _fundDevAccounts(TestToken testToken) internal {
        string memory mnemonic = vm.envOr("MASKORACLE_DEV_MNEMONIC", ANVIL_MNEMONIC);
        uint256 accounts = vm.envOr("MASKORACLE_DEV_ACCOUNTS", uint256(10));
        uint256 funds = vm.envOr("MASKORACLE_DEV_FUNDS", uint256(1e24));
        for (uint32 i; i < accounts; ++i) {
            testToken.mint(vm.addr(vm.deriveKey(mnemonic, i)), funds);
        }
    }

    /// @dev The record the Rust node reads (interfaces point 5). `deployBlock` is the block the script
    /// simulated against: a lower bound of the deployment's blocks, safe to start event backfill from.
    function _writeRecord(MaskOracleDeployer.Deployment memory d, uint256 deployBlock) internal {
        string memory obj = "record";
        vm.serializeUint(obj, "chainId", block.chainid);
        vm.serializeUint(obj, "deployBlock", deployBlock);
        vm.serializeAddress(obj, "token", address(d.token));
        vm.serializeAddress(obj, "modelRegistry", address(d.modelRegistry));
        vm.serializeAddress(obj, "workerRegistry", address(d.workerRegistry));
        vm.serializeAddress(obj, "taskHub", address(d.taskHub));
        vm.serializeAddress(obj, "exampleConsumer", address(d.exampleConsumer));
        // Added in v2: the randomness source. vrf* keys are zero with blockhash randomness. The
        // subscription id is not recorded (the mock derives it from a block hash the script cannot
        // know); read it on chain as VrfDevnetSetup(vrfSetup).subscriptionId() if needed.
        vm.serializeString(obj, "randomness", address(d.vrfCoordinator) == address(0) ? "blockhash" : "vrf");
        vm.serializeAddress(obj, "randomnessSource", address(d.randomness));
        vm.serializeAddress(obj, "vrfCoordinator", address(d.vrfCoordinator));
        vm.serializeAddress(obj, "vrfSetup", address(d.vrfSetup));
        string memory json = vm.serializeBytes32(
            obj,
            "vrfKeyHash",
            address(d.vrfCoordinator) == address(0) ? bytes32(0) : MaskOracleDeployer.VRF_KEY_HASH
        );
        string memory name =
            vm.envOr("MASKORACLE_RECORD_NAME", string.concat(vm.toString(block.chainid), ".json"));
        string memory path = string.concat(vm.projectRoot(), "/deploy/records/", name);
        vm.writeJson(json, path);
    }
}
