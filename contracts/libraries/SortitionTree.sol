// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title SortitionTree
/// @notice Weighted sortition over a set of owners: a Fenwick (binary indexed) tree of weights, one leaf
/// per owner. Updating a weight writes O(log n) nodes; drawing reads O(log n) nodes, one per level.
/// @dev Leaves are 1-based. A leaf whose owner leaves the set keeps weight 0 and is reused by the next
/// owner that joins, so `size` only grows with the largest number of simultaneous owners.
/// `find` can exclude leaves already drawn (sampling without replacement) without writing storage:
/// the excluded weights are subtracted from the node sums on the way down.
library SortitionTree {
    /// @dev The caller stated a non-zero current weight for an owner that is not in the tree.
    error SortitionTreeOwnerMissing(address owner);

    struct Tree {
        /// @dev Number of leaves allocated (highest leaf index).
        uint256 size;
        /// @dev Sum of all leaf weights.
        uint256 total;
        /// @dev Fenwick node i holds the sum of the leaves (i - lowbit(i), i].
        mapping(uint256 index => uint256) nodes;
        mapping(uint256 index => address) ownerOf;
        mapping(address owner => uint256) indexOf;
        /// @dev Leaves with weight 0 and no owner, reused first.
        uint256[] free;
    }

    /// @notice Changes `owner`'s weight from `oldWeight` (0 when absent) to `newWeight` (0 removes it).
    /// @dev The caller keeps the weights (the worker's stake) and must pass the current one.
    function update(Tree storage t, address owner, uint256 oldWeight, uint256 newWeight) internal {
        uint256 idx = t.indexOf[owner];
        if (idx == 0) {
            if (oldWeight != 0) revert SortitionTreeOwnerMissing(owner);
            if (newWeight == 0) return;
            uint256 freeCount = t.free.length;
            if (freeCount != 0) {
                idx = t.free[freeCount - 1];
                t.free.pop();
                _increase(t, idx, newWeight);
            } else {
                idx = t.size + 1;
                t.size = idx;
                _append(t, idx, newWeight);
            }
            t.indexOf[owner] = idx;
            t.ownerOf[idx] = owner;
            t.total += newWeight;
            return;
        }
        if (newWeight > oldWeight) {
            _increase(t, idx, newWeight - oldWeight);
            t.total += newWeight - oldWeight;
        } else if (newWeight < oldWeight) {
            _decrease(t, idx, oldWeight - newWeight);
            t.total -= oldWeight - newWeight;
        }
        if (newWeight == 0) {
            delete t.indexOf[owner];
            delete t.ownerOf[idx];
            t.free.push(idx);
        }
    }

    /// @notice The leaf holding position `u` of the cumulative weights, skipping the excluded leaves.
    /// @param u A position in [0, total - sum(excludedWeights[0..excludedCount))).
    /// @param excluded Leaf indices to skip (each at most once); only the first `excludedCount` count.
    /// @param excludedWeights Current weights of those leaves.
    /// @return idx The leaf index; its owner is `ownerOf[idx]`.
    function find(
        Tree storage t,
        uint256 u,
        uint256[] memory excluded,
        uint256[] memory excludedWeights,
        uint256 excludedCount
    ) internal view returns (uint256 idx) {
        uint256 n = t.size;
        if (n == 0) return 0;
        uint256 step = 1 << Math.log2(n);
        uint256 pos;
        while (step != 0) {
            uint256 next = pos + step;
            if (next <= n) {
                uint256 s = t.nodes[next];
                for (uint256 k; k < excludedCount; ++k) {
                    uint256 e = excluded[k];
                    if (e > pos && e <= next) s -= excludedWeights[k];
                }
                if (s <= u) {
                    pos = next;
                    u -= s;
                }
            }
            step >>= 1;
        }
        idx = pos + 1;
    }

    /// @notice Sum of the weights of leaves 1..idx (O(log n) reads).
    function prefixSum(Tree storage t, uint256 idx) internal view returns (uint256 sum) {
        while (idx != 0) {
            sum += t.nodes[idx];
            idx &= idx - 1;
        }
    }

    /// @notice The weight of `owner` as the tree holds it (0 when absent).
    function weightOf(Tree storage t, address owner) internal view returns (uint256) {
        uint256 idx = t.indexOf[owner];
        if (idx == 0) return 0;
        return prefixSum(t, idx) - prefixSum(t, idx - 1);
    }

    function _increase(Tree storage t, uint256 idx, uint256 delta) private {
        uint256 n = t.size;
        while (idx <= n) {
            t.nodes[idx] += delta;
            idx += idx & (~idx + 1);
        }
    }

    function _decrease(Tree storage t, uint256 idx, uint256 delta) private {
        uint256 n = t.size;
        while (idx <= n) {
            t.nodes[idx] -= delta;
            idx += idx & (~idx + 1);
        }
    }

    /// @dev A new last leaf: its node is its weight plus the nodes of its Fenwick children
    /// (idx - 1, idx - 2, idx - 4, ... below lowbit(idx)); no existing node covers it.
    function _append(Tree storage t, uint256 idx, uint256 weight) private {
        uint256 low = idx & (~idx + 1);
        uint256 sum = weight;
        for (uint256 j = 1; j < low; j <<= 1) {
            sum += t.nodes[idx - j];
        }
        t.nodes[idx] = sum;
    }
}
