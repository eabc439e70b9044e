// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {console} from "forge-std/console.sol";
import {SketchRule} from "../../contracts/libraries/SketchRule.sol";
import {Tolerance} from "../../contracts/types/Tolerance.sol";
import {Detection, Summary} from "../../contracts/types/Summary.sol";
import {SketchRuleReference} from "../utils/SketchRuleReference.sol";
import {Sketches} from "../utils/Sketches.sol";

/// @dev Exposes the library (a revert is then a call's revert).
contract SketchRuleHarness {
    function compare(bytes memory a, bytes memory b, Tolerance memory t)
        external
        pure
        returns (bool, uint256)
    {
        return SketchRule.compare(a, b, t);
    }

    function compareReference(bytes memory a, bytes memory b, Tolerance memory t)
        external
        pure
        returns (bool, uint256)
    {
        return SketchRuleReference.compare(a, b, t);
    }

    function checkFormat(bytes calldata s) external pure returns (uint256) {
        SketchRule.checkFormat(s);
        return uint8(s[65]);
    }

    function matchesSummary(bytes memory sketch, bytes calldata summary) external pure returns (bool) {
        return SketchRule.matchesSummary(sketch, summary);
    }

    function matchesSummaryPerLabel(bytes memory sketch, bytes calldata summary)
        external
        pure
        returns (bool)
    {
        return SketchRule.matchesSummaryPerLabel(sketch, summary);
    }
}

