// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Script, console} from "forge-std/Script.sol";
import {DetectionCounter} from "../src/DetectionCounter.sol";

/// @notice Requests one segmentation through the consumer.
/// forge script script/Ask.s.sol --sig "run(address,string,uint96,uint24)" $COUNTER $CID 10e18 150000 \
///   --rpc-url $RPC --private-key $KEY --broadcast
contract Ask is Script {
    function run(DetectionCounter counter, string calldata cid, uint96 reward, uint24 callbackGas) external {
        vm.startBroadcast();
        uint256 taskId = counter.ask(cid, reward, callbackGas);
        vm.stopBroadcast();
        console.log("task", taskId);
    }
}
