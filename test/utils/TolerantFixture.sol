// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ITaskHub} from "../../contracts/interfaces/ITaskHub.sol";
import {ResultHash} from "../../contracts/libraries/ResultHash.sol";
import {Fixture} from "./Fixture.sol";
import {RequestHashSlot} from "./RequestHashSlot.sol";
import {Sketches} from "./Sketches.sol";

/// @notice The fixture plus a model registered with the default tolerance, workers opted into both
/// models, and helpers that commit, reveal and settle sketches (tolerant consensus).
abstract contract TolerantFixture is Fixture {
    bytes32 internal constant TOLERANT_SHA = keccak256("tolerant model.pt");

    uint32 internal tolerantModelId;

    /// @dev What each worker committed in each task.
    struct Sealed {
        bytes sketch;
        bytes summary;
        bytes32 sha;
    }

    mapping(uint256 taskId => mapping(address worker => Sealed)) internal sealed_;

    function setUp() public virtual override {
        super.setUp();
        vm.prank(publisher);
        tolerantModelId = models.registerWithTolerance(MODEL_CID, TOLERANT_SHA, 0, FEE, Sketches.tolerance());
    }

    /// @dev `n` workers staked and opted into both models.
    function _addBothWorkers(uint256 n) internal {
        for (uint256 i; i < n; ++i) {
            address w = _addWorker(string.concat("worker", vm.toString(i)), WORKER_STAKE);
            vm.prank(w);
            registry.optIn(tolerantModelId);
        }
    }

    function _tolerantParams(uint8 r, uint8 q) internal view returns (ITaskHub.RequestParams memory p) {
        p = _params(r, q);
        p.modelId = tolerantModelId;
    }

    function _requestTolerant(uint8 r, uint8 q) internal returns (uint256 taskId) {
        vm.roll(block.number + 1);
        vm.prank(requester);
        taskId = hub.request(_tolerantParams(r, q));
        _mineSeed();
    }

    /// @dev Commits `res` as `w`, its seal binding the sketch of `res`.
    function _commitResult(address w, uint256 taskId, Sketches.Result memory res) internal {
        Sealed storage s = sealed_[taskId][w];
        s.sketch = Sketches.sketch(res);
        s.summary = Sketches.summary(res);
        s.sha = Sketches.sha(res);
        bytes32 d = ResultHash.digest(keccak256(s.summary), s.sha);
        vm.prank(w);
        hub.commit(
            taskId,
            RequestHashSlot.read(address(hub), taskId),
            ResultHash.resultHash(taskId, d),
            ResultHash.resultSeal(w, taskId, d, keccak256(s.sketch))
        );
    }

    /// @dev `w` reveals the sketch it sealed.
    function _revealSealed(address w, uint256 taskId) internal {
        Sealed storage s = sealed_[taskId][w];
        vm.prank(w);
        hub.revealSketch(taskId, keccak256(s.summary), s.sha, s.sketch);
    }

    /// @dev The openings of every revealed sketch, in slot order (what settleTolerant takes), and the
    /// index among them of `representative`'s.
    function _openings(uint256 taskId, address representative)
        internal
        view
        returns (ITaskHub.Opening[] memory os, uint256 rep)
    {
        ITaskHub.Contribution[] memory cs = hub.contributions(taskId);
        uint256 n;
        for (uint256 i; i < cs.length; ++i) {
            if (cs[i].state == ITaskHub.ContributionState.Revealed) ++n;
        }
        os = new ITaskHub.Opening[](n);
        rep = type(uint256).max;
        uint256 k;
        for (uint256 i; i < cs.length; ++i) {
            if (cs[i].state != ITaskHub.ContributionState.Revealed) continue;
            Sealed storage s = sealed_[taskId][cs[i].worker];
            os[k] =
                ITaskHub.Opening({summaryHash: keccak256(s.summary), resultSha256: s.sha, sketch: s.sketch});
            if (cs[i].worker == representative) rep = k;
            ++k;
        }
    }

    /// @dev Settles on `representative`'s result, as `caller`.
    function _settle(address caller, uint256 taskId, address representative) internal {
        (ITaskHub.Opening[] memory os, uint256 rep) = _openings(taskId, representative);
        vm.prank(caller);
        hub.settleTolerant(taskId, rep, os, sealed_[taskId][representative].summary);
    }

    /// @dev Each drawn worker commits its own result (`results[i]` for slot i).
    function _commitAll(uint256 taskId, Sketches.Result[] memory results)
        internal
        returns (address[] memory ws)
    {
        ws = _drawn(taskId);
        for (uint256 i; i < results.length; ++i) {
            _commitResult(ws[i], taskId, results[i]);
        }
    }

    /// @dev `n` honest noisy results of one base (16 detections), distinct hashes, all agreeing.
    function _honest(uint256 n, uint256 seed) internal pure returns (Sketches.Result[] memory rs) {
        return _honestOf(n, 16, seed);
    }

    /// @dev `n` honest noisy results of one base with `count` detections.
    function _honestOf(uint256 n, uint256 count, uint256 seed)
        internal
        pure
        returns (Sketches.Result[] memory rs)
    {
        Sketches.Result memory b = Sketches.base(count);
        rs = new Sketches.Result[](n);
        for (uint256 i; i < n; ++i) {
            rs[i] = Sketches.noisy(b, uint256(keccak256(abi.encode(seed, i))));
        }
    }

    function _stake(address w) internal view returns (uint256) {
        return registry.workerInfo(w).stake;
    }

    function _locked(address w) internal view returns (uint256) {
        return registry.workerInfo(w).locked;
    }
}
