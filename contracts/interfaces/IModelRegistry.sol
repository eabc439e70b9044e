// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Tolerance} from "../types/Tolerance.sol";

/// @title IModelRegistry
/// @notice Registry of TorchScript segmentation models, each identified by its IPFS CID and sha256.
/// The artifact fields of a model are immutable (a new version is a new id); its publisher may change
/// the fee, which applies to tasks requested afterwards, and may retire it. A model registered with a
/// tolerance rule (`registerWithTolerance`, immutable) lets tasks without Q identical results settle on
/// results that agree within it (the hub's reconciliation, docs/tolerant-consensus.md).
interface IModelRegistry {
    /// @notice A registered model.
    /// @param publisher Receives the model fee of every finalized task.
    /// @param kind 0 = instance segmentation, 1 = semantic segmentation.
    /// @param retired A retired model accepts no new task and no new opt-in.
    /// @param fee Paid by the requester per finalized task, in the hub's token.
    /// @param sha256 sha256 of `model.pt`.
    struct Model {
        address publisher;
        uint8 kind;
        bool retired;
        uint96 fee;
        bytes32 sha256;
    }

    /// @dev The CID is empty or longer than MAX_CID_BYTES.
    error ModelRegistryInvalidCid(uint256 length);
    /// @dev The model sha256 is zero.
    error ModelRegistryZeroSha256();
    /// @dev The kind is neither 0 (instance) nor 1 (semantic).
    error ModelRegistryInvalidKind(uint8 kind);
    /// @dev No model has this id.
    error ModelRegistryUnknownModel(uint32 modelId);
    /// @dev Only the model's publisher may do this.
    error ModelRegistryNotPublisher(uint32 modelId, address caller);
    /// @dev The model is retired.
    error ModelRegistryModelRetired(uint32 modelId);
    /// @dev A tolerance in basis points (`scoreBps` or `thresholdBps`) is above 10,000.
    error ModelRegistryToleranceBpsTooHigh(uint256 bps);
    /// @dev Every field of the tolerance is zero (register without a tolerance instead).
    error ModelRegistryToleranceEmpty();

    /// @dev A model was registered; everything a worker needs to fetch and check it.
    event ModelRegistered(
        uint32 indexed modelId, address indexed publisher, bytes32 sha256, uint8 kind, uint96 fee, string cid
    );
    /// @dev The model registered just before (same transaction, ModelRegistered) has a tolerance rule.
    event ModelToleranceSet(uint32 indexed modelId, Tolerance tolerance);
    /// @dev The publisher changed the fee for tasks requested from now on.
    event ModelFeeChanged(uint32 indexed modelId, uint96 oldFee, uint96 newFee);
    /// @dev The publisher retired the model.
    event ModelRetired(uint32 indexed modelId);

    /// @notice Registers a model; the caller becomes its publisher.
    /// @param cid IPFS CID of `model.pt` (or of the model directory), as text.
    /// @param modelSha256 sha256 of `model.pt`.
    /// @param kind 0 = instance, 1 = semantic (as `manifest.json`'s "kind").
    /// @param fee Fee per finalized task.
    /// @return modelId The new model's id (ids start at 1).
    function register(string calldata cid, bytes32 modelSha256, uint8 kind, uint96 fee)
        external
        returns (uint32 modelId);

    /// @notice Registers a model with a tolerance rule, fixed for the model's life: a task on it whose
    /// commits close without Q identical result hashes may settle on Q or more sketches agreeing within
    /// it. `register` is this without a tolerance (exact agreement only).
    /// @param tolerance At least one nonzero field; `scoreBps` and `thresholdBps` at most 10,000.
    function registerWithTolerance(
        string calldata cid,
        bytes32 modelSha256,
        uint8 kind,
        uint96 fee,
        Tolerance calldata tolerance
    ) external returns (uint32 modelId);

    /// @notice Changes the fee of a model; tasks already requested keep the fee they escrowed.
    function setFee(uint32 modelId, uint96 fee) external;

    /// @notice Retires a model for good.
    function retire(uint32 modelId) external;

    /// @notice The model's record. Reverts for an unknown id.
    function model(uint32 modelId) external view returns (Model memory);

    /// @notice The model's CID. Reverts for an unknown id.
    function cidOf(uint32 modelId) external view returns (string memory);

    /// @notice The model's tolerance rule: `set` false (and a zero tolerance) for a model registered
    /// without one, and for an unknown id.
    function toleranceOf(uint32 modelId) external view returns (bool set, Tolerance memory tolerance);

    /// @notice Number of models registered so far (the highest id).
    function modelCount() external view returns (uint32);

    /// @notice Whether the model exists and is not retired.
    function isActive(uint32 modelId) external view returns (bool);

    /// @notice The model's publisher (zero for an unknown id).
    function publisherOf(uint32 modelId) external view returns (address);

    /// @notice What a task request needs: the current fee and whether new tasks are accepted.
    function requestTerms(uint32 modelId) external view returns (uint96 fee, bool active);

    /// @notice What a task request needs: publisher, current fee, and whether new tasks are accepted.
    /// Unknown ids return active = false.
    function terms(uint32 modelId) external view returns (address publisher, uint96 fee, bool active);
}
