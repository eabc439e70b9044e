// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {RequestHashSlot} from "../utils/RequestHashSlot.sol";
import {ITaskHub} from "../../contracts/interfaces/ITaskHub.sol";
import {ResultHash} from "../../contracts/libraries/ResultHash.sol";
import {Fixture} from "../utils/Fixture.sol";
import {SKETCH_HASH} from "../utils/Sketches.sol";

/// @notice Fuzz tests of every hub function taking amounts, R/Q, windows or bytes.
contract TaskHubFuzzTest is Fixture {
    function setUp() public override {
        super.setUp();
        _addWorkers(8);
        vm.roll(block.number + 1);
    }

    function testFuzz_DepositWithdraw(uint256 amount, uint256 out) public {
        amount = bound(amount, 1, 1e30);
        out = bound(out, 1, amount);
        address a = makeAddr("fuzz-account");
        _fund(a, amount);
        vm.prank(a);
        hub.withdraw(out);
        assertEq(hub.balanceOf(a), amount - out);
        assertEq(token.balanceOf(a), out);
        vm.expectRevert(
            abi.encodeWithSelector(
                ITaskHub.TaskHubInsufficientBalance.selector, a, amount - out, amount - out + 1
            )
        );
        vm.prank(a);
        hub.withdraw(amount - out + 1);
    }

    function testFuzz_Request_ValidParams(
        uint8 r,
        uint8 q,
        uint96 reward,
        uint32 commitWindow,
        uint32 revealWindow,
        uint24 gasLimit,
        uint16 paramsLen
    ) public {
        r = uint8(bound(r, 1, 16));
        q = uint8(bound(q, r / 2 + 1, r));
        reward = uint96(bound(reward, 1, 100_000e18));
        commitWindow = uint32(bound(commitWindow, 60, 30 days));
        revealWindow = uint32(bound(revealWindow, 60, 30 days));
        gasLimit = uint24(bound(gasLimit, 0, 5_000_000));
        paramsLen = uint16(bound(paramsLen, 0, 4096));
        ITaskHub.RequestParams memory p = _params(r, q);
        p.reward = reward;
        p.commitWindow = commitWindow;
        p.revealWindow = revealWindow;
        p.callbackGasLimit = gasLimit;
        p.params = new bytes(paramsLen);
        uint256 before = hub.balanceOf(requester);
        vm.prank(requester);
        uint256 id = hub.request(p);
        ITaskHub.Task memory t = hub.task(id);
        assertEq(hub.balanceOf(requester), before - reward - FEE);
        assertEq(hub.escrowOf(id), uint256(reward) + FEE);
        assertEq(t.commitDeadline, block.timestamp + commitWindow);
        assertEq(t.revealDeadline, block.timestamp + uint256(commitWindow) + revealWindow);
        assertEq(t.replication, r);
        assertEq(t.quorum, q);
    }

    function testFuzz_Request_RevertWhen_ReplicationOrQuorumInvalid(uint8 r, uint8 q) public {
        vm.assume(r == 0 || r > 16 || q <= r / 2 || q > r);
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubInvalidReplication.selector, r, q));
        vm.prank(requester);
        hub.request(_params(r, q));
    }

    function testFuzz_Request_RevertWhen_WindowInvalid(uint32 window, bool reveal) public {
        vm.assume(window < 60 || window > 30 days);
        ITaskHub.RequestParams memory p = _params(1, 1);
        if (reveal) p.revealWindow = window;
        else p.commitWindow = window;
        vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubInvalidWindow.selector, window));
        vm.prank(requester);
        hub.request(p);
    }

    function testFuzz_Request_RevertWhen_RewardAboveBalance(uint96 reward) public {
        reward = uint96(bound(reward, hub.balanceOf(requester), type(uint96).max));
        ITaskHub.RequestParams memory p = _params(1, 1);
        p.reward = reward;
        vm.expectRevert(
            abi.encodeWithSelector(
                ITaskHub.TaskHubInsufficientBalance.selector,
                requester,
                hub.balanceOf(requester),
                uint256(reward) + FEE
            )
        );
        vm.prank(requester);
        hub.request(p);
    }

    function testFuzz_Request_InputBytes(bytes calldata input) public {
        ITaskHub.RequestParams memory p = _params(1, 1);
        p.input = string(input);
        uint256 n = input.length;
        bool ipfs = n >= 7 && bytes7(input[0:7]) == bytes7("ipfs://");
        bool https = n >= 8 && bytes8(input[0:8]) == bytes8("https://");
        if (n > 2048) {
            vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubInputTooLong.selector, n, 2048));
        } else if (!ipfs && !https) {
            vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubInputSchemeInvalid.selector));
        } else if (n == (ipfs ? 7 : 8)) {
            vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubInputEmptyReference.selector));
        }
        vm.prank(requester);
        hub.request(p);
    }

    function testFuzz_Commit_AnyHashCounts(bytes32 resultHash, bytes32 seal) public {
        vm.assume(resultHash != bytes32(0));
        uint256 id = _request(3, 2);
        address[] memory ws = _drawn(id);
        vm.prank(ws[0]);
        hub.commit(id, RequestHashSlot.read(address(hub), id), resultHash, seal);
        assertEq(hub.task(id).commits, 1);
        assertEq(hub.result(id).resultHash, resultHash);
        // A second equal hash reaches the quorum; an opening that does not match fails.
        vm.prank(ws[1]);
        hub.commit(id, RequestHashSlot.read(address(hub), id), resultHash, seal);
        assertEq(hub.task(id).leaderCount, 2);
        _closeCommits(id);
        vm.expectRevert();
        _reveal(ws[0], id, _goodSummary(), _goodSha());
    }

    function testFuzz_Reveal_SummaryBytes(bytes calldata summary, bytes32 sha) public {
        vm.assume(summary.length != 0);
        uint256 id = _request(1, 1);
        address[] memory ws = _drawn(id);
        _commit(ws[0], id, summary, sha);
        vm.prank(ws[0]);
        try hub.reveal(id, sha, SKETCH_HASH, summary) {
            assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Finalized));
            assertEq(hub.result(id).summaryHash, keccak256(summary));
        } catch {
            // A malformed summary is refused; the task can still expire at the reveal deadline.
            vm.warp(hub.task(id).revealDeadline + 1);
            hub.expire(id);
            assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Failed));
        }
    }

    /// @dev Random dissent and reveal patterns: money is conserved and locks are released.
    function testFuzz_Settlement_ConservesMoney(uint8 r, uint8 q, uint256 dissentMask, uint256 revealMask)
        public
    {
        r = uint8(bound(r, 1, 7));
        q = uint8(bound(q, r / 2 + 1, r));
        uint256 total = _systemTokens();
        uint256 id = _request(r, q);
        address[] memory ws = _drawn(id);
        for (uint256 i; i < r && _status(id) == ITaskHub.TaskStatus.Requested; ++i) {
            bool dissent = (dissentMask >> i) & 1 == 1;
            _commit(ws[i], id, dissent ? _summary(0, 1) : _goodSummary(), _goodSha());
        }
        if (_status(id) == ITaskHub.TaskStatus.Revealing) {
            for (uint256 i; i < r && _status(id) == ITaskHub.TaskStatus.Revealing; ++i) {
                if ((revealMask >> i) & 1 == 0 && hub.task(id).reveals != 0) continue;
                ITaskHub.Contribution[] memory cs = hub.contributions(id);
                if (cs[i].state != ITaskHub.ContributionState.Committed) continue;
                vm.prank(ws[i]);
                try hub.reveal(id, _goodSha(), SKETCH_HASH, _goodSummary()) {} catch {}
            }
        }
        vm.warp(hub.task(id).revealDeadline + 1);
        if (_status(id) == ITaskHub.TaskStatus.Revealing) {
            if (hub.task(id).reveals > 0) hub.finalize(id, _goodSummary());
            else hub.expire(id);
        } else if (_status(id) == ITaskHub.TaskStatus.Requested) {
            hub.expire(id);
        }
        assertTrue(_status(id) == ITaskHub.TaskStatus.Finalized || _status(id) == ITaskHub.TaskStatus.Failed);
        assertEq(_systemTokens(), total, "tokens created or lost");
        for (uint256 i; i < ws.length; ++i) {
            assertEq(registry.workerInfo(ws[i]).locked, 0, "lock left behind");
        }
        // Internal accounts match the tokens held.
        uint256 accounted = hub.balanceOf(requester) + hub.balanceOf(publisher) + hub.reserve();
        for (uint256 i; i < workers.length; ++i) {
            accounted += hub.balanceOf(workers[i]);
        }
        assertEq(token.balanceOf(address(hub)), accounted);
    }

    function testFuzz_Expire_OnlyAfterCommitDeadline(uint32 dt) public {
        uint256 id = _request(3, 2);
        uint256 deadline = hub.task(id).commitDeadline;
        dt = uint32(bound(dt, 0, 2 * COMMIT_WINDOW));
        vm.warp(block.timestamp + dt);
        if (block.timestamp <= deadline) {
            vm.expectRevert();
            hub.expire(id);
        } else {
            hub.expire(id);
            assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Failed));
        }
    }

    function _systemTokens() internal view returns (uint256) {
        return token.balanceOf(address(hub)) + token.balanceOf(address(registry));
    }

    function testFuzz_Finalize_SummaryBytes(bytes calldata summary) public {
        uint256 id = _request(3, 3);
        address[] memory ws = _commitHonest(id, 3);
        _reveal(ws[0], id, _goodSummary(), _goodSha());
        vm.warp(hub.task(id).revealDeadline + 1);
        bool ok = summary.length == 0 || keccak256(summary) == keccak256(_goodSummary());
        if (!ok) vm.expectRevert(abi.encodeWithSelector(ITaskHub.TaskHubSummaryMismatch.selector, id));
        hub.finalize(id, summary);
        if (ok) assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Finalized));
    }

    function testFuzz_Deadlines_RevealWindow(uint32 revealWindow, uint32 dt) public {
        revealWindow = uint32(bound(revealWindow, 60, 30 days));
        ITaskHub.RequestParams memory p = _params(3, 3);
        p.revealWindow = revealWindow;
        vm.prank(requester);
        uint256 id = hub.request(p);
        _mineSeed();
        address[] memory ws = _commitHonest(id, 3);
        uint256 deadline = hub.task(id).revealDeadline;
        dt = uint32(bound(dt, 0, uint256(COMMIT_WINDOW) + 2 * uint256(revealWindow)));
        vm.warp(block.timestamp + dt);
        if (block.timestamp > deadline) {
            vm.expectRevert(
                abi.encodeWithSelector(ITaskHub.TaskHubRevealDeadlinePassed.selector, id, deadline)
            );
        }
        _reveal(ws[0], id, _goodSummary(), _goodSha());
    }
}
