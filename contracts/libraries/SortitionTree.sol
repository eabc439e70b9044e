// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title SortitionTree
/// @notice Weighted sortition over a set of owners with history: a Fenwick (binary indexed) tree of
/// weights, one leaf per owner, where every node keeps its value per block. A draw walks the tree as it
/// stood at the end of a past block, so no change made after that block moves the draw.
/// @dev Leaves are 1-based and never reused: an owner keeps its leaf for good (weight 0 when it leaves).
/// The tree has a capacity, the smallest power of two >= size; an update writes every node on the
/// leaf's Fenwick path up to the capacity, so each node below the capacity has held its range's sum
/// since the first leaf of that range existed. A power-of-two node p that has no value yet at a block
/// stood for the whole tree then (all leaves were below p), so it reads as the total at that block.
/// Storage per node: one slot with the latest value, the block it was written in and the number of
/// archived values; older values are archived only when a later block overwrites them (one new slot).
library SortitionTree {
    /// @dev The caller stated a non-zero current weight for an owner that is not in the tree.
    error SortitionTreeOwnerMissing(address owner);

    /// @dev A node's latest value (set in block `blockNumber`) and how many older values are archived.
    struct Node {
        uint40 blockNumber;
        uint176 value;
        uint40 archived;
    }

    /// @dev An archived value: the node held `value` from the end of block `blockNumber`.
    struct Checkpoint {
        uint40 blockNumber;
        uint176 value;
    }

    struct Tree {
        /// @dev Number of leaves allocated (highest leaf index).
        uint256 size;
        /// @dev Sum of all leaf weights, with history (same layout as a node).
        Node total;
        mapping(uint256 index => Checkpoint) totalHistory;
        /// @dev Fenwick node i holds the sum of the leaves (i - lowbit(i), i].
        mapping(uint256 index => Node) nodes;
        mapping(uint256 index => mapping(uint256 k => Checkpoint)) history;
        mapping(uint256 index => address) ownerOf;
        mapping(address owner => uint256) indexOf;
    }

    /*//////////////////////////////////////////////////////////////
                                 WRITES
    //////////////////////////////////////////////////////////////*/

    /// @notice Changes `owner`'s weight from `oldWeight` (0 when absent) to `newWeight`.
    /// @dev The caller keeps the weights (the worker's stake) and must pass the current one.
    function update(Tree storage t, address owner, uint256 oldWeight, uint256 newWeight) internal {
        if (newWeight == oldWeight) return;
        uint256 idx = t.indexOf[owner];
        if (idx == 0) {
            if (oldWeight != 0) revert SortitionTreeOwnerMissing(owner);
            idx = t.size + 1;
            t.size = idx;
            t.indexOf[owner] = idx;
            t.ownerOf[idx] = owner;
        }
        uint256 oldTotal = t.total.value;
        uint256 newTotal = oldTotal + newWeight - oldWeight;
        uint256 cap = _capacity(t.size);
        while (idx <= cap) {
            Node storage node = t.nodes[idx];
            // A power-of-two node never written yet stood for the whole tree (see the library notes).
            uint256 cur = node.blockNumber == 0 && idx & (idx - 1) == 0 ? oldTotal : node.value;
            _write(node, t.history[idx], cur + newWeight - oldWeight);
            idx += idx & (~idx + 1);
        }
        _write(t.total, t.totalHistory, newTotal);
    }

    /*//////////////////////////////////////////////////////////////
                                  READS
    //////////////////////////////////////////////////////////////*/

    /// @notice Sum of all weights at the end of block `at`.
    function totalAt(Tree storage t, uint256 at) internal view returns (uint256) {
        (uint256 v,) = _valueAt(t.total, t.totalHistory, at);
        return v;
    }

    /// @notice The leaf holding position `u` of the cumulative weights at the end of block `at`,
    /// skipping the excluded leaves, and its weight then.
    /// @param u A position in [0, totalAt(at) - sum(excludedWeights[0..excludedCount))).
    /// @param excluded Leaf indices to skip (each at most once); only the first `excludedCount` count.
    /// @param excludedWeights Their weights at `at`.
    /// @return idx The leaf index; its owner is `ownerOf[idx]`.
    /// @return weight Its weight at `at` (> 0).
    function find(
        Tree storage t,
        uint256 u,
        uint256 at,
        uint256[] memory excluded,
        uint256[] memory excludedWeights,
        uint256 excludedCount
    ) internal view returns (uint256 idx, uint256 weight) {
        uint256 n = t.size;
        if (n == 0) return (0, 0);
        // The leaf's weight is the last node the walk did not step over, less the nodes it stepped
        // over after it (exactly that node's Fenwick children): no extra reads. The root stands first.
        uint256 below = totalAt(t, at);
        for (uint256 k; k < excludedCount; ++k) {
            below -= excludedWeights[k];
        }
        uint256 stepped = 0;
        uint256 step = _capacity(n) >> 1;
        uint256 pos = 0;
        while (step != 0) {
            uint256 next = pos + step;
            if (next <= n) {
                uint256 s = _nodeAt(t, next, at);
                for (uint256 k; k < excludedCount; ++k) {
                    uint256 e = excluded[k];
                    if (e > pos && e <= next) s -= excludedWeights[k];
                }
                if (s <= u) {
                    pos = next;
                    u -= s;
                    stepped += s;
                } else {
                    below = s;
                    stepped = 0;
                }
            }
            step >>= 1;
        }
        idx = pos + 1;
        weight = below - stepped;
    }

    /// @notice Sum of the current weights of leaves 1..idx (O(log n) reads).
    function prefixSum(Tree storage t, uint256 idx) internal view returns (uint256 sum) {
        uint256 total = t.total.value;
        while (idx != 0) {
            Node storage node = t.nodes[idx];
            sum += node.blockNumber == 0 && idx & (idx - 1) == 0 ? total : node.value;
            idx &= idx - 1;
        }
    }

    /// @notice The current weight of `owner` (0 when absent).
    function weightOf(Tree storage t, address owner) internal view returns (uint256) {
        uint256 idx = t.indexOf[owner];
        if (idx == 0) return 0;
        return prefixSum(t, idx) - prefixSum(t, idx - 1);
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @dev Node `idx` at the end of block `at`.
    function _nodeAt(Tree storage t, uint256 idx, uint256 at) private view returns (uint256 v) {
        bool found = false;
        (v, found) = _valueAt(t.nodes[idx], t.history[idx], at);
        if (!found && idx & (idx - 1) == 0) v = totalAt(t, at);
    }

    /// @dev The value at the end of block `at`, and whether any was written by then. One read when the
    /// latest write is at or before `at` (the draw's usual case), two when the node changed in one
    /// block since, else a binary search of the rest of the archive.
    function _valueAt(Node storage node, mapping(uint256 => Checkpoint) storage hist, uint256 at)
        private
        view
        returns (uint256, bool)
    {
        Node memory latest = node;
        if (latest.blockNumber == 0) return (0, false);
        if (latest.blockNumber <= at) return (latest.value, true);
        // Last archived checkpoint with blockNumber <= at: the newest first (a draw soon after its
        // request), then a binary search.
        uint256 hi = latest.archived;
        if (hi == 0) return (0, false);
        Checkpoint memory newest = hist[hi - 1];
        if (newest.blockNumber <= at) return (newest.value, true);
        --hi;
        uint256 lo = 0;
        while (lo < hi) {
            uint256 mid = (lo + hi) >> 1;
            if (hist[mid].blockNumber <= at) lo = mid + 1;
            else hi = mid;
        }
        if (lo == 0) return (0, false);
        return (hist[lo - 1].value, true);
    }

    /// @dev Sets a node's value in this block, archiving the value of an earlier block first.
    function _write(Node storage node, mapping(uint256 => Checkpoint) storage hist, uint256 value) private {
        Node memory latest = node;
        uint40 nowBlock = uint40(block.number);
        if (latest.blockNumber != 0 && latest.blockNumber != nowBlock) {
            hist[latest.archived] = Checkpoint({blockNumber: latest.blockNumber, value: latest.value});
            ++latest.archived;
        }
        // Node values are sums of uint96 stakes over fewer than 2^80 leaves: they fit in 176 bits.
        node.blockNumber = nowBlock;
        node.value = uint176(value);
        node.archived = latest.archived;
    }

    /// @dev Smallest power of two >= n (n >= 1).
    function _capacity(uint256 n) private pure returns (uint256 c) {
        c = 1;
        while (c < n) c <<= 1;
    }
}
