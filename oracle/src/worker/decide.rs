//! What to do next for one task: a pure function of the worker's record, the task as the chain's
//! views show it, and the worker's own situation. No I/O here: the executor reads the views,
//! calls [`decide`], and carries the actions out. Every phase and every reorg case has a unit
//! test below.
//!
//! The rules that keep an honest worker from being slashed or paid for the wrong thing:
//! - the record's request hash must equal the task's current one before anything is computed or
//!   committed (a reorg can put another request at the same id): otherwise [`Action::Restart`];
//! - the chain, not the record, says whether a commit or a reveal happened: a commit or reveal
//!   that a reorg removed is sent again while its window is open;
//! - a task is finished only after its settlement log is confirmed (the follower saw it at the
//!   confirmation depth): a reorg that undoes a settlement finds the task still open.

use std::time::Duration;

use alloy::primitives::{B256, U256};

use super::Role;
use crate::state::{TaskPhase, TaskRecord};

/// How long after its seed became available a task's draw is left to the first drawn worker
/// before any other participant (another drawn worker, a keeper) sends `draw` itself.
pub const DRAW_BACKUP_AFTER: Duration = Duration::from_secs(2);
/// How long a task the chain no longer knows (a reorg removed its request) is kept open in case
/// the request comes back, before the record is closed.
pub const VANISHED_GRACE: Duration = Duration::from_secs(600);

pub use crate::events::{ContributionState, TaskStatus, WaitReason};

/// This worker's [`ContributionState`] in the task, ordered by progress (decide compares them).
/// A separate type because the chain's enum also carries codes this build does not know, which
/// have no place in the order: they count as no contribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Contribution {
    /// Not drawn (or the draw is not stored).
    None,
    /// Drawn, not committed.
    Drawn,
    /// Committed, not revealed.
    Committed,
    /// Revealed.
    Revealed,
}

impl From<ContributionState> for Contribution {
    fn from(s: ContributionState) -> Self {
        match s {
            ContributionState::Drawn => Self::Drawn,
            ContributionState::Committed => Self::Committed,
            ContributionState::Revealed => Self::Revealed,
            ContributionState::None | ContributionState::Unknown(_) => Self::None,
        }
    }
}

impl From<u8> for Contribution {
    fn from(code: u8) -> Self {
        ContributionState::from(code).into()
    }
}

/// The task's draw as `previewDraw` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Draw {
    /// Not read (the task is past its commits) or the seed is not available yet.
    Unknown,
    /// Stored on chain; whether this worker is in it.
    Stored {
        /// This worker is drawn.
        me: bool,
    },
    /// Not stored, but determined (the seed is available): this worker's position in it.
    Preview {
        /// Index of this worker in the draw, if drawn.
        slot: Option<usize>,
    },
}

/// The task as the chain's views show it (read by the executor at one moment).
#[derive(Debug, Clone)]
pub struct TaskView {
    /// `taskState().status`.
    pub status: TaskStatus,
    /// `taskState().reason`.
    pub reason: WaitReason,
    /// The task's request hash, zero-padded to 32 bytes.
    pub request_hash: [u8; 32],
    /// The task's model.
    pub model_id: u32,
    /// The task's reward (split among the workers who reveal the consensus result).
    pub reward: U256,
    /// R: workers drawn.
    pub replication: u8,
    /// Commit deadline (unix seconds).
    pub commit_deadline: u64,
    /// Reveal deadline (unix seconds).
    pub reveal_deadline: u64,
    /// Reveals so far (in the tolerant fallback: sketches revealed).
    pub reveals: u8,
    /// Commits so far.
    pub commits: u8,
    /// This worker's contribution.
    pub mine: Contribution,
    /// The draw.
    pub draw: Draw,
    /// The consensus result hash (read once reveals are open).
    pub winning: Option<B256>,
    /// The latest block's timestamp.
    pub now: u64,
}

/// Work of this process for the task that is under way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InFlight {
    /// A computation.
    pub compute: bool,
    /// A commit transaction.
    pub commit: bool,
    /// A reveal transaction.
    pub reveal: bool,
    /// A draw transaction.
    pub draw: bool,
    /// A finalize or expire transaction.
    pub keeper: bool,
}

