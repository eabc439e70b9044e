// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ITaskHub} from "../../contracts/interfaces/ITaskHub.sol";
import {ResultHash} from "../../contracts/libraries/ResultHash.sol";
import {SketchRule} from "../../contracts/libraries/SketchRule.sol";
import {
    GasBurningConsumer,
    ReentrantAnyConsumer,
    RequestingConsumer,
    RevertingConsumer,
    CountingConsumer
} from "../mocks/HostileConsumers.sol";
import {Sketches} from "../utils/Sketches.sol";
import {TolerantFixture} from "../utils/TolerantFixture.sol";

/// @notice The tolerant fallback (reconciliation): sketches bound by the seal, revealed once commits
/// close without Q equal hashes, settled on a representative and the sketches agreeing with its one.
contract TolerantTest is TolerantFixture {
    address internal keeper = makeAddr("keeper");

    function setUp() public override {
        super.setUp();
        _addBothWorkers(8);
    }

    /*////////////////////////////////////////////////////////////// the happy path */

    function test_Settle_R3Q2_AllAgree() public {
        uint256 id = _requestTolerant(3, 2);
        address[] memory ws = _commitAll(id, _honest(3, 1));
        (ITaskHub.TaskStatus st, ITaskHub.WaitReason why) = hub.taskState(id);
        assertEq(uint8(st), uint8(ITaskHub.TaskStatus.Requested));
        assertEq(
            uint8(why), uint8(ITaskHub.WaitReason.AwaitingSketches), "no NoQuorumPossible on a tolerant model"
        );

        Sealed storage s0 = sealed_[id][ws[0]];
        vm.expectEmit(address(hub));
        emit ITaskHub.ReconciliationOpened(id, ITaskHub.WaitReason.NoQuorumPossible);
        vm.expectEmit(address(hub));
        emit ITaskHub.SketchRevealed(id, ws[0], keccak256(s0.summary), s0.sha, s0.sketch);
        _revealSealed(ws[0], id);
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Reconciling));
        assertEq(hub.escrowOf(id), REWARD + FEE, "still escrowed");
        _revealSealed(ws[1], id);
        _revealSealed(ws[2], id);

        address[] memory members = new address[](3);
        (members[0], members[1], members[2]) = (ws[0], ws[1], ws[2]);
        vm.expectEmit(address(hub));
        emit ITaskHub.ResultRecorded(id, sealed_[id][ws[1]].sha, 0, sealed_[id][ws[1]].summary);
        vm.expectEmit(address(hub));
        emit ITaskHub.TaskSettledTolerant(id, ws[1], members, new address[](0));
        vm.expectEmit(address(hub));
        emit ITaskHub.TaskFinalized(id, members, REWARD / 3, 0, 0, publisher, FEE);
        _settle(keeper, id, ws[1]);

        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Finalized));
        ITaskHub.Result memory r = hub.result(id);
        assertEq(r.resultSha256, sealed_[id][ws[1]].sha);
        assertEq(r.summaryHash, keccak256(sealed_[id][ws[1]].summary));
        assertEq(
            r.resultHash,
            ResultHash.resultHash(id, ResultHash.digest(r.summaryHash, r.resultSha256)),
            "the representative's committed hash"
        );
        assertEq(hub.balanceOf(ws[0]), REWARD / 3 + REWARD % 3, "remainder to the first member");
        assertEq(hub.balanceOf(ws[1]), REWARD / 3);
        assertEq(hub.balanceOf(ws[2]), REWARD / 3);
        assertEq(hub.balanceOf(publisher), FEE);
        assertEq(hub.escrowOf(id), 0);
        for (uint256 i; i < 3; ++i) {
            assertEq(_locked(ws[i]), 0);
            assertEq(_stake(ws[i]), WORKER_STAKE);
        }
    }

    function test_Settle_AfterCommitDeadline_WithQCommits() public {
        uint256 id = _requestTolerant(3, 2);
        Sketches.Result[] memory rs = _honest(2, 5);
        address[] memory ws = _commitAll(id, rs); // the third drawn worker never commits
        assertEq(uint8(_reasonOf(id)), uint8(ITaskHub.WaitReason.AwaitingCommits));
        _closeCommits(id);
        assertEq(uint8(_reasonOf(id)), uint8(ITaskHub.WaitReason.AwaitingSketches));
        vm.expectEmit(address(hub));
        emit ITaskHub.ReconciliationOpened(id, ITaskHub.WaitReason.CommitDeadlinePassed);
        _revealSealed(ws[1], id);
        _revealSealed(ws[0], id);
        // Every committer revealed: settles before the reveal deadline.
        _settle(keeper, id, ws[0]);
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Finalized));
        assertEq(hub.balanceOf(ws[0]), REWARD / 2);
        assertEq(hub.balanceOf(ws[1]), REWARD / 2);
        assertEq(_stake(ws[2]), WORKER_STAKE, "never committed: nothing locked, nothing slashed");
    }

    function test_Settle_RevertWhen_SketchesPending_ThenNonRevealerSlashed() public {
        uint256 id = _requestTolerant(3, 2);
        address[] memory ws = _commitAll(id, _honest(3, 9));
        _revealSealed(ws[0], id);
        _revealSealed(ws[2], id);
        (ITaskHub.Opening[] memory os,) = _openings(id, ws[0]);
        bytes memory summary = sealed_[id][ws[0]].summary;
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubSketchesPending.selector, id, 2, 3));
        hub.settleTolerant(id, 0, os, summary);

        vm.warp(uint256(hub.task(id).revealDeadline) + 1);
        assertEq(uint8(_reasonOf(id)), uint8(ITaskHub.WaitReason.SketchDeadlinePassed));
        hub.settleTolerant(id, 0, os, summary);
        assertEq(_stake(ws[1]), WORKER_STAKE - TASK_STAKE, "no sketch revealed: slashed");
        assertEq(_locked(ws[1]), 0);
        assertEq(hub.balanceOf(ws[0]), REWARD / 2 + TASK_STAKE / 2, "members share the slashed stake");
        assertEq(hub.balanceOf(ws[2]), REWARD / 2 + TASK_STAKE / 2);
    }

    /*////////////////////////////////////////////////////////////// reveal attacks */

    /// @dev A worker cannot take another's sketch in the reveal phase: its seal bound its own.
    function test_RevealSketch_RevertWhen_CopiedSketch() public {
        uint256 id = _requestTolerant(3, 2);
        address[] memory ws = _commitAll(id, _honest(3, 2));
        _revealSealed(ws[0], id);
        Sealed storage a = sealed_[id][ws[0]];
        Sealed storage b = sealed_[id][ws[1]];
        // The whole opening copied.
        vm.prank(ws[1]);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubSealMismatch.selector, id, ws[1]));
        hub.revealSketch(id, keccak256(a.summary), a.sha, a.sketch);
        // Its own result with the other's sketch.
        vm.prank(ws[1]);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubSealMismatch.selector, id, ws[1]));
        hub.revealSketch(id, keccak256(b.summary), b.sha, a.sketch);
        // Its own opening still works.
        _revealSealed(ws[1], id);
    }

    function test_RevealSketch_RevertWhen_WrongOpening() public {
        uint256 id = _requestTolerant(3, 2);
        address[] memory ws = _commitAll(id, _honest(3, 3));
        Sealed storage a = sealed_[id][ws[0]];
        vm.startPrank(ws[0]);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubSealMismatch.selector, id, ws[0]));
        hub.revealSketch(id, keccak256(a.summary), keccak256("another sha"), a.sketch);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubSealMismatch.selector, id, ws[0]));
        hub.revealSketch(id, keccak256("another summary"), a.sha, a.sketch);
        bytes memory other = Sketches.sketch(Sketches.noisy(Sketches.base(16), 77));
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubSealMismatch.selector, id, ws[0]));
        hub.revealSketch(id, keccak256(a.summary), a.sha, other);
        vm.stopPrank();
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Requested), "a failed reveal opens nothing");
    }

    /// @dev A malformed sketch cannot be revealed; a worker that sealed one is a non-revealer.
    function test_RevealSketch_RevertWhen_Malformed() public {
        uint256 id = _requestTolerant(3, 2);
        address[] memory ws = _commitAll(id, _honest(2, 4));
        // The third seals a sketch one byte short of its count.
        Sealed storage s = sealed_[id][ws[2]];
        s.summary = Sketches.summary(Sketches.base(16));
        s.sha = keccak256("bad");
        bytes memory good = Sketches.sketch(Sketches.base(16));
        s.sketch = new bytes(good.length - 1);
        for (uint256 i; i < s.sketch.length; ++i) {
            s.sketch[i] = good[i];
        }
        _commitSealed(ws[2], id);
        bytes memory bad = s.sketch;
        vm.prank(ws[2]);
        vm.expectRevert(abi.encodeWithSelector(SketchRule.SketchRuleMalformed.selector, bad.length));
        hub.revealSketch(id, keccak256(s.summary), s.sha, bad);

        _revealSealed(ws[0], id);
        _revealSealed(ws[1], id);
        vm.warp(uint256(hub.task(id).revealDeadline) + 1);
        _settle(keeper, id, ws[0]);
        assertEq(_stake(ws[2]), WORKER_STAKE - TASK_STAKE, "sealed a malformed sketch: slashed");
    }

    function test_RevealSketch_RevertWhen_CommitsOpen() public {
        uint256 id = _requestTolerant(3, 2);
        Sketches.Result[] memory rs = _honest(2, 6);
        address[] memory ws = _commitAll(id, rs);
        vm.prank(ws[0]);
        vm.expectRevert(
            abi.encodeWithSelector(
                ITaskHub.TaskHubNotReconcilable.selector, id, ITaskHub.WaitReason.AwaitingCommits
            )
        );
        hub.revealSketch(
            id, keccak256(sealed_[id][ws[0]].summary), sealed_[id][ws[0]].sha, sealed_[id][ws[0]].sketch
        );
    }

    /// @dev Q equal hashes take the exact path, tolerant model or not.
    function test_RevealSketch_RevertWhen_QuorumReached() public {
        uint256 id = _requestTolerant(3, 2);
        Sketches.Result[] memory rs = _honest(3, 7);
        rs[1] = rs[0]; // two identical results
        address[] memory ws = _commitAll(id, rs);
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Revealing));
        Sealed storage s = sealed_[id][ws[2]];
        vm.prank(ws[2]);
        vm.expectRevert(
            abi.encodeWithSelector(ITaskHub.TaskHubWrongStatus.selector, id, ITaskHub.TaskStatus.Revealing)
        );
        hub.revealSketch(id, keccak256(s.summary), s.sha, s.sketch);
        // The exact path: the two reveal, the dissenter is slashed as today.
        Sealed storage a = sealed_[id][ws[0]];
        vm.prank(ws[0]);
        hub.reveal(id, a.sha, keccak256(a.sketch), a.summary);
        vm.prank(ws[1]);
        hub.reveal(id, a.sha, keccak256(a.sketch), "");
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Finalized));
        assertEq(_stake(ws[2]), WORKER_STAKE - TASK_STAKE, "exact path: the dissenter is slashed");
    }

    function test_RevealSketch_RevertWhen_QuorumAtDeadline() public {
        uint256 id = _requestTolerant(3, 2);
        Sketches.Result[] memory rs = _honest(2, 8);
        rs[1] = rs[0];
        address[] memory ws = _commitAll(id, rs);
        _closeCommits(id);
        Sealed storage s = sealed_[id][ws[0]];
        vm.prank(ws[0]);
        vm.expectRevert(
            abi.encodeWithSelector(
                ITaskHub.TaskHubNotReconcilable.selector, id, ITaskHub.WaitReason.AwaitingReveals
            )
        );
        hub.revealSketch(id, keccak256(s.summary), s.sha, s.sketch);
    }

    function test_RevealSketch_RevertWhen_ModelHasNoTolerance() public {
        uint256 id = _request(3, 2);
        address[] memory ws = _drawn(id);
        for (uint256 i; i < 3; ++i) {
            _commit(ws[i], id, _goodSummary(), keccak256(abi.encode("other", i)));
        }
        vm.prank(ws[0]);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubNoTolerance.selector, id, modelId));
        hub.revealSketch(id, keccak256(_goodSummary()), keccak256(abi.encode("other", 0)), new bytes(70));
    }

    function test_RevealSketch_RevertWhen_DeadlinePassedOrNotCommitted() public {
        uint256 id = _requestTolerant(3, 2);
        address[] memory ws = _commitAll(id, _honest(3, 10));
        Sealed storage s = sealed_[id][ws[0]];
        address outsider = makeAddr("outsider");
        vm.prank(outsider);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubNotDrawn.selector, id, outsider));
        hub.revealSketch(id, keccak256(s.summary), s.sha, s.sketch);
        _revealSealed(ws[0], id);
        vm.prank(ws[0]);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubNotCommitted.selector, id, ws[0]));
        hub.revealSketch(id, keccak256(s.summary), s.sha, s.sketch);
        uint256 deadline = hub.task(id).revealDeadline;
        vm.warp(deadline + 1);
        Sealed storage s1 = sealed_[id][ws[1]];
        vm.prank(ws[1]);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubRevealDeadlinePassed.selector, id, deadline));
        hub.revealSketch(id, keccak256(s1.summary), s1.sha, s1.sketch);
    }

    /*////////////////////////////////////////////////////////////// settlement attacks */

    function test_Settle_RevertWhen_SummaryContradictsSketch() public {
        uint256 id = _requestTolerant(3, 2);
        Sketches.Result[] memory rs = _honest(3, 11);
        address[] memory ws = _drawn(id);
        _commitResult(ws[0], id, rs[0]);
        _commitResult(ws[1], id, rs[1]);
        // ws[2]'s sketch is honest, but the summary it sealed tells another score for one detection.
        Sketches.Result memory lie = Sketches.copy(rs[2]);
        lie.dets[4].score -= 2000;
        Sealed storage s = sealed_[id][ws[2]];
        s.sketch = Sketches.sketch(rs[2]);
        s.summary = Sketches.summary(lie);
        s.sha = keccak256("a result with another score");
        _commitSealed(ws[2], id);
        for (uint256 i; i < 3; ++i) {
            _revealSealed(ws[i], id);
        }
        (ITaskHub.Opening[] memory os, uint256 rep) = _openings(id, ws[2]);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubSummaryContradictsSketch.selector, id));
        hub.settleTolerant(id, rep, os, s.summary);
        // Its summary with another status or count fails the same way.
        Sketches.Result memory fewer = Sketches.dropped(rs[2], 0);
        assertFalse(keccak256(Sketches.summary(fewer)) == os[rep].summaryHash);
        _settle(keeper, id, ws[0]);
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Finalized));
        assertEq(hub.result(id).resultSha256, sealed_[id][ws[0]].sha);
    }

    function test_Settle_RevertWhen_SummaryIsNotTheRepresentatives() public {
        uint256 id = _requestTolerant(3, 2);
        address[] memory ws = _commitAll(id, _honest(3, 12));
        for (uint256 i; i < 3; ++i) {
            _revealSealed(ws[i], id);
        }
        (ITaskHub.Opening[] memory os, uint256 rep) = _openings(id, ws[0]);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubSummaryMismatch.selector, id));
        hub.settleTolerant(id, rep, os, sealed_[id][ws[1]].summary);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubInvalidRepresentative.selector, id, 3));
        hub.settleTolerant(id, 3, os, sealed_[id][ws[1]].summary);
    }

    /// @dev The caller names only the representative: every revealed sketch must be passed, in slot
    /// order, and membership is computed, so an agreeing worker cannot be left out.
    function test_Settle_CallerCannotLeaveOutAnAgreeingWorker() public {
        uint256 id = _requestTolerant(3, 2);
        address[] memory ws = _commitAll(id, _honest(3, 13));
        for (uint256 i; i < 3; ++i) {
            _revealSealed(ws[i], id);
        }
        (ITaskHub.Opening[] memory os,) = _openings(id, ws[0]);
        bytes memory summary = sealed_[id][ws[0]].summary;
        // Two openings only.
        ITaskHub.Opening[] memory two = new ITaskHub.Opening[](2);
        (two[0], two[1]) = (os[0], os[1]);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubOpeningCount.selector, id, 2, 3));
        hub.settleTolerant(id, 0, two, summary);
        // Reordered: the second slot's commitment does not open with the third's opening.
        ITaskHub.Opening[] memory swapped = new ITaskHub.Opening[](3);
        (swapped[0], swapped[1], swapped[2]) = (os[0], os[2], os[1]);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubSealMismatch.selector, id, ws[1]));
        hub.settleTolerant(id, 0, swapped, summary);
        // A doctored sketch in the third opening (to push it out) does not open its commitment.
        ITaskHub.Opening[] memory doctored = new ITaskHub.Opening[](3);
        (doctored[0], doctored[1], doctored[2]) = (os[0], os[1], os[2]);
        doctored[2].sketch = Sketches.sketch(Sketches.shifted(Sketches.base(16), 0, 5));
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubSealMismatch.selector, id, ws[2]));
        hub.settleTolerant(id, 0, doctored, summary);

        // Whatever the representative, every agreeing worker is a member.
        for (uint256 r; r < 3; ++r) {
            uint256 snap = vm.snapshotState();
            _settle(keeper, id, ws[r]);
            for (uint256 i; i < 3; ++i) {
                assertGe(hub.balanceOf(ws[i]), REWARD / 3, "every agreeing worker paid");
            }
            vm.revertToState(snap);
        }
    }

    function test_Settle_RevertWhen_FewerThanQAgree_ThenExpiresAfterGrace() public {
        uint256 id = _requestTolerant(3, 2);
        Sketches.Result[] memory rs = new Sketches.Result[](3);
        rs[0] = Sketches.base(16);
        rs[1] = Sketches.shifted(rs[0], 2, 3);
        rs[2] = Sketches.shifted(rs[0], 9, 3);
        address[] memory ws = _commitAll(id, rs);
        for (uint256 i; i < 3; ++i) {
            _revealSealed(ws[i], id);
        }
        for (uint256 i; i < 3; ++i) {
            (ITaskHub.Opening[] memory os, uint256 rep) = _openings(id, ws[i]);
            vm.expectRevert(
                abi.encodeWithSelector(ITaskHub.TaskHubToleranceQuorumNotReached.selector, id, 1, 2)
            );
            hub.settleTolerant(id, rep, os, sealed_[id][ws[i]].summary);
        }
        uint256 deadline = hub.task(id).revealDeadline;
        vm.warp(deadline + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                ITaskHub.TaskHubNotExpirable.selector, id, ITaskHub.WaitReason.SketchDeadlinePassed
            )
        );
        hub.expire(id);
        vm.warp(deadline + hub.SETTLE_GRACE() + 1);
        uint256 before = hub.balanceOf(requester);
        vm.expectEmit(address(hub));
        emit ITaskHub.TaskExpired(id, ITaskHub.WaitReason.SketchDeadlinePassed, REWARD + FEE, 0);
        hub.expire(id);
        assertEq(hub.balanceOf(requester), before + REWARD + FEE, "refunded in full");
        for (uint256 i; i < 3; ++i) {
            assertEq(_stake(ws[i]), WORKER_STAKE, "revealed: released unslashed");
            assertEq(_locked(ws[i]), 0);
        }
    }

    /// @dev An outsider that agrees with a member (not with the representative) is released unpaid and
    /// unslashed: there is no evidence against it.
    function test_Settle_OutsiderAgreeingWithAMember_ReleasedNotSlashed() public {
        uint256 id = _requestTolerant(3, 2);
        Sketches.Result[] memory rs = new Sketches.Result[](3);
        rs[0] = Sketches.base(16);
        rs[1] = Sketches.copy(rs[0]);
        rs[1].dets[3].x1 += 1; // one cell from rs[0]
        rs[2] = Sketches.copy(rs[1]);
        rs[2].dets[3].x1 += 1; // one cell from rs[1], two from rs[0]
        address[] memory ws = _commitAll(id, rs);
        for (uint256 i; i < 3; ++i) {
            _revealSealed(ws[i], id);
        }
        address[] memory members = new address[](2);
        (members[0], members[1]) = (ws[0], ws[1]);
        vm.expectEmit(address(hub));
        emit ITaskHub.TaskSettledTolerant(id, ws[0], members, new address[](0));
        _settle(keeper, id, ws[0]);
        assertEq(_stake(ws[2]), WORKER_STAKE, "not slashed");
        assertEq(_locked(ws[2]), 0, "released");
        assertEq(hub.balanceOf(ws[2]), 0, "not paid");
        assertEq(hub.balanceOf(ws[0]), REWARD / 2);
        assertEq(hub.balanceOf(ws[1]), REWARD / 2);
    }

    /*////////////////////////////////////////////////////////////// tampered sketches */

    /// @dev Two honest workers and one tampered result (R=3, Q=2): the honest two settle, the tampered
    /// sketch disagrees with both (evidence on chain) and is slashed, its stake to the members.
    function _tamperedIsSlashed(Sketches.Result memory bad) internal {
        _tamperedIsSlashed(bad, 16);
    }

    function _tamperedIsSlashed(Sketches.Result memory bad, uint256 honestCount) internal {
        uint256 id = _requestTolerant(3, 2);
        Sketches.Result[] memory rs = _honestOf(3, honestCount, 20);
        rs[1] = bad;
        address[] memory ws = _commitAll(id, rs);
        for (uint256 i; i < 3; ++i) {
            _revealSealed(ws[i], id);
        }
        // The tampered result as representative: no quorum.
        (ITaskHub.Opening[] memory os, uint256 rep) = _openings(id, ws[1]);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubToleranceQuorumNotReached.selector, id, 1, 2));
        hub.settleTolerant(id, rep, os, sealed_[id][ws[1]].summary);

        address[] memory members = new address[](2);
        (members[0], members[1]) = (ws[0], ws[2]);
        address[] memory outliers = new address[](1);
        outliers[0] = ws[1];
        vm.expectEmit(address(hub));
        emit ITaskHub.TaskSettledTolerant(id, ws[2], members, outliers);
        _settle(keeper, id, ws[2]);
        assertEq(_stake(ws[1]), WORKER_STAKE - TASK_STAKE, "tampered: slashed");
        assertEq(_locked(ws[1]), 0);
        assertEq(hub.balanceOf(ws[1]), 0);
        assertEq(hub.balanceOf(ws[0]), REWARD / 2 + TASK_STAKE / 2);
        assertEq(hub.balanceOf(ws[2]), REWARD / 2 + TASK_STAKE / 2);
    }

    function _honestBase() internal pure returns (Sketches.Result memory) {
        return Sketches.noisy(Sketches.base(16), 999);
    }

    function test_Tampered_DroppedDetection() public {
        _tamperedIsSlashed(Sketches.dropped(_honestBase(), 7));
    }

    /// @dev The two honest workers report 15 detections, the tampered one a 16th.
    function test_Tampered_AddedDetection() public {
        Sketches.Det memory extra = Sketches.Det(3, 9500, 50, 40, 60, 47, 70, 880, 700);
        _tamperedIsSlashed(Sketches.added(Sketches.noisy(Sketches.base(15), 999), extra), 15);
    }

    function test_Tampered_SwappedLabel() public {
        Sketches.Result memory r = _honestBase();
        r.dets[5].label = 2;
        _tamperedIsSlashed(r);
    }

    function test_Tampered_ShiftedBox() public {
        _tamperedIsSlashed(Sketches.shifted(_honestBase(), 11, 2));
    }

    function test_Tampered_ShiftedCentroid() public {
        Sketches.Result memory r = _honestBase();
        r.dets[0].cy += 16; // one cell
        _tamperedIsSlashed(r);
    }

    function test_Tampered_OtherModel() public {
        Sketches.Result memory r = _honestBase();
        r.modelSha = keccak256("another model");
        _tamperedIsSlashed(r);
    }

    function test_Tampered_OtherInput() public {
        Sketches.Result memory r = _honestBase();
        r.inputSha = keccak256("another image");
        _tamperedIsSlashed(r);
    }

    /*////////////////////////////////////////////////////////////// expiry */

    /// @dev Anyone could otherwise expire a task that is about to reconcile: refused until the reveal
    /// deadline, with or without sketches revealed.
    function test_Expire_RevertWhen_AwaitingSketches() public {
        uint256 id = _requestTolerant(3, 2);
        address[] memory ws = _commitAll(id, _honest(3, 30));
        vm.expectRevert(
            abi.encodeWithSelector(
                ITaskHub.TaskHubNotExpirable.selector, id, ITaskHub.WaitReason.AwaitingSketches
            )
        );
        hub.expire(id);
        _closeCommits(id);
        vm.expectRevert(
            abi.encodeWithSelector(
                ITaskHub.TaskHubNotExpirable.selector, id, ITaskHub.WaitReason.AwaitingSketches
            )
        );
        hub.expire(id);
        _revealSealed(ws[0], id);
        vm.warp(hub.task(id).revealDeadline);
        vm.expectRevert(
            abi.encodeWithSelector(
                ITaskHub.TaskHubNotExpirable.selector, id, ITaskHub.WaitReason.AwaitingSketches
            )
        );
        hub.expire(id);
    }

    /// @dev Past the reveal deadline with fewer than Q sketches: expirable at once; committers without a
    /// sketch are slashed to the reserve, the revealed one released.
    function test_Expire_FewerThanQSketches() public {
        uint256 id = _requestTolerant(3, 2);
        address[] memory ws = _commitAll(id, _honest(3, 31));
        _revealSealed(ws[0], id);
        vm.warp(uint256(hub.task(id).revealDeadline) + 1);
        uint256 before = hub.balanceOf(requester);
        vm.expectEmit(address(hub));
        emit ITaskHub.TaskExpired(id, ITaskHub.WaitReason.SketchDeadlinePassed, REWARD + FEE, 2 * TASK_STAKE);
        hub.expire(id);
        assertEq(hub.balanceOf(requester), before + REWARD + FEE);
        assertEq(hub.reserve(), 2 * TASK_STAKE);
        assertEq(_stake(ws[0]), WORKER_STAKE);
        assertEq(_stake(ws[1]), WORKER_STAKE - TASK_STAKE);
        assertEq(_stake(ws[2]), WORKER_STAKE - TASK_STAKE);
        assertEq(uint8(_reasonOf(id)), uint8(ITaskHub.WaitReason.Done));
    }

    /// @dev No sketch at all: after the reveal deadline the task expires, every committer slashed.
    function test_Expire_NoSketchRevealed() public {
        uint256 id = _requestTolerant(3, 2);
        address[] memory ws = _commitAll(id, _honest(3, 32));
        vm.warp(uint256(hub.task(id).revealDeadline) + 1);
        assertEq(uint8(_reasonOf(id)), uint8(ITaskHub.WaitReason.SketchDeadlinePassed));
        hub.expire(id);
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Failed));
        for (uint256 i; i < 3; ++i) {
            assertEq(_stake(ws[i]), WORKER_STAKE - TASK_STAKE);
        }
        assertEq(hub.reserve(), 3 * TASK_STAKE);
    }

    /// @dev With Q sketches the settlement has priority for SETTLE_GRACE past the deadline.
    function test_Expire_WaitsForTheSettlementGrace() public {
        uint256 id = _requestTolerant(3, 2);
        address[] memory ws = _commitAll(id, _honest(3, 33));
        _revealSealed(ws[0], id);
        _revealSealed(ws[1], id);
        uint256 deadline = hub.task(id).revealDeadline;
        vm.warp(deadline + hub.SETTLE_GRACE());
        vm.expectRevert(
            abi.encodeWithSelector(
                ITaskHub.TaskHubNotExpirable.selector, id, ITaskHub.WaitReason.SketchDeadlinePassed
            )
        );
        hub.expire(id);
        uint256 snap = vm.snapshotState();
        _settle(keeper, id, ws[1]);
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Finalized));
        assertEq(_stake(ws[2]), WORKER_STAKE - TASK_STAKE, "the non-revealer");
        vm.revertToState(snap);
        vm.warp(deadline + hub.SETTLE_GRACE() + 1);
        hub.expire(id);
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Failed));
        assertEq(_stake(ws[0]), WORKER_STAKE);
        assertEq(_stake(ws[2]), WORKER_STAKE - TASK_STAKE);
    }

    function test_Settle_RevertWhen_NotReconciling() public {
        uint256 id = _requestTolerant(3, 2);
        address[] memory ws = _commitAll(id, _honest(3, 34));
        (ITaskHub.Opening[] memory os,) = _openings(id, ws[0]);
        vm.expectRevert(
            abi.encodeWithSelector(ITaskHub.TaskHubWrongStatus.selector, id, ITaskHub.TaskStatus.Requested)
        );
        hub.settleTolerant(id, 0, os, "");
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubUnknownTask.selector, 99));
        hub.settleTolerant(99, 0, os, "");
        for (uint256 i; i < 3; ++i) {
            _revealSealed(ws[i], id);
        }
        _settle(keeper, id, ws[0]);
        (os,) = _openings(id, ws[0]);
        bytes memory summary = sealed_[id][ws[0]].summary;
        vm.expectRevert(
            abi.encodeWithSelector(ITaskHub.TaskHubWrongStatus.selector, id, ITaskHub.TaskStatus.Finalized)
        );
        hub.settleTolerant(id, 0, os, summary);
        vm.expectRevert(
            abi.encodeWithSelector(ITaskHub.TaskHubWrongStatus.selector, id, ITaskHub.TaskStatus.Finalized)
        );
        hub.expire(id);
        vm.expectRevert(
            abi.encodeWithSelector(ITaskHub.TaskHubWrongStatus.selector, id, ITaskHub.TaskStatus.Finalized)
        );
        hub.finalize(id, summary);
    }

    /// @dev The exact path's calls refuse a reconciling task.
    function test_Reconciling_RefusesTheExactPath() public {
        uint256 id = _requestTolerant(3, 2);
        address[] memory ws = _commitAll(id, _honest(3, 35));
        _revealSealed(ws[0], id);
        Sealed storage s = sealed_[id][ws[1]];
        bytes32 rh = hub.requestHashOf(id);
        vm.startPrank(ws[1]);
        vm.expectRevert(
            abi.encodeWithSelector(ITaskHub.TaskHubWrongStatus.selector, id, ITaskHub.TaskStatus.Reconciling)
        );
        hub.reveal(id, s.sha, keccak256(s.sketch), s.summary);
        vm.expectRevert(
            abi.encodeWithSelector(ITaskHub.TaskHubWrongStatus.selector, id, ITaskHub.TaskStatus.Reconciling)
        );
        hub.commit(id, rh, bytes32(uint256(1)), bytes32(uint256(2)));
        vm.expectRevert(
            abi.encodeWithSelector(ITaskHub.TaskHubWrongStatus.selector, id, ITaskHub.TaskStatus.Reconciling)
        );
        hub.finalize(id, s.summary);
        vm.stopPrank();
    }

    /*////////////////////////////////////////////////////////////// models without a tolerance */

    /// @dev Without a tolerance: NoQuorumPossible and CommitDeadlinePassed as before, expirable at once,
    /// nobody slashed.
    function test_NoTolerance_ExpiresAsBefore() public {
        uint256 id = _request(3, 2);
        address[] memory ws = _drawn(id);
        for (uint256 i; i < 3; ++i) {
            _commit(ws[i], id, _goodSummary(), keccak256(abi.encode("other", i)));
        }
        assertEq(uint8(_reasonOf(id)), uint8(ITaskHub.WaitReason.NoQuorumPossible));
        vm.expectEmit(address(hub));
        emit ITaskHub.TaskExpired(id, ITaskHub.WaitReason.NoQuorumPossible, REWARD + FEE, 0);
        hub.expire(id);
        for (uint256 i; i < 3; ++i) {
            assertEq(_stake(ws[i]), WORKER_STAKE);
            assertEq(_locked(ws[i]), 0);
        }

        uint256 id2 = _request(3, 2);
        ws = _drawn(id2);
        _commit(ws[0], id2, _goodSummary(), keccak256("a"));
        _commit(ws[1], id2, _goodSummary(), keccak256("b"));
        _closeCommits(id2);
        assertEq(uint8(_reasonOf(id2)), uint8(ITaskHub.WaitReason.CommitDeadlinePassed));
        vm.expectEmit(address(hub));
        emit ITaskHub.TaskExpired(id2, ITaskHub.WaitReason.CommitDeadlinePassed, REWARD + FEE, 0);
        hub.expire(id2);
    }

    /// @dev A tolerant model with fewer than Q commits at the deadline expires as before.
    function test_Tolerant_FewerThanQCommits_ExpiresAsBefore() public {
        uint256 id = _requestTolerant(3, 2);
        address[] memory ws = _commitAll(id, _honest(1, 36));
        _closeCommits(id);
        assertEq(uint8(_reasonOf(id)), uint8(ITaskHub.WaitReason.CommitDeadlinePassed));
        Sealed storage s = sealed_[id][ws[0]];
        vm.prank(ws[0]);
        vm.expectRevert(
            abi.encodeWithSelector(
                ITaskHub.TaskHubNotReconcilable.selector, id, ITaskHub.WaitReason.CommitDeadlinePassed
            )
        );
        hub.revealSketch(id, keccak256(s.summary), s.sha, s.sketch);
        hub.expire(id);
        assertEq(_stake(ws[0]), WORKER_STAKE);
    }

    /*////////////////////////////////////////////////////////////// callbacks */

    function _consumerTolerant(RequestingConsumer c, uint8 r, uint8 q, uint24 gasLimit)
        internal
        returns (uint256 id)
    {
        _fund(address(c), 100e18);
        vm.roll(block.number + 1);
        ITaskHub.RequestParams memory p = _tolerantParams(r, q);
        p.callbackGasLimit = gasLimit;
        id = c.request(p);
        _mineSeed();
    }

    function _reconcileAll(uint256 id, uint256 seed) internal returns (address[] memory ws) {
        ws = _commitAll(id, _honest(hub.task(id).replication, seed));
        for (uint256 i; i < ws.length; ++i) {
            _revealSealed(ws[i], id);
        }
    }

    function test_Callback_DeliversTheRepresentativesSummary() public {
        CountingConsumer c = new CountingConsumer(hub);
        // The consumer stores the whole 16-detection summary (118 words).
        uint256 id = _consumerTolerant(c, 3, 2, 3_000_000);
        address[] memory ws = _reconcileAll(id, 40);
        _settle(keeper, id, ws[2]);
        assertEq(c.calls(), 1);
        assertTrue(c.lastFinalized());
        assertEq(c.lastSummary(), sealed_[id][ws[2]].summary);
        assertEq(uint8(hub.task(id).callbackOutcome), uint8(ITaskHub.CallbackOutcome.Succeeded));
    }

    function test_Callback_RevertingConsumer_TaskStillFinalized() public {
        RevertingConsumer c = new RevertingConsumer(hub);
        uint256 id = _consumerTolerant(c, 3, 2, 100_000);
        address[] memory ws = _reconcileAll(id, 41);
        _settle(keeper, id, ws[0]);
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Finalized));
        assertEq(uint8(hub.task(id).callbackOutcome), uint8(ITaskHub.CallbackOutcome.Failed));
        assertEq(hub.balanceOf(ws[1]), REWARD / 3, "paid");
    }

    function test_Callback_GasBurningConsumer_TaskStillFinalized() public {
        GasBurningConsumer c = new GasBurningConsumer(hub);
        uint256 id = _consumerTolerant(c, 3, 2, 1_000_000);
        address[] memory ws = _reconcileAll(id, 42);
        _settle(keeper, id, ws[0]);
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Finalized));
        assertEq(uint8(hub.task(id).callbackOutcome), uint8(ITaskHub.CallbackOutcome.Failed));
    }

    /// @dev A settlement that cannot give the callback its gas reverts until CALLBACK_GRACE past the
    /// reveal deadline, then settles with the callback Skipped (as the exact path does).
    function test_Callback_RevertWhen_TooLittleGas_ThenSkippedAfterGrace() public {
        CountingConsumer c = new CountingConsumer(hub);
        uint256 id = _consumerTolerant(c, 3, 2, 5_000_000);
        address[] memory ws = _reconcileAll(id, 43);
        (ITaskHub.Opening[] memory os, uint256 rep) = _openings(id, ws[0]);
        bytes memory summary = sealed_[id][ws[0]].summary;
        vm.expectPartialRevert(ITaskHub.TaskHubInsufficientGasForCallback.selector);
        hub.settleTolerant{gas: 3_000_000}(id, rep, os, summary);
        vm.warp(uint256(hub.task(id).revealDeadline) + hub.CALLBACK_GRACE() + 1);
        hub.settleTolerant{gas: 3_000_000}(id, rep, os, summary);
        assertEq(uint8(hub.task(id).callbackOutcome), uint8(ITaskHub.CallbackOutcome.Skipped));
        assertEq(c.calls(), 0);
    }

    /// @dev Re-entry from the consumer into any entry point is refused by the guard; the settlement
    /// stands (fuzzed over the entry point).
    function testFuzz_Callback_ReentryRefused(uint8 which) public {
        ReentrantAnyConsumer c = new ReentrantAnyConsumer(hub);
        c.setWhich(which);
        uint256 id = _consumerTolerant(c, 3, 2, 1_000_000);
        address[] memory ws = _reconcileAll(id, 44);
        _settle(keeper, id, ws[1]);
        assertTrue(c.attempted());
        assertTrue(c.refused(), "re-entry refused by the guard");
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Finalized));
        assertEq(uint8(hub.task(id).callbackOutcome), uint8(ITaskHub.CallbackOutcome.Succeeded));
        assertEq(hub.balanceOf(ws[1]), REWARD / 3);
    }

    /*////////////////////////////////////////////////////////////// helpers */

    /// @dev Commits what `sealed_` holds for `w` (a hand-made, possibly inconsistent, result).
    function _commitSealed(address w, uint256 id) internal {
        Sealed storage s = sealed_[id][w];
        bytes32 d = ResultHash.digest(keccak256(s.summary), s.sha);
        bytes32 rh = hub.requestHashOf(id);
        vm.prank(w);
        hub.commit(id, rh, ResultHash.resultHash(id, d), ResultHash.resultSeal(w, id, d, keccak256(s.sketch)));
    }

    function _reasonOf(uint256 id) internal view returns (ITaskHub.WaitReason why) {
        (, why) = hub.taskState(id);
    }

    /*////////////////////////////////////////////////////////////// semantic models: per-label sketches */

    /// @dev Commits a semantic worker's result: its sketch has one entry per label (`union`), its
    /// summary one detection per component (`components`), as the inference crate makes them.
    function _commitSemantic(
        address w,
        uint256 taskId,
        Sketches.Result memory union,
        Sketches.Result memory components
    ) internal {
        Sealed storage s = sealed_[taskId][w];
        s.sketch = Sketches.sketch(union);
        s.summary = Sketches.summary(components);
        s.sha = keccak256(abi.encode(Sketches.sha(union), s.summary));
        bytes32 d = ResultHash.digest(keccak256(s.summary), s.sha);
        bytes32 requestHash = hub.requestHashOf(taskId);
        vm.prank(w);
        hub.commit(
            taskId,
            requestHash,
            ResultHash.resultHash(taskId, d),
            ResultHash.resultSeal(w, taskId, d, keccak256(s.sketch))
        );
    }

    /// @dev Three workers whose class mask splits into 1, 2 and 3 components (noise cuts seams): the
    /// per-label sketches agree (one entry each), the summaries list the components.
    function _semanticTask(uint32 modelId) internal returns (uint256 id, address[] memory ws) {
        ITaskHub.RequestParams memory p = _params(3, 2);
        p.modelId = modelId;
        vm.roll(block.number + 1);
        vm.prank(requester);
        id = hub.request(p);
        _mineSeed();
        ws = _drawn(id);
        Sketches.Result memory union = Sketches.base(1);
        for (uint256 i; i < 3; ++i) {
            Sketches.Result memory u = Sketches.copy(union);
            u.dets[0].area += uint32(i); // a boundary cell or two of noise
            Sketches.Result memory comps = Sketches.base(i + 1);
            _commitSemantic(ws[i], id, u, comps);
        }
        for (uint256 i; i < 3; ++i) {
            _revealSealed(ws[i], id);
        }
    }

    function test_Settle_SemanticModel_PerLabelSketchAgainstComponentSummary() public {
        vm.prank(publisher);
        uint32 semantic = models.registerWithTolerance(
            "ipfs://semantic", keccak256("semantic.pt"), 1, FEE, Sketches.tolerance()
        );
        for (uint256 i; i < 8; ++i) {
            vm.prank(makeAddr(string.concat("worker", vm.toString(i))));
            registry.optIn(semantic);
        }
        (uint256 id, address[] memory ws) = _semanticTask(semantic);
        // The representative's summary has three components of the sketch's one label.
        _settle(keeper, id, ws[2]);
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Finalized));
        assertEq(hub.result(id).summaryHash, keccak256(sealed_[id][ws[2]].summary));
    }

    function test_Settle_RevertWhen_InstanceModelSummaryDoesNotLineUpWithItsSketch() public {
        // The same results under an instance model (kind 0): a one-entry sketch cannot stand for a
        // three-detection summary.
        (uint256 id, address[] memory ws) = _semanticTask(tolerantModelId);
        (ITaskHub.Opening[] memory os, uint256 rep) = _openings(id, ws[2]);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubSummaryContradictsSketch.selector, id));
        hub.settleTolerant(id, rep, os, sealed_[id][ws[2]].summary);
    }
}
