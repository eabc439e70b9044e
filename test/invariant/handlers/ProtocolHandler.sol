// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {RequestHashSlot} from "../../utils/RequestHashSlot.sol";
import {Test} from "forge-std/Test.sol";
import {TestToken} from "../../../contracts/devnet/TestToken.sol";
import {ITaskHub} from "../../../contracts/interfaces/ITaskHub.sol";
import {ResultHash} from "../../../contracts/libraries/ResultHash.sol";
import {TaskHub} from "../../../contracts/TaskHub.sol";
import {WorkerRegistry} from "../../../contracts/WorkerRegistry.sol";
import {CountingConsumer} from "../../mocks/HostileConsumers.sol";
import {Sketches} from "../../utils/Sketches.sol";

/// @notice Drives random sequences of deposit, withdraw, stake, unstake, opt-in/out, request, commit,
/// reveal, finalize, expire, the tolerant fallback (revealSketch, settleTolerant) and time warps, with
/// bounded inputs so that most calls make progress. Tasks go to two models: one with exact agreement
/// only, one with a tolerance. Three results: 1 and 2 differ (other hashes) but their sketches agree
/// within the tolerance; 3 is tampered (its sketch agrees with neither).
/// Ghost state: the accounts that can hold hub balances, and a fingerprint of every terminal task.
contract ProtocolHandler is Test {
    uint256 internal constant MAX_TASKS = 24;
    uint24 internal constant CONSUMER_CALLBACK_GAS = 1_000_000;

    TaskHub public immutable hub;
    WorkerRegistry public immutable registry;
    TestToken public immutable token;
    uint32 public immutable modelId;
    uint32 public immutable tolerantModelId;
    CountingConsumer public immutable consumer;

    address[] public workers;
    address[] public requesters; // the last one is the consumer contract
    address[] public accounts; // everyone who can hold a hub balance

    /// @dev Which of two results each worker committed in each task (0 none, 1 or 2).
    mapping(uint256 taskId => mapping(address worker => uint256)) public ghostVariant;
    /// @dev Fingerprint of a task when it became terminal (0 while live).
    mapping(uint256 taskId => bytes32) public ghostTerminalPrint;
    mapping(bytes32 action => uint256) public calls;
    /// @dev keccak of the workers a task's draw gave when its randomness was first seen available
    /// (0 before); every later preview and the stored draw must give the same.
    mapping(uint256 taskId => bytes32) public ghostDraw;
    /// @dev Pool changes (stake, unstake, opt-in/out) made while some task was requested and undrawn.
    uint256 public ghostPoolChangesUnderPendingDraws;

    /// @dev Runs after each handler call: records first draws, counts pool changes under pending draws.
    modifier recordDraws(bool poolChange) {
        _;
        uint256 n = hub.taskCount();
        bool pending;
        for (uint256 id = 1; id <= n; ++id) {
            if (hub.task(id).status == ITaskHub.TaskStatus.Requested && hub.contributions(id).length == 0) {
                pending = true;
            }
            if (ghostDraw[id] != bytes32(0)) continue;
            bytes32 d = drawPrint(id);
            if (d != bytes32(0)) ghostDraw[id] = d;
        }
        if (poolChange && pending) ++ghostPoolChangesUnderPendingDraws;
    }

    constructor(
        TaskHub hub_,
        WorkerRegistry registry_,
        TestToken token_,
        uint32 modelId_,
        uint32 tolerantModelId_,
        address publisher
    ) {
        hub = hub_;
        registry = registry_;
        token = token_;
        modelId = modelId_;
        tolerantModelId = tolerantModelId_;
        for (uint256 i; i < 8; ++i) {
            workers.push(makeAddr(string.concat("inv-worker", vm.toString(i))));
            accounts.push(workers[i]);
        }
        requesters.push(makeAddr("inv-requester0"));
        requesters.push(makeAddr("inv-requester1"));
        consumer = new CountingConsumer(hub_);
        requesters.push(address(consumer));
        for (uint256 i; i < requesters.length; ++i) {
            accounts.push(requesters[i]);
        }
        accounts.push(publisher);
    }

    function accountCount() external view returns (uint256) {
        return accounts.length;
    }

    function workerCount() external view returns (uint256) {
        return workers.length;
    }

    /*////////////////////////////////////////////////////////////// money */

    function deposit(uint256 who, uint256 amount) external {
        address a = requesters[who % requesters.length];
        amount = _bound(amount, 1, 500e18);
        token.mint(address(this), amount);
        token.approve(address(hub), amount);
        hub.deposit(a, amount);
        ++calls["deposit"];
    }

    function withdraw(uint256 who, uint256 amount) external {
        address a = accounts[who % accounts.length];
        uint256 bal = hub.balanceOf(a);
        if (bal == 0 || a == address(consumer)) return;
        amount = _bound(amount, 1, bal);
        vm.prank(a);
        hub.withdraw(amount);
        ++calls["withdraw"];
    }

    /*////////////////////////////////////////////////////////////// stakes */

    function stake(uint256 who, uint256 amount) external recordDraws(true) {
        address w = workers[who % workers.length];
        amount = _bound(amount, 1, 400e18);
        token.mint(w, amount);
        vm.startPrank(w);
        token.approve(address(registry), amount);
        registry.stake(amount);
        vm.stopPrank();
        ++calls["stake"];
    }

    function requestUnstake(uint256 who, uint256 amount) external recordDraws(true) {
        address w = workers[who % workers.length];
        uint256 free = registry.freeStake(w);
        if (free == 0) return;
        amount = _bound(amount, 1, free / 4 + 1);
        vm.prank(w);
        registry.requestUnstake(amount);
        ++calls["requestUnstake"];
    }

    function withdrawUnstaked(uint256 who) external {
        address w = workers[who % workers.length];
        vm.prank(w);
        try registry.withdrawUnstaked() {
            ++calls["withdrawUnstaked"];
        } catch {}
    }

    function toggleOptIn(uint256 who) external recordDraws(true) {
        address w = workers[who % workers.length];
        bool optedIn = registry.isOptedIn(w, modelId);
        vm.prank(w);
        if (optedIn) registry.optOut(modelId);
        else registry.optIn(modelId);
        ++calls["optInOut"];
    }

    /*////////////////////////////////////////////////////////////// tasks */

    function request(uint256 who, uint256 r, uint256 q, uint256 reward) external recordDraws(false) {
        if (hub.taskCount() >= MAX_TASKS) return;
        address a = requesters[who % requesters.length];
        r = _bound(r, 1, 3);
        q = _bound(q, r / 2 + 1, r);
        reward = _bound(reward, 1, 100e18);
        ITaskHub.RequestParams memory p = ITaskHub.RequestParams({
            modelId: reward % 2 == 0 ? tolerantModelId : modelId,
            replication: uint8(r),
            quorum: uint8(q),
            reward: uint96(reward),
            maxFee: type(uint96).max,
            commitWindow: 10 minutes,
            revealWindow: 10 minutes,
            callbackGasLimit: a == address(consumer) ? CONSUMER_CALLBACK_GAS : 0,
            input: "ipfs://bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
            params: ""
        });
        vm.prank(a);
        if (a == address(consumer)) consumer.request(p);
        else hub.request(p);
        ++calls["request"];
    }

    function commit(uint256 taskSeed, uint256 who) external recordDraws(false) {
        uint256 id = _taskIn(taskSeed, ITaskHub.TaskStatus.Requested);
        if (id == 0) return;
        address w = _drawnOrAny(id, who, ITaskHub.ContributionState.Drawn);
        // One commit in five dissents by noise (2), one in eleven is tampered (3).
        uint256 variant = who % 11 == 0 ? 3 : who % 5 == 0 ? 2 : 1;
        _commitVariant(id, w, variant);
        ghostVariant[id][w] = variant;
        ++calls["commit"];
        _record(id);
    }

    function reveal(uint256 taskSeed, uint256 who) external {
        uint256 id = _taskIn(taskSeed, ITaskHub.TaskStatus.Revealing);
        if (id == 0) return;
        address w = _drawnOrAny(id, who, ITaskHub.ContributionState.Committed);
        uint256 variant = ghostVariant[id][w];
        if (variant == 0) variant = 1;
        vm.prank(w);
        hub.reveal(id, _sha(variant), keccak256(_sketch(variant)), _summary(variant));
        ++calls["reveal"];
        _record(id);
    }

    function finalize(uint256 taskSeed) external {
        uint256 id = _taskIn(taskSeed, ITaskHub.TaskStatus.Revealing);
        if (id == 0) return;
        hub.finalize(id, recordedSummary(id));
        ++calls["finalize"];
        _record(id);
    }

    function expire(uint256 taskSeed, uint8 which) external {
        ITaskHub.TaskStatus st = which % 3 == 0
            ? ITaskHub.TaskStatus.Requested
            : which % 3 == 1 ? ITaskHub.TaskStatus.Revealing : ITaskHub.TaskStatus.Reconciling;
        uint256 id = _taskIn(taskSeed, st);
        if (id == 0) return;
        hub.expire(id);
        ++calls["expire"];
        _record(id);
    }

    /// @notice A committed worker of a task whose commits closed without a quorum reveals its sketch
    /// (one time in seven another variant's: refused).
    function revealSketch(uint256 taskSeed, uint256 who) external {
        uint256 id = _taskIn(taskSeed, ITaskHub.TaskStatus.Reconciling);
        if (id == 0) id = _taskIn(taskSeed, ITaskHub.TaskStatus.Requested);
        if (id == 0) return;
        address w = _drawnOrAny(id, who, ITaskHub.ContributionState.Committed);
        uint256 variant = ghostVariant[id][w];
        if (variant == 0 || who % 7 == 3) variant = 1 + who % 3;
        vm.prank(w);
        hub.revealSketch(id, keccak256(_summary(variant)), _sha(variant), _sketch(variant));
        ++calls["revealSketch"];
        _record(id);
    }

    /// @notice Settles a reconciling task on one of its revealed sketches.
    function settleTolerant(uint256 taskSeed, uint256 repSeed) external {
        uint256 id = _taskIn(taskSeed, ITaskHub.TaskStatus.Reconciling);
        if (id == 0) return;
        (ITaskHub.Opening[] memory os, uint256[] memory variants) = openings(id);
        if (os.length == 0) return;
        uint256 rep = repSeed % os.length;
        hub.settleTolerant(id, rep, os, _summary(variants[rep]));
        ++calls["settleTolerant"];
        _record(id);
    }

    /// @notice Moves one live task a step towards a terminal state the way honest parties would
    /// (keeps the random sequences from leaving every task half done).
    function advance(uint256 taskSeed) external recordDraws(false) {
        uint256 id = _taskIn(taskSeed, ITaskHub.TaskStatus.Revealing);
        if (id == 0) id = _taskIn(taskSeed, ITaskHub.TaskStatus.Reconciling);
        if (id == 0) id = _taskIn(taskSeed, ITaskHub.TaskStatus.Requested);
        if (id == 0) return;
        ITaskHub.Task memory t = hub.task(id);
        if (block.number <= uint256(t.requestBlock) + 1) vm.roll(block.number + 2);
        ITaskHub.Contribution[] memory cs = hub.contributions(id);
        // Commits closed at the deadline: reveal when a hash has Q commits, else expire (a tolerant
        // model with Q commits: reconcile).
        bool closed = t.status == ITaskHub.TaskStatus.Requested && block.timestamp > t.commitDeadline;
        (, ITaskHub.WaitReason why) = hub.taskState(id);
        if (
            t.status == ITaskHub.TaskStatus.Reconciling || why == ITaskHub.WaitReason.AwaitingSketches
                || why == ITaskHub.WaitReason.SketchDeadlinePassed
        ) {
            _advanceReconciliation(id, t, cs);
        } else if (closed && t.leaderCount < t.quorum) {
            hub.expire(id);
        } else if (t.status == ITaskHub.TaskStatus.Requested && !closed) {
            (address[] memory ws,) = hub.previewDraw(id);
            if (cs.length == 0 && ws.length < t.replication) {
                vm.warp(uint256(t.commitDeadline) + 1);
                hub.expire(id);
            } else {
                address w = cs.length == 0 ? ws[taskSeed % ws.length] : address(0);
                for (uint256 k; k < cs.length && w == address(0); ++k) {
                    if (cs[k].state == ITaskHub.ContributionState.Drawn) w = cs[k].worker;
                }
                if (w == address(0)) {
                    hub.expire(id); // all committed, no quorum
                } else {
                    _commitVariant(id, w, 1);
                }
            }
        } else {
            bytes32 winning = hub.result(id).resultHash;
            address w;
            for (uint256 k; k < cs.length && w == address(0); ++k) {
                address c = cs[k].worker;
                uint256 v = ghostVariant[id][c];
                if (
                    cs[k].state == ITaskHub.ContributionState.Committed && v != 0
                        && ResultHash.resultHash(id, _digest(id, v)) == winning
                ) w = c;
            }
            if (w == address(0)) {
                vm.warp(uint256(t.revealDeadline) + 1);
                if (t.reveals > 0) {
                    hub.finalize(id, recordedSummary(id));
                } else {
                    hub.expire(id);
                }
            } else {
                uint256 v = ghostVariant[id][w];
                vm.prank(w);
                hub.reveal(id, _sha(v), keccak256(_sketch(v)), _summary(v));
            }
        }
        ++calls["advance"];
        _record(id);
    }

    /// @dev A reconciliation step: the next committer reveals its sketch while it can; then settle on the
    /// first revealed sketch whose set reaches Q, or expire once settling had its grace.
    function _advanceReconciliation(uint256 id, ITaskHub.Task memory t, ITaskHub.Contribution[] memory cs)
        internal
    {
        if (block.timestamp <= t.revealDeadline) {
            for (uint256 k; k < cs.length; ++k) {
                if (cs[k].state != ITaskHub.ContributionState.Committed) continue;
                uint256 v = ghostVariant[id][cs[k].worker];
                vm.prank(cs[k].worker);
                hub.revealSketch(id, keccak256(_summary(v)), _sha(v), _sketch(v));
                return;
            }
        } else if (t.status == ITaskHub.TaskStatus.Requested) {
            hub.expire(id); // no sketch by the deadline
            return;
        }
        (ITaskHub.Opening[] memory os, uint256[] memory variants) = openings(id);
        for (uint256 rep; rep < os.length; ++rep) {
            try hub.settleTolerant(id, rep, os, _summary(variants[rep])) {
                return;
            } catch {}
        }
        if (block.timestamp <= uint256(t.revealDeadline) + hub.SETTLE_GRACE()) {
            vm.warp(uint256(t.revealDeadline) + hub.SETTLE_GRACE() + 1);
        }
        hub.expire(id);
    }

    function warp(uint256 secs, uint256 blocks) external recordDraws(false) {
        vm.warp(block.timestamp + _bound(secs, 1, 4 minutes));
        vm.roll(block.number + _bound(blocks, 1, 20));
        ++calls["warp"];
    }

    /*////////////////////////////////////////////////////////////// ghost helpers */

    /// @notice Fingerprint of everything stored about a task.
    function fingerprint(uint256 id) public view returns (bytes32) {
        return keccak256(abi.encode(hub.task(id), hub.result(id), hub.contributions(id), hub.escrowOf(id)));
    }

    /// @notice keccak of the task's drawn workers: the stored draw, else the preview once the randomness
    /// is available (0 when neither).
    function drawPrint(uint256 id) public view returns (bytes32) {
        (address[] memory ws, bool stored) = hub.previewDraw(id);
        if (!stored && ws.length == 0) return bytes32(0);
        return keccak256(abi.encode(ws));
    }

    function summaryOf(uint256 variant) external pure returns (bytes memory) {
        return _summary(variant);
    }

    /// @notice The summary the task recorded (one of the three variants'), for finalize.
    function recordedSummary(uint256 id) public view returns (bytes memory) {
        bytes32 h = hub.result(id).summaryHash;
        for (uint256 v = 1; v <= 3; ++v) {
            if (keccak256(_summary(v)) == h) return _summary(v);
        }
        return _summary(1);
    }

    /// @notice The openings of a task's revealed sketches in slot order, with each one's variant.
    function openings(uint256 id)
        public
        view
        returns (ITaskHub.Opening[] memory os, uint256[] memory variants)
    {
        ITaskHub.Contribution[] memory cs = hub.contributions(id);
        uint256 n;
        for (uint256 k; k < cs.length; ++k) {
            if (cs[k].state == ITaskHub.ContributionState.Revealed) ++n;
        }
        os = new ITaskHub.Opening[](n);
        variants = new uint256[](n);
        uint256 j;
        for (uint256 k; k < cs.length; ++k) {
            if (cs[k].state != ITaskHub.ContributionState.Revealed) continue;
            uint256 v = ghostVariant[id][cs[k].worker];
            os[j] = ITaskHub.Opening({
                summaryHash: keccak256(_summary(v)), resultSha256: _sha(v), sketch: _sketch(v)
            });
            variants[j++] = v;
        }
    }

    function _record(uint256 id) internal {
        ITaskHub.TaskStatus st = hub.task(id).status;
        if (
            (st == ITaskHub.TaskStatus.Finalized || st == ITaskHub.TaskStatus.Failed)
                && ghostTerminalPrint[id] == bytes32(0)
        ) ghostTerminalPrint[id] = fingerprint(id);
    }

    /// @dev A task in `status`, searched from a random start (0 when none).
    function _taskIn(uint256 seed, ITaskHub.TaskStatus status) internal view returns (uint256) {
        uint256 n = hub.taskCount();
        if (n == 0) return 0;
        uint256 start = seed % n;
        for (uint256 k; k < n; ++k) {
            uint256 id = (start + k) % n + 1;
            if (hub.task(id).status == status) return id;
        }
        return 0;
    }

    /// @dev Usually a drawn worker in `state`; one time in seven any worker (exercises the reverts).
    function _drawnOrAny(uint256 id, uint256 who, ITaskHub.ContributionState state)
        internal
        view
        returns (address)
    {
        if (who % 7 == 0) return workers[who % workers.length];
        ITaskHub.Contribution[] memory cs = hub.contributions(id);
        if (cs.length == 0) {
            (address[] memory ws,) = hub.previewDraw(id);
            if (ws.length == 0) return workers[who % workers.length];
            return ws[who % ws.length];
        }
        for (uint256 k; k < cs.length; ++k) {
            ITaskHub.Contribution memory c = cs[(who + k) % cs.length];
            if (c.state == state) return c.worker;
        }
        return cs[who % cs.length].worker;
    }

    function _commitVariant(uint256 id, address w, uint256 variant) internal {
        bytes32 d = _digest(id, variant);
        vm.prank(w);
        hub.commit(
            id,
            RequestHashSlot.read(address(hub), id),
            ResultHash.resultHash(id, d),
            ResultHash.resultSeal(w, id, d, keccak256(_sketch(variant)))
        );
        ghostVariant[id][w] = variant;
    }

    function _digest(uint256, uint256 variant) internal pure returns (bytes32) {
        return ResultHash.digest(keccak256(_summary(variant)), _sha(variant));
    }

    function _sha(uint256 variant) internal pure returns (bytes32) {
        return keccak256(abi.encode("canonical result", variant));
    }

    /// @dev Variant `v`'s result: two detections; 2 is 1 with noise within the tolerance (another hash,
    /// an agreeing sketch), 3 is 1 with a mask moved by three cells (outside).
    function _result(uint256 v) internal pure returns (Sketches.Result memory r) {
        r = Sketches.base(2);
        if (v == 2) r = Sketches.noisy(r, 2);
        if (v == 3) r = Sketches.shifted(r, 1, 3);
    }

    function _summary(uint256 variant) internal pure returns (bytes memory) {
        return Sketches.summary(_result(variant));
    }

    function _sketch(uint256 variant) internal pure returns (bytes memory) {
        return Sketches.sketch(_result(variant));
    }
}