/// The worker's own situation.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Worker or keeper process.
    pub role: Role,
    /// Keeper duty (finalize, expire, back-up draws) on.
    pub keeper: bool,
    /// Drain mode: no new task is started; committed ones are revealed.
    pub drain: bool,
    /// This worker serves the task's model.
    pub serves_model: bool,
    /// Smallest reward worth computing for.
    pub min_reward: U256,
    /// How long the draw has been possible (the seed available) without being stored.
    pub seed_ready_for: Duration,
    /// No other transaction of this process is waiting for a slot (a back-up draw would delay
    /// commits and reveals otherwise).
    pub signer_idle: bool,
    /// Work under way.
    pub in_flight: InFlight,
    /// `resultHash(taskId, digest)` of this worker's result, once computed.
    pub our_result_hash: Option<B256>,
    /// The follower ingested the task's settlement log at the confirmation depth.
    pub settlement_confirmed: bool,
    /// How long the chain has not known the task (`None`: it knows it).
    pub missing_for: Option<Duration>,
}

/// Why a task is closed for this worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Revealed a result that settled.
    Revealed,
    /// Committed a result other than the consensus (slashed).
    LostConsensus,
    /// Drawn, but commits closed before this worker's commit (neither paid nor slashed).
    NotCommitted,
    /// Not drawn.
    NotDrawn,
    /// The task expired.
    Expired,
    /// Drawn for a model this worker does not serve (opted out since).
    ModelNotServed,
    /// The reward is below `worker.min_reward`.
    RewardTooLow,
    /// Drain mode: not started.
    Drained,
    /// The chain no longer knows the task (its request was reorged out and did not come back).
    Vanished,
    /// A keeper that settled or watched a task it had no part in.
    Settled,
}

impl Outcome {
    /// Name used in logs, metrics and `worker status`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Revealed => "revealed",
            Self::LostConsensus => "lost-consensus",
            Self::NotCommitted => "not-committed",
            Self::NotDrawn => "not-drawn",
            Self::Expired => "expired",
            Self::ModelNotServed => "model-not-served",
            Self::RewardTooLow => "reward-too-low",
            Self::Drained => "drained",
            Self::Vanished => "vanished",
            Self::Settled => "settled",
        }
    }
}

/// What the task waits for (for logs, `worker status`, and when to look again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// The seed (next block, or the VRF fulfilment).
    Seed,
    /// Our computation.
    Compute,
    /// Our transaction.
    Transaction,
    /// The other drawn workers' commits.
    Commits,
    /// The reveals.
    Reveals,
    /// A deadline (unix seconds) after which a keeper acts.
    Deadline(u64),
    /// The settlement log to reach the confirmation depth.
    SettlementConfirmation,
    /// The task's request to (re)appear on chain.
    Request,
    /// Nothing: another participant acts.
    Others,
}

/// One step for the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The record's request is not the task's current one: find the current `TaskRequested`
    /// log and start the record again from it.
    Restart,
    /// Remember whether this worker is drawn (the draw is stored).
    RecordDrawn(bool),
    /// Fetch the input and run the model.
    Compute,
    /// Send the commit.
    Commit,
    /// Send the reveal.
    Reveal,
    /// The tolerant fallback: send `revealSketch` (our summary, result sha256 and sketch).
    RevealSketch,
    /// The tolerant fallback: gather the revealed sketches, pick the representative with the
    /// largest agreeing set and send `settleTolerant` (or `expire` when no set reaches Q and
    /// the hub allows it).
    SettleTolerant,
    /// Send `draw`.
    Draw,
    /// Send `finalize`.
    Finalize,
    /// Send `expire`.
    Expire,
    /// The chain shows our commit (or reveal): move the record forward to this phase.
    Advance(TaskPhase),
    /// The consensus is another result than ours: our stake will be slashed.
    LostConsensus,
    /// Close the record.
    Finish(Outcome),
    /// Nothing to send now.
    Wait(Waiting),
}

