// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {console} from "forge-std/console.sol";
import {ITaskHub} from "../../contracts/interfaces/ITaskHub.sol";
import {IWorkerRegistry} from "../../contracts/interfaces/IWorkerRegistry.sol";
import {ResultHash} from "../../contracts/libraries/ResultHash.sol";
import {CountingConsumer} from "../mocks/HostileConsumers.sol";
import {Fixture} from "../utils/Fixture.sol";
import {SKETCH_HASH} from "../utils/Sketches.sol";

/// @notice The review's attacks (issue 12), each as a scenario against the deployed contracts.
contract AttacksTest is Fixture {
    /*//////////////////////////////////////////////////////////////
                        H-1: RE-ROLLING THE DRAW
    //////////////////////////////////////////////////////////////*/

    uint256 internal constant HONEST = 20;
    uint256 internal constant TASKS = 50;
    uint256 internal constant TRIES = 100;

    address internal a1;
    address internal a2;

    /// @dev 20 honest workers of 1,000 tokens and two attacker accounts of 990 each: 9.0% of stake.
    function _rerollSetUp() internal {
        _addWorkers(HONEST);
        a1 = _addWorker("attacker1", 990e18);
        a2 = _addWorker("attacker2", 990e18);
        // Spare tokens for top-ups.
        token.mint(a2, 1e18);
        vm.prank(a2);
        token.approve(address(registry), type(uint256).max);
    }

    function _seats(address[] memory ws) internal view returns (uint256 n) {
        for (uint256 i; i < ws.length; ++i) {
            if (ws[i] == a1 || ws[i] == a2) ++n;
        }
    }

    /// @dev One tree change by an attacker, `x` wei: unstake (a1) or top-up (a2), alternately.
    function _treeChange(uint256 x) internal {
        if (x % 2 == 1) {
            vm.prank(a1);
            registry.requestUnstake(x);
        } else {
            vm.prank(a2);
            registry.stake(x);
        }
    }

    /// @notice For each of 50 (3, 2) tasks, once the seed is public the attackers try 100 tree changes
    /// off-chain (unstake / top-up of x wei), keep one that seats both (a captured task) and send it
    /// before anyone draws. They capture no more tasks than with no tree change at all.
    function test_Reroll_TreeChangesAfterSeedCaptureNoMoreTasks() public {
        _rerollSetUp();
        uint256 baseline;
        uint256 attacked;
        uint256 seatsBaseline;
        uint256 seatsAttacked;
        for (uint256 k; k < TASKS; ++k) {
            uint256 id = _request(3, 2); // seed block mined: the seed is public
            address[] memory honest = _drawn(id);
            seatsBaseline += _seats(honest);
            if (_seats(honest) >= 2) ++baseline;
            uint256 chosen;
            for (uint256 x = 1; x <= TRIES && chosen == 0; ++x) {
                uint256 snap = vm.snapshotState();
                _treeChange(x);
                if (_seats(_drawn(id)) >= 2) chosen = x;
                vm.revertToState(snap);
            }
            if (chosen != 0) _treeChange(chosen);
            hub.draw(id);
            (address[] memory ws,) = hub.previewDraw(id);
            assertEq(keccak256(abi.encode(ws)), keccak256(abi.encode(honest)), "draw moved");
            seatsAttacked += _seats(ws);
            if (_seats(ws) >= 2) ++attacked;
        }
        console.log("tasks", TASKS);
        console.log("captured (>= Q seats), no tree change ", baseline);
        console.log("captured (>= Q seats), 100 tries/task ", attacked);
        console.log("attacker seats, no tree change        ", seatsBaseline);
        console.log("attacker seats, 100 tries/task        ", seatsAttacked);
        assertLe(attacked, baseline, "re-rolls captured more tasks");
        assertEq(seatsAttacked, seatsBaseline);
    }

    /// @notice Any sequence of stake, top-up, unstake, new worker, opt-out and opt-in calls by any
    /// accounts, in the request block after the request, before and after the seed block: the drawn
    /// set is the one drawn without them.
    function testFuzz_Draw_UnchangedByPoolChangesAfterRequest(uint256[12] memory ops, uint8 r) public {
        _addWorkers(8);
        r = uint8(bound(r, 1, 5));
        vm.roll(block.number + 1);
        vm.prank(requester);
        uint256 id = hub.request(_params(r, r / 2 + 1));
        uint256 snap = vm.snapshotState();
        _mineSeed();
        hub.draw(id);
        (address[] memory expected,) = hub.previewDraw(id);
        vm.revertToState(snap);

        for (uint256 i; i < ops.length; ++i) {
            if (i == 4) _mineSeed(); // ops 0-3 in the request block, the rest after the seed is public
            _poolOp(ops[i], i);
        }
        hub.draw(id);
        (address[] memory ws,) = hub.previewDraw(id);
        assertEq(keccak256(abi.encode(ws)), keccak256(abi.encode(expected)), "draw changed");
    }

    function _poolOp(uint256 op, uint256 i) internal {
        uint256 kind = op % 6;
        address w = workers[(op >> 8) % workers.length];
        uint256 amount = bound(op >> 64, 1, 500e18);
        if (kind == 0) {
            // top-up
            token.mint(w, amount);
            vm.startPrank(w);
            token.approve(address(registry), amount);
            registry.stake(amount);
            vm.stopPrank();
        } else if (kind == 1) {
            uint256 free = registry.freeStake(w);
            if (free == 0) return;
            vm.prank(w);
            registry.requestUnstake(bound(amount, 1, free));
        } else if (kind == 2) {
            _addWorker(string.concat("newcomer", vm.toString(i)), amount * 100);
        } else if (kind == 3) {
            bool optedIn = registry.isOptedIn(w, modelId);
            vm.prank(w);
            if (optedIn) registry.optOut(modelId);
            else registry.optIn(modelId);
        } else if (kind == 4) {
            uint256 free = registry.freeStake(w);
            if (free == 0) return;
            vm.prank(w);
            registry.requestUnstake(free); // leaves the pool's weight entirely
        } else {
            vm.roll(block.number + 1 + (op >> 200) % 3);
        }
    }

    /*//////////////////////////////////////////////////////////////
                        M-2: FEE FRONT-RUN
    //////////////////////////////////////////////////////////////*/

    function test_FeeFrontRun_RequestRevertsAndBalanceKept() public {
        _addWorkers(3);
        uint256 before = hub.balanceOf(requester);
        // The publisher sees the request in the mempool and raises the fee to the requester's balance.
        vm.prank(publisher);
        models.setFee(modelId, uint96(before));
        vm.roll(block.number + 1);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubFeeAboveMax.selector, modelId, before, FEE));
        vm.prank(requester);
        hub.request(_params(3, 2));
        assertEq(hub.balanceOf(requester), before, "balance taken");
        assertEq(hub.balanceOf(publisher), 0);
    }

    /*//////////////////////////////////////////////////////////////
                        M-3: LOCKING THE POOL WITH DUST TASKS
    //////////////////////////////////////////////////////////////*/

    /// @notice A griefer opens 60 tasks of 1 wei reward with 30-day windows for the whole pool (5
    /// workers, each with room for 10 task stakes) and draws them all. No stake is locked by the draws,
    /// so a genuine task drawn next is committed, revealed and settled as usual.
    function test_DustTasks_DoNotStarveGenuineTask() public {
        _addWorkers(5);
        address griefer = makeAddr("griefer");
        uint256 n = 60;
        _fund(griefer, n * (FEE + 1));
        vm.roll(block.number + 1);
        ITaskHub.RequestParams memory p = _params(3, 2);
        p.reward = 1;
        p.commitWindow = 30 days;
        p.revealWindow = 30 days;
        uint256[] memory dust = new uint256[](n);
        vm.startPrank(griefer);
        for (uint256 i; i < n; ++i) {
            dust[i] = hub.request(p);
        }
        vm.stopPrank();
        _mineSeed();
        for (uint256 i; i < n; ++i) {
            hub.draw(dust[i]);
        }
        for (uint256 i; i < workers.length; ++i) {
            assertEq(registry.workerInfo(workers[i]).locked, 0, "a draw locked stake");
        }
        // The genuine task.
        uint256 id = _request(3, 2);
        address[] memory ws = _commitHonest(id, 3);
        _reveal(ws[0], id, _goodSummary(), _goodSha());
        _reveal(ws[1], id, "", _goodSha());
        _reveal(ws[2], id, "", _goodSha());
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Finalized));
        for (uint256 i; i < ws.length; ++i) {
            assertEq(registry.workerInfo(ws[i]).locked, 0);
        }
    }

    /*//////////////////////////////////////////////////////////////
                        UNPAID HONEST WORK, COPYCATS
    //////////////////////////////////////////////////////////////*/

    /// @notice (3, 2): two fast workers agree; the third, slower, delivers before the deadline. All
    /// three are paid (consensus at Q no longer closes commits while a drawn worker may still deliver).
    function test_LateHonestWorker_IsPaid() public {
        _addWorkers(5);
        uint256 id = _request(3, 2);
        address[] memory ws = _drawn(id);
        _commit(ws[0], id, _goodSummary(), _goodSha());
        _commit(ws[1], id, _goodSummary(), _goodSha());
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Requested), "commits still open");
        vm.warp(block.timestamp + COMMIT_WINDOW - 1); // the slow one, just in time
        _commit(ws[2], id, _goodSummary(), _goodSha());
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Revealing));
        _reveal(ws[0], id, _goodSummary(), _goodSha());
        _reveal(ws[1], id, "", _goodSha());
        _reveal(ws[2], id, "", _goodSha());
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Finalized));
        assertEq(hub.balanceOf(ws[2]), REWARD / 3, "late honest worker unpaid");
        assertEq(hub.balanceOf(ws[1]), REWARD / 3);
        assertEq(hub.balanceOf(ws[0]), REWARD / 3 + REWARD % 3);
    }

    /// @notice A lazy drawn worker waits for the first reveal (digest public) and then tries to commit
    /// the right answer with a valid seal: commits are closed by then.
    function test_LazyWorker_CannotCommitOnceDigestPublic() public {
        _addWorkers(5);
        uint256 id = _request(3, 2);
        address[] memory ws = _commitHonest(id, 2); // commits close at the deadline
        _reveal(ws[0], id, _goodSummary(), _goodSha()); // digest now public
        bytes32 d = _digest(_goodSummary(), _goodSha());
        bytes32 rh = hub.requestHashOf(id);
        vm.expectRevert(
            abi.encodeWithSelector(ITaskHub.TaskHubWrongStatus.selector, id, ITaskHub.TaskStatus.Revealing)
        );
        vm.prank(ws[2]);
        hub.commit(id, rh, ResultHash.resultHash(id, d), ResultHash.resultSeal(ws[2], id, d, SKETCH_HASH));
        _reveal(ws[1], id, "", _goodSha());
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Finalized));
        assertEq(hub.balanceOf(ws[2]), 0, "lazy worker paid");
        assertEq(registry.workerInfo(ws[2]).stake, WORKER_STAKE, "not committed: nothing locked or slashed");
    }

    /// @notice A lazy drawn worker copies the result hash of a commit (public in the Committed event)
    /// while commits are open, with a made-up seal: it completes nothing it can open, is slashed, and the
    /// honest workers share reward and its stake.
    function test_CopiedHash_SlashedNotPaid() public {
        _addWorkers(5);
        uint256 id = _request(3, 2);
        address[] memory ws = _drawn(id);
        _commit(ws[0], id, _goodSummary(), _goodSha());
        _commit(ws[1], id, _goodSummary(), _goodSha());
        bytes32 copied = hub.result(id).resultHash;
        bytes32 rh = hub.requestHashOf(id);
        vm.prank(ws[2]);
        hub.commit(id, rh, copied, keccak256("made-up seal"));
        _reveal(ws[0], id, _goodSummary(), _goodSha());
        _reveal(ws[1], id, "", _goodSha());
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubSealMismatch.selector, id, ws[2]));
        _reveal(ws[2], id, "", _goodSha());
        vm.warp(hub.task(id).revealDeadline + 1);
        hub.finalize(id, "");
        assertEq(hub.balanceOf(ws[2]), 0, "copycat paid");
        assertEq(registry.workerInfo(ws[2]).stake, WORKER_STAKE - TASK_STAKE, "copycat not slashed");
        assertEq(hub.balanceOf(ws[0]) + hub.balanceOf(ws[1]), REWARD + TASK_STAKE);
    }

    /*//////////////////////////////////////////////////////////////
                        REORG: A COMMIT NAMES ITS REQUEST
    //////////////////////////////////////////////////////////////*/

    /// @notice Request A gets id 1 and workers compute for it; a reorg replaces A by request B (another
    /// requester, another image) at the same id. Commits carrying A's request hash cannot settle B.
    function test_Reorg_CommitForReplacedRequestRejected() public {
        _addWorkers(5);
        vm.roll(block.number + 1);
        uint256 snap = vm.snapshotState();
        vm.prank(requester);
        uint256 idA = hub.request(_params(3, 2));
        bytes32 hashA = hub.requestHashOf(idA);
        vm.revertToState(snap);

        address other = makeAddr("other requester");
        _fund(other, 100e18);
        ITaskHub.RequestParams memory pb = _params(3, 2);
        pb.input = "ipfs://bafkreiothernotthesameimageatallxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
        vm.prank(other);
        uint256 idB = hub.request(pb);
        assertEq(idB, idA, "same id after the reorg");
        bytes32 hashB = hub.requestHashOf(idB);
        assertTrue(hashA != hashB);
        _mineSeed();
        address w = _drawn(idB)[0];
        bytes32 d = _digest(_goodSummary(), _goodSha());
        bytes32 h = ResultHash.resultHash(idB, d);
        bytes32 seal = ResultHash.resultSeal(w, idB, d, SKETCH_HASH);
        vm.expectRevert(
            abi.encodeWithSelector(ITaskHub.TaskHubRequestHashMismatch.selector, idB, hashA, hashB)
        );
        vm.prank(w);
        hub.commit(idB, hashA, h, seal);
        // The request hash is in the request event's task record too.
        assertEq(bytes32(hub.task(idB).requestHash), hashB);
    }

    /*//////////////////////////////////////////////////////////////
                                LOWS
    //////////////////////////////////////////////////////////////*/

    function test_RequestUnstake_RevertWhen_UnbondingOverflowsUint96() public {
        address w = _addWorker("whale", type(uint96).max);
        vm.prank(w);
        registry.requestUnstake(type(uint96).max);
        token.mint(w, type(uint96).max);
        vm.startPrank(w);
        token.approve(address(registry), type(uint96).max);
        registry.stake(type(uint96).max);
        vm.expectRevert(); // SafeCast: unbonding would exceed uint96 (was truncated before)
        registry.requestUnstake(1);
        vm.stopPrank();
        assertEq(registry.workerInfo(w).unbonding, type(uint96).max);
    }

    /// @notice A callback budget no transaction can carry: the settling reveal reverts until the grace
    /// period past the reveal deadline; then finalize settles with the callback Skipped.
    function test_Callback_SkippedAfterGrace_WhenGasCannotBeGiven() public {
        _addWorkers(3);
        CountingConsumer c = new CountingConsumer(hub);
        _fund(address(c), 100e18);
        ITaskHub.RequestParams memory p = _params(3, 3);
        p.callbackGasLimit = 5_000_000;
        vm.roll(block.number + 1);
        uint256 id = c.request(p);
        _mineSeed();
        address[] memory ws = _commitHonest(id, 3);
        _reveal(ws[0], id, _goodSummary(), _goodSha());
        _reveal(ws[1], id, "", _goodSha());
        // The chain's transaction gas limit (here 1,000,000) is below the budget.
        vm.prank(ws[2]);
        vm.expectPartialRevert(ITaskHub.TaskHubInsufficientGasForCallback.selector);
        hub.reveal{gas: 1_000_000}(id, _goodSha(), SKETCH_HASH, _goodSummary());
        vm.warp(uint256(hub.task(id).revealDeadline) + 1);
        vm.expectPartialRevert(ITaskHub.TaskHubInsufficientGasForCallback.selector);
        hub.finalize{gas: 1_000_000}(id, _goodSummary());
        vm.warp(uint256(hub.task(id).revealDeadline) + hub.CALLBACK_GRACE() + 1);
        hub.finalize{gas: 1_000_000}(id, _goodSummary());
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Finalized));
        assertEq(uint8(hub.task(id).callbackOutcome), uint8(ITaskHub.CallbackOutcome.Skipped));
        assertEq(c.calls(), 0);
    }

    /// @notice No-reveal expiry: the slashed stake goes to the reserve, not to the requester who chose
    /// the reveal window (no reward for censoring reveals).
    function test_NoRevealExpiry_SlashNotToRequester() public {
        _addWorkers(3);
        uint256 before = hub.balanceOf(requester);
        uint256 id = _request(3, 3);
        _commitHonest(id, 3);
        vm.warp(hub.task(id).revealDeadline + 1);
        hub.expire(id);
        assertEq(hub.balanceOf(requester), before);
        assertEq(hub.reserve(), 3 * TASK_STAKE);
    }
}
