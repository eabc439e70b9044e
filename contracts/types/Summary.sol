// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @notice One detection of the on-chain summary. The box is [x0, x1) x [y0, y1) in pixels of the
/// EXIF-oriented image; `scoreBps` is the quantized score in basis points (0..=10000).
struct Detection {
    uint16 label;
    uint16 scoreBps;
    uint16 x0;
    uint16 y0;
    uint16 x1;
    uint16 y1;
    uint32 maskArea;
}

/// @notice The on-chain summary of a segmentation result, carried as `abi.encode(summary)`.
/// @dev Error statuses carry no detections; at most `MAX_SUMMARY_DETECTIONS` detections, the first ones
/// of the canonical order.
struct Summary {
    uint8 status;
    uint16 width;
    uint16 height;
    Detection[] detections;
}

/// @dev Result status codes shared by the canonical result, the summary and the contracts.
uint8 constant STATUS_OK = 0;
uint8 constant STATUS_FETCH_FAILED = 1;
uint8 constant STATUS_NOT_AN_IMAGE = 2;
uint8 constant STATUS_CORRUPT_IMAGE = 3;
uint8 constant STATUS_TOO_LARGE = 4;
uint8 constant STATUS_MODEL_ERROR = 5;
/// @dev Highest valid status code.
uint8 constant MAX_STATUS = 5;
/// @dev Most detections a summary carries.
uint256 constant MAX_SUMMARY_DETECTIONS = 16;
