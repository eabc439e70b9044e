// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {console} from "forge-std/console.sol";
import {ITaskHub} from "../../contracts/interfaces/ITaskHub.sol";
import {ResultHash} from "../../contracts/libraries/ResultHash.sol";
import {Fixture} from "../utils/Fixture.sol";
import {GasMeter} from "../utils/GasMeter.sol";
import {SKETCH_HASH} from "../utils/Sketches.sol";

/// @notice Gas of one complete task (request + R commits + R reveals, finalize folded into the last
/// reveal), each call measured as its own transaction would be: every contract's storage is cooled
/// before the call (vm.cool), and the intrinsic cost (21,000 + calldata) is added. Steady state: every
/// account paid already holds a hub balance. No callback (the consumer's own gas is excluded).
contract TaskGasTest is Fixture, GasMeter {
    uint256 internal constant POOL = 10;

    struct Cost {
        uint256 request;
        uint256 commitFirst; // includes the draw
        uint256 commitOther; // sum of the other commits
        uint256 revealOther; // sum of the non-final reveals
        uint256 revealLast; // includes settlement
        uint256 intrinsic; // 21,000 + calldata, summed over the task's transactions
    }

    function setUp() public override {
        super.setUp();
        _addWorkers(POOL);
        for (uint256 i; i < POOL; ++i) {
            _fund(workers[i], 1);
        }
        _fund(publisher, 1);
        // Warm-up task so the task counter and other one-time slots are as in steady operation.
        _runTask(1, 1);
    }

    function test_Gas_FullTask_R1() public {
        _report("R=1 Q=1", _runTask(1, 1), 1);
    }

    function test_Gas_FullTask_R3Q2() public {
        _report("R=3 Q=2", _runTask(3, 2), 3);
    }

    function test_Gas_FullTask_R3() public {
        Cost memory c = _runTask(3, 3);
        uint256 total = _report("R=3 Q=3", c, 3);
        // The target counts execution gas (what forge's gas report shows per call); the intrinsic
        // 21,000 per transaction plus calldata is reported beside it.
        assertLe(total - c.intrinsic, 500_000, "R=3 task over the 500k execution gas target");
    }

    function test_Gas_FullTask_R5() public {
        _report("R=5 Q=5", _runTask(5, 5), 5);
    }

    function _runTask(uint8 r, uint8 q) internal returns (Cost memory c) {
        ITaskHub.RequestParams memory p = _params(r, q);
        vm.roll(block.number + 1);
        c.request = _tx(requester, abi.encodeCall(ITaskHub.request, (p)));
        c.intrinsic += _lastIntrinsic;
        uint256 taskId = hub.taskCount();
        _mineSeed();
        address[] memory ws = _drawn(taskId);
        bytes memory summary = _goodSummary();
        bytes32 sha = _goodSha();
        bytes32 d = _digest(summary, sha);
        bytes32 h = ResultHash.resultHash(taskId, d);
        bytes32 rh = hub.requestHashOf(taskId);
        // Honest workers: all R commit (commits close at R or the deadline) and all R reveal.
        q = r;
        for (uint256 i; i < q; ++i) {
            uint256 g = _tx(
                ws[i],
                abi.encodeCall(
                    ITaskHub.commit, (taskId, rh, h, ResultHash.resultSeal(ws[i], taskId, d, SKETCH_HASH))
                )
            );
            c.intrinsic += _lastIntrinsic;
            if (i == 0) c.commitFirst = g;
            else c.commitOther += g;
        }
        for (uint256 i; i < q; ++i) {
            uint256 g = _tx(
                ws[i],
                abi.encodeCall(ITaskHub.reveal, (taskId, sha, SKETCH_HASH, i == 0 ? summary : bytes("")))
            );
            c.intrinsic += _lastIntrinsic;
            if (i + 1 == q) c.revealLast = g;
            else c.revealOther += g;
        }
        assertEq(uint8(_status(taskId)), uint8(ITaskHub.TaskStatus.Finalized));
    }

    function _cooled() internal view override returns (address[] memory cold) {
        cold = new address[](4);
        (cold[0], cold[1], cold[2], cold[3]) =
        (address(hub), address(registry), address(models), address(token));
    }

    function _tx(address from, bytes memory data) internal returns (uint256) {
        return _txTo(address(hub), from, data);
    }

    function _report(string memory label, Cost memory c, uint256 q) internal pure returns (uint256 total) {
        total = c.request + c.commitFirst + c.commitOther + c.revealOther + c.revealLast;
        console.log(label);
        console.log("  request               ", c.request);
        console.log("  first commit (+draw)  ", c.commitFirst);
        if (q > 1) {
            console.log("  other commit, each    ", c.commitOther / (q - 1));
            console.log("  other reveal, each    ", c.revealOther / (q - 1));
        }
        console.log("  last reveal (+settle) ", c.revealLast);
        console.log("  total per task        ", total);
        console.log("  of which intrinsic    ", c.intrinsic);
        console.log("  execution only        ", total - c.intrinsic);
    }
}
