// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Tolerance} from "../../contracts/types/Tolerance.sol";

/// @title SketchRuleReference
/// @notice The first Solidity form of the tolerance rule (field by field, no early exits), kept for
/// tests only: the optimised `SketchRule.compare` must give the same verdict and distance on every
/// input (differential fuzz in test/unit/SketchRule.t.sol).
library SketchRuleReference {
    /// @dev The sketch's length does not match its count, or the count is above MAX_DETECTIONS.
    error SketchRuleMalformed(uint256 length);

    uint256 internal constant HEADER_BYTES = 70;
    uint256 internal constant DETECTION_BYTES = 24;
    uint256 internal constant MAX_DETECTIONS = 16;
    /// @dev A distance of WITHIN is the tolerance's edge.
    uint256 internal constant WITHIN = 1_000_000;
    /// @dev The distance of detections that cannot be matched.
    uint256 internal constant STRUCTURAL = type(uint64).max;

    /// @notice Whether `a` and `b` agree, and then the largest matched distance (else 0).
    function compare(bytes memory a, bytes memory b, Tolerance memory t)
        internal
        pure
        returns (bool agree, uint256 distance)
    {
        uint256 na = _count(a);
        uint256 nb = _count(b);
        // Status, model and input sha256 (bytes 0..65) and the grid (66..70) must be equal.
        if (_read(a, 0, 32) != _read(b, 0, 32) || _read(a, 32, 32) != _read(b, 32, 32)) return (false, 0);
        if (_read(a, 64, 1) != _read(b, 64, 1) || _read(a, 66, 4) != _read(b, 66, 4)) return (false, 0);
        uint256 used;
        for (uint256 i; i < na; ++i) {
            uint256 oa = HEADER_BYTES + i * DETECTION_BYTES;
            (uint256 best, uint256 bestJ) = _closest(a, oa, b, nb, used, t);
            if (best != STRUCTURAL) {
                used |= 1 << bestJ;
                if (best > distance) distance = best;
            } else if (!_exempt(a, oa, t)) {
                return (false, 0);
            }
        }
        for (uint256 j; j < nb; ++j) {
            if (used & (1 << j) == 0 && !_exempt(b, HEADER_BYTES + j * DETECTION_BYTES, t)) {
                return (false, 0);
            }
        }
        return (true, distance);
    }

    /// @dev The closest unused detection of `b` with the label of `a`'s detection at `oa` and within
    /// tolerance (the first of equally close ones); STRUCTURAL when there is none.
    function _closest(
        bytes memory a,
        uint256 oa,
        bytes memory b,
        uint256 nb,
        uint256 used,
        Tolerance memory t
    ) private pure returns (uint256 best, uint256 bestJ) {
        best = STRUCTURAL;
        uint256 label = _read(a, oa, 2);
        for (uint256 j; j < nb; ++j) {
            if (used & (1 << j) != 0) continue;
            uint256 ob = HEADER_BYTES + j * DETECTION_BYTES;
            if (_read(b, ob, 2) != label) continue;
            uint256 d = _distance(a, oa, b, ob, t);
            if (d <= WITHIN && d < best) {
                best = d;
                bestJ = j;
            }
        }
    }

    function _count(bytes memory s) private pure returns (uint256 n) {
        if (s.length < HEADER_BYTES) revert SketchRuleMalformed(s.length);
        n = _read(s, 65, 1);
        if (n > MAX_DETECTIONS || s.length != HEADER_BYTES + n * DETECTION_BYTES) {
            revert SketchRuleMalformed(s.length);
        }
    }

    /// @dev A detection that may go unmatched: at the score threshold, or small.
    function _exempt(bytes memory s, uint256 o, Tolerance memory t) private pure returns (bool) {
        return _read(s, o + 2, 2) <= t.thresholdBps || _read(s, o + 12, 4) <= t.smallArea;
    }

    /// @dev The largest field difference over its tolerance, in millionths (labels already equal).
    function _distance(bytes memory a, uint256 oa, bytes memory b, uint256 ob, Tolerance memory t)
        private
        pure
        returns (uint256 worst)
    {
        worst = _ratio(_diff(_read(a, oa + 2, 2), _read(b, ob + 2, 2)), t.scoreBps);
        for (uint256 e; e < 4; ++e) {
            worst = _max(
                worst, _ratio(_diff(_read(a, oa + 4 + 2 * e, 2), _read(b, ob + 4 + 2 * e, 2)), t.boxCells)
            );
        }
        uint256 areaA = _read(a, oa + 12, 4);
        uint256 areaB = _read(b, ob + 12, 4);
        uint256 relative = _max(areaA, areaB) * t.areaPpm / 1_000_000;
        worst = _max(worst, _ratio(_diff(areaA, areaB), _max(t.areaCells, relative)));
        for (uint256 k; k < 2; ++k) {
            worst = _max(
                worst,
                _ratio(_diff(_read(a, oa + 16 + 4 * k, 4), _read(b, ob + 16 + 4 * k, 4)), t.centroid16ths)
            );
        }
    }

    function _ratio(uint256 d, uint256 tol) private pure returns (uint256) {
        if (d == 0) return 0;
        if (tol == 0) return STRUCTURAL;
        uint256 r = d * WITHIN / tol;
        return r > STRUCTURAL ? STRUCTURAL : r;
    }

    function _diff(uint256 x, uint256 y) private pure returns (uint256) {
        return x > y ? x - y : y - x;
    }

    function _max(uint256 x, uint256 y) private pure returns (uint256) {
        return x > y ? x : y;
    }

    /// @dev `len` (1..32) big-endian bytes of `s` at `offset`; the caller keeps it in bounds.
    function _read(bytes memory s, uint256 offset, uint256 len) private pure returns (uint256 v) {
        assembly ("memory-safe") {
            v := shr(sub(256, mul(8, len)), mload(add(add(s, 0x20), offset)))
        }
    }
}
