// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {ITaskHub} from "./interfaces/ITaskHub.sol";
import {ResultHash} from "./libraries/ResultHash.sol";
import {SketchRule} from "./libraries/SketchRule.sol";
import {Tolerance} from "./types/Tolerance.sol";

/// @title SketchJudge
/// @notice The checks and comparisons of a tolerant settlement (docs/tolerant-consensus.md): the openings
/// against the commitments, the summary against the representative's sketch, which revealed sketches
/// agree with the representative's, and which of the others agree with no member. Created by the
/// TaskHub in its constructor (the hub's immutable `sketchJudge`); it reads the hub's and the model
/// registry's public views, holds no state and no funds, and reverts with the hub's errors. A contract
/// of its own because the hub and the rule do not fit in one (EIP-170). Anyone may call `verdict` to
/// see, before sending it, what a settleTolerant call would do.
contract SketchJudge {
    /// @notice The hub that created this judge.
    ITaskHub public immutable hub;
    /// @notice The hub's model registry (the tolerance rules).
    IModelRegistry public immutable modelRegistry;

    /// @notice A settlement's verdict: what the hub records and moves.
    /// @param resultSha256 The representative's, to record and deliver.
    /// @param summaryHash The representative's.
    /// @param representative The representative's worker.
    /// @param locked Every committed worker, slot order (the stakes the task locked).
    /// @param slashMask Bit m: locked[m] loses its task stake (no sketch revealed, or an outlier).
    /// @param slashCount Bits set in slashMask.
    /// @param members The members, slot order: paid as winners.
    /// @param slashedOutliers Revealed workers outside the set whose sketch agrees with no member.
    struct Verdict {
        bytes32 resultSha256;
        bytes32 summaryHash;
        address representative;
        address[] locked;
        uint256 slashMask;
        uint256 slashCount;
        address[] members;
        address[] slashedOutliers;
    }

    constructor(IModelRegistry modelRegistry_) {
        hub = ITaskHub(msg.sender);
        modelRegistry = modelRegistry_;
    }

    /// @notice Judges a settleTolerant call on the hub's current state (the hub checks the status first):
    /// every committer revealed or the reveal deadline passed, one opening per revealed sketch opening
    /// its commitment, the summary the representative's and telling what its sketch tells, Q members.
    /// @param args The call's arguments: abi.encode(taskId, representative, openings, summary), the
    /// summary well formed (the hub checks it with ResultHash.validateSummary first).
    function verdict(bytes calldata args) external view returns (Verdict memory v) {
        (uint256 taskId, uint256 representative, ITaskHub.Opening[] memory openings) =
            abi.decode(args, (uint256, uint256, ITaskHub.Opening[]));
        ITaskHub.Task memory t = hub.task(taskId);
        if (t.reveals < t.commits && block.timestamp <= t.revealDeadline) {
            revert ITaskHub.TaskHubSketchesPending(taskId, t.reveals, t.commits);
        }
        if (openings.length != t.reveals) {
            revert ITaskHub.TaskHubOpeningCount(taskId, openings.length, t.reveals);
        }
        ITaskHub.Contribution[] memory cs = hub.contributions(taskId);
        uint256[] memory slotOf = _openingSlots(taskId, cs, openings);
        if (representative >= openings.length) {
            revert ITaskHub.TaskHubInvalidRepresentative(taskId, representative);
        }
        ITaskHub.Opening memory rep = openings[representative];
        _checkSummary(taskId, t.modelId, rep, _summaryOf(args));
        v.resultSha256 = rep.resultSha256;
        v.summaryHash = rep.summaryHash;
        v.representative = cs[slotOf[representative]].worker;
        (uint256 memberBits, uint256 evidenceBits, uint256 members) =
            _judge(openings, representative, _tolerance(taskId, t.modelId));
        if (members < t.quorum) revert ITaskHub.TaskHubToleranceQuorumNotReached(taskId, members, t.quorum);
        _layOut(v, cs, t.commits, slotOf, memberBits, evidenceBits, members);
    }

    /// @dev The summary to record is the representative's and tells what its sketch tells: a semantic
    /// model's sketch (kind 1) has one entry per label, an instance model's one per detection in the
    /// summary's order.
    function _checkSummary(
        uint256 taskId,
        uint32 modelId,
        ITaskHub.Opening memory rep,
        bytes calldata summary
    ) private view {
        if (keccak256(summary) != rep.summaryHash) {
            revert ITaskHub.TaskHubSummaryMismatch(taskId);
        }
        bool perLabel = modelRegistry.model(modelId).kind == 1;
        if (perLabel
                ? !SketchRule.matchesSummaryPerLabel(rep.sketch, summary)
                : !SketchRule.matchesSummary(rep.sketch, summary)) {
            revert ITaskHub.TaskHubSummaryContradictsSketch(taskId);
        }
    }

    /// @dev The fourth argument (bytes) of `args`, read where abi.decode would read it.
    function _summaryOf(bytes calldata args) private pure returns (bytes calldata) {
        uint256 offset = uint256(bytes32(args[96:128]));
        uint256 start = offset + 32;
        return args[start:start + uint256(bytes32(args[offset:start]))];
    }

    /// @dev The model's rule; a task reconciles only on a model with one (revealSketch checks it), so
    /// none here means the registry answers otherwise than it did: refused.
    function _tolerance(uint256 taskId, uint32 modelId) private view returns (Tolerance memory tol) {
        bool set;
        (set, tol) = modelRegistry.toleranceOf(modelId);
        if (!set) revert ITaskHub.TaskHubNoTolerance(taskId, modelId);
    }

    /// @dev Fills the verdict's sets from the judgement over openings (opening k is at slot slotOf[k]).
    function _layOut(
        Verdict memory v,
        ITaskHub.Contribution[] memory cs,
        uint256 commits,
        uint256[] memory slotOf,
        uint256 memberBits,
        uint256 evidenceBits,
        uint256 members
    ) private pure {
        uint256 memberSlots = 0;
        uint256 outlierSlots = 0;
        uint256 outliers = 0;
        for (uint256 k; k < slotOf.length; ++k) {
            if ((memberBits >> k) & 1 != 0) memberSlots |= 1 << slotOf[k];
            if ((evidenceBits >> k) & 1 != 0) {
                outlierSlots |= 1 << slotOf[k];
                ++outliers;
            }
        }
        v.locked = new address[](commits);
        v.members = new address[](members);
        v.slashedOutliers = new address[](outliers);
        _fill(v, cs, memberSlots, outlierSlots);
    }

    /// @dev Over the slots: members paid; committers without a sketch and outliers slashed.
    function _fill(
        Verdict memory v,
        ITaskHub.Contribution[] memory cs,
        uint256 memberSlots,
        uint256 outlierSlots
    ) private pure {
        uint256 m = 0;
        uint256 wi = 0;
        uint256 oi = 0;
        for (uint256 i; i < cs.length; ++i) {
            ITaskHub.ContributionState s = cs[i].state;
            if (s == ITaskHub.ContributionState.Drawn) continue;
            address w = cs[i].worker;
            v.locked[m] = w;
            if ((memberSlots >> i) & 1 != 0) {
                v.members[wi++] = w;
            } else if (s == ITaskHub.ContributionState.Committed || (outlierSlots >> i) & 1 != 0) {
                if (s == ITaskHub.ContributionState.Revealed) v.slashedOutliers[oi++] = w;
                v.slashMask |= 1 << m;
                ++v.slashCount;
            }
            ++m;
        }
    }

    /// @dev The slot of each opening: one per Revealed contribution (as many as the task counts), in
    /// slot order, each opening its worker's commitment.
    function _openingSlots(
        uint256 taskId,
        ITaskHub.Contribution[] memory cs,
        ITaskHub.Opening[] memory openings
    ) private pure returns (uint256[] memory slotOf) {
        uint256 n = openings.length;
        slotOf = new uint256[](n);
        uint256 k = 0;
        for (uint256 i; i < cs.length; ++i) {
            if (cs[i].state != ITaskHub.ContributionState.Revealed) continue;
            address w = cs[i].worker;
            ITaskHub.Opening memory o = openings[k];
            bytes11 opened =
                ResultHash.commitmentOf(taskId, w, o.summaryHash, o.resultSha256, keccak256(o.sketch));
            if (opened != cs[i].commitment) revert ITaskHub.TaskHubSealMismatch(taskId, w);
            slotOf[k] = i;
            ++k;
        }
    }

    /// @dev Over the openings: the members (the representative and every sketch with
    /// compare(representative's, sketch) agreeing), and the outsiders whose sketch agrees with no member
    /// (compare(member's, outsider's) false for each member).
    function _judge(ITaskHub.Opening[] memory openings, uint256 representative, Tolerance memory t)
        private
        pure
        returns (uint256 memberBits, uint256 evidenceBits, uint256 members)
    {
        uint256 n = openings.length;
        bytes memory rep = openings[representative].sketch;
        memberBits = 1 << representative;
        members = 1;
        for (uint256 k; k < n; ++k) {
            if (k == representative) continue;
            bool agree = SketchRule.agrees(rep, openings[k].sketch, t);
            if (agree) {
                memberBits |= 1 << k;
                ++members;
            }
        }
        for (uint256 k; k < n; ++k) {
            if ((memberBits >> k) & 1 != 0) continue;
            bool evidence = true;
            for (uint256 j; j < n && evidence; ++j) {
                if (j == representative || (memberBits >> j) & 1 == 0) continue;
                bool agree = SketchRule.agrees(openings[j].sketch, openings[k].sketch, t);
                evidence = !agree;
            }
            if (evidence) evidenceBits |= 1 << k;
        }
    }
}
