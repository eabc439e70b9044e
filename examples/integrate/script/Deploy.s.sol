// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Script, console} from "forge-std/Script.sol";
import {ITaskHub} from "maskoracle/contracts/interfaces/ITaskHub.sol";
import {DetectionCounter} from "../src/DetectionCounter.sol";

/// @notice Deploys the consumer and funds its hub balance from the sender's tokens.
/// forge script script/Deploy.s.sol --sig "run(address,uint32,uint256)" $HUB $MODEL $FUNDS \
///   --rpc-url $RPC --private-key $KEY --broadcast
contract Deploy is Script {
    function run(ITaskHub hub, uint32 modelId, uint256 funds) external {
        vm.startBroadcast();
        DetectionCounter counter = new DetectionCounter(hub, modelId, msg.sender);
        hub.token().approve(address(hub), funds);
        hub.deposit(address(counter), funds);
        vm.stopBroadcast();
        console.log("DetectionCounter", address(counter));
    }
}
