//! `maskoracle audit`: rebuilds every settlement from chain events and checks it.
//!
//! For each task it gathers the request, the draw, the locked stakes, the commits, the consensus,
//! the recorded result, the reveals, the settlement (finalize or expire), the stake release and
//! the callback; it then checks that the winners are exactly the revealers of the consensus hash,
//! that the revealed summary and result reproduce the consensus hash, that the slashed workers
//! are exactly the drawn workers who are not winners, and that the money adds up (reward split,
//! remainders, slashed stake, fee, refund). `--recompute` re-runs the model on the input and
//! compares the digest.

use std::collections::{BTreeMap, HashMap};

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use clap::Args;
use serde::Serialize;

use crate::bindings::hub::TaskHub::TaskHubEvents as H;
use crate::bindings::worker_registry::WorkerRegistry::WorkerRegistryEvents as R;
use crate::chain::Contracts;
use crate::events::{CallbackOutcome, EventLog, OracleEvent, Sources, TaskStatus, WaitReason};
use crate::node_cli::NodeArgs;

/// Arguments of `maskoracle audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Audit this task only.
    #[arg(long)]
    pub task: Option<u64>,
    /// First block to read (default: the deployment block).
    #[arg(long)]
    pub from_block: Option<u64>,
    /// Re-run the model on each finalized task's input and compare the digest.
    #[arg(long)]
    pub recompute: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// How a task settled.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Settlement {
    /// Finalized (`true`) or expired.
    pub finalized: bool,
    /// Winners (finalized).
    pub winners: Vec<Address>,
    /// Reward per winner.
    pub reward_each: U256,
    /// Slashed stake per winner.
    pub slash_share_each: U256,
    /// Stake slashed in all.
    pub slashed: U256,
    /// Model publisher and its fee (finalized).
    pub publisher: Address,
    /// Fee credited to the publisher.
    pub fee: U256,
    /// Refund to the requester (expired).
    pub refund: U256,
    /// Why it expired.
    pub expiry_reason: Option<WaitReason>,
}

/// One task, rebuilt from events.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TaskAudit {
    /// Task id.
    pub task_id: U256,
    /// Block of the request.
    pub request_block: u64,
    /// Requester (EOA or consumer contract).
    pub requester: Address,
    /// Model id.
    pub model_id: u32,
    /// Input reference.
    pub input: String,
    /// R.
    pub replication: u8,
    /// Q.
    pub quorum: u8,
    /// Reward escrowed.
    pub reward: U256,
    /// Model fee escrowed.
    pub escrow_fee: U256,
    /// Draw seed.
    pub seed: Option<B256>,
    /// Drawn workers in slot order.
    pub drawn: Vec<Address>,
    /// Stake locked per committer.
    pub stake_each: U256,
    /// Workers whose task stake was locked (one `StakesLocked` per commit), in order.
    pub locked: Vec<Address>,
    /// Commits: worker → result hash.
    pub commits: Vec<(Address, B256)>,
    /// The consensus hash.
    pub consensus: Option<B256>,
    /// sha256 of the canonical result.
    pub result_sha256: Option<B256>,
    /// CIDv1 (raw) of the canonical result.
    pub result_cid: Option<String>,
    /// Result status code.
    pub result_status: Option<u8>,
    /// `abi.encode(Summary)` revealed.
    #[serde(skip)]
    pub summary: Option<Vec<u8>>,
    /// Revealers in order.
    pub revealed: Vec<Address>,
    /// Settlement, once final.
    pub settlement: Option<Settlement>,
    /// Workers whose stake was slashed (from the stake release).
    pub slashed_workers: Vec<Address>,
    /// Callback outcome.
    pub callback: Option<CallbackOutcome>,
    /// Credits made by the settlement, by account (rebuilt).
    pub credits: BTreeMap<Address, U256>,
    /// Slashed stake the settlement put in the hub's reserve (an expiry after a quorum).
    pub to_reserve: U256,
    /// The task's status on chain now: `Finalized`, `Failed` or still open.
    pub outcome: TaskStatus,
    /// Result of `--recompute` (`match`, `mismatch: ...`, or why it could not run).
    pub recompute: Option<String>,
    /// What does not add up (empty: the settlement checks out).
    pub problems: Vec<String>,
}

/// The chunk of blocks one log query asks for.
const LOG_CHUNK: u64 = 2_000;