/// The next steps for `rec` given `v` and `cx`.
pub fn decide(rec: &TaskRecord, v: &TaskView, cx: &Ctx) -> Vec<Action> {
    use Action as A;
    if rec.phase == TaskPhase::Done {
        return Vec::new();
    }
    if v.status == TaskStatus::None {
        return match cx.missing_for {
            Some(d) if d >= VANISHED_GRACE => vec![A::Finish(Outcome::Vanished)],
            _ => vec![A::Wait(Waiting::Request)],
        };
    }
    if rec.request_hash != Some(v.request_hash) || rec.model_id != v.model_id {
        return vec![A::Restart];
    }
    let worker = cx.role == Role::Worker;
    let keeper = cx.role == Role::Keeper || cx.keeper;
    if matches!(v.status, TaskStatus::Finalized | TaskStatus::Failed) {
        if !cx.settlement_confirmed {
            return vec![A::Wait(Waiting::SettlementConfirmation)];
        }
        let outcome = match (v.status, v.mine) {
            (TaskStatus::Failed, _) => Outcome::Expired,
            (_, Contribution::Revealed) => Outcome::Revealed,
            (_, Contribution::Committed) => Outcome::LostConsensus,
            (_, Contribution::Drawn) => Outcome::NotCommitted,
            _ if rec.drawn == Some(true) => Outcome::NotCommitted,
            _ if worker => Outcome::NotDrawn,
            _ => Outcome::Settled,
        };
        return vec![A::Finish(outcome)];
    }
    let mut out = Vec::new();
    // What the chain shows of our own transactions moves the record forward (a receipt the
    // process did not see: a crash, a lost reply).
    let chain_phase = match v.mine {
        Contribution::Committed => Some(TaskPhase::CommitSent),
        Contribution::Revealed => Some(TaskPhase::RevealSent),
        _ => None,
    };
    if let Some(p) = chain_phase {
        if rec.phase < p {
            out.push(A::Advance(p));
        }
    }
    match v.reason {
        WaitReason::SeedPending => out.push(A::Wait(Waiting::Seed)),
        WaitReason::AwaitingCommits => {
            let drawn = match v.draw {
                Draw::Stored { me } => {
                    if rec.drawn != Some(me) {
                        out.push(A::RecordDrawn(me));
                    }
                    Some(me)
                }
                Draw::Preview { slot } => {
                    let due = !cx.in_flight.draw
                        && cx.signer_idle
                        && match slot {
                            Some(0) => worker,
                            Some(_) => worker && cx.seed_ready_for >= DRAW_BACKUP_AFTER,
                            None => keeper && cx.seed_ready_for >= DRAW_BACKUP_AFTER,
                        };
                    if due {
                        out.push(A::Draw);
                    }
                    // Not in the preview: known only once the draw is stored (a reorg of the seed
                    // block can still change it).
                    slot.map(|_| true)
                }
                Draw::Unknown => None,
            };
            // A commit the chain shows (or drawn-ness it denies) decides over the record.
            let drawn = if v.mine >= Contribution::Drawn {
                Some(true)
            } else {
                drawn
            };
            if !worker {
                out.push(A::Wait(Waiting::Deadline(v.commit_deadline + 1)));
                return out;
            }
            match drawn {
                Some(true) => {}
                Some(false) => {
                    if keeper {
                        out.push(A::Wait(Waiting::Deadline(v.commit_deadline + 1)));
                    } else {
                        out.push(A::Finish(Outcome::NotDrawn));
                    }
                    return out;
                }
                None => {
                    out.push(A::Wait(Waiting::Seed));
                    return out;
                }
            }
            if v.mine >= Contribution::Committed {
                out.push(A::Wait(Waiting::Commits));
                return out;
            }
            // Drawn and not committed on chain.
            match rec.phase {
                TaskPhase::Seen => {
                    if cx.in_flight.compute {
                        out.push(A::Wait(Waiting::Compute));
                    } else if !cx.serves_model {
                        out.push(A::Finish(Outcome::ModelNotServed));
                    } else if cx.drain {
                        out.push(A::Finish(Outcome::Drained));
                    } else if v.reward / U256::from(v.replication.max(1)) < cx.min_reward {
                        out.push(A::Finish(Outcome::RewardTooLow));
                    } else {
                        out.push(A::Compute);
                    }
                }
                // Computed; or a commit (even a reveal) the chain does not show: it was never
                // mined, or a reorg removed it. Sent (again) while commits are open.
                TaskPhase::Computed | TaskPhase::CommitSent | TaskPhase::RevealSent => {
                    if cx.in_flight.commit {
                        out.push(A::Wait(Waiting::Transaction));
                    } else {
                        out.push(A::Commit);
                    }
                }
                TaskPhase::Done => {}
            }
        }
        WaitReason::AwaitingReveals => {
            if !worker {
                out.push(A::Wait(Waiting::Deadline(v.reveal_deadline + 1)));
                return out;
            }
            match v.mine {
                Contribution::Revealed => out.push(A::Wait(Waiting::Reveals)),
                Contribution::Committed => {
                    if v.winning.is_none() || v.winning != cx.our_result_hash {
                        if rec.note.as_deref() != Some(LOST_NOTE) {
                            out.push(A::LostConsensus);
                        }
                        out.push(A::Wait(Waiting::Deadline(v.reveal_deadline + 1)));
                    } else if cx.in_flight.reveal {
                        out.push(A::Wait(Waiting::Transaction));
                    } else {
                        // Also when the record says revealed: a reveal the chain does not show
                        // was removed by a reorg.
                        out.push(A::Reveal);
                    }
                }
                // Commits closed (all others, or the deadline) before ours was in.
                _ if rec.drawn == Some(true) || rec.phase >= TaskPhase::Computed => {
                    if keeper {
                        out.push(A::Wait(Waiting::Deadline(v.reveal_deadline + 1)));
                    } else {
                        out.push(A::Finish(Outcome::NotCommitted));
                    }
                }
                _ => {
                    if keeper {
                        out.push(A::Wait(Waiting::Deadline(v.reveal_deadline + 1)));
                    } else {
                        out.push(A::Finish(Outcome::NotDrawn));
                    }
                }
            }
        }
        WaitReason::AwaitingSketches | WaitReason::SketchDeadlinePassed => {
            let open = v.reason == WaitReason::AwaitingSketches;
            if worker && v.mine == Contribution::Committed && open {
                // Whatever our commit was: every committer's sketch counts in the fallback.
                if cx.in_flight.reveal {
                    out.push(A::Wait(Waiting::Transaction));
                } else {
                    out.push(A::RevealSketch);
                }
            } else if keeper && (!open || (v.commits > 0 && v.reveals == v.commits)) {
                // Every committer revealed, or the deadline passed: settle (or expire).
                out.push(keeper_tx(cx, A::SettleTolerant));
            } else if open {
                out.push(A::Wait(Waiting::Deadline(v.reveal_deadline + 1)));
            } else {
                out.push(A::Wait(Waiting::Others));
            }
        }
        WaitReason::NotEnoughWorkers => {
            if keeper && v.now > v.commit_deadline {
                out.push(keeper_tx(cx, A::Expire));
            } else {
                out.push(A::Wait(Waiting::Deadline(v.commit_deadline + 1)));
            }
        }
        WaitReason::SeedExpired
        | WaitReason::NoQuorumPossible
        | WaitReason::CommitDeadlinePassed => {
            if keeper {
                out.push(keeper_tx(cx, A::Expire));
            } else {
                out.push(A::Wait(Waiting::Others));
            }
        }
        WaitReason::RevealDeadlinePassed => {
            if keeper {
                out.push(keeper_tx(
                    cx,
                    if v.reveals > 0 {
                        A::Finalize
                    } else {
                        A::Expire
                    },
                ));
            } else {
                out.push(A::Wait(Waiting::Others));
            }
        }
        WaitReason::None | WaitReason::Done | WaitReason::Unknown(_) => {
            out.push(A::Wait(Waiting::Others))
        }
    }
    out
}

