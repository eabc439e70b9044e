// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title TestToken
/// @notice DEVNET ONLY: an ERC-20 anyone can mint, standing in for the deployment's real token on local
/// chains and in tests. Never deploy it where the tokens have value.
contract TestToken is ERC20 {
    constructor() ERC20("MaskOracle Test Token", "MOTT") {}

    /// @notice Mints `amount` to `to` (unrestricted: test token).
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
