// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ExampleConsumer} from "../../contracts/examples/ExampleConsumer.sol";
import {Fixture} from "../utils/Fixture.sol";

contract ExampleConsumerTest is Fixture {
    function test_RequestSegmentation_RevertWhen_NotOwner() public {
        vm.expectRevert(abi.encodeWithSelector(ExampleConsumer.ExampleConsumerNotOwner.selector, requester));
        vm.prank(requester);
        consumer.requestSegmentation(_params(1, 1));
    }

    function test_Withdraw_RevertWhen_NotOwner() public {
        vm.expectRevert(abi.encodeWithSelector(ExampleConsumer.ExampleConsumerNotOwner.selector, requester));
        vm.prank(requester);
        consumer.withdraw(1);
    }

    function test_Delivery_EmptyBeforeCallback() public view {
        assertFalse(consumer.delivery(1).delivered);
        assertEq(consumer.lastTaskId(), 0);
        assertEq(address(consumer.hub()), address(hub));
        assertEq(consumer.owner(), address(this));
    }

    function test_TestToken_Mint() public {
        token.mint(requester, 5);
        assertEq(token.balanceOf(requester), 5);
    }
}
