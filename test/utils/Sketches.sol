// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Tolerance} from "../../contracts/types/Tolerance.sol";
import {Detection, Summary} from "../../contracts/types/Summary.sol";

/// @dev What exact-path tests seal as the sketch hash: the exact path never opens a sketch, only its hash.
bytes32 constant SKETCH_HASH = keccak256("maskoracle test: the sketch hash sealed on the exact path");

/// @notice Sketches (SketchRule layout) and the summaries that go with them, for tests: honest noise
/// within the default tolerance, and the tamperings the rule must catch.
library Sketches {
    bytes32 internal constant MODEL = bytes32(uint256(0x11));
    bytes32 internal constant INPUT = bytes32(uint256(0x22));
    uint16 internal constant GRID_W = 64;
    uint16 internal constant GRID_H = 48;

    /// @dev One sketch detection; geometry in grid cells, the centroid in 1/16 cell.
    struct Det {
        uint16 label;
        uint16 score;
        uint16 x0;
        uint16 y0;
        uint16 x1;
        uint16 y1;
        uint32 area;
        uint32 cx;
        uint32 cy;
    }

    /// @dev One worker's result: the sketch's header fields and its detections.
    struct Result {
        uint8 status;
        bytes32 modelSha;
        bytes32 inputSha;
        Det[] dets;
    }

    /// @dev The defaults of docs/tolerant-consensus.md (an instance model: threshold 50 %, min area 16).
    function tolerance() internal pure returns (Tolerance memory) {
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

    /// @dev `n` detections of one label, 3 cells apart on a diagonal (the worst case for the matching:
    /// every detection is a candidate for every other), scores well above the threshold.
    function base(uint256 n) internal pure returns (Result memory r) {
        r.modelSha = MODEL;
        r.inputSha = INPUT;
        r.dets = new Det[](n);
        for (uint256 i; i < n; ++i) {
            uint16 x = uint16(3 * i);
            r.dets[i] = Det({
                label: 1,
                score: uint16(9000 - 100 * (i % 4)),
                x0: x,
                y0: x,
                x1: x + 8,
                y1: x + 8,
                area: 50,
                cx: 16 * uint32(x) + 64,
                cy: 16 * uint32(x) + 64
            });
        }
    }

    /// @dev A copy of `r` with seeded honest noise within the tolerance, one-directional (each field
    /// moves by 0..tolerance upwards), so that any two noisy copies of one base agree.
    function noisy(Result memory r, uint256 seed) internal pure returns (Result memory o) {
        o = copy(r);
        for (uint256 i; i < o.dets.length; ++i) {
            uint256 h = uint256(keccak256(abi.encode(seed, i)));
            Det memory d = o.dets[i];
            if (h & 1 != 0) d.score += 100;
            d.x0 += uint16((h >> 1) & 1);
            d.y0 += uint16((h >> 2) & 1);
            d.x1 += uint16((h >> 3) & 1);
            d.y1 += uint16((h >> 4) & 1);
            d.area += uint32((h >> 8) % 5);
            d.cx += uint32((h >> 16) % 5);
            d.cy += uint32((h >> 24) % 5);
        }
    }

    function copy(Result memory r) internal pure returns (Result memory o) {
        o.status = r.status;
        o.modelSha = r.modelSha;
        o.inputSha = r.inputSha;
        o.dets = new Det[](r.dets.length);
        for (uint256 i; i < r.dets.length; ++i) {
            Det memory d = r.dets[i];
            o.dets[i] = Det(d.label, d.score, d.x0, d.y0, d.x1, d.y1, d.area, d.cx, d.cy);
        }
    }

    /// @dev `r` without its detection `k`.
    function dropped(Result memory r, uint256 k) internal pure returns (Result memory o) {
        o = copy(r);
        Det[] memory ds = new Det[](r.dets.length - 1);
        uint256 j;
        for (uint256 i; i < r.dets.length; ++i) {
            if (i != k) ds[j++] = o.dets[i];
        }
        o.dets = ds;
    }

    /// @dev `r` with one more detection, `d`, at the end.
    function added(Result memory r, Det memory d) internal pure returns (Result memory o) {
        o = copy(r);
        Det[] memory ds = new Det[](r.dets.length + 1);
        for (uint256 i; i < r.dets.length; ++i) {
            ds[i] = o.dets[i];
        }
        ds[r.dets.length] = d;
        o.dets = ds;
    }

    /// @dev `r` with detection `k`'s mask moved right by `cells` (box and centroid).
    function shifted(Result memory r, uint256 k, uint16 cells) internal pure returns (Result memory o) {
        o = copy(r);
        o.dets[k].x0 += cells;
        o.dets[k].x1 += cells;
        o.dets[k].cx += 16 * uint32(cells);
    }

    /// @dev The sketch bytes.
    function sketch(Result memory r) internal pure returns (bytes memory s) {
        s = abi.encodePacked(r.status, r.modelSha, r.inputSha, uint8(r.dets.length), GRID_W, GRID_H);
        for (uint256 i; i < r.dets.length; ++i) {
            Det memory d = r.dets[i];
            s = abi.encodePacked(s, d.label, d.score, d.x0, d.y0, d.x1, d.y1, d.area, d.cx, d.cy);
        }
    }

    /// @dev The summary a worker with result `r` reports: status, labels, scores and areas from the
    /// sketch, boxes in pixels (10 per cell).
    function summary(Result memory r) internal pure returns (bytes memory) {
        Detection[] memory ds = new Detection[](r.dets.length);
        for (uint256 i; i < r.dets.length; ++i) {
            Det memory d = r.dets[i];
            ds[i] = Detection({
                label: d.label,
                scoreBps: d.score,
                x0: 10 * d.x0,
                y0: 10 * d.y0,
                x1: 10 * d.x1,
                y1: 10 * d.y1,
                maskArea: 100 * d.area
            });
        }
        bool ok = r.status == 0;
        return
            abi.encode(Summary({status: r.status, width: ok ? 640 : 0, height: ok ? 480 : 0, detections: ds}));
    }

    /// @dev A stand-in for sha256 of the canonical bytes: distinct per result.
    function sha(Result memory r) internal pure returns (bytes32) {
        return keccak256(abi.encode("canonical bytes", sketch(r)));
    }
}
