// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IRandomnessSource} from "../interfaces/IRandomnessSource.sol";

/// @title BlockhashRandomness
/// @notice The randomness of a task is the hash of the block after its request (its seed block), for
/// devnets and chains without a VRF. Stateless: nothing is stored per request.
/// @dev Biased by whoever builds the seed block: a builder or sequencer can try many candidate blocks
/// (transaction order, timestamps, withheld transactions) and publish the one whose hash draws the
/// workers it wants, for free when it is the only builder (an L2 sequencer). See docs/protocol.md.
contract BlockhashRandomness is IRandomnessSource {
    /// @notice Blocks for which `blockhash` is available.
    uint256 public constant BLOCKHASH_HORIZON = 256;

    /// @inheritdoc IRandomnessSource
    /// @dev Nothing to ask for: the seed block follows by itself.
    function requestSeed(uint256) external pure {}

    /// @inheritdoc IRandomnessSource
    function needsRequest() external pure returns (bool) {
        return false;
    }

    /// @inheritdoc IRandomnessSource
    function seedOf(address, uint256, uint256 requestBlock)
        external
        view
        returns (SeedStatus status, bytes32 seed)
    {
        uint256 seedBlock = requestBlock + 1;
        if (block.number <= seedBlock) return (SeedStatus.Pending, bytes32(0));
        if (block.number > seedBlock + BLOCKHASH_HORIZON) return (SeedStatus.Expired, bytes32(0));
        seed = blockhash(seedBlock);
        // Within the horizon blockhash is non-zero on every EVM chain; a zero means unavailable.
        if (seed == bytes32(0)) return (SeedStatus.Expired, bytes32(0));
        status = SeedStatus.Ready;
    }

    /// @inheritdoc IRandomnessSource
    function kind() external pure returns (string memory) {
        return "blockhash";
    }
}
