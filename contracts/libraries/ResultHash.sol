// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {MAX_STATUS, MAX_SUMMARY_DETECTIONS, STATUS_OK} from "../types/Summary.sol";

/// @title ResultHash
/// @notice The hashes that bind a worker to a result (PROTOCOL "Results" and "Commit"), and the cheap
/// structural check of an ABI-encoded summary.
/// @dev digest     = keccak256(abi.encode(keccak256(summaryBytes), resultSha256))
///      resultHash = keccak256(abi.encode(taskId, digest))
///      resultSeal = keccak256(abi.encode(worker, taskId, digest, sketchHash))   (seal v2)
///      with sketchHash = keccak256(sketch bytes) (the tolerant fallback's sketch, SketchRule).
library ResultHash {
    /// @dev The summary bytes are not a well-formed `abi.encode(Summary)`.
    error ResultHashMalformedSummary(uint256 length);
    /// @dev The summary's status code is not one of the shared codes.
    error ResultHashInvalidStatus(uint256 status);
    /// @dev The summary carries more than MAX_SUMMARY_DETECTIONS detections, or an error status carries any.
    error ResultHashInvalidDetectionCount(uint256 status, uint256 count);

    /// @dev Head of `abi.encode(Summary)`: outer offset, status, width, height, array offset, array length.
    uint256 internal constant SUMMARY_HEAD_BYTES = 6 * 32;
    /// @dev Encoded size of one Detection (seven static words).
    uint256 internal constant DETECTION_BYTES = 7 * 32;

    /// @notice The digest both the commit and the reveal are bound to.
    function digest(bytes32 summaryHash, bytes32 resultSha256) internal pure returns (bytes32 d) {
        assembly ("memory-safe") {
            mstore(0x00, summaryHash)
            mstore(0x20, resultSha256)
            d := keccak256(0x00, 0x40)
        }
    }

    /// @notice The hash workers commit and count towards the quorum.
    function resultHash(uint256 taskId, bytes32 digest_) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            mstore(0x00, taskId)
            mstore(0x20, digest_)
            h := keccak256(0x00, 0x40)
        }
    }

    /// @notice The worker-specific seal (v2): proves at reveal time that the worker knew the digest when
    /// it committed, so a copied `resultHash` cannot be revealed, and binds the worker's sketch, so the
    /// tolerant fallback's sketch was fixed before any result was public. The exact path opens it with
    /// the sketch hash alone; the fallback with the sketch bytes.
    function resultSeal(address worker, uint256 taskId, bytes32 digest_, bytes32 sketchHash)
        internal
        pure
        returns (bytes32 s)
    {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, and(worker, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(add(m, 0x20), taskId)
            mstore(add(m, 0x40), digest_)
            mstore(add(m, 0x60), sketchHash)
            s := keccak256(m, 0x80)
        }
    }

    /// @notice What a commit stores: the first 11 bytes of keccak256(abi.encode(resultHash, resultSeal)).
    /// 88 bits suffice: the committer gets one try, fixed before the digest is public.
    function commitment(bytes32 resultHash_, bytes32 resultSeal_) internal pure returns (bytes11) {
        bytes32 h;
        assembly ("memory-safe") {
            mstore(0x00, resultHash_)
            mstore(0x20, resultSeal_)
            h := keccak256(0x00, 0x40)
        }
        return bytes11(h);
    }

    /// @notice The commitment `worker` made if it committed the result (summaryHash, resultSha256) with
    /// the sketch of hash `sketchHash`: what a sketch reveal opens.
    function commitmentOf(
        uint256 taskId,
        address worker,
        bytes32 summaryHash,
        bytes32 resultSha256,
        bytes32 sketchHash
    ) internal pure returns (bytes11) {
        bytes32 d = digest(summaryHash, resultSha256);
        return commitment(resultHash(taskId, d), resultSeal(worker, taskId, d, sketchHash));
    }

    /// @notice Checks the layout of `abi.encode(Summary)` without decoding it, and returns its status.
    /// @dev Checks: canonical outer offset, status <= MAX_STATUS, width/height fit uint16, canonical
    /// array offset, count <= MAX_SUMMARY_DETECTIONS, no detections on error statuses, exact length.
    /// Detection fields are not range-checked here (the digest binds them; consumers decode them).
    function validateSummary(bytes calldata summary) internal pure returns (uint8 status) {
        if (summary.length < SUMMARY_HEAD_BYTES) revert ResultHashMalformedSummary(summary.length);
        uint256 outer;
        uint256 st;
        uint256 width;
        uint256 height;
        uint256 arrayOffset;
        uint256 count;
        assembly ("memory-safe") {
            outer := calldataload(summary.offset)
            st := calldataload(add(summary.offset, 0x20))
            width := calldataload(add(summary.offset, 0x40))
            height := calldataload(add(summary.offset, 0x60))
            arrayOffset := calldataload(add(summary.offset, 0x80))
            count := calldataload(add(summary.offset, 0xa0))
        }
        if (outer != 0x20 || arrayOffset != 0x80 || width > type(uint16).max || height > type(uint16).max) {
            revert ResultHashMalformedSummary(summary.length);
        }
        if (st > MAX_STATUS) revert ResultHashInvalidStatus(st);
        if (count > MAX_SUMMARY_DETECTIONS || (st != STATUS_OK && count != 0)) {
            revert ResultHashInvalidDetectionCount(st, count);
        }
        // count <= 16 was checked above, so the product cannot overflow.
        if (summary.length != SUMMARY_HEAD_BYTES + count * DETECTION_BYTES) {
            revert ResultHashMalformedSummary(summary.length);
        }
        status = uint8(st);
    }
}
