// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {SketchRule} from "../../contracts/libraries/SketchRule.sol";

/// @dev Exposes the library (a revert is then a call's revert).
contract SketchRuleHarness {
    function compare(bytes memory a, bytes memory b, SketchRule.Tolerance memory t)
        external
        pure
        returns (bool, uint256)
    {
        return SketchRule.compare(a, b, t);
    }
}

/// @notice The Rust rule's verdicts (test/vectors/sketch.json, written by the inference crate's
/// `tests/sketch_vectors.rs`) reproduced on chain, and fuzzed properties of the rule.
contract SketchRuleTest is Test {
    SketchRuleHarness internal harness = new SketchRuleHarness();

    function _tolerance(string memory json) internal pure returns (SketchRule.Tolerance memory t) {
        t.scoreBps = uint16(vm.parseJsonUint(json, ".scoreBps"));
        t.boxCells = uint16(vm.parseJsonUint(json, ".boxCells"));
        t.areaCells = uint32(vm.parseJsonUint(json, ".areaCells"));
        t.areaPpm = uint32(vm.parseJsonUint(json, ".areaPpm"));
        t.centroid16ths = uint32(vm.parseJsonUint(json, ".centroid16ths"));
        t.thresholdBps = uint16(vm.parseJsonUint(json, ".thresholdBps"));
        t.smallArea = uint32(vm.parseJsonUint(json, ".smallArea"));
    }

    function _default() internal pure returns (SketchRule.Tolerance memory) {
        return SketchRule.Tolerance({
            scoreBps: 100,
            boxCells: 1,
            areaCells: 4,
            areaPpm: 5000,
            centroid16ths: 4,
            thresholdBps: 5000,
            smallArea: 32
        });
    }

    function test_Vectors_MatchTheRustRule() public view {
        string memory json = vm.readFile("test/vectors/sketch.json");
        SketchRule.Tolerance memory t = _tolerance(json);
        uint256 n;
        uint256 agreeing;
        while (vm.keyExistsJson(json, string.concat(".cases[", vm.toString(n), "]"))) {
            string memory c = string.concat(".cases[", vm.toString(n), "]");
            bytes memory a = vm.parseJsonBytes(json, string.concat(c, ".a"));
            bytes memory b = vm.parseJsonBytes(json, string.concat(c, ".b"));
            bool agree = vm.parseJsonBool(json, string.concat(c, ".agree"));
            uint256 distance = vm.parseJsonUint(json, string.concat(c, ".distance"));
            (bool got, uint256 d) = SketchRule.compare(a, b, t);
            string memory name = vm.parseJsonString(json, string.concat(c, ".name"));
            assertEq(got, agree, name);
            assertEq(d, distance, name);
            if (agree) agreeing++;
            n++;
        }
        assertGt(n, 100, "cases read");
        assertGt(agreeing, 20, "agreeing cases");
        assertGt(n - agreeing, 20, "disagreeing cases");
    }

    /// @dev One detection; the header fixed.
    function _one(uint16 label, uint16 score, uint16 x0, uint16 y0, uint32 area, uint32 cx, uint32 cy)
        internal
        pure
        returns (bytes memory)
    {
        return abi.encodePacked(
            uint8(0),
            bytes32(uint256(0x11)),
            bytes32(uint256(0x22)),
            uint8(1),
            uint16(640),
            uint16(480),
            abi.encodePacked(
                label, score, x0, y0, uint16(uint256(x0) + 10), uint16(uint256(y0) + 10), area, cx, cy
            )
        );
    }

    function testFuzz_ASketchAgreesWithItself(uint16 label, uint16 score, uint16 x0, uint16 y0, uint32 area)
        public
        pure
    {
        x0 = uint16(bound(x0, 0, 60_000));
        y0 = uint16(bound(y0, 0, 60_000));
        bytes memory s = _one(label, score, x0, y0, area, 16 * uint32(x0), 16 * uint32(y0));
        (bool agree, uint256 d) = SketchRule.compare(s, s, _default());
        assertTrue(agree);
        assertEq(d, 0);
    }

    function testFuzz_ACentroidMovedPastTheToleranceNeverAgrees(
        uint16 score,
        uint32 area,
        uint32 cx,
        uint32 shift
    ) public pure {
        SketchRule.Tolerance memory t = _default();
        // Not exempt: above the threshold and not small.
        score = uint16(bound(score, t.thresholdBps + 1, 10_000));
        area = uint32(bound(area, t.smallArea + 1, 1 << 30));
        cx = uint32(bound(cx, 0, 1 << 30));
        shift = uint32(bound(shift, t.centroid16ths + 1, 1 << 30));
        bytes memory a = _one(1, score, 10, 10, area, cx, 100);
        bytes memory b = _one(1, score, 10, 10, area, cx + shift, 100);
        (bool agree,) = SketchRule.compare(a, b, t);
        assertFalse(agree);
        (agree,) = SketchRule.compare(b, a, t);
        assertFalse(agree);
    }

    function testFuzz_WithinEveryToleranceAgrees(uint16 dScore, uint16 dBox, uint32 dArea, uint32 dC)
        public
        pure
    {
        SketchRule.Tolerance memory t = _default();
        dScore = uint16(bound(dScore, 0, t.scoreBps));
        dBox = uint16(bound(dBox, 0, t.boxCells));
        dArea = uint32(bound(dArea, 0, t.areaCells));
        dC = uint32(bound(dC, 0, t.centroid16ths));
        bytes memory a = _one(2, 9000, 100, 100, 1000, 1600, 1600);
        bytes memory b = _one(2, 9000 - dScore, 100 + dBox, 100, 1000 + dArea, 1600 + dC, 1600);
        (bool agree, uint256 d) = SketchRule.compare(a, b, t);
        assertTrue(agree);
        assertLe(d, SketchRule.WITHIN);
    }

    function test_AMalformedSketchReverts() public {
        bytes memory good = _one(1, 9000, 1, 1, 100, 16, 16);
        bytes memory cut = new bytes(good.length - 1);
        for (uint256 i; i < cut.length; ++i) {
            cut[i] = good[i];
        }
        vm.expectRevert(abi.encodeWithSelector(SketchRule.SketchRuleMalformed.selector, cut.length));
        harness.compare(good, cut, _default());
    }

    /// @dev Gas of the worst case the hub would meet: 16 detections on each side, all matching.
    function test_Gas_SixteenDetections() public view {
        bytes memory dets;
        for (uint256 i; i < 16; ++i) {
            uint16 x = uint16(20 * i);
            dets = abi.encodePacked(
                dets,
                uint16(1),
                uint16(9000),
                x,
                x,
                uint16(x + 10),
                uint16(x + 10),
                uint32(100),
                uint32(16 * x),
                uint32(16 * x)
            );
        }
        bytes memory s = abi.encodePacked(
            uint8(0),
            bytes32(uint256(0x11)),
            bytes32(uint256(0x22)),
            uint8(16),
            uint16(640),
            uint16(480),
            dets
        );
        uint256 before = gasleft();
        (bool agree,) = harness.compare(s, s, _default());
        uint256 used = before - gasleft();
        assertTrue(agree);
        // Recorded in docs/tolerant-consensus.md; a guard against an accidental blow-up.
        assertLt(used, 2_000_000, "gas of one 16x16 comparison");
    }
}
