// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {Vm} from "forge-std/Vm.sol";

/// @notice Measures a call as its own transaction would cost: every contract of `_cooled()` has its
/// storage cooled first (vm.cool), and the intrinsic cost (21,000 + calldata) is added.
abstract contract GasMeter is Test {
    /// @dev Intrinsic gas of the last measured call.
    uint256 internal _lastIntrinsic;

    /// @dev The contracts whose storage a transaction finds cold.
    function _cooled() internal view virtual returns (address[] memory);

    /// @dev Runs `data` on `to` as `from` with the storage of `_cooled()` cold; returns execution gas
    /// (net of the capped refund) plus intrinsic gas.
    function _txTo(address to, address from, bytes memory data) internal returns (uint256) {
        _lastIntrinsic = _intrinsic(data);
        address[] memory cold = _cooled();
        for (uint256 i; i < cold.length; ++i) {
            vm.cool(cold[i]);
        }
        vm.prank(from);
        (bool ok,) = to.call(data);
        assertTrue(ok, "measured call reverted");
        Vm.Gas memory g = vm.lastCallGas();
        uint256 used = g.gasTotalUsed + _lastIntrinsic;
        uint256 refunded = g.gasRefunded > 0 ? uint256(int256(g.gasRefunded)) : 0;
        uint256 refund = refunded < used / 5 ? refunded : used / 5;
        return used - refund;
    }

    function _intrinsic(bytes memory data) internal pure returns (uint256 gas) {
        gas = 21_000;
        for (uint256 i; i < data.length; ++i) {
            gas += data[i] == 0 ? 4 : 16;
        }
    }
}
