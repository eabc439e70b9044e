// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {RequestHashSlot} from "../utils/RequestHashSlot.sol";
import {ITaskHub} from "../../contracts/interfaces/ITaskHub.sol";
import {ResultHash} from "../../contracts/libraries/ResultHash.sol";
import {SegmentationConsumer} from "../../contracts/SegmentationConsumer.sol";
import {
    CountingConsumer,
    GasBurningConsumer,
    HugeReturnConsumer,
    ReentrantConsumer,
    ReentrantRevertingConsumer,
    RequestingConsumer,
    RevertingConsumer,
    StoringConsumer
} from "../mocks/HostileConsumers.sol";
import {Fixture} from "../utils/Fixture.sol";
import {Vm} from "forge-std/Vm.sol";
import {SKETCH_HASH} from "../utils/Sketches.sol";

/// @notice Workers and consumers that misbehave; the protocol's answers.
contract AdversarialTest is Fixture {
    uint24 internal constant CALLBACK_GAS = 200_000;
    /// @dev Enough for a consumer that stores the 640-byte summary (~22 new slots).
    uint24 internal constant STORING_CALLBACK_GAS = 1_000_000;

    function setUp() public override {
        super.setUp();
        _addWorkers(5);
        vm.roll(block.number + 1);
    }

    /*////////////////////////////////////////////////////////////// workers */

    function test_DissentingWorker_IsSlashedAndMajorityDelivered() public {
        CountingConsumer c = new CountingConsumer(hub);
        uint256 id = _consumerRequest(c, 3, 2, STORING_CALLBACK_GAS);
        address[] memory ws = _drawn(id);
        bytes memory wrong = _summary(0, 1);
        _commit(ws[0], id, wrong, keccak256("wrong result")); // the dissenter commits first
        _commit(ws[1], id, _goodSummary(), _goodSha());
        _commit(ws[2], id, _goodSummary(), _goodSha());
        _reveal(ws[1], id, _goodSummary(), _goodSha());
        _reveal(ws[2], id, _goodSummary(), _goodSha());

        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Finalized));
        assertEq(registry.workerInfo(ws[0]).stake, WORKER_STAKE - TASK_STAKE, "dissenter slashed");
        assertEq(registry.workerInfo(ws[0]).locked, 0);
        assertEq(hub.balanceOf(ws[1]), REWARD / 2 + TASK_STAKE / 2);
        assertEq(hub.balanceOf(ws[2]), REWARD / 2 + TASK_STAKE / 2);
        assertEq(hub.balanceOf(ws[0]), 0);
        assertEq(c.calls(), 1);
        assertTrue(c.lastFinalized());
        assertEq(c.lastSummary(), _goodSummary(), "majority result delivered");
        assertEq(uint8(hub.task(id).callbackOutcome), uint8(ITaskHub.CallbackOutcome.Succeeded));
    }

    function test_CopycatCommit_CannotRevealAndIsSlashed() public {
        uint256 id = _request(3, 2);
        address[] memory ws = _drawn(id);
        // The honest worker commits; the copycat copies its resultHash from the Committed event.
        vm.recordLogs();
        _commit(ws[0], id, _goodSummary(), _goodSha());
        Vm.Log[] memory logs = vm.getRecordedLogs();
        // Committed(taskId, worker, resultHash): resultHash is its only data word.
        bytes32 copiedHash;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == ITaskHub.Committed.selector) copiedHash = bytes32(logs[i].data);
        }
        assertTrue(copiedHash != bytes32(0));
        vm.prank(ws[1]);
        hub.commit(id, RequestHashSlot.read(address(hub), id), copiedHash, keccak256("guessed seal"));
        assertEq(hub.task(id).leaderCount, 2, "copycat completed the quorum");
        _closeCommits(id);

        _reveal(ws[0], id, _goodSummary(), _goodSha());
        // Even with the now public summary and sha, the copycat's commitment does not open.
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubSealMismatch.selector, id, ws[1]));
        _reveal(ws[1], id, "", _goodSha());

        vm.warp(hub.task(id).revealDeadline + 1);
        hub.finalize(id, "");
        assertEq(registry.workerInfo(ws[1]).stake, WORKER_STAKE - TASK_STAKE, "copycat slashed");
        assertEq(registry.workerInfo(ws[2]).stake, WORKER_STAKE, "idle drawn worker keeps stake");
        assertEq(hub.balanceOf(ws[0]), REWARD + TASK_STAKE, "honest worker takes reward and slashed stake");
    }

    function test_NonRevealer_IsSlashed() public {
        uint256 id = _request(3, 3);
        address[] memory ws = _commitHonest(id, 3);
        _reveal(ws[0], id, _goodSummary(), _goodSha());
        _reveal(ws[1], id, "", _goodSha());
        vm.warp(hub.task(id).revealDeadline + 1);
        hub.finalize(id, "");
        assertEq(registry.workerInfo(ws[2]).stake, WORKER_STAKE - TASK_STAKE);
        assertEq(registry.workerInfo(ws[2]).locked, 0);
    }

    function test_NoQuorum_ExpiryRefundsRequesterInFull() public {
        uint256 before = hub.balanceOf(requester);
        uint256 id = _request(3, 2);
        address[] memory ws = _drawn(id);
        _commit(ws[0], id, _summary(0, 1), _goodSha());
        _commit(ws[1], id, _summary(0, 2), _goodSha());
        assertEq(hub.balanceOf(requester), before - REWARD - FEE);
        vm.warp(hub.task(id).commitDeadline + 1);
        hub.expire(id);
        assertEq(hub.balanceOf(requester), before, "full refund");
        assertEq(registry.workerInfo(ws[0]).stake, WORKER_STAKE);
        assertEq(registry.workerInfo(ws[1]).stake, WORKER_STAKE);
    }

    function test_UndrawnWorker_CannotCommit() public {
        uint256 id = _request(3, 2);
        address[] memory ws = _drawn(id);
        address outsider;
        for (uint256 i; i < workers.length; ++i) {
            bool drawn;
            for (uint256 j; j < ws.length; ++j) {
                if (ws[j] == workers[i]) drawn = true;
            }
            if (!drawn) outsider = workers[i];
        }
        assertTrue(outsider != address(0));
        assertFalse(hub.isDrawn(id, outsider));
        bytes32 d = _digest(_goodSummary(), _goodSha());
        bytes32 h = ResultHash.resultHash(id, d);
        bytes32 seal = ResultHash.resultSeal(outsider, id, d, SKETCH_HASH);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubNotDrawn.selector, id, outsider));
        vm.prank(outsider);
        hub.commit(id, RequestHashSlot.read(address(hub), id), h, seal);
    }

    function test_LateCommit_RejectedBeforeAnyStakeMoves() public {
        uint256 id = _request(3, 2);
        address[] memory ws = _commitHonest(id, 2);
        vm.warp(block.timestamp + COMMIT_WINDOW + 1);
        uint256 lockedBefore = registry.workerInfo(ws[2]).locked;
        bytes32 rh = hub.requestHashOf(id);
        vm.prank(ws[2]);
        (bool ok,) =
            address(hub).call(abi.encodeCall(ITaskHub.commit, (id, rh, bytes32(uint256(1)), bytes32(0))));
        assertFalse(ok);
        assertLt(vm.lastCallGas().gasTotalUsed, 10_000, "late commit must fail cheaply");
        assertEq(registry.workerInfo(ws[2]).locked, lockedBefore);
    }

    /*////////////////////////////////////////////////////////////// consumers */

    function test_RevertingConsumer_TaskStillFinalized() public {
        _assertHostileConsumerSettles(
            new RevertingConsumer(hub), CALLBACK_GAS, ITaskHub.CallbackOutcome.Failed
        );
    }

    function test_GasBurningConsumer_TaskStillFinalized() public {
        _assertHostileConsumerSettles(
            new GasBurningConsumer(hub), CALLBACK_GAS, ITaskHub.CallbackOutcome.Failed
        );
    }

    function test_ReentrantConsumer_ReentryRefused() public {
        ReentrantConsumer c = new ReentrantConsumer(hub);
        _assertHostileConsumerSettles(c, CALLBACK_GAS, ITaskHub.CallbackOutcome.Succeeded);
        assertTrue(c.expireRefused(), "expire re-entered");
        assertTrue(c.withdrawRefused(), "withdraw re-entered");
    }

    function test_ReentrantRevertingConsumer_TaskStillFinalized() public {
        _assertHostileConsumerSettles(
            new ReentrantRevertingConsumer(hub), CALLBACK_GAS, ITaskHub.CallbackOutcome.Failed
        );
    }

    function test_HugeReturnConsumer_ReturnDataNotCopied() public {
        HugeReturnConsumer c = new HugeReturnConsumer(hub);
        uint256 used = _assertHostileConsumerSettles(c, 5_000_000, ITaskHub.CallbackOutcome.Succeeded);
        // The consumer spends ~2.2M gas building 1 MiB; copying it back would cost another ~2.2M+.
        assertLt(used, 5_000_000 + 400_000, "return data was copied");
    }

    function test_Expiry_CallsBackWithFailure() public {
        CountingConsumer c = new CountingConsumer(hub);
        uint256 id = _consumerRequest(c, 3, 2, CALLBACK_GAS);
        vm.warp(hub.task(id).commitDeadline + 1);
        hub.expire(id);
        assertEq(c.calls(), 1);
        assertFalse(c.lastFinalized());
        assertEq(uint8(hub.task(id).callbackOutcome), uint8(ITaskHub.CallbackOutcome.Succeeded));
    }

    /// @dev A consumer whose callback ran out of gas gets the outcome afterwards from
    /// recoverSegmentation: the summary from ResultRecorded, checked against hub.result(id).summaryHash.
    function test_RecoverSegmentation_AfterFailedCallback() public {
        StoringConsumer c = new StoringConsumer(hub);
        uint256 id = _consumerRequest(c, 3, 2, 40_000); // too little to store a 22-slot summary
        address[] memory ws = _commitHonest(id, 2);
        vm.recordLogs();
        _reveal(ws[0], id, _goodSummary(), _goodSha());
        bytes memory recorded;
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == ITaskHub.ResultRecorded.selector) {
                (,, recorded) = abi.decode(logs[i].data, (bytes32, uint8, bytes));
            }
        }
        _reveal(ws[1], id, _goodSummary(), _goodSha());
        assertEq(uint8(hub.task(id).callbackOutcome), uint8(ITaskHub.CallbackOutcome.Failed));
        assertEq(c.calls(), 0);
        assertEq(keccak256(recorded), hub.result(id).summaryHash);

        bytes memory wrong = _summary(0, 1);
        vm.expectRevert(
            abi.encodeWithSelector(SegmentationConsumer.SegmentationConsumerSummaryMismatch.selector, id)
        );
        c.recoverSegmentation(id, wrong);

        vm.expectEmit(address(c));
        emit SegmentationConsumer.SegmentationRecovered(id, address(this));
        c.recoverSegmentation(id, recorded);
        assertEq(c.calls(), 1);
        assertTrue(c.recovered(id));
        assertEq(c.summaries(id), _goodSummary());
        assertEq(c.shas(id), _goodSha());

        vm.expectRevert(
            abi.encodeWithSelector(SegmentationConsumer.SegmentationConsumerNotRecoverable.selector, id)
        );
        c.recoverSegmentation(id, recorded);
    }

    function test_RecoverSegmentation_RevertWhen_CallbackSucceeded() public {
        StoringConsumer c = new StoringConsumer(hub);
        uint256 id = _consumerRequest(c, 3, 2, STORING_CALLBACK_GAS);
        address[] memory ws = _commitHonest(id, 2);
        _reveal(ws[0], id, _goodSummary(), _goodSha());
        _reveal(ws[1], id, _goodSummary(), _goodSha());
        assertEq(c.calls(), 1);
        vm.expectRevert(
            abi.encodeWithSelector(SegmentationConsumer.SegmentationConsumerNotRecoverable.selector, id)
        );
        c.recoverSegmentation(id, _goodSummary());
    }

    function test_RecoverSegmentation_RevertWhen_AnotherConsumersTask() public {
        StoringConsumer failing = new StoringConsumer(hub);
        StoringConsumer other = new StoringConsumer(hub);
        uint256 id = _consumerRequest(failing, 3, 2, 40_000);
        address[] memory ws = _commitHonest(id, 2);
        _reveal(ws[0], id, _goodSummary(), _goodSha());
        _reveal(ws[1], id, _goodSummary(), _goodSha());
        vm.expectRevert(
            abi.encodeWithSelector(SegmentationConsumer.SegmentationConsumerNotRecoverable.selector, id)
        );
        other.recoverSegmentation(id, _goodSummary());
    }

    function test_RecoverSegmentation_ExpiredTaskWithoutSummary() public {
        StoringConsumer c = new StoringConsumer(hub);
        uint256 id = _consumerRequest(c, 3, 2, 1000); // fails even the empty expiry callback
        vm.warp(hub.task(id).commitDeadline + 1);
        hub.expire(id);
        assertEq(uint8(hub.task(id).callbackOutcome), uint8(ITaskHub.CallbackOutcome.Failed));
        vm.expectRevert(
            abi.encodeWithSelector(SegmentationConsumer.SegmentationConsumerSummaryMismatch.selector, id)
        );
        c.recoverSegmentation(id, _goodSummary());
        c.recoverSegmentation(id, "");
        assertTrue(c.expired(id));
        assertEq(c.calls(), 1);
    }

    function test_EoaRequester_CallbackSkipped() public {
        ITaskHub.RequestParams memory p = _params(1, 1);
        p.callbackGasLimit = CALLBACK_GAS;
        vm.prank(requester);
        uint256 id = hub.request(p);
        _mineSeed();
        address[] memory ws = _commitHonest(id, 1);
        _reveal(ws[0], id, _goodSummary(), _goodSha());
        assertEq(uint8(hub.task(id).callbackOutcome), uint8(ITaskHub.CallbackOutcome.Skipped));
    }

    function test_Callback_RevertWhen_CallerGaveTooLittleGas() public {
        CountingConsumer c = new CountingConsumer(hub);
        uint256 id = _consumerRequest(c, 1, 1, 5_000_000);
        address[] memory ws = _commitHonest(id, 1);
        vm.prank(ws[0]);
        vm.expectPartialRevert(ITaskHub.TaskHubInsufficientGasForCallback.selector);
        hub.reveal{gas: 1_000_000}(id, _goodSha(), SKETCH_HASH, _goodSummary());
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Revealing), "nothing settled");
        // With enough gas the same reveal settles and delivers.
        _reveal(ws[0], id, _goodSummary(), _goodSha());
        assertEq(c.calls(), 1);
    }

    function test_Callback_RevertWhen_SummaryOmittedOnSettlingReveal() public {
        CountingConsumer c = new CountingConsumer(hub);
        uint256 id = _consumerRequest(c, 3, 2, CALLBACK_GAS);
        address[] memory ws = _commitHonest(id, 2);
        _reveal(ws[0], id, _goodSummary(), _goodSha());
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubSummaryMismatch.selector, id));
        _reveal(ws[1], id, "", _goodSha());
    }

    function test_ConsumerBase_RevertWhen_CallerNotHub() public {
        CountingConsumer c = new CountingConsumer(hub);
        vm.expectRevert(
            abi.encodeWithSelector(SegmentationConsumer.SegmentationConsumerOnlyHub.selector, address(this))
        );
        c.rawFulfillSegmentation(1, true, bytes32(0), "");
    }

    function test_ExampleConsumer_StoresSummary() public {
        token.mint(address(this), 100e18);
        token.approve(address(hub), 100e18);
        hub.deposit(address(consumer), 100e18);
        ITaskHub.RequestParams memory p = _params(3, 2);
        p.callbackGasLimit = STORING_CALLBACK_GAS;
        uint256 id = consumer.requestSegmentation(p);
        assertEq(consumer.lastTaskId(), id);
        _mineSeed();
        address[] memory ws = _commitHonest(id, 2);
        _reveal(ws[0], id, _goodSummary(), _goodSha());
        _reveal(ws[1], id, _goodSummary(), _goodSha());
        assertTrue(consumer.delivery(id).delivered);
        assertEq(consumer.delivery(id).resultSha256, _goodSha());
        assertEq(consumer.summaryOf(id).detections.length, 2);
        assertEq(consumer.summaryOf(id).width, 64);
        uint256 left = hub.balanceOf(address(consumer));
        consumer.withdraw(left);
        assertEq(token.balanceOf(address(this)), left);
    }

    /*////////////////////////////////////////////////////////////// helpers */

    function _consumerRequest(RequestingConsumer c, uint8 r, uint8 q, uint24 gasLimit)
        internal
        returns (uint256 id)
    {
        _fund(address(c), 100e18);
        ITaskHub.RequestParams memory p = _params(r, q);
        p.callbackGasLimit = gasLimit;
        id = c.request(p);
        _mineSeed();
    }

    /// @return used Gas of the settling reveal.
    function _assertHostileConsumerSettles(
        RequestingConsumer c,
        uint24 gasLimit,
        ITaskHub.CallbackOutcome want
    ) internal returns (uint256 used) {
        uint256 id = _consumerRequest(c, 3, 2, gasLimit);
        address[] memory ws = _commitHonest(id, 2);
        _reveal(ws[0], id, _goodSummary(), _goodSha());
        vm.prank(ws[1]);
        (bool ok,) = address(hub).call{gas: 8_000_000}(
            abi.encodeCall(ITaskHub.reveal, (id, _goodSha(), SKETCH_HASH, _goodSummary()))
        );
        used = vm.lastCallGas().gasTotalUsed;
        assertTrue(ok, "settlement reverted");
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Finalized));
        assertEq(uint8(hub.task(id).callbackOutcome), uint8(want), "callback outcome");
        assertEq(hub.balanceOf(ws[0]), REWARD / 2, "winner paid");
        assertEq(registry.workerInfo(ws[0]).locked, 0);
    }
}
