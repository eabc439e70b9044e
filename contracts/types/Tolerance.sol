// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @notice The constants of the tolerance rule of one model version (docs/tolerant-consensus.md), set
/// at registration and immutable. Differences are compared with `SketchRule`: a field's difference
/// up to its tolerance agrees, a zero tolerance admits no difference. 22 bytes: one storage slot.
/// @param scoreBps Largest score difference (basis points), at most 10,000.
/// @param boxCells Largest difference of each box edge (grid cells).
/// @param areaCells Area tolerance floor: the area may differ by max(areaCells, areaPpm x area / 1e6).
/// @param areaPpm Relative part of the area tolerance (parts per million of the larger area).
/// @param centroid16ths Largest centroid difference per axis (1/16 cell).
/// @param thresholdBps The model's score threshold: a detection at or below it may go unmatched (at
/// most 10,000).
/// @param smallArea A detection of at most this many cells may go unmatched.
struct Tolerance {
    uint16 scoreBps;
    uint16 boxCells;
    uint32 areaCells;
    uint32 areaPpm;
    uint32 centroid16ths;
    uint16 thresholdBps;
    uint32 smallArea;
}