/// @notice The Rust rule's verdicts (test/vectors/sketch.json, written by the inference crate's
/// `tests/sketch_vectors.rs`) reproduced on chain, and fuzzed properties of the rule.
contract SketchRuleTest is Test {
    SketchRuleHarness internal harness = new SketchRuleHarness();

    function _tolerance(string memory json) internal pure returns (Tolerance memory t) {
        t.scoreBps = uint16(vm.parseJsonUint(json, ".scoreBps"));
        t.boxCells = uint16(vm.parseJsonUint(json, ".boxCells"));
        t.areaCells = uint32(vm.parseJsonUint(json, ".areaCells"));
        t.areaPpm = uint32(vm.parseJsonUint(json, ".areaPpm"));
        t.centroid16ths = uint32(vm.parseJsonUint(json, ".centroid16ths"));
        t.thresholdBps = uint16(vm.parseJsonUint(json, ".thresholdBps"));
        t.smallArea = uint32(vm.parseJsonUint(json, ".smallArea"));
    }

    function _default() internal pure returns (Tolerance memory) {
        return Tolerance({
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
        Tolerance memory t = _tolerance(json);
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
        Tolerance memory t = _default();
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
        Tolerance memory t = _default();
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

    /// @dev Gas of one comparison through the harness (an external call), of the optimised rule and of
    /// the field-by-field reference, logged; the optimised one is guarded below `bound`.
    function _gas(string memory label, bytes memory a, bytes memory b, bool expect, uint256 bound)
        internal
        view
    {
        Tolerance memory t = _default();
        uint256 before = gasleft();
        (bool agree,) = harness.compare(a, b, t);
        uint256 used = before - gasleft();
        before = gasleft();
        (bool agreeRef,) = harness.compareReference(a, b, t);
        uint256 usedRef = before - gasleft();
        assertEq(agree, expect, label);
        assertEq(agreeRef, expect, label);
        console.log(label);
        console.log("  optimised  ", used);
        console.log("  reference  ", usedRef);
        assertLt(used, bound, label);
    }

    /// @dev The case measured first (docs/tolerant-consensus.md: 1.21 M): 16 detections of one label on
    /// each side, identical, so every match is at distance 0.
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
        _gas("16x16, identical", s, s, true, 60_000);
    }

    /// @dev Two honest noisy copies of one 16-detection result of one label: every detection of one
    /// side is a candidate for every unused one of the other, matches are at distances above 0.
    function test_Gas_SixteenDetections_HonestNoise() public view {
        Sketches.Result memory r = Sketches.base(16);
        _gas(
            "16x16, honest noise",
            Sketches.sketch(Sketches.noisy(r, 1)),
            Sketches.sketch(Sketches.noisy(r, 2)),
            true,
            150_000
        );
    }

    /// @dev An upper bound: 16 detections of one label stacked on one box, all within tolerance of
    /// each other, so every candidate is measured on every field (no early exit), each match at a
    /// distance above 0 (no early stop).
    function test_Gas_SixteenDetections_AllCandidatesWithin() public view {
        Sketches.Result memory r = Sketches.base(16);
        for (uint256 i; i < 16; ++i) {
            Sketches.Det memory d = r.dets[i];
            (d.score, d.x0, d.y0, d.x1, d.y1, d.cx, d.cy) = (9000, 10, 10, 18, 18, 224, 224);
        }
        Sketches.Result memory b = Sketches.copy(r);
        for (uint256 i; i < 16; ++i) {
            // Each field of b one step off, within tolerance; area rising, so that no two distances tie.
            Sketches.Det memory d = b.dets[i];
            (d.score, d.x1, d.area, d.cx) = (9100, 19, uint32(50 + (i % 5)), 228);
        }
        _gas("16x16, all candidates within", Sketches.sketch(r), Sketches.sketch(b), true, 400_000);
    }

    /*////////////////////////////////////////////////////////////// differential */

    /// @dev A random tolerance with zeros and edges among its values.
    function _randomTolerance(uint256 h) internal pure returns (Tolerance memory t) {
        uint16[4] memory score = [uint16(0), 50, 100, 200];
        uint16[3] memory box = [uint16(0), 1, 2];
        uint32[3] memory cells = [uint32(0), 4, 10];
        uint32[3] memory ppm = [uint32(0), 5000, 100_000];
        uint32[3] memory cen = [uint32(0), 4, 8];
        uint16[3] memory thr = [uint16(0), 5000, 9000];
        uint32[3] memory small = [uint32(0), 32, 40];
        t = Tolerance({
            scoreBps: score[h % 4],
            boxCells: box[(h >> 8) % 3],
            areaCells: cells[(h >> 16) % 3],
            areaPpm: ppm[(h >> 24) % 3],
            centroid16ths: cen[(h >> 32) % 3],
            thresholdBps: thr[(h >> 40) % 3],
            smallArea: small[(h >> 48) % 3]
        });
    }

    /// @dev A random result whose detections crowd one small region (many candidates, many ties).
    function _randomResult(uint256 seed) internal pure returns (Sketches.Result memory r) {
        r.modelSha = Sketches.MODEL;
        r.inputSha = Sketches.INPUT;
        uint256 n = seed % 17;
        r.dets = new Sketches.Det[](n);
        uint16[6] memory scores = [uint16(4900), 5000, 5100, 9000, 9100, 9200];
        for (uint256 i; i < n; ++i) {
            uint256 h = uint256(keccak256(abi.encode(seed, i)));
            uint16 x0 = uint16(10 + (h >> 16) % 3);
            uint16 y0 = uint16(10 + (h >> 24) % 3);
            r.dets[i] = Sketches.Det({
                label: uint16(1 + h % 2),
                score: scores[(h >> 8) % 6],
                x0: x0,
                y0: y0,
                x1: x0 + uint16(5 + (h >> 32) % 2),
                y1: y0 + uint16(5 + (h >> 36) % 2),
                area: (h >> 40) % 2 == 0 ? uint32(28 + (h >> 48) % 8) : uint32(1000 + (h >> 48) % 12),
                cx: uint32(200 + (h >> 56) % 10),
                cy: uint32(200 + (h >> 64) % 10)
            });
        }
    }

    /// @dev `a` perturbed: fields nudged, maybe a detection dropped or added, two swapped, rarely
    /// another header.
    function _perturbed(Sketches.Result memory a, uint256 seed)
        internal
        pure
        returns (Sketches.Result memory b)
    {
        b = Sketches.copy(a);
        for (uint256 i; i < b.dets.length; ++i) {
            uint256 h = uint256(keccak256(abi.encode(seed, "nudge", i)));
            Sketches.Det memory d = b.dets[i];
            if (h % 3 == 0) d.score += uint16(100 * ((h >> 4) % 3));
            if ((h >> 8) % 3 == 0) d.x1 += uint16((h >> 12) % 3);
            if ((h >> 16) % 3 == 0) d.area += uint32((h >> 20) % 8);
            if ((h >> 28) % 3 == 0) d.cx += uint32((h >> 32) % 10);
            if ((h >> 40) % 5 == 0) d.label = 3 - d.label;
        }
        uint256 g = uint256(keccak256(abi.encode(seed, "shape")));
        if (g % 5 == 0 && b.dets.length > 0) b = Sketches.dropped(b, (g >> 8) % b.dets.length);
        if ((g >> 16) % 5 == 0 && b.dets.length < 16) {
            b = Sketches.added(
                b,
                _randomResult(g | 1).dets.length > 0
                    ? _randomResult(g | 1).dets[0]
                    : Sketches.Det(1, 5000, 1, 1, 2, 2, 1, 16, 16)
            );
        }
        if ((g >> 24) % 3 == 0 && b.dets.length > 1) {
            uint256 i = (g >> 32) % b.dets.length;
            uint256 j = (g >> 40) % b.dets.length;
            (b.dets[i], b.dets[j]) = (b.dets[j], b.dets[i]);
        }
        if ((g >> 48) % 17 == 0) b.inputSha = bytes32(uint256(0x23));
        if ((g >> 56) % 19 == 0) b.status = 1;
    }

    function _sameAsReference(uint256 seed) internal view returns (bool agree) {
        Sketches.Result memory ra = _randomResult(seed);
        Sketches.Result memory rb = (seed >> 128) % 4 == 0 ? _randomResult(seed >> 64) : _perturbed(ra, seed);
        bytes memory a = Sketches.sketch(ra);
        bytes memory b = Sketches.sketch(rb);
        Tolerance memory t = (seed >> 200) % 2 == 0 ? _default() : _randomTolerance(seed >> 136);
        (bool got, uint256 d) = harness.compare(a, b, t);
        (bool want, uint256 dRef) = harness.compareReference(a, b, t);
        assertEq(got, want, "verdict");
        assertEq(d, dRef, "distance");
        return got;
    }

    /// @dev The optimised rule gives the reference's verdict and distance (fuzzed seeds).
    function testFuzz_SameAsTheReference(uint256 seed) public view {
        _sameAsReference(seed);
    }

    /// @dev The same over 400 fixed seeds, with both verdicts well represented.
    function test_SameAsTheReference_FixedSeeds() public view {
        uint256 agreeing;
        for (uint256 i; i < 400; ++i) {
            if (_sameAsReference(uint256(keccak256(abi.encode("seed", i))))) ++agreeing;
        }
        assertGt(agreeing, 40, "agreeing cases");
        assertLt(agreeing, 340, "disagreeing cases");
    }

    /// @dev Two honest noisy copies of one result always agree.
    function testFuzz_HonestNoiseAgrees(uint8 n, uint256 s1, uint256 s2) public pure {
        Sketches.Result memory r = Sketches.base(bound(n, 0, 16));
        (bool agree, uint256 d) = SketchRule.compare(
            Sketches.sketch(Sketches.noisy(r, s1)), Sketches.sketch(Sketches.noisy(r, s2)), _default()
        );
        assertTrue(agree);
        assertLe(d, SketchRule.WITHIN);
    }

    /*////////////////////////////////////////////////////////////// format and summary */

    function test_CheckFormat_CountsDetections() public view {
        for (uint256 n; n <= 16; ++n) {
            assertEq(harness.checkFormat(Sketches.sketch(Sketches.base(n))), n);
        }
    }

    function test_CheckFormat_RevertWhen_LengthOrCountWrong() public {
        bytes memory s = Sketches.sketch(Sketches.base(2));
        bytes memory longer = abi.encodePacked(s, uint8(0));
        vm.expectRevert(abi.encodeWithSelector(SketchRule.SketchRuleMalformed.selector, longer.length));
        harness.checkFormat(longer);
        vm.expectRevert(abi.encodeWithSelector(SketchRule.SketchRuleMalformed.selector, 69));
        harness.checkFormat(new bytes(69));
        // A count of 17 with 17 detections' bytes: above the maximum.
        Sketches.Result memory r = Sketches.base(16);
        r = Sketches.added(r, r.dets[0]);
        bytes memory seventeen = Sketches.sketch(r);
        vm.expectRevert(abi.encodeWithSelector(SketchRule.SketchRuleMalformed.selector, seventeen.length));
        harness.checkFormat(seventeen);
    }

    /// A semantic model's sketch: one entry per label (the union of its components), so a summary of
    /// three components of two labels matches a two-entry sketch; a summary with a label the sketch
    /// does not have, another status, or detections against an empty sketch does not.
    function test_MatchesSummaryPerLabel() public view {
        Sketches.Result memory comps = Sketches.base(3);
        comps.dets[0].label = 1;
        comps.dets[1].label = 1;
        comps.dets[2].label = 2;
        Sketches.Result memory union = Sketches.base(2);
        union.dets[0].label = 1;
        union.dets[1].label = 2;
        bytes memory sk = Sketches.sketch(union);
        bytes memory summary = Sketches.summary(comps);
        assertTrue(harness.matchesSummaryPerLabel(sk, summary), "components of the sketch's labels");
        assertFalse(harness.matchesSummary(sk, summary), "the per-detection check would refuse it");

        Sketches.Result memory o = Sketches.copy(comps);
        o.dets[1].label = 3;
        assertFalse(harness.matchesSummaryPerLabel(sk, Sketches.summary(o)), "a label not in the sketch");
        o = Sketches.copy(comps);
        o.status = 5;
        assertFalse(harness.matchesSummaryPerLabel(sk, Sketches.summary(o)), "status");
        assertFalse(
            harness.matchesSummaryPerLabel(Sketches.sketch(Sketches.base(0)), summary),
            "detections, empty sketch"
        );
        assertFalse(
            harness.matchesSummaryPerLabel(sk, Sketches.summary(Sketches.base(0))), "entries, no detection"
        );
        assertTrue(
            harness.matchesSummaryPerLabel(
                Sketches.sketch(Sketches.base(0)), Sketches.summary(Sketches.base(0))
            ),
            "both empty"
        );
    }

    function test_MatchesSummary() public view {
        Sketches.Result memory r = Sketches.noisy(Sketches.base(16), 7);
        bytes memory sk = Sketches.sketch(r);
        assertTrue(harness.matchesSummary(sk, Sketches.summary(r)), "own summary");
        assertTrue(
            harness.matchesSummary(Sketches.sketch(Sketches.base(0)), Sketches.summary(Sketches.base(0)))
        );

        // Geometry is not compared (the sketch is on the grid, the summary in pixels).
        Sketches.Result memory moved = Sketches.shifted(r, 3, 5);
        assertTrue(harness.matchesSummary(sk, Sketches.summary(moved)), "geometry");

        Sketches.Result memory o = Sketches.copy(r);
        o.status = 1;
        assertFalse(
            harness.matchesSummary(sk, Sketches.summary(Sketches.dropped(Sketches.base(1), 0))), "count"
        );
        o = Sketches.copy(r);
        o.dets[5].label = 2;
        assertFalse(harness.matchesSummary(sk, Sketches.summary(o)), "label");
        o = Sketches.copy(r);
        o.dets[15].score += 100;
        assertFalse(harness.matchesSummary(sk, Sketches.summary(o)), "score");
        o = Sketches.copy(r);
        (o.dets[0], o.dets[1]) = (o.dets[1], o.dets[0]);
        o.dets[0].score = 1; // make the swap visible whatever the scores were
        assertFalse(harness.matchesSummary(sk, Sketches.summary(o)), "order");
        o = Sketches.dropped(r, 15);
        assertFalse(harness.matchesSummary(sk, Sketches.summary(o)), "dropped");
        // An error status with no detections against an OK sketch with none.
        Sketches.Result memory e = Sketches.base(0);
        e.status = 2;
        assertFalse(harness.matchesSummary(Sketches.sketch(Sketches.base(0)), Sketches.summary(e)), "status");
        assertTrue(harness.matchesSummary(Sketches.sketch(e), Sketches.summary(e)), "error status");
    }
}
