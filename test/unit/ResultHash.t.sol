// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {ResultHash} from "../../contracts/libraries/ResultHash.sol";
import {SketchRule} from "../../contracts/libraries/SketchRule.sol";
import {Detection, Summary} from "../../contracts/types/Summary.sol";

/// @dev Exposes the library's calldata function.
contract ResultHashHarness {
    function validate(bytes calldata summary) external pure returns (uint8) {
        return ResultHash.validateSummary(summary);
    }
}

/// @notice The shared vector (test/vectors/digest.json, written by the inference crate) and the
/// summary layout checks.
contract ResultHashTest is Test {
    ResultHashHarness internal harness = new ResultHashHarness();

    function test_Vector_MatchesContracts() public view {
        string memory json = vm.readFile("test/vectors/digest.json");
        uint256 taskId = vm.parseUint(vm.parseJsonString(json, ".taskId"));
        address worker = vm.parseJsonAddress(json, ".worker");
        bytes memory summary = vm.parseJsonBytes(json, ".summary");
        bytes32 sha = vm.parseJsonBytes32(json, ".resultSha256");
        bytes32 summaryHash = vm.parseJsonBytes32(json, ".summaryHash");
        bytes32 d = vm.parseJsonBytes32(json, ".digest");

        assertEq(keccak256(summary), summaryHash, "summaryHash");
        assertEq(ResultHash.digest(summaryHash, sha), d, "digest");
        assertEq(keccak256(abi.encode(summaryHash, sha)), d, "digest, abi.encode form");
        assertEq(ResultHash.resultHash(taskId, d), vm.parseJsonBytes32(json, ".resultHash"), "resultHash");
        // Seal v2 binds the sketch: its bytes and hash come from the vector (the inference crate writes a
        // real one; the contracts side's stand-in is a header-only placeholder).
        bytes memory sketch = vm.parseJsonBytes(json, ".sketch");
        bytes32 sketchHash = vm.parseJsonBytes32(json, ".sketchHash");
        assertEq(keccak256(sketch), sketchHash, "sketchHash");
        assertGe(sketch.length, SketchRule.HEADER_BYTES, "sketch header");
        assertEq(
            ResultHash.resultSeal(worker, taskId, d, sketchHash),
            vm.parseJsonBytes32(json, ".resultSeal"),
            "resultSeal"
        );
        assertEq(
            keccak256(abi.encode(worker, taskId, d, sketchHash)),
            vm.parseJsonBytes32(json, ".resultSeal"),
            "resultSeal, abi.encode form"
        );

        Summary memory s = abi.decode(summary, (Summary));
        assertEq(s.status, vm.parseJsonUint(json, ".status"), "status");
        assertEq(s.width, vm.parseJsonUint(json, ".width"), "width");
        assertEq(s.height, vm.parseJsonUint(json, ".height"), "height");
        assertEq(s.detections.length, vm.parseJsonUint(json, ".detections"), "detections");
        assertEq(harness.validate(summary), s.status, "validateSummary status");
    }

    function test_ResultSeal_MatchesAbiEncode() public pure {
        address w = address(0xBEEF);
        bytes32 d = keccak256("d");
        bytes32 sk = keccak256("sketch");
        assertEq(ResultHash.resultSeal(w, 7, d, sk), keccak256(abi.encode(w, uint256(7), d, sk)));
        assertEq(ResultHash.resultHash(7, d), keccak256(abi.encode(uint256(7), d)));
    }

    function test_Commitment_MatchesAbiEncode() public pure {
        bytes32 h = keccak256("h");
        bytes32 s = keccak256("s");
        assertEq(ResultHash.commitment(h, s), bytes11(keccak256(abi.encode(h, s))));
        bytes32 sh = keccak256("summary");
        bytes32 sha = keccak256("sha");
        bytes32 sk = keccak256("sketch");
        address w = address(0xBEEF);
        bytes32 d = keccak256(abi.encode(sh, sha));
        assertEq(
            ResultHash.commitmentOf(9, w, sh, sha, sk),
            bytes11(
                keccak256(
                    abi.encode(
                        keccak256(abi.encode(uint256(9), d)), keccak256(abi.encode(w, uint256(9), d, sk))
                    )
                )
            )
        );
    }

    /// @dev A seal of one sketch does not open with another's hash.
    function testFuzz_ResultSeal_BindsTheSketch(bytes32 d, bytes32 a, bytes32 b) public pure {
        vm.assume(a != b);
        assertNotEq(ResultHash.resultSeal(address(1), 1, d, a), ResultHash.resultSeal(address(1), 1, d, b));
    }

    function test_ValidateSummary_AcceptsEveryStatus() public view {
        for (uint8 st = 1; st <= 5; ++st) {
            assertEq(harness.validate(_encode(st, 0, 0, 0)), st);
        }
        assertEq(harness.validate(_encode(0, 640, 480, 16)), 0);
    }

    function test_ValidateSummary_RevertWhen_StatusInvalid() public {
        vm.expectRevert(abi.encodeWithSelector(ResultHash.ResultHashInvalidStatus.selector, 6));
        harness.validate(_encode(6, 0, 0, 0));
    }

    function test_ValidateSummary_RevertWhen_TooManyDetections() public {
        vm.expectRevert(abi.encodeWithSelector(ResultHash.ResultHashInvalidDetectionCount.selector, 0, 17));
        harness.validate(_encode(0, 64, 48, 17));
    }

    function test_ValidateSummary_RevertWhen_ErrorStatusHasDetections() public {
        vm.expectRevert(abi.encodeWithSelector(ResultHash.ResultHashInvalidDetectionCount.selector, 2, 1));
        harness.validate(_encode(2, 0, 0, 1));
    }

    function test_ValidateSummary_RevertWhen_Truncated() public {
        bytes memory s = _encode(0, 64, 48, 2);
        bytes memory cut = new bytes(s.length - 32);
        for (uint256 i; i < cut.length; ++i) {
            cut[i] = s[i];
        }
        vm.expectRevert(abi.encodeWithSelector(ResultHash.ResultHashMalformedSummary.selector, cut.length));
        harness.validate(cut);
    }

    function test_ValidateSummary_RevertWhen_TooShort() public {
        vm.expectRevert(abi.encodeWithSelector(ResultHash.ResultHashMalformedSummary.selector, 64));
        harness.validate(new bytes(64));
    }

    function test_ValidateSummary_RevertWhen_WidthOverflows() public {
        bytes memory s = _encode(0, 64, 48, 0);
        assembly {
            mstore(add(s, 0x60), 0x10000) // width word
        }
        vm.expectRevert(abi.encodeWithSelector(ResultHash.ResultHashMalformedSummary.selector, s.length));
        harness.validate(s);
    }

    function test_ValidateSummary_RevertWhen_NonCanonicalOffset() public {
        bytes memory s = _encode(0, 64, 48, 0);
        assembly {
            mstore(add(s, 0x20), 0x40) // outer offset
        }
        vm.expectRevert(abi.encodeWithSelector(ResultHash.ResultHashMalformedSummary.selector, s.length));
        harness.validate(s);
    }

    /// @dev Random bytes either validate (then they decode as a Summary) or revert with a typed error.
    function testFuzz_ValidateSummary_RandomBytes(bytes calldata raw) public view {
        try harness.validate(raw) returns (uint8 st) {
            Summary memory s = abi.decode(raw, (Summary));
            assertEq(s.status, st);
            assertLe(s.detections.length, 16);
        } catch (bytes memory err) {
            bytes4 sel = bytes4(err);
            assertTrue(
                sel == ResultHash.ResultHashMalformedSummary.selector
                    || sel == ResultHash.ResultHashInvalidStatus.selector
                    || sel == ResultHash.ResultHashInvalidDetectionCount.selector
            );
        }
    }

    function testFuzz_ValidateSummary_WellFormed(uint8 status, uint16 w, uint16 h, uint8 n) public view {
        status = uint8(bound(status, 0, 5));
        n = uint8(bound(n, 0, 16));
        if (status != 0) n = 0;
        assertEq(harness.validate(_encode(status, w, h, n)), status);
    }

    function _encode(uint8 status, uint16 w, uint16 h, uint256 n) internal pure returns (bytes memory) {
        Detection[] memory dets = new Detection[](n);
        for (uint256 i; i < n; ++i) {
            dets[i] = Detection(uint16(i), 5000, 0, 0, 1, 1, 1);
        }
        return abi.encode(Summary({status: status, width: w, height: h, detections: dets}));
    }
}
