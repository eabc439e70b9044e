// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Tolerance} from "../types/Tolerance.sol";

/// @title SketchRule
/// @notice The tolerance rule of the tolerant consensus (docs/tolerant-consensus.md): whether two
/// workers' sketches agree, computed exactly as `inference/src/sketch.rs` does (integer distances
/// in millionths of the tolerance), and the checks the hub's fallback makes on a sketch (its
/// format, its consistency with a summary). The shared vectors (test/vectors/sketch.json) keep the
/// Rust and Solidity rules equal.
/// @dev Sketch layout, big-endian: status u8 | model_sha256 [32] | input_sha256 [32] | count u8 |
/// grid_width u16 | grid_height u16, then `count` x { label u16 | score_bps u16 | gx0 gy0 gx1 gy1
/// u16 | area u32 | cx u32 | cy u32 }. One detection is 24 bytes: a single 32-byte load shifted
/// right by 64 bits holds it whole (label in bits 176..191, score 160..175, the box edges 144..159,
/// 128..143, 112..127, 96..111, area 64..95, cx 32..63, cy 0..31).
library SketchRule {
    /// @dev The sketch's length does not match its count, or the count is above MAX_DETECTIONS.
    error SketchRuleMalformed(uint256 length);

    uint256 internal constant HEADER_BYTES = 70;
    uint256 internal constant DETECTION_BYTES = 24;
    uint256 internal constant MAX_DETECTIONS = 16;
    /// @dev A distance of WITHIN is the tolerance's edge.
    uint256 internal constant WITHIN = 1_000_000;
    /// @dev The distance of detections that cannot be matched.
    uint256 internal constant STRUCTURAL = type(uint64).max;

    /// @notice Whether `a` and `b` agree, and then the largest matched distance (else 0). Detections of
    /// `a` are matched in order, each to the closest unused detection of `b` with its label within
    /// tolerance (the first of equally close ones); an unmatched detection must be exempt (score at
    /// most `thresholdBps`, or area at most `smallArea`). Reverts with SketchRuleMalformed when either
    /// sketch's length does not match its count.
    /// @dev Same results as the field-by-field form (test/utils/SketchRuleReference.sol, held equal by a
    /// differential fuzz), cheaper: one load per detection, a candidate's fields are abandoned as soon
    /// as one is past what could still win (past the tolerance, or not closer than the best so far),
    /// and a partner at distance 0 ends the search (no later one can be closer: the first wins ties).
    function compare(bytes memory a, bytes memory b, Tolerance memory t)
        internal
        pure
        returns (bool agree, uint256 distance)
    {
        uint256 na = _count(a);
        uint256 nb = _count(b);
        assembly ("memory-safe") {
            // The distance of detections x and y (labels equal): the largest field difference in
            // millionths of its tolerance (a zero tolerance admits no difference; differences are
            // below 2^32, so no quotient reaches STRUCTURAL), or some value above `limit` as soon as
            // one field is above it. `tp`: the Tolerance in memory, one word per field. Written out
            // field by field (no inner calls: each costs more than the arithmetic it wraps).
            function dist(x, y, limit, tp) -> r {
                let u
                let v
                let d
                let q
                let tol := mload(tp)
                u := and(shr(160, x), 0xffff)
                v := and(shr(160, y), 0xffff)
                d := sub(u, v)
                if lt(u, v) { d := sub(v, u) }
                if d {
                    q := 0xffffffffffffffff
                    if tol { q := div(mul(d, 1000000), tol) }
                    if gt(q, r) {
                        r := q
                        if gt(r, limit) { leave }
                    }
                }
                tol := mload(add(tp, 0x20))
                u := and(shr(144, x), 0xffff)
                v := and(shr(144, y), 0xffff)
                d := sub(u, v)
                if lt(u, v) { d := sub(v, u) }
                if d {
                    q := 0xffffffffffffffff
                    if tol { q := div(mul(d, 1000000), tol) }
                    if gt(q, r) {
                        r := q
                        if gt(r, limit) { leave }
                    }
                }
                u := and(shr(128, x), 0xffff)
                v := and(shr(128, y), 0xffff)
                d := sub(u, v)
                if lt(u, v) { d := sub(v, u) }
                if d {
                    q := 0xffffffffffffffff
                    if tol { q := div(mul(d, 1000000), tol) }
                    if gt(q, r) {
                        r := q
                        if gt(r, limit) { leave }
                    }
                }
                u := and(shr(112, x), 0xffff)
                v := and(shr(112, y), 0xffff)
                d := sub(u, v)
                if lt(u, v) { d := sub(v, u) }
                if d {
                    q := 0xffffffffffffffff
                    if tol { q := div(mul(d, 1000000), tol) }
                    if gt(q, r) {
                        r := q
                        if gt(r, limit) { leave }
                    }
                }
                u := and(shr(96, x), 0xffff)
                v := and(shr(96, y), 0xffff)
                d := sub(u, v)
                if lt(u, v) { d := sub(v, u) }
                if d {
                    q := 0xffffffffffffffff
                    if tol { q := div(mul(d, 1000000), tol) }
                    if gt(q, r) {
                        r := q
                        if gt(r, limit) { leave }
                    }
                }
                // max(areaCells, max(areaA, areaB) * areaPpm / 1e6)
                u := and(shr(64, x), 0xffffffff)
                v := and(shr(64, y), 0xffffffff)
                tol := v
                if lt(v, u) { tol := u }
                tol := div(mul(tol, mload(add(tp, 0x60))), 1000000)
                q := mload(add(tp, 0x40))
                if lt(tol, q) { tol := q }
                d := sub(u, v)
                if lt(u, v) { d := sub(v, u) }
                if d {
                    q := 0xffffffffffffffff
                    if tol { q := div(mul(d, 1000000), tol) }
                    if gt(q, r) {
                        r := q
                        if gt(r, limit) { leave }
                    }
                }
                tol := mload(add(tp, 0x80))
                u := and(shr(32, x), 0xffffffff)
                v := and(shr(32, y), 0xffffffff)
                d := sub(u, v)
                if lt(u, v) { d := sub(v, u) }
                if d {
                    q := 0xffffffffffffffff
                    if tol { q := div(mul(d, 1000000), tol) }
                    if gt(q, r) {
                        r := q
                        if gt(r, limit) { leave }
                    }
                }
                u := and(x, 0xffffffff)
                v := and(y, 0xffffffff)
                d := sub(u, v)
                if lt(u, v) { d := sub(v, u) }
                if d {
                    q := 0xffffffffffffffff
                    if tol { q := div(mul(d, 1000000), tol) }
                    if gt(q, r) {
                        r := q
                        if gt(r, limit) { leave }
                    }
                }
            }
            // A detection that may go unmatched: at the score threshold, or small.
            function exempt(x, tp) -> e {
                e := or(
                    iszero(gt(and(shr(160, x), 0xffff), mload(add(tp, 0xa0)))),
                    iszero(gt(and(shr(64, x), 0xffffffff), mload(add(tp, 0xc0))))
                )
            }

            // The closest unused detection of the sketch at `db` (nb detections) with x's label within
            // tolerance, the first of equally close ones; best = STRUCTURAL when there is none.
            function closest(x, db, cntB, used, tp) -> best, bestJ {
                best := 0xffffffffffffffff
                let label := shr(176, x)
                for { let j := 0 } lt(j, cntB) { j := add(j, 1) } {
                    if and(shr(j, used), 1) { continue }
                    let y := shr(64, mload(add(db, mul(j, 24))))
                    if iszero(eq(shr(176, y), label)) { continue }
                    // A candidate wins when within tolerance and closer than the best so far (which
                    // is > 0: the search stops at 0), i.e. at most the limit.
                    let limit := 1000000
                    if iszero(eq(best, 0xffffffffffffffff)) { limit := sub(best, 1) }
                    let d := dist(x, y, limit, tp)
                    if iszero(gt(d, limit)) {
                        best := d
                        bestJ := j
                        if iszero(d) { break }
                    }
                }
            }
            // Matches every detection at `da` in order; ok false at the first one unmatched and not
            // exempt. `used`: bit j for each matched detection at `db`.
            function matchAll(da, cntA, db, cntB, tp) -> ok, used, worst {
                ok := 1
                for { let i := 0 } lt(i, cntA) { i := add(i, 1) } {
                    let x := shr(64, mload(add(da, mul(i, 24))))
                    let best, bestJ := closest(x, db, cntB, used, tp)
                    switch eq(best, 0xffffffffffffffff)
                    case 0 {
                        used := or(used, shl(bestJ, 1))
                        if gt(best, worst) { worst := best }
                    }
                    default {
                        if iszero(exempt(x, tp)) {
                            ok := 0
                            leave
                        }
                    }
                }
            }
            // Whether every unused detection at `db` is exempt.
            function restExempt(db, cntB, used, tp) -> ok {
                ok := 1
                for { let j := 0 } lt(j, cntB) { j := add(j, 1) } {
                    if iszero(and(shr(j, used), 1)) {
                        if iszero(exempt(shr(64, mload(add(db, mul(j, 24)))), tp)) {
                            ok := 0
                            leave
                        }
                    }
                }
            }

            // Status and model sha256 (bytes 0..32), input sha256 (32..64), and bytes 64..70 but the
            // count (65): the rest of the input sha256 and the grid size.
            agree := and(
                and(
                    eq(mload(add(a, 0x20)), mload(add(b, 0x20))),
                    eq(mload(add(a, 0x40)), mload(add(b, 0x40)))
                ),
                eq(
                    and(shr(208, mload(add(a, 0x60))), 0xff00ffffffff),
                    and(shr(208, mload(add(b, 0x60))), 0xff00ffffffff)
                )
            )
            if agree {
                // Detections start at byte 70 of each sketch (0x20 + 70 = 102 past the length word).
                let ok, used, worst := matchAll(add(a, 102), na, add(b, 102), nb, t)
                if ok { ok := restExempt(add(b, 102), nb, used, t) }
                agree := ok
                if ok { distance := worst }
            }
        }
    }

    /// @notice Whether `a` and `b` agree under `t` (compare's verdict without its distance).
    function agrees(bytes memory a, bytes memory b, Tolerance memory t) internal pure returns (bool) {
        (bool agree, uint256 distance) = compare(a, b, t);
        // compare gives a distance within the tolerance exactly when it agrees.
        return agree && distance <= WITHIN;
    }

    /// @notice Reverts with SketchRuleMalformed unless the sketch in calldata is well formed: its length
    /// matches its count (byte 65) and the count is at most 16.
    function checkFormat(bytes calldata s) internal pure {
        if (s.length < HEADER_BYTES) revert SketchRuleMalformed(s.length);
        uint256 n = uint8(s[65]);
        if (n > MAX_DETECTIONS || s.length != HEADER_BYTES + n * DETECTION_BYTES) {
            revert SketchRuleMalformed(s.length);
        }
    }

    /// @notice Whether a summary (`abi.encode(Summary)`, already checked by ResultHash.validateSummary)
    /// tells the same as a well-formed sketch: the same status, the same number of detections, and per
    /// detection, in order, the same label and score. Both take the canonical result's first 16
    /// detections in canonical order (`Summary::of`, `Sketch::of` in the inference crate).
    function matchesSummary(bytes memory sketch, bytes calldata summary) internal pure returns (bool ok) {
        uint256 n = _count(sketch);
        assembly ("memory-safe") {
            let p := add(sketch, 0x20)
            // Summary words: 1 status, 5 count, then 7 per detection (label, scoreBps, ...) from word 6.
            ok := and(
                eq(shr(248, mload(p)), calldataload(add(summary.offset, 0x20))),
                eq(n, calldataload(add(summary.offset, 0xa0)))
            )
            let dp := add(p, 70)
            let sp := add(summary.offset, 0xc0)
            for { let i := 0 } and(ok, lt(i, n)) { i := add(i, 1) } {
                let x := shr(64, mload(add(dp, mul(i, 24))))
                let w := add(sp, mul(i, 0xe0))
                ok := and(
                    eq(shr(176, x), calldataload(w)),
                    eq(and(shr(160, x), 0xffff), calldataload(add(w, 0x20)))
                )
            }
        }
    }

    /// @notice The summary check for a semantic model's sketch, whose entries are one per label (the
    /// union of the label's components, labels ascending: `SketchShape::PerLabel` in the inference
    /// crate) and so do not line up with the summary's components: the summary's status is the
    /// sketch's, it has detections exactly when the sketch has entries, and each of its detections'
    /// labels is one of the sketch's.
    function matchesSummaryPerLabel(bytes memory sketch, bytes calldata summary)
        internal
        pure
        returns (bool ok)
    {
        uint256 n = _count(sketch);
        assembly ("memory-safe") {
            let p := add(sketch, 0x20)
            // Summary words: 1 status, 5 count, then 7 per detection (label first) from word 6.
            let m := calldataload(add(summary.offset, 0xa0))
            ok := and(
                eq(shr(248, mload(p)), calldataload(add(summary.offset, 0x20))),
                eq(iszero(n), iszero(m))
            )
            let dp := add(p, 70)
            let sp := add(summary.offset, 0xc0)
            for { let i := 0 } and(ok, lt(i, m)) { i := add(i, 1) } {
                let label := calldataload(add(sp, mul(i, 0xe0)))
                let found := 0
                for { let j := 0 } and(iszero(found), lt(j, n)) { j := add(j, 1) } {
                    found := eq(shr(240, mload(add(dp, mul(j, 24)))), label)
                }
                ok := found
            }
        }
    }

    function _count(bytes memory s) private pure returns (uint256 n) {
        uint256 len = s.length;
        if (len < HEADER_BYTES) revert SketchRuleMalformed(len);
        assembly ("memory-safe") {
            n := byte(0, mload(add(s, 97))) // 0x20 + 65
        }
        if (n > MAX_DETECTIONS || len != HEADER_BYTES + n * DETECTION_BYTES) revert SketchRuleMalformed(len);
    }
}