/// Reads every hub and registry event from `from` to the head.
pub async fn events(c: &Contracts, from: u64) -> anyhow::Result<Vec<EventLog>> {
    let head = c.provider.get_block_number().await?;
    Sources::hub_and_registry(&c.deployment)
        .read(&c.provider, from, head, LOG_CHUNK)
        .await
}

/// Rebuilds the tasks found in the events from `from` (optionally one task only).
pub async fn rebuild(
    c: &Contracts,
    from: u64,
    only: Option<U256>,
) -> anyhow::Result<Vec<TaskAudit>> {
    let mut tasks: BTreeMap<U256, TaskAudit> = BTreeMap::new();
    let mut releases: HashMap<U256, (Vec<Address>, U256, U256)> = HashMap::new();
    for ev in events(c, from).await? {
        let Some(id) = ev.about_task() else {
            continue;
        };
        if only.is_some_and(|o| o != id) {
            continue;
        }
        let t = tasks.entry(id).or_insert_with(|| TaskAudit {
            task_id: id,
            ..TaskAudit::default()
        });
        match ev.event {
            OracleEvent::Hub(H::TaskRequested(e)) => {
                t.request_block = ev.block;
                t.requester = e.requester;
                t.model_id = e.modelId;
                t.input = e.input;
                t.replication = e.task.replication;
                t.quorum = e.task.quorum;
                t.reward = U256::from(e.task.reward);
                t.escrow_fee = U256::from(e.task.fee);
            }
            OracleEvent::Hub(H::WorkersDrawn(e)) => {
                t.seed = Some(e.seed);
                t.drawn = e.workers;
            }
            // Since v2: one event per commit, naming the committer.
            OracleEvent::Registry(R::StakesLocked(e)) => {
                t.stake_each = e.amountEach;
                t.locked.extend(e.workers);
            }
            OracleEvent::Hub(H::Committed(e)) => t.commits.push((e.worker, e.resultHash)),
            OracleEvent::Hub(H::ConsensusReached(e)) => t.consensus = Some(e.resultHash),
            OracleEvent::Hub(H::ResultRecorded(e)) => {
                t.result_sha256 = Some(e.resultSha256);
                t.result_cid = Some(maskoracle_inference::canonical::cid_of_sha256(
                    &e.resultSha256.0,
                ));
                t.result_status = Some(e.status);
                t.summary = Some(e.summary.to_vec());
            }
            OracleEvent::Hub(H::Revealed(e)) => t.revealed.push(e.worker),
            OracleEvent::Hub(H::TaskFinalized(e)) => {
                t.settlement = Some(Settlement {
                    finalized: true,
                    winners: e.winners,
                    reward_each: e.rewardEach,
                    slash_share_each: e.slashShareEach,
                    slashed: e.slashed,
                    publisher: e.publisher,
                    fee: e.fee,
                    ..Settlement::default()
                });
            }
            OracleEvent::Hub(H::TaskExpired(e)) => {
                t.settlement = Some(Settlement {
                    finalized: false,
                    refund: e.refund,
                    slashed: e.slashed,
                    expiry_reason: Some(WaitReason::from(e.reason)),
                    ..Settlement::default()
                });
            }
            OracleEvent::Registry(R::StakesReleased(e)) => {
                releases.insert(id, (e.workers, e.slashMask, e.amountEach));
            }
            OracleEvent::Hub(H::CallbackAttempted(e)) => {
                t.callback = Some(CallbackOutcome::from(e.outcome));
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (id, mut t) in tasks {
        if t.requester == Address::ZERO {
            // Events of a task requested before `from`: not auditable from this range.
            continue;
        }
        if let Some((workers, mask, each)) = releases.remove(&id) {
            t.slashed_workers = workers
                .iter()
                .enumerate()
                .filter(|(i, _)| mask.bit(*i))
                .map(|(_, w)| *w)
                .collect();
            if t.stake_each.is_zero() {
                t.stake_each = each;
            }
        }
        let st = c.hub.taskState(id).call().await?;
        t.outcome = TaskStatus::from(st.status);
        check(&mut t);
        out.push(t);
    }
    Ok(out)
}

/// A result hash committed by Q or more workers, if any (Q > R/2: at most one).
fn quorum_hash(t: &TaskAudit) -> Option<B256> {
    let mut counts: HashMap<B256, usize> = HashMap::new();
    for (_, h) in &t.commits {
        *counts.entry(*h).or_default() += 1;
    }
    counts
        .into_iter()
        .find(|(_, n)| t.quorum > 0 && *n >= usize::from(t.quorum))
        .map(|(h, _)| h)
}

/// The checks; fills `credits`, `to_reserve` and `problems`.
pub fn check(t: &mut TaskAudit) {
    let mut problems = Vec::new();
    let Some(s) = t.settlement.clone() else {
        if t.outcome.is_terminal() {
            problems.push("terminal on chain but no settlement event found".into());
        }
        t.problems = problems;
        return;
    };
    let drawn_not_winning: Vec<Address> = t
        .drawn
        .iter()
        .filter(|w| !s.winners.contains(w))
        .copied()
        .collect();
    // Stakes are locked at commit: exactly once per committer.
    let mut locked = t.locked.clone();
    locked.sort();
    let mut committers: Vec<Address> = t.commits.iter().map(|(w, _)| *w).collect();
    committers.sort();
    if locked != committers {
        problems.push(format!(
            "stakes locked for {:?}, but the committers are {:?}",
            t.locked, committers
        ));
    }
    let slashed_count = U256::from(t.slashed_workers.len());
    if s.slashed != slashed_count * t.stake_each {
        problems.push(format!(
            "slashed {} but {} workers x stake {} were released as slashed",
            s.slashed,
            t.slashed_workers.len(),
            t.stake_each
        ));
    }
    if s.finalized {
        let n = U256::from(s.winners.len());
        let mut revealed = t.revealed.clone();
        revealed.sort();
        let mut winners = s.winners.clone();
        winners.sort();
        if revealed != winners {
            problems.push(format!(
                "winners {:?} are not the revealers {:?}",
                s.winners, t.revealed
            ));
        }
        if let Some(h) = t.consensus {
            for w in &s.winners {
                if !t.commits.iter().any(|(cw, ch)| cw == w && *ch == h) {
                    problems.push(format!("winner {w} did not commit the consensus hash"));
                }
            }
            if let (Some(summary), Some(sha)) = (&t.summary, t.result_sha256) {
                let digest = maskoracle_inference::summary::digest(summary, &sha.0);
                if maskoracle_inference::summary::result_hash(t.task_id, digest) != h {
                    problems.push(
                        "the revealed summary and result do not reproduce the consensus hash"
                            .into(),
                    );
                }
            } else {
                problems.push("finalized without a recorded result".into());
            }
        } else {
            problems.push("finalized without consensus".into());
        }
        // Slashed: drawn workers who committed and did not reveal (dissenters and silent
        // winners). A drawn worker who never committed (consensus came first) keeps its stake.
        let mut slashed_sorted = t.slashed_workers.clone();
        slashed_sorted.sort();
        let mut expected: Vec<Address> = drawn_not_winning
            .iter()
            .filter(|w| t.commits.iter().any(|(cw, _)| cw == *w))
            .copied()
            .collect();
        expected.sort();
        if slashed_sorted != expected {
            problems.push(format!(
                "slashed {:?}, but the committers who did not reveal are {:?}",
                t.slashed_workers, expected
            ));
        }
        if n.is_zero() {
            problems.push("finalized with no winner".into());
        } else {
            let paid = s.reward_each * n;
            if paid > t.reward || t.reward - paid >= n {
                problems.push(format!(
                    "reward {} split as {} x {}",
                    t.reward, s.reward_each, n
                ));
            }
            let shared = s.slash_share_each * n;
            if shared > s.slashed || s.slashed - shared >= n {
                problems.push(format!(
                    "slashed {} shared as {} x {}",
                    s.slashed, s.slash_share_each, n
                ));
            }
            if s.fee != t.escrow_fee {
                problems.push(format!("fee paid {} but {} escrowed", s.fee, t.escrow_fee));
            }
            let rem = (t.reward - paid.min(t.reward)) + (s.slashed - shared.min(s.slashed));
            for (i, w) in s.winners.iter().enumerate() {
                let mut amount = s.reward_each + s.slash_share_each;
                if i == 0 {
                    amount += rem;
                }
                *t.credits.entry(*w).or_default() += amount;
            }
            *t.credits.entry(s.publisher).or_default() += s.fee;
            let total: U256 = t.credits.values().copied().sum();
            if total != t.reward + t.escrow_fee + s.slashed {
                problems.push(format!(
                    "credits {} != reward {} + fee {} + slashed {}",
                    total, t.reward, t.escrow_fee, s.slashed
                ));
            }
        }
    } else {
        // Expired with a quorum (consensus reached, or Q equal commits by the commit deadline and
        // no reveal, which emits no ConsensusReached): every committer is slashed; else nobody.
        let mut expected: Vec<Address> = if t.consensus.is_some() || quorum_hash(t).is_some() {
            t.commits.iter().map(|(w, _)| *w).collect()
        } else {
            Vec::new()
        };
        expected.sort();
        expected.dedup();
        let mut slashed_sorted = t.slashed_workers.clone();
        slashed_sorted.sort();
        if slashed_sorted != expected {
            problems.push(format!(
                "expired: slashed {:?}, expected {:?}",
                t.slashed_workers, expected
            ));
        }
        // Since v2 the slashed stake goes to the hub's reserve, not to the requester.
        if s.refund != t.reward + t.escrow_fee {
            problems.push(format!(
                "refund {} != reward {} + fee {}",
                s.refund, t.reward, t.escrow_fee
            ));
        }
        *t.credits.entry(t.requester).or_default() += s.refund;
        t.to_reserve = s.slashed;
    }
    if t.callback.is_none() {
        problems.push("no callback outcome recorded".into());
    }
    t.problems = problems;
}

async fn recompute(cfg: &crate::config::Config, c: &Contracts, t: &TaskAudit) -> String {
    let (Some(summary), Some(sha)) = (&t.summary, t.result_sha256) else {
        return "no result to compare".into();
    };
    let run = async {
        let storage = crate::node::open_storage(cfg).await?;
        let http = crate::node::http_fetcher(cfg)?;
        let models = crate::models::ModelStore::new(
            c.models.clone(),
            storage.clone(),
            cfg.data_dir.join("models"),
        );
        let seg = models.get(t.model_id).await?;
        maskoracle_inference::set_intra_op_threads(cfg.worker.intra_op_threads);
        let fetched = crate::storage::fetch_input(
            &t.input,
            storage.as_ref(),
            &http,
            crate::storage::FETCH_POLICY.attempt_timeout(),
        )
        .await;
        let result = tokio::task::spawn_blocking(move || match fetched {
            Ok(b) => seg.segment(&b).result,
            Err(e) => maskoracle_inference::CanonicalResult::error(
                maskoracle_inference::Status::from_code(e.status())
                    .unwrap_or(maskoracle_inference::Status::FetchFailed),
                seg.model().sha256(),
                [0; 32],
                (0, 0),
            ),
        })
        .await?;
        let att = maskoracle_inference::Attestation::of(&result);
        let onchain = maskoracle_inference::summary::digest(summary, &sha.0);
        anyhow::Ok(if att.digest == onchain {
            "match".to_owned()
        } else {
            format!(
                "mismatch: recomputed result {} vs on-chain {}",
                att.result_sha256, sha
            )
        })
    };
    match run.await {
        Ok(s) => s,
        Err(e) => format!("could not recompute: {e:#}"),
    }
}

/// Runs `maskoracle audit`.
pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    let cfg = args.node.resolve()?;
    let c = crate::node::contracts(&cfg).await?;
    let from = args.from_block.unwrap_or(c.deployment.deploy_block);
    let mut tasks = rebuild(&c, from, args.task.map(U256::from)).await?;
    if args.recompute {
        for t in tasks
            .iter_mut()
            .filter(|t| t.outcome == TaskStatus::Finalized)
        {
            let r = recompute(&cfg, &c, t).await;
            if r.starts_with("mismatch") {
                t.problems.push(format!("recompute: {r}"));
            }
            t.recompute = Some(r);
        }
    }
    // A full audit also accounts for the hub's reserve: the slashed stake of expiries.
    let mut reserve_problem = None;
    if args.task.is_none() && from <= c.deployment.deploy_block {
        let reserve = c.hub.reserve().call().await?;
        let sum: U256 = tasks.iter().map(|t| t.to_reserve).sum();
        if reserve != sum {
            reserve_problem = Some(format!(
                "the hub's reserve is {reserve}, but the expired tasks put {sum} in it"
            ));
        }
    }
    let ok = tasks.iter().all(|t| t.problems.is_empty()) && reserve_problem.is_none();
    let head = c
        .provider
        .get_block_by_number(BlockNumberOrTag::Latest)
        .await?
        .map(|b| b.header.number);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"ok": ok, "from_block": from, "head": head, "reserve_problem": reserve_problem, "tasks": tasks})
            )?
        );
    } else {
        for t in &tasks {
            println!(
                "task {}  {}  model {}  R/Q {}/{}  input {}",
                t.task_id, t.outcome, t.model_id, t.replication, t.quorum, t.input
            );
            println!("  drawn      {:?}", t.drawn);
            for (w, h) in &t.commits {
                let mark = if Some(*h) == t.consensus {
                    "consensus"
                } else {
                    "DISSENT"
                };
                println!("  commit     {w} {h} {mark}");
            }
            if let Some(cid) = &t.result_cid {
                println!(
                    "  result     {cid} (status {})",
                    t.result_status.unwrap_or_default()
                );
            }
            println!("  revealed   {:?}", t.revealed);
            if !t.slashed_workers.is_empty() {
                println!(
                    "  slashed    {:?} ({} each)",
                    t.slashed_workers, t.stake_each
                );
            }
            for (a, v) in &t.credits {
                println!("  credit     {a} +{v}");
            }
            if let Some(cb) = &t.callback {
                println!("  callback   {cb}");
            }
            if let Some(r) = &t.recompute {
                println!("  recompute  {r}");
            }
            if t.problems.is_empty() {
                println!("  checks     ok");
            }
            for p in &t.problems {
                println!("  PROBLEM    {p}");
            }
        }
        if let Some(p) = &reserve_problem {
            println!("PROBLEM  {p}");
        }
        println!(
            "{} task(s); {}",
            tasks.len(),
            if ok {
                "all settlements check out"
            } else {
                "PROBLEMS FOUND"
            }
        );
    }
    if !ok {
        anyhow::bail!("audit found problems");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(n: u8) -> Address {
        Address::repeat_byte(n)
    }

    fn h(n: u8) -> B256 {
        B256::repeat_byte(n)
    }

    /// A (3, 2) task with reward 90 and fee 10 whose three workers committed `hashes`.
    fn task(hashes: [u8; 3]) -> TaskAudit {
        TaskAudit {
            task_id: U256::from(1),
            requester: a(9),
            replication: 3,
            quorum: 2,
            reward: U256::from(90),
            escrow_fee: U256::from(10),
            drawn: vec![a(1), a(2), a(3)],
            locked: vec![a(1), a(2), a(3)],
            stake_each: U256::from(100),
            commits: (1..=3).zip(hashes).map(|(w, x)| (a(w), h(x))).collect(),
            callback: Some(CallbackOutcome::Skipped),
            outcome: TaskStatus::Failed,
            ..TaskAudit::default()
        }
    }

    #[test]
    fn an_expiry_after_a_quorum_refunds_reward_and_fee_and_puts_the_slashed_stake_in_the_reserve() {
        // Q equal commits by the deadline and no reveal: no ConsensusReached, all committers slashed.
        let mut t = task([7, 7, 8]);
        t.slashed_workers = vec![a(1), a(2), a(3)];
        t.settlement = Some(Settlement {
            refund: U256::from(100),
            slashed: U256::from(300),
            ..Settlement::default()
        });
        check(&mut t);
        assert!(t.problems.is_empty(), "{:?}", t.problems);
        assert_eq!(t.credits.get(&a(9)), Some(&U256::from(100)));
        assert_eq!(t.to_reserve, U256::from(300));

        // The v1 rule (slashed stake refunded too) is now a problem.
        let mut t = task([7, 7, 8]);
        t.slashed_workers = vec![a(1), a(2), a(3)];
        t.settlement = Some(Settlement {
            refund: U256::from(400),
            slashed: U256::from(300),
            ..Settlement::default()
        });
        check(&mut t);
        assert!(
            t.problems.iter().any(|p| p.contains("refund")),
            "{:?}",
            t.problems
        );
    }

    #[test]
    fn an_expiry_without_a_quorum_slashes_nobody() {
        let mut t = task([6, 7, 8]);
        t.settlement = Some(Settlement {
            refund: U256::from(100),
            ..Settlement::default()
        });
        check(&mut t);
        assert!(t.problems.is_empty(), "{:?}", t.problems);
        assert_eq!(t.to_reserve, U256::ZERO);
    }

    #[test]
    fn a_stake_locked_for_a_worker_who_did_not_commit_is_a_problem() {
        let mut t = task([6, 7, 8]);
        t.commits.pop();
        t.settlement = Some(Settlement {
            refund: U256::from(100),
            ..Settlement::default()
        });
        check(&mut t);
        assert!(
            t.problems.iter().any(|p| p.contains("stakes locked")),
            "{:?}",
            t.problems
        );
    }
}
