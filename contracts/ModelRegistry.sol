// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {Tolerance} from "./types/Tolerance.sol";

/// @title ModelRegistry
/// @notice Registered segmentation models: immutable artifact fields and tolerance rule, a publisher-set
/// fee, retirement.
contract ModelRegistry is IModelRegistry {
    /*//////////////////////////////////////////////////////////////
                                CONSTANTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Longest accepted CID text, in bytes.
    uint256 public constant MAX_CID_BYTES = 256;
    /// @dev Largest tolerance in basis points (a score is at most 10,000).
    uint256 private constant MAX_BPS = 10_000;

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    mapping(uint32 modelId => Model) private _models;
    mapping(uint32 modelId => string) private _cids;
    uint32 private _modelCount;
    /// @dev Tolerance rule per model (one slot); all zero for none (a set one has a nonzero field).
    mapping(uint32 modelId => Tolerance) private _tolerances;

    /*//////////////////////////////////////////////////////////////
                              PUBLIC WRITES
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IModelRegistry
    function register(string calldata cid, bytes32 modelSha256, uint8 kind, uint96 fee)
        external
        returns (uint32 modelId)
    {
        modelId = _register(cid, modelSha256, kind, fee);
    }

    /// @inheritdoc IModelRegistry
    function registerWithTolerance(
        string calldata cid,
        bytes32 modelSha256,
        uint8 kind,
        uint96 fee,
        Tolerance calldata tolerance
    ) external returns (uint32 modelId) {
        if (tolerance.scoreBps > MAX_BPS) {
            revert ModelRegistryToleranceBpsTooHigh(tolerance.scoreBps);
        }
        if (tolerance.thresholdBps > MAX_BPS) {
            revert ModelRegistryToleranceBpsTooHigh(tolerance.thresholdBps);
        }
        if (!_isSet(tolerance)) revert ModelRegistryToleranceEmpty();
        modelId = _register(cid, modelSha256, kind, fee);
        _tolerances[modelId] = tolerance;
        emit ModelToleranceSet(modelId, tolerance);
    }

    /// @inheritdoc IModelRegistry
    function setFee(uint32 modelId, uint96 fee) external {
        Model storage m = _publisherModel(modelId);
        uint96 old = m.fee;
        m.fee = fee;
        emit ModelFeeChanged(modelId, old, fee);
    }

    /// @inheritdoc IModelRegistry
    function retire(uint32 modelId) external {
        Model storage m = _publisherModel(modelId);
        m.retired = true;
        emit ModelRetired(modelId);
    }

    /*//////////////////////////////////////////////////////////////
                              PUBLIC READS
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IModelRegistry
    function model(uint32 modelId) external view returns (Model memory) {
        Model memory m = _models[modelId];
        if (m.publisher == address(0)) revert ModelRegistryUnknownModel(modelId);
        return m;
    }

    /// @inheritdoc IModelRegistry
    function cidOf(uint32 modelId) external view returns (string memory) {
        if (_models[modelId].publisher == address(0)) revert ModelRegistryUnknownModel(modelId);
        return _cids[modelId];
    }

    /// @inheritdoc IModelRegistry
    function toleranceOf(uint32 modelId) external view returns (bool set, Tolerance memory tolerance) {
        tolerance = _tolerances[modelId];
        set = _isSet(tolerance);
    }

    /// @inheritdoc IModelRegistry
    function modelCount() external view returns (uint32) {
        return _modelCount;
    }

    /// @inheritdoc IModelRegistry
    function terms(uint32 modelId) external view returns (address publisher, uint96 fee, bool active) {
        Model storage m = _models[modelId];
        publisher = m.publisher;
        fee = m.fee;
        active = publisher != address(0) && !m.retired;
    }

    /// @inheritdoc IModelRegistry
    function isActive(uint32 modelId) external view returns (bool) {
        Model storage m = _models[modelId];
        return m.publisher != address(0) && !m.retired;
    }

    /// @inheritdoc IModelRegistry
    function publisherOf(uint32 modelId) external view returns (address) {
        return _models[modelId].publisher;
    }

    /// @inheritdoc IModelRegistry
    function requestTerms(uint32 modelId) external view returns (uint96 fee, bool active) {
        Model storage m = _models[modelId];
        fee = m.fee;
        active = m.publisher != address(0) && !m.retired;
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    function _register(string calldata cid, bytes32 modelSha256, uint8 kind, uint96 fee)
        private
        returns (uint32 modelId)
    {
        if (bytes(cid).length == 0 || bytes(cid).length > MAX_CID_BYTES) {
            revert ModelRegistryInvalidCid(bytes(cid).length);
        }
        if (modelSha256 == bytes32(0)) revert ModelRegistryZeroSha256();
        if (kind > 1) revert ModelRegistryInvalidKind(kind);
        modelId = ++_modelCount;
        _models[modelId] =
            Model({publisher: msg.sender, kind: kind, retired: false, fee: fee, sha256: modelSha256});
        _cids[modelId] = cid;
        emit ModelRegistered(modelId, msg.sender, modelSha256, kind, fee, cid);
    }

    /// @dev A tolerance is set when any of its fields is nonzero.
    function _isSet(Tolerance memory t) private pure returns (bool) {
        return t.scoreBps != 0 || t.boxCells != 0 || t.areaCells != 0 || t.areaPpm != 0
            || t.centroid16ths != 0 || t.thresholdBps != 0 || t.smallArea != 0;
    }

    function _publisherModel(uint32 modelId) private view returns (Model storage m) {
        m = _models[modelId];
        if (m.publisher == address(0)) revert ModelRegistryUnknownModel(modelId);
        if (m.publisher != msg.sender) revert ModelRegistryNotPublisher(modelId, msg.sender);
        if (m.retired) revert ModelRegistryModelRetired(modelId);
    }
}