/// The note a record carries once the worker knows it lost the consensus.
pub const LOST_NOTE: &str = "lost consensus";

fn keeper_tx(cx: &Ctx, a: Action) -> Action {
    if cx.in_flight.keeper {
        Action::Wait(Waiting::Transaction)
    } else {
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action as A;

    const REQ: [u8; 32] = [7; 32];

    fn rec(phase: TaskPhase) -> TaskRecord {
        let mut r = TaskRecord::seen(10);
        r.phase = phase;
        r.model_id = 1;
        r.request_hash = Some(REQ);
        if phase >= TaskPhase::Computed {
            r.digest = Some([1; 32]);
            r.result_sha256 = Some([2; 32]);
            r.summary = Some(vec![3]);
        }
        r
    }

    fn view(status: TaskStatus, reason: WaitReason) -> TaskView {
        TaskView {
            status,
            reason,
            request_hash: REQ,
            model_id: 1,
            reward: U256::from(300),
            replication: 3,
            commit_deadline: 1_000,
            reveal_deadline: 2_000,
            reveals: 0,
            commits: 0,
            mine: Contribution::None,
            draw: Draw::Unknown,
            winning: None,
            now: 500,
        }
    }

    fn commits(draw: Draw, mine: Contribution) -> TaskView {
        TaskView {
            draw,
            mine,
            ..view(TaskStatus::Requested, WaitReason::AwaitingCommits)
        }
    }

    fn ours() -> B256 {
        B256::repeat_byte(9)
    }

    fn reveals(mine: Contribution, winning: Option<B256>) -> TaskView {
        TaskView {
            mine,
            winning,
            reveals: 1,
            commits: 0,
            ..view(TaskStatus::Revealing, WaitReason::AwaitingReveals)
        }
    }

    fn worker() -> Ctx {
        Ctx {
            role: Role::Worker,
            keeper: false,
            drain: false,
            serves_model: true,
            min_reward: U256::ZERO,
            seed_ready_for: Duration::ZERO,
            signer_idle: true,
            in_flight: InFlight::default(),
            our_result_hash: Some(ours()),
            settlement_confirmed: false,
            missing_for: None,
        }
    }

    fn keeper() -> Ctx {
        Ctx {
            role: Role::Keeper,
            our_result_hash: None,
            ..worker()
        }
    }

    fn stored(me: bool) -> Draw {
        Draw::Stored { me }
    }

    // --- Seen / AwaitingCommits ---

    #[test]
    fn a_drawn_worker_computes_once() {
        let r = rec(TaskPhase::Seen);
        let v = commits(stored(true), Contribution::Drawn);
        assert_eq!(
            decide(&r, &v, &worker()),
            vec![A::RecordDrawn(true), A::Compute]
        );
        let mut cx = worker();
        cx.in_flight.compute = true;
        let mut r2 = r.clone();
        r2.drawn = Some(true);
        assert_eq!(decide(&r2, &v, &cx), vec![A::Wait(Waiting::Compute)]);
    }

    #[test]
    fn a_worker_not_drawn_closes_the_task_and_a_keeper_waits_for_the_deadline() {
        let r = rec(TaskPhase::Seen);
        let v = commits(stored(false), Contribution::None);
        assert_eq!(
            decide(&r, &v, &worker()),
            vec![A::RecordDrawn(false), A::Finish(Outcome::NotDrawn)]
        );
        let mut cx = worker();
        cx.keeper = true;
        assert_eq!(
            decide(&r, &v, &cx),
            vec![A::RecordDrawn(false), A::Wait(Waiting::Deadline(1_001))]
        );
    }

    #[test]
    fn the_first_drawn_worker_draws_at_once_others_only_as_a_backup() {
        let r = rec(TaskPhase::Seen);
        let first = commits(Draw::Preview { slot: Some(0) }, Contribution::None);
        assert_eq!(decide(&r, &first, &worker()), vec![A::Draw, A::Compute]);
        let second = commits(Draw::Preview { slot: Some(1) }, Contribution::None);
        assert_eq!(decide(&r, &second, &worker()), vec![A::Compute]);
        let mut late = worker();
        late.seed_ready_for = DRAW_BACKUP_AFTER;
        assert_eq!(decide(&r, &second, &late), vec![A::Draw, A::Compute]);
        // A busy signer does not queue a draw (the first commit draws anyway).
        late.signer_idle = false;
        assert_eq!(decide(&r, &second, &late), vec![A::Compute]);
        // A keeper not in the draw backs it up too.
        let none = commits(Draw::Preview { slot: None }, Contribution::None);
        // A worker outside the preview waits for the stored draw before closing the task.
        assert_eq!(decide(&r, &none, &worker()), vec![A::Wait(Waiting::Seed)]);
        let mut k = keeper();
        k.seed_ready_for = DRAW_BACKUP_AFTER;
        assert_eq!(
            decide(&r, &none, &k),
            vec![A::Draw, A::Wait(Waiting::Deadline(1_001))]
        );
    }

    #[test]
    fn the_seed_not_yet_available_waits() {
        let r = rec(TaskPhase::Seen);
        let v = view(TaskStatus::Requested, WaitReason::SeedPending);
        assert_eq!(decide(&r, &v, &worker()), vec![A::Wait(Waiting::Seed)]);
    }

    #[test]
    fn drain_model_opt_out_and_min_reward_stop_a_task_before_computing() {
        let r = rec(TaskPhase::Seen);
        let v = commits(stored(true), Contribution::Drawn);
        let mut cx = worker();
        cx.drain = true;
        assert_eq!(
            decide(&r, &v, &cx).last(),
            Some(&A::Finish(Outcome::Drained))
        );
        let mut cx = worker();
        cx.serves_model = false;
        assert_eq!(
            decide(&r, &v, &cx).last(),
            Some(&A::Finish(Outcome::ModelNotServed))
        );
        let mut cx = worker();
        cx.min_reward = U256::from(101);
        assert_eq!(
            decide(&r, &v, &cx).last(),
            Some(&A::Finish(Outcome::RewardTooLow))
        );
        // Drain never abandons a computed result: it is committed (paid, never slashed).
        let mut cx = worker();
        cx.drain = true;
        let mut computed = rec(TaskPhase::Computed);
        computed.drawn = Some(true);
        assert_eq!(decide(&computed, &v, &cx), vec![A::Commit]);
    }

    #[test]
    fn a_computed_result_is_committed_once() {
        let mut r = rec(TaskPhase::Computed);
        r.drawn = Some(true);
        let v = commits(stored(true), Contribution::Drawn);
        assert_eq!(decide(&r, &v, &worker()), vec![A::Commit]);
        let mut cx = worker();
        cx.in_flight.commit = true;
        assert_eq!(decide(&r, &v, &cx), vec![A::Wait(Waiting::Transaction)]);
    }

    #[test]
    fn a_commit_seen_on_chain_advances_the_record() {
        let mut r = rec(TaskPhase::Computed);
        r.drawn = Some(true);
        let v = commits(stored(true), Contribution::Committed);
        assert_eq!(
            decide(&r, &v, &worker()),
            vec![A::Advance(TaskPhase::CommitSent), A::Wait(Waiting::Commits)]
        );
    }

    // --- reorg cases ---

    #[test]
    fn a_request_replaced_at_the_same_id_restarts_before_computing_or_committing() {
        for phase in [
            TaskPhase::Seen,
            TaskPhase::Computed,
            TaskPhase::CommitSent,
            TaskPhase::RevealSent,
        ] {
            let r = rec(phase);
            let mut v = commits(stored(true), Contribution::Drawn);
            v.request_hash = [8; 32];
            assert_eq!(decide(&r, &v, &worker()), vec![A::Restart], "{phase:?}");
            // A record without a request hash (older version) learns it first.
            let mut old = rec(phase);
            old.request_hash = None;
            assert_eq!(decide(&old, &v, &worker()), vec![A::Restart]);
            // A replaced model too.
            let mut v = commits(stored(true), Contribution::Drawn);
            v.model_id = 2;
            assert_eq!(decide(&r, &v, &worker()), vec![A::Restart]);
        }
    }

    #[test]
    fn a_commit_removed_by_a_reorg_is_sent_again() {
        let mut r = rec(TaskPhase::CommitSent);
        r.drawn = Some(true);
        let v = commits(stored(true), Contribution::Drawn);
        assert_eq!(decide(&r, &v, &worker()), vec![A::Commit]);
        // Even a record that had revealed, when the reorg went back to the commits.
        r.phase = TaskPhase::RevealSent;
        assert_eq!(decide(&r, &v, &worker()), vec![A::Commit]);
    }

    #[test]
    fn a_reveal_removed_by_a_reorg_is_sent_again() {
        let mut r = rec(TaskPhase::RevealSent);
        r.drawn = Some(true);
        let v = reveals(Contribution::Committed, Some(ours()));
        assert_eq!(decide(&r, &v, &worker()), vec![A::Reveal]);
    }

    #[test]
    fn a_request_the_chain_no_longer_knows_waits_then_closes() {
        let r = rec(TaskPhase::Computed);
        let v = view(TaskStatus::None, WaitReason::None);
        assert_eq!(decide(&r, &v, &worker()), vec![A::Wait(Waiting::Request)]);
        let mut cx = worker();
        cx.missing_for = Some(VANISHED_GRACE);
        assert_eq!(decide(&r, &v, &cx), vec![A::Finish(Outcome::Vanished)]);
    }

    #[test]
    fn a_settlement_is_final_only_once_confirmed() {
        let mut r = rec(TaskPhase::RevealSent);
        r.drawn = Some(true);
        let v = TaskView {
            mine: Contribution::Revealed,
            ..view(TaskStatus::Finalized, WaitReason::Done)
        };
        assert_eq!(
            decide(&r, &v, &worker()),
            vec![A::Wait(Waiting::SettlementConfirmation)]
        );
        let mut cx = worker();
        cx.settlement_confirmed = true;
        assert_eq!(decide(&r, &v, &cx), vec![A::Finish(Outcome::Revealed)]);
    }

    // --- AwaitingReveals ---

    #[test]
    fn a_worker_in_the_consensus_reveals_once() {
        let mut r = rec(TaskPhase::CommitSent);
        r.drawn = Some(true);
        let v = reveals(Contribution::Committed, Some(ours()));
        assert_eq!(decide(&r, &v, &worker()), vec![A::Reveal]);
        let mut cx = worker();
        cx.in_flight.reveal = true;
        assert_eq!(decide(&r, &v, &cx), vec![A::Wait(Waiting::Transaction)]);
        let done = reveals(Contribution::Revealed, Some(ours()));
        assert_eq!(
            decide(&r, &done, &worker()),
            vec![A::Advance(TaskPhase::RevealSent), A::Wait(Waiting::Reveals)]
        );
    }

    fn sketches(mine: Contribution, reveals: u8, commits: u8) -> TaskView {
        TaskView {
            mine,
            reveals,
            commits,
            ..view(TaskStatus::Reconciling, WaitReason::AwaitingSketches)
        }
    }

    #[test]
    fn in_the_tolerant_fallback_every_committer_reveals_its_sketch() {
        let mut r = rec(TaskPhase::CommitSent);
        r.drawn = Some(true);
        // Whatever it committed (no winning hash here): the fallback needs every sketch.
        let mut cx = worker();
        cx.our_result_hash = None;
        let v = sketches(Contribution::Committed, 0, 3);
        assert_eq!(decide(&r, &v, &cx), vec![A::RevealSketch]);
        cx.in_flight.reveal = true;
        assert_eq!(decide(&r, &v, &cx), vec![A::Wait(Waiting::Transaction)]);
        // Revealed: the worker (no keeper duty) waits for the settlement.
        let mut plain = worker();
        plain.keeper = false;
        let done = sketches(Contribution::Revealed, 1, 3);
        assert_eq!(
            decide(&r, &done, &plain),
            vec![
                A::Advance(TaskPhase::RevealSent),
                A::Wait(Waiting::Deadline(2_001))
            ]
        );
        // After the deadline a committer that did not reveal has nothing left to send.
        let late = TaskView {
            reason: WaitReason::SketchDeadlinePassed,
            ..sketches(Contribution::Committed, 2, 3)
        };
        assert_eq!(decide(&r, &late, &plain), vec![A::Wait(Waiting::Others)]);
    }

    #[test]
    fn a_keeper_settles_the_fallback_once_every_sketch_is_in_or_the_deadline_passed() {
        let r = rec(TaskPhase::Seen);
        assert_eq!(
            decide(&r, &sketches(Contribution::None, 2, 3), &keeper()),
            vec![A::Wait(Waiting::Deadline(2_001))]
        );
        assert_eq!(
            decide(&r, &sketches(Contribution::None, 3, 3), &keeper()),
            vec![A::SettleTolerant]
        );
        let late = TaskView {
            reason: WaitReason::SketchDeadlinePassed,
            ..sketches(Contribution::None, 1, 3)
        };
        assert_eq!(decide(&r, &late, &keeper()), vec![A::SettleTolerant]);
        let mut busy = keeper();
        busy.in_flight.keeper = true;
        assert_eq!(
            decide(&r, &late, &busy),
            vec![A::Wait(Waiting::Transaction)]
        );
    }

    #[test]
    fn a_worker_outside_the_consensus_does_not_reveal() {
        let mut r = rec(TaskPhase::CommitSent);
        r.drawn = Some(true);
        let v = reveals(Contribution::Committed, Some(B256::repeat_byte(1)));
        assert_eq!(
            decide(&r, &v, &worker()),
            vec![A::LostConsensus, A::Wait(Waiting::Deadline(2_001))]
        );
        r.note = Some(LOST_NOTE.into());
        assert_eq!(
            decide(&r, &v, &worker()),
            vec![A::Wait(Waiting::Deadline(2_001))]
        );
        // Not computed (no hash of ours): never a reveal.
        let mut cx = worker();
        cx.our_result_hash = None;
        assert!(!decide(&r, &v, &cx).contains(&A::Reveal));
    }

    #[test]
    fn commits_closed_before_ours_ends_the_task_unpaid_and_unslashed() {
        let mut r = rec(TaskPhase::Computed);
        r.drawn = Some(true);
        let v = reveals(Contribution::Drawn, Some(ours()));
        assert_eq!(
            decide(&r, &v, &worker()),
            vec![A::Finish(Outcome::NotCommitted)]
        );
    }

    // --- keeper duty ---

    #[test]
    fn keepers_expire_and_finalize_when_the_hub_allows() {
        let r = rec(TaskPhase::Seen);
        for reason in [
            WaitReason::SeedExpired,
            WaitReason::NoQuorumPossible,
            WaitReason::CommitDeadlinePassed,
        ] {
            let v = view(TaskStatus::Requested, reason);
            assert_eq!(decide(&r, &v, &keeper()), vec![A::Expire], "{reason:?}");
            assert_eq!(
                decide(&r, &v, &worker()),
                vec![A::Wait(Waiting::Others)],
                "{reason:?}"
            );
        }
        let mut v = view(TaskStatus::Revealing, WaitReason::RevealDeadlinePassed);
        assert_eq!(decide(&r, &v, &keeper()), vec![A::Expire]);
        v.reveals = 2;
        assert_eq!(decide(&r, &v, &keeper()), vec![A::Finalize]);
        let mut busy = keeper();
        busy.in_flight.keeper = true;
        assert_eq!(decide(&r, &v, &busy), vec![A::Wait(Waiting::Transaction)]);
    }

    #[test]
    fn not_enough_workers_expires_only_after_the_commit_deadline() {
        let r = rec(TaskPhase::Seen);
        let mut v = view(TaskStatus::Requested, WaitReason::NotEnoughWorkers);
        assert_eq!(
            decide(&r, &v, &keeper()),
            vec![A::Wait(Waiting::Deadline(1_001))]
        );
        v.now = 1_001;
        assert_eq!(decide(&r, &v, &keeper()), vec![A::Expire]);
    }

    #[test]
    fn a_keeper_schedules_itself_from_the_deadlines() {
        let r = rec(TaskPhase::Seen);
        let v = reveals(Contribution::None, None);
        assert_eq!(
            decide(&r, &v, &keeper()),
            vec![A::Wait(Waiting::Deadline(2_001))]
        );
    }

    #[test]
    fn terminal_outcomes_follow_the_contribution() {
        let mut cx = worker();
        cx.settlement_confirmed = true;
        let cases = [
            (TaskStatus::Failed, Contribution::Revealed, Outcome::Expired),
            (
                TaskStatus::Finalized,
                Contribution::Revealed,
                Outcome::Revealed,
            ),
            (
                TaskStatus::Finalized,
                Contribution::Committed,
                Outcome::LostConsensus,
            ),
            (
                TaskStatus::Finalized,
                Contribution::Drawn,
                Outcome::NotCommitted,
            ),
            (TaskStatus::Finalized, Contribution::None, Outcome::NotDrawn),
        ];
        for (status, mine, want) in cases {
            let v = TaskView {
                mine,
                ..view(status, WaitReason::Done)
            };
            assert_eq!(
                decide(&rec(TaskPhase::CommitSent), &v, &cx),
                vec![A::Finish(want)],
                "{status:?} {mine:?}"
            );
        }
        let mut k = keeper();
        k.settlement_confirmed = true;
        let v = view(TaskStatus::Finalized, WaitReason::Done);
        assert_eq!(
            decide(&rec(TaskPhase::Seen), &v, &k),
            vec![A::Finish(Outcome::Settled)]
        );
    }

    #[test]
    fn a_closed_record_is_never_acted_on() {
        let r = rec(TaskPhase::Done);
        let v = commits(stored(true), Contribution::Drawn);
        assert!(decide(&r, &v, &worker()).is_empty());
    }
}
