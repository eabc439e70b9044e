// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Script, console} from "forge-std/Script.sol";
import {Vm} from "forge-std/Vm.sol";
import {ITaskHub} from "maskoracle/contracts/interfaces/ITaskHub.sol";
import {SegmentationConsumer} from "maskoracle/contracts/SegmentationConsumer.sol";

/// @notice After a failed callback: finds the task's summary in its ResultRecorded event, checks it
/// against hub.result(taskId).summaryHash, and delivers it with consumer.recoverSegmentation.
/// forge script script/Recover.s.sol --sig "run(address,uint256)" $COUNTER $TASK \
///   --rpc-url $RPC --private-key $KEY --broadcast
contract Recover is Script {
    function run(SegmentationConsumer consumer, uint256 taskId) external {
        ITaskHub hub = consumer.hub();
        ITaskHub.Task memory t = hub.task(taskId);
        console.log("callback outcome (3 = Failed)", uint8(t.callbackOutcome));
        bytes memory summary;
        if (t.status == ITaskHub.TaskStatus.Finalized) {
            bytes32[] memory topics = new bytes32[](2);
            topics[0] = ITaskHub.ResultRecorded.selector;
            topics[1] = bytes32(taskId);
            // From the task's request block: the result is recorded after it.
            Vm.EthGetLogs[] memory logs = vm.eth_getLogs(t.requestBlock, block.number, address(hub), topics);
            require(logs.length == 1, "no ResultRecorded event for this task");
            (,, summary) = abi.decode(logs[0].data, (bytes32, uint8, bytes));
            require(keccak256(summary) == hub.result(taskId).summaryHash, "summary is not the recorded one");
        }
        vm.startBroadcast();
        consumer.recoverSegmentation(taskId, summary);
        vm.stopBroadcast();
        console.log("recovered task", taskId);
    }
}
