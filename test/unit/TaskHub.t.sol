// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {RequestHashSlot} from "../utils/RequestHashSlot.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IModelRegistry} from "../../contracts/interfaces/IModelRegistry.sol";
import {IRandomnessSource} from "../../contracts/interfaces/IRandomnessSource.sol";
import {ITaskHub} from "../../contracts/interfaces/ITaskHub.sol";
import {IWorkerRegistry} from "../../contracts/interfaces/IWorkerRegistry.sol";
import {ResultHash} from "../../contracts/libraries/ResultHash.sol";
import {TaskHub} from "../../contracts/TaskHub.sol";
import {Fixture} from "../utils/Fixture.sol";
import {SKETCH_HASH} from "../utils/Sketches.sol";

contract TaskHubTest is Fixture {
    function setUp() public override {
        super.setUp();
        _addWorkers(5);
        vm.roll(block.number + 1); // stakes in place before any request
    }

    /*////////////////////////////////////////////////////////////// deposit / withdraw */

    function test_Deposit_CreditsAccount() public {
        address a = makeAddr("a");
        token.mint(address(this), 5e18);
        token.approve(address(hub), 5e18);
        vm.expectEmit(address(hub));
        emit ITaskHub.Deposited(a, address(this), 5e18);
        hub.deposit(a, 5e18);
        assertEq(hub.balanceOf(a), 5e18);
        assertEq(token.balanceOf(address(hub)), 1_000_000e18 + 5e18);
    }

    function test_Deposit_RevertWhen_ZeroAmount() public {
        vm.expectRevert(ITaskHub.TaskHubZeroAmount.selector);
        hub.deposit(address(this), 0);
    }

    function test_Deposit_RevertWhen_NotApproved() public {
        token.mint(address(this), 1);
        vm.expectRevert();
        hub.deposit(address(this), 1);
    }

    function test_Withdraw_PaysOut() public {
        vm.expectEmit(address(hub));
        emit ITaskHub.Withdrawn(requester, 10e18);
        vm.prank(requester);
        hub.withdraw(10e18);
        assertEq(token.balanceOf(requester), 10e18);
        assertEq(hub.balanceOf(requester), 1_000_000e18 - 10e18);
    }

    function test_Withdraw_RevertWhen_ZeroAmount() public {
        vm.expectRevert(ITaskHub.TaskHubZeroAmount.selector);
        vm.prank(requester);
        hub.withdraw(0);
    }

    function test_Withdraw_RevertWhen_InsufficientBalance() public {
        vm.expectRevert(
            abi.encodeWithSelector(ITaskHub.TaskHubInsufficientBalance.selector, address(this), 0, 1)
        );
        hub.withdraw(1);
    }

    /*////////////////////////////////////////////////////////////// request */

    function test_Request_EscrowsRewardAndFee() public {
        uint256 before = hub.balanceOf(requester);
        vm.prank(requester);
        uint256 id = hub.request(_params(3, 2));
        assertEq(id, 1);
        assertEq(hub.taskCount(), 1);
        assertEq(hub.balanceOf(requester), before - REWARD - FEE);
        assertEq(hub.escrowOf(id), REWARD + FEE);
        ITaskHub.Task memory t = hub.task(id);
        assertEq(t.requester, requester);
        assertEq(t.modelId, modelId);
        assertEq(t.replication, 3);
        assertEq(t.quorum, 2);
        assertEq(uint8(t.status), uint8(ITaskHub.TaskStatus.Requested));
        assertEq(t.reward, REWARD);
        assertEq(t.fee, FEE);
        assertEq(t.requestBlock, block.number);
        assertEq(t.commitDeadline, block.timestamp + COMMIT_WINDOW);
        assertEq(t.revealDeadline, block.timestamp + COMMIT_WINDOW + REVEAL_WINDOW);
        (ITaskHub.TaskStatus st, ITaskHub.WaitReason why) = hub.taskState(id);
        assertEq(uint8(st), uint8(ITaskHub.TaskStatus.Requested));
        assertEq(uint8(why), uint8(ITaskHub.WaitReason.SeedPending));
    }

    function test_Request_EmitsTaskRequested() public {
        vm.recordLogs();
        vm.prank(requester);
        hub.request(_params(1, 1));
        assertEq(vm.getRecordedLogs()[0].topics[0], ITaskHub.TaskRequested.selector);
    }

    function test_Request_UsesFeeAtRequestTime() public {
        vm.prank(requester);
        uint256 id = hub.request(_params(1, 1));
        vm.prank(publisher);
        models.setFee(modelId, 99e18);
        assertEq(hub.task(id).fee, FEE);
    }

    function test_Request_RevertWhen_ReplicationZero() public {
        _expectRequestRevert(
            _params(0, 0), abi.encodeWithSelector(ITaskHub.TaskHubInvalidReplication.selector, 0, 0)
        );
    }

    function test_Request_RevertWhen_ReplicationTooHigh() public {
        _expectRequestRevert(
            _params(17, 17), abi.encodeWithSelector(ITaskHub.TaskHubInvalidReplication.selector, 17, 17)
        );
    }

    function test_Request_RevertWhen_QuorumNotMajority() public {
        _expectRequestRevert(
            _params(4, 2), abi.encodeWithSelector(ITaskHub.TaskHubInvalidReplication.selector, 4, 2)
        );
    }

    function test_Request_RevertWhen_QuorumAboveReplication() public {
        _expectRequestRevert(
            _params(3, 4), abi.encodeWithSelector(ITaskHub.TaskHubInvalidReplication.selector, 3, 4)
        );
    }

    function test_Request_RevertWhen_CommitWindowTooShort() public {
        ITaskHub.RequestParams memory p = _params(1, 1);
        p.commitWindow = 59;
        _expectRequestRevert(p, abi.encodeWithSelector(ITaskHub.TaskHubInvalidWindow.selector, 59));
    }

    function test_Request_RevertWhen_RevealWindowTooLong() public {
        ITaskHub.RequestParams memory p = _params(1, 1);
        p.revealWindow = 30 days + 1;
        _expectRequestRevert(p, abi.encodeWithSelector(ITaskHub.TaskHubInvalidWindow.selector, 30 days + 1));
    }

    function test_Request_RevertWhen_ZeroReward() public {
        ITaskHub.RequestParams memory p = _params(1, 1);
        p.reward = 0;
        _expectRequestRevert(p, abi.encodeWithSelector(ITaskHub.TaskHubZeroReward.selector));
    }

    function test_Request_RevertWhen_CallbackGasTooHigh() public {
        ITaskHub.RequestParams memory p = _params(1, 1);
        p.callbackGasLimit = 5_000_001;
        _expectRequestRevert(
            p, abi.encodeWithSelector(ITaskHub.TaskHubCallbackGasTooHigh.selector, 5_000_001, 5_000_000)
        );
    }

    function test_Request_RevertWhen_InputSchemeInvalid() public {
        ITaskHub.RequestParams memory p = _params(1, 1);
        p.input = "http://example.com/a.png";
        _expectRequestRevert(p, abi.encodeWithSelector(ITaskHub.TaskHubInputSchemeInvalid.selector));
        p.input = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
        _expectRequestRevert(p, abi.encodeWithSelector(ITaskHub.TaskHubInputSchemeInvalid.selector));
        p.input = "ipfs:/";
        _expectRequestRevert(p, abi.encodeWithSelector(ITaskHub.TaskHubInputSchemeInvalid.selector));
    }

    function test_Request_RevertWhen_InputEmptyReference() public {
        ITaskHub.RequestParams memory p = _params(1, 1);
        p.input = "https://";
        _expectRequestRevert(p, abi.encodeWithSelector(ITaskHub.TaskHubInputEmptyReference.selector));
        p.input = "ipfs://";
        _expectRequestRevert(p, abi.encodeWithSelector(ITaskHub.TaskHubInputEmptyReference.selector));
    }

    function test_Request_RevertWhen_InputTooLong() public {
        ITaskHub.RequestParams memory p = _params(1, 1);
        bytes memory long = new bytes(2049);
        for (uint256 i; i < 7; ++i) {
            long[i] = bytes("ipfs://")[i];
        }
        p.input = string(long);
        _expectRequestRevert(p, abi.encodeWithSelector(ITaskHub.TaskHubInputTooLong.selector, 2049, 2048));
    }

    function test_Request_AcceptsHttps() public {
        ITaskHub.RequestParams memory p = _params(1, 1);
        p.input = "https://example.com/cat.png";
        vm.prank(requester);
        hub.request(p);
    }

    function test_Request_RevertWhen_ParamsTooLong() public {
        ITaskHub.RequestParams memory p = _params(1, 1);
        p.params = new bytes(4097);
        _expectRequestRevert(p, abi.encodeWithSelector(ITaskHub.TaskHubParamsTooLong.selector, 4097));
    }

    function test_Request_RevertWhen_ModelInactive() public {
        vm.prank(publisher);
        models.retire(modelId);
        _expectRequestRevert(
            _params(1, 1), abi.encodeWithSelector(ITaskHub.TaskHubModelInactive.selector, modelId)
        );
    }

    function test_Request_RevertWhen_InsufficientBalance() public {
        ITaskHub.RequestParams memory p = _params(1, 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                ITaskHub.TaskHubInsufficientBalance.selector, address(this), 0, REWARD + FEE
            )
        );
        hub.request(p);
    }

    function _expectRequestRevert(ITaskHub.RequestParams memory p, bytes memory err) internal {
        vm.expectRevert(err);
        vm.prank(requester);
        hub.request(p);
    }

    /*////////////////////////////////////////////////////////////// draw */

    function test_Draw_StoresWorkersWithoutLocking() public {
        uint256 id = _request(3, 2);
        (address[] memory preview, bool stored) = hub.previewDraw(id);
        assertFalse(stored);
        assertEq(preview.length, 3);
        hub.draw(id);
        (address[] memory ws, bool stored2) = hub.previewDraw(id);
        assertTrue(stored2);
        for (uint256 i; i < 3; ++i) {
            assertEq(ws[i], preview[i], "draw differs from preview");
            assertEq(registry.workerInfo(ws[i]).locked, 0, "stake is locked at commit, not at the draw");
            assertTrue(hub.isDrawn(id, ws[i]));
        }
        ITaskHub.Contribution[] memory cs = hub.contributions(id);
        assertEq(cs.length, 3);
        assertEq(uint8(cs[0].state), uint8(ITaskHub.ContributionState.Drawn));
    }

    function test_Draw_RevertWhen_AlreadyDrawn() public {
        uint256 id = _request(1, 1);
        hub.draw(id);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubAlreadyDrawn.selector, id));
        hub.draw(id);
    }

    function test_Draw_RevertWhen_SeedPending() public {
        vm.prank(requester);
        uint256 id = hub.request(_params(1, 1));
        vm.roll(block.number + 1);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubSeedPending.selector, id));
        hub.draw(id);
    }

    function test_Draw_RevertWhen_SeedExpired() public {
        uint256 id = _request(1, 1);
        uint256 seedBlock = hub.task(id).requestBlock + 1;
        vm.roll(seedBlock + 257);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubSeedExpired.selector, id));
        hub.draw(id);
        (, ITaskHub.WaitReason why) = hub.taskState(id);
        assertEq(uint8(why), uint8(ITaskHub.WaitReason.SeedExpired));
    }

    function test_Draw_RevertWhen_NotEnoughWorkers() public {
        uint256 id = _request(7, 4);
        (, ITaskHub.WaitReason why) = hub.taskState(id);
        assertEq(uint8(why), uint8(ITaskHub.WaitReason.NotEnoughWorkers));
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubNotEnoughWorkers.selector, id, 5, 7));
        hub.draw(id);
    }

    function test_Draw_RevertWhen_UnknownTask() public {
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubUnknownTask.selector, 9));
        hub.draw(9);
    }

    /*////////////////////////////////////////////////////////////// commit */

    function test_Commit_FirstCommitDraws() public {
        uint256 id = _request(3, 2);
        address[] memory ws = _drawn(id);
        _commit(ws[1], id, _goodSummary(), _goodSha());
        ITaskHub.Contribution[] memory cs = hub.contributions(id);
        assertEq(uint8(cs[1].state), uint8(ITaskHub.ContributionState.Committed));
        assertEq(uint8(cs[0].state), uint8(ITaskHub.ContributionState.Drawn));
        assertEq(hub.task(id).commits, 1);
    }

    function test_Commit_AllRWithQuorumMovesToRevealing() public {
        uint256 id = _request(3, 2);
        address[] memory ws = _drawn(id);
        _commit(ws[0], id, _goodSummary(), _goodSha());
        bytes32 h = ResultHash.resultHash(id, _digest(_goodSummary(), _goodSha()));
        _commit(ws[1], id, _goodSummary(), _goodSha());
        // Q equal hashes, but commits stay open for the third drawn worker.
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Requested));
        vm.expectEmit(address(hub));
        emit ITaskHub.ConsensusReached(id, h);
        _commit(ws[2], id, _goodSummary(), _goodSha());
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Revealing));
        assertEq(hub.result(id).resultHash, h);
    }

    function test_Reveal_QuorumAtDeadlineOpensReveals() public {
        uint256 id = _request(3, 2);
        address[] memory ws = _drawn(id);
        _commit(ws[0], id, _goodSummary(), _goodSha());
        _commit(ws[1], id, _goodSummary(), _goodSha());
        bytes32 h = ResultHash.resultHash(id, _digest(_goodSummary(), _goodSha()));
        vm.expectRevert(
            abi.encodeWithSelector(ITaskHub.TaskHubWrongStatus.selector, id, ITaskHub.TaskStatus.Requested)
        );
        _reveal(ws[0], id, _goodSummary(), _goodSha());
        _closeCommits(id);
        (, ITaskHub.WaitReason why) = hub.taskState(id);
        assertEq(uint8(why), uint8(ITaskHub.WaitReason.AwaitingReveals));
        vm.expectEmit(address(hub));
        emit ITaskHub.ConsensusReached(id, h);
        _reveal(ws[0], id, _goodSummary(), _goodSha());
        _reveal(ws[1], id, "", _goodSha());
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Finalized));
    }

    function test_Commit_NonLeadingHashCanWin() public {
        uint256 id = _request(3, 2);
        address[] memory ws = _drawn(id);
        _commit(ws[0], id, _summary(1, 0), _goodSha()); // dissenting leader
        _commit(ws[1], id, _goodSummary(), _goodSha());
        _commit(ws[2], id, _goodSummary(), _goodSha());
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Revealing));
        assertEq(hub.result(id).resultHash, ResultHash.resultHash(id, _digest(_goodSummary(), _goodSha())));
    }

    function test_Commit_RevertWhen_CommitsClosed() public {
        uint256 id = _request(3, 2);
        address[] memory ws = _commitHonest(id, 2); // commits close at the deadline
        _reveal(ws[0], id, _goodSummary(), _goodSha());
        vm.expectRevert(
            abi.encodeWithSelector(ITaskHub.TaskHubWrongStatus.selector, id, ITaskHub.TaskStatus.Revealing)
        );
        vm.prank(ws[2]);
        hub.commit(id, RequestHashSlot.read(address(hub), id), bytes32(uint256(1)), bytes32(uint256(2)));
    }

    function test_Commit_RevertWhen_DeadlinePassed() public {
        uint256 id = _request(3, 2);
        address[] memory ws = _drawn(id);
        uint256 deadline = hub.task(id).commitDeadline;
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubCommitDeadlinePassed.selector, id, deadline));
        vm.prank(ws[0]);
        hub.commit(id, RequestHashSlot.read(address(hub), id), bytes32(uint256(1)), bytes32(uint256(2)));
    }

    function test_Commit_RevertWhen_ZeroResultHash() public {
        uint256 id = _request(1, 1);
        address[] memory ws = _drawn(id);
        vm.expectRevert(ITaskHub.TaskHubZeroResultHash.selector);
        vm.prank(ws[0]);
        hub.commit(id, RequestHashSlot.read(address(hub), id), bytes32(0), bytes32(uint256(2)));
    }

    function test_Commit_RevertWhen_NotDrawn() public {
        uint256 id = _request(3, 2);
        address outsider = makeAddr("outsider");
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubNotDrawn.selector, id, outsider));
        vm.prank(outsider);
        hub.commit(id, RequestHashSlot.read(address(hub), id), bytes32(uint256(1)), bytes32(uint256(2)));
    }

    function test_Commit_RevertWhen_AlreadyCommitted() public {
        uint256 id = _request(3, 3);
        address[] memory ws = _drawn(id);
        _commit(ws[0], id, _goodSummary(), _goodSha());
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubAlreadyCommitted.selector, id, ws[0]));
        vm.prank(ws[0]);
        hub.commit(id, RequestHashSlot.read(address(hub), id), bytes32(uint256(1)), bytes32(uint256(2)));
    }

    function test_Commit_RevertWhen_SeedPending() public {
        vm.prank(requester);
        uint256 id = hub.request(_params(1, 1));
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubSeedPending.selector, id, block.number + 1));
        vm.prank(workers[0]);
        hub.commit(id, RequestHashSlot.read(address(hub), id), bytes32(uint256(1)), bytes32(uint256(2)));
    }

    function test_Commit_RevertWhen_UnknownTask() public {
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubUnknownTask.selector, 5));
        hub.commit(5, RequestHashSlot.read(address(hub), 5), bytes32(uint256(1)), bytes32(uint256(2)));
    }

    /*////////////////////////////////////////////////////////////// reveal */

    function test_Reveal_LastRevealFinalizes() public {
        uint256 id = _request(3, 2);
        address[] memory ws = _commitHonest(id, 2);
        uint256 pubBefore = hub.balanceOf(publisher);
        vm.expectEmit(address(hub));
        emit ITaskHub.ResultRecorded(id, _goodSha(), 0, _goodSummary());
        _reveal(ws[0], id, _goodSummary(), _goodSha());
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Revealing));
        _reveal(ws[1], id, "", _goodSha());
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Finalized));
        assertEq(hub.balanceOf(ws[0]), REWARD / 2);
        assertEq(hub.balanceOf(ws[1]), REWARD / 2);
        assertEq(hub.balanceOf(publisher), pubBefore + FEE);
        assertEq(hub.escrowOf(id), 0);
        for (uint256 i; i < 3; ++i) {
            assertEq(registry.workerInfo(ws[i]).locked, 0);
            assertEq(registry.workerInfo(ws[i]).stake, WORKER_STAKE);
        }
        ITaskHub.Result memory r = hub.result(id);
        assertEq(r.resultSha256, _goodSha());
        assertEq(r.summaryHash, keccak256(_goodSummary()));
        assertEq(r.resultHash, ResultHash.resultHash(id, _digest(_goodSummary(), _goodSha())));
        (, ITaskHub.WaitReason why) = hub.taskState(id);
        assertEq(uint8(why), uint8(ITaskHub.WaitReason.Done));
    }

    function test_Reveal_ErrorStatusSettlesLikeAnyResult() public {
        uint256 id = _request(3, 2);
        address[] memory ws = _drawn(id);
        bytes memory bad = _summary(2, 0); // NotAnImage
        _commit(ws[0], id, bad, _goodSha());
        _commit(ws[1], id, bad, _goodSha());
        _closeCommits(id);
        vm.expectEmit(address(hub));
        emit ITaskHub.ResultRecorded(id, _goodSha(), 2, bad);
        _reveal(ws[0], id, bad, _goodSha());
        _reveal(ws[1], id, bad, _goodSha());
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Finalized));
        assertEq(hub.balanceOf(ws[0]), REWARD / 2);
    }

    function test_Reveal_RevertWhen_NotRevealing() public {
        uint256 id = _request(3, 2);
        vm.expectRevert(
            abi.encodeWithSelector(ITaskHub.TaskHubWrongStatus.selector, id, ITaskHub.TaskStatus.Requested)
        );
        hub.reveal(id, _goodSha(), SKETCH_HASH, _goodSummary());
    }

    function test_Reveal_RevertWhen_DeadlinePassed() public {
        uint256 id = _request(3, 2);
        address[] memory ws = _commitHonest(id, 2);
        uint256 deadline = hub.task(id).revealDeadline;
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubRevealDeadlinePassed.selector, id, deadline));
        _reveal(ws[0], id, _goodSummary(), _goodSha());
    }

    function test_Reveal_RevertWhen_NotDrawn() public {
        uint256 id = _request(3, 2);
        _commitHonest(id, 2);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubNotDrawn.selector, id, address(this)));
        hub.reveal(id, _goodSha(), SKETCH_HASH, _goodSummary());
    }

    function test_Reveal_RevertWhen_NotCommitted() public {
        uint256 id = _request(3, 2);
        address[] memory ws = _commitHonest(id, 2);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubNotCommitted.selector, id, ws[2]));
        _reveal(ws[2], id, _goodSummary(), _goodSha());
    }

    function test_Reveal_RevertWhen_AlreadyRevealed() public {
        uint256 id = _request(3, 3);
        address[] memory ws = _commitHonest(id, 3);
        _reveal(ws[0], id, _goodSummary(), _goodSha());
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubNotCommitted.selector, id, ws[0]));
        _reveal(ws[0], id, _goodSummary(), _goodSha());
    }

    function test_Reveal_RevertWhen_ResultMismatch() public {
        uint256 id = _request(3, 2);
        address[] memory ws = _commitHonest(id, 2);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubResultMismatch.selector, id));
        _reveal(ws[0], id, _goodSummary(), keccak256("other"));
    }

    function test_Reveal_RevertWhen_LaterShaDiffers() public {
        uint256 id = _request(3, 3);
        address[] memory ws = _commitHonest(id, 3);
        _reveal(ws[0], id, _goodSummary(), _goodSha());
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubResultMismatch.selector, id));
        _reveal(ws[1], id, "", keccak256("other"));
    }

    function test_Reveal_RevertWhen_SealMismatch() public {
        uint256 id = _request(3, 2);
        address[] memory ws = _drawn(id);
        bytes32 h = ResultHash.resultHash(id, _digest(_goodSummary(), _goodSha()));
        vm.prank(ws[0]);
        hub.commit(id, RequestHashSlot.read(address(hub), id), h, keccak256("not my seal"));
        _commit(ws[1], id, _goodSummary(), _goodSha());
        _closeCommits(id);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubSealMismatch.selector, id, ws[0]));
        _reveal(ws[0], id, _goodSummary(), _goodSha());
    }

    function test_Reveal_RevertWhen_FirstSummaryMissing() public {
        uint256 id = _request(3, 2);
        address[] memory ws = _commitHonest(id, 2);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubSummaryMismatch.selector, id));
        _reveal(ws[0], id, "", _goodSha());
    }

    function test_Reveal_RevertWhen_LaterSummaryDiffers() public {
        uint256 id = _request(3, 3);
        address[] memory ws = _commitHonest(id, 3);
        _reveal(ws[0], id, _goodSummary(), _goodSha());
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubSummaryMismatch.selector, id));
        _reveal(ws[1], id, _summary(0, 1), _goodSha());
    }

    function test_Reveal_RevertWhen_SummaryMalformed() public {
        uint256 id = _request(1, 1);
        bytes memory bad = _summary(0, 17); // more than 16 detections
        address[] memory ws = _drawn(id);
        _commit(ws[0], id, bad, _goodSha());
        vm.expectRevert(abi.encodeWithSelector(ResultHash.ResultHashInvalidDetectionCount.selector, 0, 17));
        _reveal(ws[0], id, bad, _goodSha());
    }

    function test_Reveal_RevertWhen_UnknownTask() public {
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubUnknownTask.selector, 3));
        hub.reveal(3, _goodSha(), SKETCH_HASH, _goodSummary());
    }

    /*////////////////////////////////////////////////////////////// finalize */

    function test_Finalize_AfterDeadlineWithPartialReveals() public {
        uint256 id = _request(3, 3);
        address[] memory ws = _commitHonest(id, 3);
        _reveal(ws[0], id, _goodSummary(), _goodSha());
        _reveal(ws[1], id, "", _goodSha());
        vm.warp(hub.task(id).revealDeadline + 1);
        (, ITaskHub.WaitReason why) = hub.taskState(id);
        assertEq(uint8(why), uint8(ITaskHub.WaitReason.RevealDeadlinePassed));
        vm.prank(makeAddr("keeper"));
        hub.finalize(id, "");
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Finalized));
        // ws[2] did not reveal: slashed, its stake split between the two revealers.
        assertEq(registry.workerInfo(ws[2]).stake, WORKER_STAKE - TASK_STAKE);
        assertEq(hub.balanceOf(ws[0]), REWARD / 2 + TASK_STAKE / 2);
        assertEq(hub.balanceOf(ws[1]), REWARD / 2 + TASK_STAKE / 2);
    }

    function test_Finalize_RevertWhen_DeadlineNotPassed() public {
        uint256 id = _request(3, 3);
        address[] memory ws = _commitHonest(id, 3);
        _reveal(ws[0], id, _goodSummary(), _goodSha());
        uint256 deadline = hub.task(id).revealDeadline;
        vm.expectRevert(
            abi.encodeWithSelector(ITaskHub.TaskHubRevealDeadlineNotPassed.selector, id, deadline)
        );
        hub.finalize(id, _goodSummary());
    }

    function test_Finalize_RevertWhen_NoReveal() public {
        uint256 id = _request(3, 2);
        _commitHonest(id, 2);
        vm.warp(hub.task(id).revealDeadline + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                ITaskHub.TaskHubNotExpirable.selector, id, ITaskHub.WaitReason.RevealDeadlinePassed
            )
        );
        hub.finalize(id, "");
    }

    function test_Finalize_RevertWhen_SummaryDiffers() public {
        uint256 id = _request(3, 3);
        address[] memory ws = _commitHonest(id, 3);
        _reveal(ws[0], id, _goodSummary(), _goodSha());
        vm.warp(hub.task(id).revealDeadline + 1);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubSummaryMismatch.selector, id));
        hub.finalize(id, _summary(0, 1));
    }

    function test_Finalize_RevertWhen_WrongStatus() public {
        uint256 id = _request(3, 2);
        vm.expectRevert(
            abi.encodeWithSelector(ITaskHub.TaskHubWrongStatus.selector, id, ITaskHub.TaskStatus.Requested)
        );
        hub.finalize(id, "");
    }

    function test_Finalize_RevertWhen_UnknownTask() public {
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubUnknownTask.selector, 8));
        hub.finalize(8, "");
    }

    /*////////////////////////////////////////////////////////////// expire */

    function test_Expire_CommitDeadlineRefundsInFull() public {
        uint256 before = hub.balanceOf(requester);
        uint256 id = _request(3, 2);
        address[] memory ws = _drawn(id);
        _commit(ws[0], id, _goodSummary(), _goodSha());
        vm.warp(hub.task(id).commitDeadline + 1);
        vm.expectEmit(address(hub));
        emit ITaskHub.TaskExpired(id, ITaskHub.WaitReason.CommitDeadlinePassed, REWARD + FEE, 0);
        hub.expire(id);
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Failed));
        assertEq(hub.balanceOf(requester), before);
        for (uint256 i; i < 3; ++i) {
            assertEq(registry.workerInfo(ws[i]).locked, 0);
            assertEq(registry.workerInfo(ws[i]).stake, WORKER_STAKE, "no honest worker loses stake");
        }
    }

    function test_Expire_UndrawnAfterDeadline() public {
        uint256 before = hub.balanceOf(requester);
        uint256 id = _request(3, 2);
        vm.warp(hub.task(id).commitDeadline + 1);
        hub.expire(id);
        assertEq(hub.balanceOf(requester), before);
    }

    function test_Expire_SeedExpiredRightAway() public {
        uint256 id = _request(3, 2);
        vm.roll(block.number + 300);
        hub.expire(id);
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Failed));
    }

    function test_Expire_NoQuorumPossibleRightAway() public {
        uint256 id = _request(3, 2);
        address[] memory ws = _drawn(id);
        _commit(ws[0], id, _summary(1, 0), _goodSha());
        _commit(ws[1], id, _summary(2, 0), _goodSha());
        _commit(ws[2], id, _summary(3, 0), _goodSha());
        (, ITaskHub.WaitReason why) = hub.taskState(id);
        assertEq(uint8(why), uint8(ITaskHub.WaitReason.NoQuorumPossible));
        hub.expire(id);
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Failed));
    }

    function test_Expire_NoRevealSlashesCommittersToReserve() public {
        uint256 before = hub.balanceOf(requester);
        uint256 id = _request(3, 2);
        address[] memory ws = _commitHonest(id, 2);
        vm.warp(hub.task(id).revealDeadline + 1);
        hub.expire(id);
        // The requester gets its escrow back, not the slashed stake (it chose the reveal window).
        assertEq(hub.balanceOf(requester), before);
        assertEq(hub.reserve(), 2 * TASK_STAKE);
        assertEq(registry.workerInfo(ws[0]).stake, WORKER_STAKE - TASK_STAKE);
        assertEq(registry.workerInfo(ws[1]).stake, WORKER_STAKE - TASK_STAKE);
        assertEq(registry.workerInfo(ws[2]).stake, WORKER_STAKE, "non-committer keeps stake");
    }

    function test_Expire_RevertWhen_NotExpirable() public {
        uint256 id = _request(3, 2);
        vm.expectRevert(
            abi.encodeWithSelector(
                ITaskHub.TaskHubNotExpirable.selector, id, ITaskHub.WaitReason.AwaitingCommits
            )
        );
        hub.expire(id);
    }

    function test_Expire_RevertWhen_RevealedAfterDeadline() public {
        uint256 id = _request(3, 3);
        address[] memory ws = _commitHonest(id, 3);
        _reveal(ws[0], id, _goodSummary(), _goodSha());
        vm.warp(hub.task(id).revealDeadline + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                ITaskHub.TaskHubNotExpirable.selector, id, ITaskHub.WaitReason.RevealDeadlinePassed
            )
        );
        hub.expire(id);
    }

    function test_Expire_RevertWhen_Terminal() public {
        uint256 id = _request(1, 1);
        address[] memory ws = _commitHonest(id, 1);
        _reveal(ws[0], id, _goodSummary(), _goodSha());
        vm.expectRevert(
            abi.encodeWithSelector(ITaskHub.TaskHubWrongStatus.selector, id, ITaskHub.TaskStatus.Finalized)
        );
        hub.expire(id);
    }

    function test_Expire_RevertWhen_UnknownTask() public {
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubUnknownTask.selector, 4));
        hub.expire(4);
    }

    /*////////////////////////////////////////////////////////////// views, constructor */

    function test_TaskState_Reasons() public {
        (ITaskHub.TaskStatus st, ITaskHub.WaitReason why) = hub.taskState(77);
        assertEq(uint8(st), uint8(ITaskHub.TaskStatus.None));
        assertEq(uint8(why), uint8(ITaskHub.WaitReason.None));
        uint256 id = _request(3, 2);
        (, why) = hub.taskState(id);
        assertEq(uint8(why), uint8(ITaskHub.WaitReason.AwaitingCommits));
        _commitHonest(id, 2);
        (, why) = hub.taskState(id);
        assertEq(uint8(why), uint8(ITaskHub.WaitReason.AwaitingReveals));
    }

    function test_Views_EmptyBeforeDraw() public {
        uint256 id = _request(3, 2);
        assertEq(hub.contributions(id).length, 0);
        assertFalse(hub.isDrawn(id, makeAddr("nobody")));
        assertEq(hub.escrowOf(99), 0);
        (address[] memory none,) = hub.previewDraw(99);
        assertEq(none.length, 0);
    }

    function test_Constructor_RevertWhen_ZeroAddress() public {
        IRandomnessSource source = hub.randomness();
        vm.expectRevert(ITaskHub.TaskHubZeroAddress.selector);
        new TaskHub(
            IERC20(address(0)), IModelRegistry(address(models)), IWorkerRegistry(address(registry)), source
        );
    }

    function test_Constructor_RevertWhen_RegistryMismatch() public {
        IRandomnessSource source = hub.randomness();
        // The registry points at the deployed hub, not at a new one.
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubRegistryMismatch.selector, address(registry)));
        new TaskHub(
            IERC20(address(token)),
            IModelRegistry(address(models)),
            IWorkerRegistry(address(registry)),
            source
        );
    }

    function test_RequestHashSlot_MatchesView() public {
        uint256 id = _request(3, 2);
        assertEq(RequestHashSlot.read(address(hub), id), hub.requestHashOf(id));
        assertTrue(hub.requestHashOf(id) != bytes32(0));
    }
}
