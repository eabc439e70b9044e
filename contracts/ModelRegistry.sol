// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IModelRegistry} from "./interfaces/IModelRegistry.sol";

/// @title ModelRegistry
/// @notice Registered segmentation models: immutable artifact fields, a publisher-set fee, retirement.
contract ModelRegistry is IModelRegistry {
    /*//////////////////////////////////////////////////////////////
                                CONSTANTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Longest accepted CID text, in bytes.
    uint256 public constant MAX_CID_BYTES = 256;

    /*//////////////////////////////////////////////////////////////
                                 STORAGE
    //////////////////////////////////////////////////////////////*/

    mapping(uint32 modelId => Model) private _models;
    mapping(uint32 modelId => string) private _cids;
    uint32 private _modelCount;

    /*//////////////////////////////////////////////////////////////
                              PUBLIC WRITES
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IModelRegistry
    function register(string calldata cid, bytes32 modelSha256, uint8 kind, uint96 fee)
        external
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

    function _publisherModel(uint32 modelId) private view returns (Model storage m) {
        m = _models[modelId];
        if (m.publisher == address(0)) revert ModelRegistryUnknownModel(modelId);
        if (m.publisher != msg.sender) revert ModelRegistryNotPublisher(modelId, msg.sender);
        if (m.retired) revert ModelRegistryModelRetired(modelId);
    }
}
