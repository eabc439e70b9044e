// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IModelRegistry} from "../../contracts/interfaces/IModelRegistry.sol";
import {Fixture} from "../utils/Fixture.sol";
import {Sketches} from "../utils/Sketches.sol";
import {Tolerance} from "../../contracts/types/Tolerance.sol";

contract ModelRegistryTest is Fixture {
    function test_Register_StoresAndEmits() public {
        vm.expectEmit(address(models));
        emit IModelRegistry.ModelRegistered(2, address(this), bytes32(uint256(1)), 1, 5, "bafy2");
        uint32 id = models.register("bafy2", bytes32(uint256(1)), 1, 5);
        assertEq(id, 2);
        IModelRegistry.Model memory m = models.model(id);
        assertEq(m.publisher, address(this));
        assertEq(m.kind, 1);
        assertEq(m.fee, 5);
        assertEq(m.sha256, bytes32(uint256(1)));
        assertFalse(m.retired);
        assertEq(models.cidOf(id), "bafy2");
        assertEq(models.modelCount(), 2);
        (address pub, uint96 fee, bool active) = models.terms(id);
        assertEq(pub, address(this));
        assertEq(fee, 5);
        assertTrue(active);
    }

    /// @dev `register` keeps exact agreement: no tolerance.
    function test_Register_HasNoTolerance() public view {
        (bool set, Tolerance memory t) = models.toleranceOf(modelId);
        assertFalse(set);
        assertEq(abi.encode(t), abi.encode(Tolerance(0, 0, 0, 0, 0, 0, 0)));
        (set,) = models.toleranceOf(999);
        assertFalse(set, "unknown id");
    }

    function test_RegisterWithTolerance_StoresAndEmits() public {
        Tolerance memory tol = Sketches.tolerance();
        vm.expectEmit(address(models));
        emit IModelRegistry.ModelRegistered(2, address(this), bytes32(uint256(1)), 0, 5, "bafy2");
        vm.expectEmit(address(models));
        emit IModelRegistry.ModelToleranceSet(2, tol);
        uint32 id = models.registerWithTolerance("bafy2", bytes32(uint256(1)), 0, 5, tol);
        assertEq(id, 2);
        (bool set, Tolerance memory got) = models.toleranceOf(id);
        assertTrue(set);
        assertEq(abi.encode(got), abi.encode(tol));
        IModelRegistry.Model memory m = models.model(id);
        assertEq(m.publisher, address(this));
        assertEq(m.sha256, bytes32(uint256(1)));
        assertEq(models.cidOf(id), "bafy2");
    }

    /// @dev The tolerance takes one storage slot: registering with one writes exactly one slot more.
    function test_RegisterWithTolerance_OneSlot() public {
        uint256 snap = vm.snapshotState();
        vm.record();
        models.register("bafy2", bytes32(uint256(1)), 0, 5);
        (, bytes32[] memory plain) = vm.accesses(address(models));
        vm.stopRecord();
        vm.revertToState(snap);
        vm.record();
        models.registerWithTolerance("bafy2", bytes32(uint256(1)), 0, 5, Sketches.tolerance());
        (, bytes32[] memory tolerant) = vm.accesses(address(models));
        vm.stopRecord();
        assertEq(_unique(tolerant), _unique(plain) + 1);
    }

    function _unique(bytes32[] memory xs) internal pure returns (uint256 n) {
        for (uint256 i; i < xs.length; ++i) {
            bool seen;
            for (uint256 j; j < i && !seen; ++j) {
                seen = xs[j] == xs[i];
            }
            if (!seen) ++n;
        }
    }

    /// @dev Set once: no function changes it (the publisher's setFee and retire leave it as it was).
    function test_Tolerance_ImmutableThroughFeeAndRetirement() public {
        uint32 id = models.registerWithTolerance("bafy2", bytes32(uint256(1)), 0, 5, Sketches.tolerance());
        models.setFee(id, 9);
        models.retire(id);
        (bool set, Tolerance memory got) = models.toleranceOf(id);
        assertTrue(set);
        assertEq(abi.encode(got), abi.encode(Sketches.tolerance()));
    }

    function test_RegisterWithTolerance_RevertWhen_BpsTooHigh() public {
        Tolerance memory tol = Sketches.tolerance();
        tol.scoreBps = 10_001;
        vm.expectRevert(
            abi.encodeWithSelector(IModelRegistry.ModelRegistryToleranceBpsTooHigh.selector, 10_001)
        );
        models.registerWithTolerance("bafy", MODEL_SHA, 0, 0, tol);
        tol.scoreBps = 10_000;
        tol.thresholdBps = 20_000;
        vm.expectRevert(
            abi.encodeWithSelector(IModelRegistry.ModelRegistryToleranceBpsTooHigh.selector, 20_000)
        );
        models.registerWithTolerance("bafy", MODEL_SHA, 0, 0, tol);
        tol.thresholdBps = 10_000;
        models.registerWithTolerance("bafy", MODEL_SHA, 0, 0, tol);
    }

    function test_RegisterWithTolerance_RevertWhen_Empty() public {
        vm.expectRevert(IModelRegistry.ModelRegistryToleranceEmpty.selector);
        models.registerWithTolerance("bafy", MODEL_SHA, 0, 0, Tolerance(0, 0, 0, 0, 0, 0, 0));
        assertEq(models.modelCount(), 1, "nothing registered");
    }

    /// @dev The artifact checks apply as for `register`.
    function test_RegisterWithTolerance_RevertWhen_ArtifactInvalid() public {
        Tolerance memory tol = Sketches.tolerance();
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryInvalidCid.selector, 0));
        models.registerWithTolerance("", MODEL_SHA, 0, 0, tol);
        vm.expectRevert(IModelRegistry.ModelRegistryZeroSha256.selector);
        models.registerWithTolerance("bafy", bytes32(0), 0, 0, tol);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryInvalidKind.selector, 2));
        models.registerWithTolerance("bafy", MODEL_SHA, 2, 0, tol);
    }

    /// @dev Any tolerance with a nonzero field and bps in range is stored as given, one field alone too.
    function testFuzz_RegisterWithTolerance_StoresAsGiven(Tolerance memory tol) public {
        tol.scoreBps = uint16(bound(tol.scoreBps, 0, 10_000));
        tol.thresholdBps = uint16(bound(tol.thresholdBps, 0, 10_000));
        if (
            abi.encode(tol).length != 0
                && keccak256(abi.encode(tol)) == keccak256(abi.encode(Tolerance(0, 0, 0, 0, 0, 0, 0)))
        ) {
            tol.smallArea = 1;
        }
        uint32 id = models.registerWithTolerance("bafy", MODEL_SHA, 0, 0, tol);
        (bool set, Tolerance memory got) = models.toleranceOf(id);
        assertTrue(set);
        assertEq(abi.encode(got), abi.encode(tol));
    }

    function test_Register_RevertWhen_CidEmpty() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryInvalidCid.selector, 0));
        models.register("", MODEL_SHA, 0, 0);
    }

    function test_Register_RevertWhen_CidTooLong() public {
        string memory cid = string(new bytes(257));
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryInvalidCid.selector, 257));
        models.register(cid, MODEL_SHA, 0, 0);
    }

    function test_Register_RevertWhen_ZeroSha256() public {
        vm.expectRevert(IModelRegistry.ModelRegistryZeroSha256.selector);
        models.register("bafy", bytes32(0), 0, 0);
    }

    function test_Register_RevertWhen_InvalidKind() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryInvalidKind.selector, 2));
        models.register("bafy", MODEL_SHA, 2, 0);
    }

    function testFuzz_Register_AnyFeeAndCid(uint96 fee, uint8 kind, uint16 cidLen) public {
        kind = uint8(bound(kind, 0, 1));
        cidLen = uint16(bound(cidLen, 1, 256));
        uint32 id = models.register(string(new bytes(cidLen)), MODEL_SHA, kind, fee);
        (, uint96 f, bool active) = models.terms(id);
        assertEq(f, fee);
        assertTrue(active);
        assertEq(bytes(models.cidOf(id)).length, cidLen);
    }

    function test_SetFee_ChangesFutureFee() public {
        vm.expectEmit(address(models));
        emit IModelRegistry.ModelFeeChanged(modelId, FEE, 7);
        vm.prank(publisher);
        models.setFee(modelId, 7);
        assertEq(models.model(modelId).fee, 7);
    }

    function testFuzz_SetFee(uint96 fee) public {
        vm.prank(publisher);
        models.setFee(modelId, fee);
        assertEq(models.model(modelId).fee, fee);
    }

    function test_SetFee_RevertWhen_UnknownModel() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryUnknownModel.selector, 9));
        models.setFee(9, 1);
    }

    function test_SetFee_RevertWhen_NotPublisher() public {
        vm.expectRevert(
            abi.encodeWithSelector(IModelRegistry.ModelRegistryNotPublisher.selector, modelId, address(this))
        );
        models.setFee(modelId, 1);
    }

    function test_SetFee_RevertWhen_Retired() public {
        vm.startPrank(publisher);
        models.retire(modelId);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryModelRetired.selector, modelId));
        models.setFee(modelId, 1);
        vm.stopPrank();
    }

    function test_Retire_DeactivatesModel() public {
        vm.expectEmit(address(models));
        emit IModelRegistry.ModelRetired(modelId);
        vm.prank(publisher);
        models.retire(modelId);
        (,, bool active) = models.terms(modelId);
        assertFalse(active);
        assertTrue(models.model(modelId).retired);
    }

    function test_Retire_RevertWhen_UnknownModel() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryUnknownModel.selector, 9));
        models.retire(9);
    }

    function test_Retire_RevertWhen_NotPublisher() public {
        vm.expectRevert(
            abi.encodeWithSelector(IModelRegistry.ModelRegistryNotPublisher.selector, modelId, address(this))
        );
        models.retire(modelId);
    }

    function test_Retire_RevertWhen_AlreadyRetired() public {
        vm.startPrank(publisher);
        models.retire(modelId);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryModelRetired.selector, modelId));
        models.retire(modelId);
        vm.stopPrank();
    }

    function test_Model_RevertWhen_Unknown() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryUnknownModel.selector, 0));
        models.model(0);
    }

    function test_CidOf_RevertWhen_Unknown() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelRegistryUnknownModel.selector, 5));
        models.cidOf(5);
    }

    function test_Terms_UnknownIsInactive() public view {
        (address pub,, bool active) = models.terms(77);
        assertEq(pub, address(0));
        assertFalse(active);
    }

    function test_SmallViews() public {
        assertTrue(models.isActive(modelId));
        assertEq(models.publisherOf(modelId), publisher);
        (uint96 fee, bool active) = models.requestTerms(modelId);
        assertEq(fee, FEE);
        assertTrue(active);
        vm.prank(publisher);
        models.retire(modelId);
        assertFalse(models.isActive(modelId));
        (, active) = models.requestTerms(modelId);
        assertFalse(active);
        assertFalse(models.isActive(0));
        assertEq(models.publisherOf(0), address(0));
    }
}
