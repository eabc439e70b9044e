// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {console} from "forge-std/console.sol";
import {ITaskHub} from "../../contracts/interfaces/ITaskHub.sol";
import {GasMeter} from "../utils/GasMeter.sol";
import {Sketches} from "../utils/Sketches.sol";
import {TolerantFixture} from "../utils/TolerantFixture.sol";

/// @notice Gas of the tolerant fallback with 16-detection sketches (the largest), each call measured as
/// its own transaction (storage cold, intrinsic gas included; see GasMeter): R sketch reveals and the
/// settlement. Worst case: Q members and R - Q outliers that differ from every member only in their
/// last detection (each comparison runs to its end) and are slashed on that evidence, so settleTolerant
/// makes R - 1 comparisons against the representative and (R - Q) x (Q - 1) against the other members.
/// Detections of one label, so that every detection is a candidate for every other. No callback.
contract TolerantGasTest is TolerantFixture, GasMeter {
    uint256 internal constant POOL = 10;

    struct Cost {
        uint256 revealFirst; // opens the reconciliation
        uint256 revealOther; // sum of the others
        uint256 settle;
        uint256 intrinsic; // of the reveals and the settlement
    }

    function setUp() public override {
        super.setUp();
        _addBothWorkers(POOL);
        for (uint256 i; i < POOL; ++i) {
            _fund(workers[i], 1);
        }
        _fund(publisher, 1);
        // Warm-up task so one-time slots are as in steady operation.
        _run(3, 2, 3, 0);
    }

    /// @dev The token is left warm: in this forge version vm.cool leaves it without code to run, and a
    /// slashing settlement calls it (the registry pays the slashed stake to the hub). A transaction
    /// would pay about 2,600 + 2 x 2,100 more for it (a cold account, two cold balance slots).
    function _cooled() internal view override returns (address[] memory cold) {
        cold = new address[](4);
        (cold[0], cold[1], cold[2], cold[3]) =
        (address(hub), address(registry), address(models), address(hub.sketchJudge()));
    }

    function test_Gas_Tolerant_R3Q2() public {
        _report("R=3 Q=2, 2 members + 1 outlier", _run(3, 2, 2, 1), 3);
    }

    function test_Gas_Tolerant_R5Q3() public {
        _report("R=5 Q=3, 3 members + 2 outliers", _run(5, 3, 3, 2), 5);
    }

    function test_Gas_Tolerant_R7Q4() public {
        Cost memory c = _run(7, 4, 4, 3);
        _report("R=7 Q=4, 4 members + 3 outliers", c, 7);
        // Far below a block: the design's worry (21 comparisons at 1.21 M each) is gone.
        assertLt(c.settle, 3_000_000, "R=7 settlement");
    }

    function test_Gas_Tolerant_R7Q4_AllAgree() public {
        _report("R=7 Q=4, 7 members", _run(7, 4, 7, 0), 7);
    }

    /// @dev A task on the tolerant model: `members` honest noisy results and `outliers` results that
    /// differ in their last detection only; every committer reveals, the first member is the
    /// representative.
    function _run(uint8 r, uint8 q, uint256 members, uint256 outliers) internal returns (Cost memory c) {
        uint256 id = _requestTolerant(r, q);
        Sketches.Result[] memory rs = _honest(r, uint256(keccak256(abi.encode(hub.taskCount()))));
        for (uint256 i = members; i < members + outliers; ++i) {
            rs[i] = Sketches.shifted(rs[i], 15, 2);
        }
        address[] memory ws = _commitAll(id, rs);
        for (uint256 i; i < r; ++i) {
            Sealed storage s = sealed_[id][ws[i]];
            uint256 g = _txTo(
                address(hub),
                ws[i],
                abi.encodeCall(ITaskHub.revealSketch, (id, keccak256(s.summary), s.sha, s.sketch))
            );
            c.intrinsic += _lastIntrinsic;
            if (i == 0) c.revealFirst = g;
            else c.revealOther += g;
        }
        (ITaskHub.Opening[] memory os, uint256 rep) = _openings(id, ws[0]);
        c.settle = _txTo(
            address(hub),
            makeAddr("keeper"),
            abi.encodeCall(ITaskHub.settleTolerant, (id, rep, os, sealed_[id][ws[0]].summary))
        );
        c.intrinsic += _lastIntrinsic;
        assertEq(uint8(_status(id)), uint8(ITaskHub.TaskStatus.Finalized));
        for (uint256 i = members; i < members + outliers; ++i) {
            assertEq(_stake(ws[i]), WORKER_STAKE - TASK_STAKE, "outlier slashed on evidence");
        }
    }

    function _report(string memory label, Cost memory c, uint256 r) internal pure {
        console.log(label);
        console.log("  first revealSketch     ", c.revealFirst);
        console.log("  other revealSketch, each", c.revealOther / (r - 1));
        console.log("  settleTolerant         ", c.settle);
        console.log("  of which intrinsic (all)", c.intrinsic);
    }
}
