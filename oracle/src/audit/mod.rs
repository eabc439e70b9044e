//! `maskoracle audit`: rebuilds every task from the chain's events and checks it, the way a
//! sceptical auditor would: the draw recomputed independently from the frozen weights and the
//! chain's randomness ([`draw`]), quorum and timing against the deadlines, the money against the
//! hub's balances and the registry's stakes read with `eth_call` before and after each block,
//! the callback rule and the gas forwarded, whether each result can be fetched, and (with
//! `--recompute`) the model re-run on each finalized task's input. Each check has a name, a
//! verdict and its evidence ([`checks`]); `--report` writes one static HTML file ([`report`]).

pub mod checks;
pub mod draw;
pub mod report;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use clap::Args;
use serde::Serialize;

use crate::bindings::hub::TaskHub::TaskHubEvents as H;
use crate::bindings::vrf_randomness::VrfRandomness::VrfRandomnessEvents as V;
use crate::bindings::worker_registry::WorkerRegistry::WorkerRegistryEvents as R;
use crate::chain::{Contracts, LogReader};
use crate::events::{CallbackOutcome, EventLog, OracleEvent, Sources, TaskStatus, WaitReason};
use crate::node_cli::NodeArgs;
pub use checks::{Check, Evidence, Verdict, CHECKS};

/// Arguments of `maskoracle audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Audit this task only.
    #[arg(long)]
    pub task: Option<u64>,
    /// Audit the tasks requested from this block on (default: the deployment block). The
    /// registry's events are always read from the deployment block (the draw needs them).
    #[arg(long)]
    pub from_block: Option<u64>,
    /// Re-run the model on each finalized task's input and compare with the consensus.
    #[arg(long)]
    pub recompute: bool,
    /// Do not try to fetch each result from IPFS (the `availability` check is skipped).
    #[arg(long)]
    pub no_availability: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write a static HTML report (one file, no network needed to view it).
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
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

/// How the tolerant fallback settled a task (`TaskSettledTolerant`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct TolerantOutcome {
    /// The worker whose summary and result were delivered.
    pub representative: Address,
    /// The workers paid: those whose sketch agrees with the representative's.
    pub members: Vec<Address>,
    /// Revealed workers slashed because their sketch agrees with no member.
    pub slashed_outliers: Vec<Address>,
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
    /// Revealers in order (of the result, or in the tolerant fallback of a sketch).
    pub revealed: Vec<Address>,
    /// Whether commits closed without Q equal hashes on a model with a tolerance
    /// (`ReconciliationOpened`): the tolerant fallback.
    pub reconciliation: bool,
    /// Sketches revealed in the fallback, in event order.
    #[serde(skip)]
    pub sketches: Vec<crate::worker::tolerant::Revealed>,
    /// The fallback's settlement.
    pub tolerant: Option<TolerantOutcome>,
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
    /// What does not add up (empty: the settlement checks out): one line per failed check.
    pub problems: Vec<String>,
    /// Transaction of the request.
    pub request_tx: B256,
    /// Commit deadline (unix seconds, from the request's task record).
    pub commit_deadline: u64,
    /// Reveal deadline (unix seconds).
    pub reveal_deadline: u64,
    /// Callback gas limit asked for.
    pub callback_gas_limit: u64,
    /// The checks, in [`CHECKS`] order.
    pub checks: Vec<Check>,
    /// One line: the outcome and the count of each verdict.
    pub summary_line: String,
    /// The task's events in chain order (what the checks read).
    #[serde(skip)]
    pub events: Vec<EventLog>,
    /// The delivered result drawn over its input (PNG), for the report.
    #[serde(skip)]
    pub overlay_png: Option<Vec<u8>>,
}

/// The largest block range one log query asks for (the reader halves it when refused).
const LOG_CHUNK: u64 = 2_000;
/// Blocks read between two progress updates.
const PROGRESS_SPAN: u64 = 20_000;

/// What the auditor reads: the events, in chain order, and the range they cover. Tests hand the
/// checks a doctored copy ("a lying event source").
#[derive(Debug, Clone, Default)]
pub struct AuditInput {
    /// Registry (and VRF) events from the deployment block, hub events from `from`.
    pub events: Vec<EventLog>,
    /// First block of the hub's events.
    pub from: u64,
    /// Last block read.
    pub head: u64,
}

/// A progress bar on stderr (hidden when `on` is false or stderr is not a terminal).
fn bar(on: bool, len: u64, what: &'static str) -> indicatif::ProgressBar {
    if !on {
        return indicatif::ProgressBar::hidden();
    }
    let b = indicatif::ProgressBar::new(len);
    b.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:>18} [{bar:40}] {pos}/{len} ({elapsed}, eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    b.set_message(what);
    b
}

/// Reads the events an audit needs, in bounded ranges (the adaptive [`LogReader`]).
pub async fn collect(c: &Contracts, from: u64, progress: bool) -> anyhow::Result<AuditInput> {
    let head = c.provider.get_block_number().await?;
    let d = &c.deployment;
    let all = Sources::of(d);
    let start = d.deploy_block.min(from);
    let mut passes = vec![(all, start)];
    if from > start {
        // Registry (and VRF) from the deployment, the hub from `from`.
        passes = vec![
            (
                Sources {
                    hub: Address::ZERO,
                    ..all
                },
                start,
            ),
            (
                Sources {
                    hub: d.task_hub,
                    registry: Address::ZERO,
                    vrf: Address::ZERO,
                },
                from,
            ),
        ];
    }
    let total: u64 = passes
        .iter()
        .map(|(_, s)| head.saturating_sub(*s) + 1)
        .sum();
    let pb = bar(progress, total, "events (blocks)");
    let mut reader = LogReader::new(LOG_CHUNK);
    let mut events = Vec::new();
    for (src, s) in passes {
        let mut b = s;
        while b <= head {
            let e = head.min(b.saturating_add(PROGRESS_SPAN - 1));
            events.extend(src.read_with(&mut reader, &c.provider, b, e).await?);
            pb.inc(e - b + 1);
            b = e + 1;
        }
    }
    pb.finish_and_clear();
    events.sort_by_key(|e| (e.block, e.log_index));
    Ok(AuditInput { events, from, head })
}

/// Which tasks an audit covers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// One task only.
    pub only: Option<U256>,
    /// Tasks requested from this block on.
    pub from: u64,
    /// Show a progress bar.
    pub progress: bool,
}

/// Fills the task's fields from one of its events.
fn note(t: &mut TaskAudit, ev: &EventLog) {
    match &ev.event {
        OracleEvent::Hub(H::TaskRequested(e)) => {
            t.request_block = ev.block;
            t.request_tx = ev.tx_hash;
            t.requester = e.requester;
            t.model_id = e.modelId;
            t.input = e.input.clone();
            t.replication = e.task.replication;
            t.quorum = e.task.quorum;
            t.reward = U256::from(e.task.reward);
            t.escrow_fee = U256::from(e.task.fee);
            t.commit_deadline = e.task.commitDeadline.to::<u64>();
            t.reveal_deadline = e.task.revealDeadline.to::<u64>();
            t.callback_gas_limit = e.task.callbackGasLimit.to::<u64>();
        }
        OracleEvent::Hub(H::WorkersDrawn(e)) => {
            t.seed = Some(e.seed);
            t.drawn = e.workers.clone();
        }
        OracleEvent::Registry(R::StakesLocked(e)) => {
            t.stake_each = e.amountEach;
            t.locked.extend(e.workers.iter().copied());
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
        OracleEvent::Hub(H::ReconciliationOpened(_)) => t.reconciliation = true,
        OracleEvent::Hub(H::SketchRevealed(e)) => {
            t.revealed.push(e.worker);
            t.sketches.push(crate::worker::tolerant::Revealed {
                worker: e.worker,
                summary_hash: e.summaryHash,
                result_sha256: e.resultSha256,
                sketch: e.sketch.to_vec(),
            });
        }
        OracleEvent::Hub(H::TaskSettledTolerant(e)) => {
            t.tolerant = Some(TolerantOutcome {
                representative: e.representative,
                members: e.members.clone(),
                slashed_outliers: e.slashedOutliers.clone(),
            });
        }
        OracleEvent::Hub(H::TaskFinalized(e)) => {
            t.settlement = Some(Settlement {
                finalized: true,
                winners: e.winners.clone(),
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
            t.slashed_workers = e
                .workers
                .iter()
                .enumerate()
                .filter(|(i, _)| e.slashMask.bit(*i))
                .map(|(_, w)| *w)
                .collect();
            if t.stake_each.is_zero() {
                t.stake_each = e.amountEach;
            }
        }
        OracleEvent::Hub(H::CallbackAttempted(e)) => {
            t.callback = Some(CallbackOutcome::from(e.outcome));
        }
        _ => {}
    }
}

/// Rebuilds the tasks of `input` and runs the chain checks (all but `availability` and
/// `recompute`, which [`Rechecker`] adds).
pub async fn audit(
    c: &Contracts,
    input: &AuditInput,
    opts: &Options,
) -> anyhow::Result<Vec<TaskAudit>> {
    let mut tasks: BTreeMap<U256, TaskAudit> = BTreeMap::new();
    let mut vrf_words = HashMap::new();
    for ev in &input.events {
        let Some(id) = ev.about_task() else {
            continue;
        };
        if let OracleEvent::Vrf(v) = &ev.event {
            if let V::SeedFulfilled(e) = v {
                vrf_words.insert(id, (e.seed, ev.clone()));
            }
            continue;
        }
        let t = tasks.entry(id).or_insert_with(|| TaskAudit {
            task_id: id,
            ..TaskAudit::default()
        });
        t.events.push(ev.clone());
        note(t, ev);
    }
    // Events of tasks requested before `from`: not auditable from this range.
    tasks.retain(|_, t| t.requester != Address::ZERO && t.request_block >= opts.from);
    let mut info: HashMap<U256, (Address, U256)> = tasks
        .iter()
        .map(|(id, t)| (*id, (t.requester, t.reward)))
        .collect();
    for ev in input.events.iter().filter(|e| e.is_settlement()) {
        if let Some(id) = ev.task_id().filter(|id| !info.contains_key(id)) {
            let tk = c.hub.task(id).call().await?;
            info.insert(id, (tk.requester, U256::from(tk.reward)));
        }
    }
    let ledger = checks::Ledger::of(&input.events, &info);
    tasks.retain(|id, _| opts.only.is_none_or(|o| o == *id));
    let wanted: Vec<(U256, u32, u64)> = tasks
        .values()
        .map(|t| (t.task_id, t.model_id, t.request_block.saturating_sub(1)))
        .collect();
    let (mut pools, issues) = draw::Replay::snapshots(&input.events, wanted);
    // Read each set of frozen weights at the latest request block - 1 that shares it.
    let mut latest: HashMap<(u32, u64), u64> = HashMap::new();
    for t in tasks.values() {
        if let Some(p) = pools.get(&t.task_id) {
            let e = latest.entry((t.model_id, p.changed_at)).or_default();
            *e = (*e).max(t.request_block.saturating_sub(1));
        }
    }
    for t in tasks.values() {
        if let Some(p) = pools.get_mut(&t.task_id) {
            p.read_at = latest[&(t.model_id, p.changed_at)];
        }
    }
    let state = checks::State::new(c).await?;
    for ev in &input.events {
        if let Some(ts) = ev.timestamp {
            state.note_timestamp(ev.block, ev.block_hash, ts);
        }
    }
    let pb = bar(opts.progress, tasks.len() as u64, "chain checks");
    let mut out = Vec::with_capacity(tasks.len());
    for (id, mut t) in tasks {
        fill_credits(&mut t);
        let cx = checks::Context {
            state: &state,
            pool: pools.get(&id),
            replay_issues: &issues,
            ledger: &ledger,
            randomness: &c.deployment.randomness,
            vrf_words: &vrf_words,
            head: input.head,
        };
        t.checks = checks::run(&t, &cx).await;
        let st = c.hub.taskState(id).call().await?;
        t.outcome = TaskStatus::from(st.status);
        if t.outcome.is_terminal() && t.settlement.is_none() {
            if let Some(ch) = t.checks.iter_mut().find(|c| c.name == "timing.settlement") {
                *ch = checks::decided(
                    "timing.settlement",
                    Verdict::Fail,
                    format!("{} on chain, but no settlement event was found", t.outcome),
                    Vec::new(),
                );
            }
        }
        finish(&mut t);
        out.push(t);
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(out)
}

/// Rebuilds the tasks found in the events from `from` (optionally one task only) and runs the
/// chain checks.
pub async fn rebuild(
    c: &Contracts,
    from: u64,
    only: Option<U256>,
) -> anyhow::Result<Vec<TaskAudit>> {
    let input = collect(c, from, false).await?;
    audit(
        c,
        &input,
        &Options {
            only,
            from,
            progress: false,
        },
    )
    .await
}

/// Sets `problems` (one line per failed check) and `summary_line` from the checks.
pub fn finish(t: &mut TaskAudit) {
    t.checks.sort_by_key(|c| {
        CHECKS
            .iter()
            .position(|n| *n == c.name)
            .unwrap_or(usize::MAX)
    });
    t.problems = t
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect();
    let count = |v: Verdict| t.checks.iter().filter(|c| c.verdict == v).count();
    t.summary_line = format!(
        "task {} {}: {} pass, {} fail, {} warn, {} skip{}",
        t.task_id,
        t.outcome,
        count(Verdict::Pass),
        count(Verdict::Fail),
        count(Verdict::Warn),
        count(Verdict::Skip),
        if t.problems.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                t.checks
                    .iter()
                    .filter(|c| c.verdict == Verdict::Fail)
                    .map(|c| c.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
}

/// Fills `credits` (what the settlement credits each account, from the events' own values) and
/// `to_reserve`.
pub fn fill_credits(t: &mut TaskAudit) {
    t.credits.clear();
    t.to_reserve = U256::ZERO;
    let Some(s) = t.settlement.clone() else {
        return;
    };
    if s.finalized {
        for (w, v) in checks::finalized_credits(
            &s.winners,
            t.reward,
            s.reward_each,
            s.slash_share_each,
            s.slashed,
        ) {
            *t.credits.entry(w).or_default() += v;
        }
        if !s.fee.is_zero() {
            *t.credits.entry(s.publisher).or_default() += s.fee;
        }
    } else {
        *t.credits.entry(t.requester).or_default() += s.refund;
        t.to_reserve = s.slashed;
    }
}
/// A small cache that forgets its oldest entry beyond `cap` (bounded memory on long runs).
struct Fifo<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
    cap: usize,
}

impl<K: std::hash::Hash + Eq + Clone, V: Clone> Fifo<K, V> {
    fn new(cap: usize) -> Self {
        Fifo {
            map: HashMap::new(),
            order: VecDeque::new(),
            cap,
        }
    }
    fn get(&self, k: &K) -> Option<V> {
        self.map.get(k).cloned()
    }
    fn put(&mut self, k: K, v: V) {
        if self.map.insert(k.clone(), v).is_none() {
            self.order.push_back(k);
            if self.order.len() > self.cap {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
        }
    }
}

/// An input as fetched: its bytes, or the error status and why.
type Fetched = Result<Arc<Vec<u8>>, (bool, u8, String)>;

/// A recomputation: the result hash, the sha256 of the result, and the working image.
#[derive(Clone)]
struct Computed {
    result_hash: B256,
    result_sha256: B256,
    /// The result's encoded sketch (compared in a tolerant settlement).
    sketch: Vec<u8>,
    working: Option<Arc<maskoracle_inference::image::RgbImage>>,
}

/// Results, inputs and the models of the `availability` and `recompute` checks: the storage is
/// opened once, each model loaded once, each input fetched once and each (model, input) computed
/// once per run (inference is deterministic: the same bytes give the same result).
pub struct Rechecker {
    storage: crate::storage::SharedStorage,
    http: crate::storage::HttpFetcher,
    models: crate::models::ModelStore,
    /// The model registry (tolerance rules).
    registry: crate::bindings::ModelRegistry::ModelRegistryInstance<alloy::providers::DynProvider>,
    inputs: tokio::sync::Mutex<Fifo<String, Fetched>>,
    computed: tokio::sync::Mutex<Fifo<(u32, [u8; 32]), Computed>>,
    /// Counters for the run's summary.
    pub stats: std::sync::Mutex<RecheckStats>,
}

/// What a [`Rechecker`] did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct RecheckStats {
    /// Results fetched from IPFS.
    pub results_fetched: u64,
    /// Inputs fetched (cache misses).
    pub inputs_fetched: u64,
    /// Model runs (cache misses).
    pub inferences: u64,
}

/// How long the auditor waits for one result from IPFS.
const RESULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl Rechecker {
    /// Opens the configured storage and URL fetcher (the pinned fetch policy the workers use).
    pub async fn open(cfg: &crate::config::Config, c: &Contracts) -> anyhow::Result<Self> {
        let storage = crate::node::open_storage(cfg).await?;
        Self::with_storage(cfg, c, storage)
    }

    /// As [`Rechecker::open`] with a storage given.
    pub fn with_storage(
        cfg: &crate::config::Config,
        c: &Contracts,
        storage: crate::storage::SharedStorage,
    ) -> anyhow::Result<Self> {
        let http = crate::node::http_fetcher(cfg)?;
        let models = crate::models::ModelStore::new(
            c.models.clone(),
            storage.clone(),
            cfg.data_dir.join("models"),
        );
        maskoracle_inference::set_intra_op_threads(cfg.worker.intra_op_threads);
        Ok(Rechecker {
            storage,
            http,
            models,
            registry: c.models.clone(),
            inputs: tokio::sync::Mutex::new(Fifo::new(64)),
            computed: tokio::sync::Mutex::new(Fifo::new(256)),
            stats: std::sync::Mutex::default(),
        })
    }

    fn stat(&self, f: impl FnOnce(&mut RecheckStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// The result behind `sha`, fetched by its CID and checked against `sha`.
    async fn fetch_result(&self, sha: B256) -> Result<bytes::Bytes, String> {
        let cid_s = maskoracle_inference::canonical::cid_of_sha256(&sha.0);
        let cid: crate::storage::Cid =
            cid_s.parse().map_err(|e| format!("bad CID {cid_s}: {e}"))?;
        self.stat(|s| s.results_fetched += 1);
        let got = tokio::time::timeout(
            RESULT_TIMEOUT,
            self.storage.get(
                &cid,
                maskoracle_inference::canonical::MAX_RESULT_BYTES as u64,
            ),
        )
        .await
        .map_err(|_| format!("no answer within {RESULT_TIMEOUT:?}"))?
        .map_err(|e| e.to_string())?;
        let s: [u8; 32] =
            sha2::Digest::finalize(sha2::Digest::chain_update(sha2::Sha256::default(), &got))
                .into();
        if s != sha.0 {
            return Err(format!("the bytes served have sha256 {}", B256::from(s)));
        }
        Ok(got)
    }

    async fn input(&self, input: &str) -> Fetched {
        if let Some(v) = self.inputs.lock().await.get(&input.to_owned()) {
            return v;
        }
        self.stat(|s| s.inputs_fetched += 1);
        let v =
            match crate::storage::fetch_input_with_policy(input, self.storage.as_ref(), &self.http)
                .await
            {
                Ok(b) => Ok(Arc::new(b.to_vec())),
                Err(e) => Err((e.is_transient(), e.status(), e.to_string())),
            };
        self.inputs.lock().await.put(input.to_owned(), v.clone());
        v
    }

    async fn compute(
        &self,
        t: &TaskAudit,
        seg: Arc<maskoracle_inference::Segmenter>,
        fetched: &Fetched,
    ) -> anyhow::Result<Computed> {
        let key_sha: [u8; 32] = match fetched {
            Ok(b) => sha2::Digest::finalize(sha2::Digest::chain_update(
                sha2::Sha256::default(),
                b.as_slice(),
            ))
            .into(),
            Err((_, status, _)) => {
                let mut k = [0xff; 32];
                k[0] = *status;
                k
            }
        };
        if let Some(c) = self.computed.lock().await.get(&(t.model_id, key_sha)) {
            // The result hash binds the task id: recompute it from the cached digest's parts.
            return Ok(c);
        }
        self.stat(|s| s.inferences += 1);
        let fetched = fetched.clone();
        let kind = seg.model().manifest().kind;
        let (result, working) = tokio::task::spawn_blocking(move || match fetched {
            Ok(b) => {
                let s = seg.segment(&b);
                (s.result, s.working)
            }
            Err((_, status, _)) => (
                maskoracle_inference::CanonicalResult::error(
                    maskoracle_inference::Status::from_code(status)
                        .unwrap_or(maskoracle_inference::Status::FetchFailed),
                    seg.model().sha256(),
                    [0; 32],
                    (0, 0),
                ),
                None,
            ),
        })
        .await?;
        let att = maskoracle_inference::Attestation::of(&result, kind);
        let c = Computed {
            // Stored as the digest; the task's hash is derived per task below.
            result_hash: att.digest,
            result_sha256: att.result_sha256,
            sketch: att.sketch,
            working: working.map(Arc::new),
        };
        self.computed
            .lock()
            .await
            .put((t.model_id, key_sha), c.clone());
        Ok(c)
    }

    /// Adds `availability` (when `availability`), `recompute` (when `recompute`) and the overlay
    /// (when `overlay`) to `t`.
    pub async fn check(
        &self,
        t: &mut TaskAudit,
        availability: bool,
        recompute: bool,
        overlay: bool,
    ) {
        let finalized = t.outcome == TaskStatus::Finalized;
        let mut delivered: Option<Result<bytes::Bytes, String>> = None;
        if let (true, Some(sha)) = (finalized || t.result_sha256.is_some(), t.result_sha256) {
            if availability || recompute || overlay {
                delivered = Some(self.fetch_result(sha).await);
            }
        }
        if availability {
            let cid_evidence = |cid: &String| {
                vec![Evidence {
                    what: "result CID".into(),
                    block: None,
                    tx: None,
                    value: cid.clone(),
                }]
            };
            t.checks.push(match (&delivered, &t.result_cid) {
                (Some(Ok(b)), Some(cid)) => checks::decided(
                    "availability",
                    Verdict::Pass,
                    format!(
                        "fetched {cid} ({} bytes) through {}; sha256 matches",
                        b.len(),
                        self.storage.name()
                    ),
                    cid_evidence(cid),
                ),
                (Some(Err(e)), Some(cid)) => checks::decided(
                    "availability",
                    Verdict::Fail,
                    format!(
                        "the result {cid} could not be fetched through {}: {e}",
                        self.storage.name()
                    ),
                    cid_evidence(cid),
                ),
                _ => checks::skip("availability", "no result recorded"),
            });
        } else {
            t.checks.push(checks::skip(
                "availability",
                "not asked (--no-availability)",
            ));
        }
        let parsed = match &delivered {
            Some(Ok(b)) => maskoracle_inference::CanonicalResult::parse(b).ok(),
            _ => None,
        };
        let mut working = None;
        if recompute && finalized {
            let (check, w) = self.recompute(t, &delivered, parsed.as_ref()).await;
            working = w;
            t.checks.push(check);
        } else {
            t.checks.push(checks::skip(
                "recompute",
                if finalized {
                    "not asked (--recompute)"
                } else {
                    "only finalized tasks are recomputed"
                },
            ));
        }
        if overlay {
            if let Some(r) = &parsed {
                if working.is_none() && r.status == maskoracle_inference::Status::Ok {
                    if let Ok(b) = self.input(&t.input).await {
                        working = maskoracle_inference::decode::decode(
                            &b,
                            &maskoracle_inference::DecodeLimits::V1,
                        )
                        .ok()
                        .map(|d| Arc::new(maskoracle_inference::working_image(&d.rgb)));
                    }
                }
                let labels = self.models.get(t.model_id).await.ok();
                if let Some(w) = working {
                    t.overlay_png = report::overlay_png(&w, r, |l| {
                        labels
                            .as_ref()
                            .map(|s| s.model().label_name(l))
                            .unwrap_or_else(|| format!("#{l}"))
                    });
                }
            }
        }
        finish(t);
    }

    async fn recompute(
        &self,
        t: &TaskAudit,
        delivered: &Option<Result<bytes::Bytes, String>>,
        parsed: Option<&maskoracle_inference::CanonicalResult>,
    ) -> (Check, Option<Arc<maskoracle_inference::image::RgbImage>>) {
        let mut ev = Vec::new();
        let mut e = |what: &str, value: String| {
            ev.push(Evidence {
                what: what.into(),
                block: None,
                tx: None,
                value,
            })
        };
        // The hash to reproduce: the consensus one, or in a tolerant settlement the one the
        // representative committed.
        let consensus = match (t.consensus, &t.tolerant) {
            (Some(c), _) => c,
            (None, Some(o)) => match t.commits.iter().find(|(w, _)| *w == o.representative) {
                Some((_, h)) => *h,
                None => {
                    return (
                        checks::skip("recompute", "the representative's commit is missing"),
                        None,
                    )
                }
            },
            (None, None) => return (checks::skip("recompute", "no consensus hash"), None),
        };
        let seg = match self.models.get(t.model_id).await {
            Ok(s) => s,
            Err(err) => {
                return (
                    checks::decided(
                        "recompute",
                        Verdict::Fail,
                        format!("could not load model {}: {err:#}", t.model_id),
                        ev,
                    ),
                    None,
                )
            }
        };
        let model_sha = B256::from(seg.model().sha256());
        e(
            "model sha256 (registry, fetched and verified)",
            model_sha.to_string(),
        );
        if let Some(r) = parsed {
            e(
                "model sha256 recorded in the result",
                B256::from(r.model_sha256).to_string(),
            );
            e(
                "input sha256 recorded in the result",
                B256::from(r.input_sha256).to_string(),
            );
            if r.model_sha256 != model_sha.0 {
                return (
                    checks::decided(
                        "recompute",
                        Verdict::Fail,
                        "the result was computed with another model than the registry's".into(),
                        ev,
                    ),
                    None,
                );
            }
        } else if let Some(Ok(_)) = delivered {
            e("delivered result", "not a valid canonical result".into());
        }
        let fetched = self.input(&t.input).await;
        let input_sha = match &fetched {
            Ok(b) => {
                let s: [u8; 32] = sha2::Digest::finalize(sha2::Digest::chain_update(
                    sha2::Sha256::default(),
                    b.as_slice(),
                ))
                .into();
                e(
                    "input sha256 fetched by the auditor",
                    B256::from(s).to_string(),
                );
                Some(s)
            }
            Err((true, _, why)) => {
                return (
                    checks::decided(
                        "recompute",
                        Verdict::Warn,
                        format!("the input could not be fetched now (transient): {why}"),
                        ev,
                    ),
                    None,
                )
            }
            Err((false, status, why)) => {
                e("input fetch", format!("status {status}: {why}"));
                None
            }
        };
        let c = match self.compute(t, seg, &fetched).await {
            Ok(c) => c,
            Err(err) => {
                return (
                    checks::decided(
                        "recompute",
                        Verdict::Fail,
                        format!("inference failed: {err:#}"),
                        ev,
                    ),
                    None,
                )
            }
        };
        let h = maskoracle_inference::summary::result_hash(t.task_id, c.result_hash);
        e("recomputed result sha256", c.result_sha256.to_string());
        e(
            "recomputed result hash / consensus hash",
            format!("{h} / {consensus}"),
        );
        if h == consensus {
            return (
                checks::decided(
                    "recompute",
                    Verdict::Pass,
                    "the recomputed result reproduces the consensus hash".into(),
                    ev,
                ),
                c.working,
            );
        }
        // A tolerant settlement: the auditor's own result must agree with the representative's
        // within the model's rule, as a member's would.
        if let Some(o) = &t.tolerant {
            let rep = t.sketches.iter().find(|s| s.worker == o.representative);
            let tol = self.registry.toleranceOf(t.model_id).call().await;
            if let (Some(rep), Ok(tol)) = (rep, tol) {
                let (a, b) = (
                    maskoracle_inference::sketch::Sketch::decode(&rep.sketch),
                    maskoracle_inference::sketch::Sketch::decode(&c.sketch),
                );
                if let (Some(a), Some(b), true) = (a, b, tol.set) {
                    let rule = crate::worker::tolerant::tolerance_of(&tol.tolerance);
                    match maskoracle_inference::sketch::compare(&a, &b, &rule) {
                        Ok(d) => {
                            e(
                                "distance of the recomputed sketch to the representative's",
                                format!("{:.3} of the tolerance", d as f64 / 1e6),
                            );
                            return (
                                checks::decided(
                                    "recompute",
                                    Verdict::Pass,
                                    "the recomputed result agrees with the representative's within the model's tolerance".into(),
                                    ev,
                                ),
                                c.working,
                            );
                        }
                        Err(why) => e(
                            "recomputed sketch against the representative's",
                            format!("outside the tolerance: {why:?}"),
                        ),
                    }
                }
            }
        }
        // A mismatch: tell a changed input from lying workers where the result allows it.
        let recorded_input = parsed.map(|r| r.input_sha256);
        let https = t.input.starts_with("https://") || t.input.starts_with("http://");
        let (verdict, why) = match (recorded_input, input_sha) {
            (Some(rec), Some(got)) if rec != got && https => (
                Verdict::Warn,
                "the input at the URL is not what the workers recorded: it changed since the task, or the workers lied about it (the two cannot be told apart)".to_owned(),
            ),
            (Some(rec), Some(got)) if rec != got => (
                Verdict::Fail,
                "the workers recorded another input than the content of its CID".to_owned(),
            ),
            _ => (
                Verdict::Fail,
                format!("the recomputed result {} does not reproduce the consensus (delivered {})", c.result_sha256, t.result_sha256.unwrap_or_default()),
            ),
        };
        (checks::decided("recompute", verdict, why, ev), c.working)
    }
}

/// Runs `maskoracle audit`.
pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    use std::io::IsTerminal as _;
    let cfg = args.node.resolve()?;
    let c = crate::node::contracts(&cfg).await?;
    let from = args.from_block.unwrap_or(c.deployment.deploy_block);
    let progress = std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let input = collect(&c, from, progress).await?;
    let opts = Options {
        only: args.task.map(U256::from),
        from,
        progress,
    };
    let mut tasks = audit(&c, &input, &opts).await?;
    let availability = !args.no_availability;
    let overlay = args.report.is_some();
    let mut stats = None;
    if availability || args.recompute || overlay {
        let rc = Rechecker::open(&cfg, &c).await?;
        let pb = bar(
            progress,
            tasks.len() as u64,
            if args.recompute {
                "recompute"
            } else {
                "availability"
            },
        );
        for t in &mut tasks {
            rc.check(t, availability, args.recompute, overlay).await;
            pb.inc(1);
        }
        pb.finish_and_clear();
        stats = Some(rc.stats.lock().unwrap_or_else(|e| e.into_inner()).clone());
    } else {
        for t in &mut tasks {
            t.checks.push(checks::skip(
                "availability",
                "not asked (--no-availability)",
            ));
            t.checks
                .push(checks::skip("recompute", "not asked (--recompute)"));
            finish(t);
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
    let elapsed_s = started.elapsed().as_secs_f64();
    tracing::info!(
        target: "maskoracle::audit",
        tasks = tasks.len(),
        events = input.events.len(),
        elapsed_s,
        ?stats,
        "audit done"
    );
    if let Some(path) = &args.report {
        let html = report::render(
            &report::Meta {
                chain_id: c.deployment.chain_id,
                hub: c.deployment.task_hub,
                from_block: from,
                head: input.head,
                ok,
                reserve_problem: reserve_problem.clone(),
            },
            &tasks,
        );
        std::fs::write(path, html)
            .map_err(|e| anyhow::anyhow!("writing the report {}: {e}", path.display()))?;
        tracing::info!(target: "maskoracle::audit", path = %path.display(), "report written");
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "ok": ok,
                "from_block": from,
                "head": head,
                "reserve_problem": reserve_problem,
                "stats": stats,
                "elapsed_s": elapsed_s,
                "tasks": tasks,
            }))?
        );
    } else {
        for t in &tasks {
            println!("{}", t.summary_line);
            for ch in &t.checks {
                if ch.verdict == Verdict::Pass || ch.verdict == Verdict::Skip {
                    continue;
                }
                println!(
                    "  {:<5} {:<18} {}",
                    format!("{:?}", ch.verdict).to_uppercase(),
                    ch.name,
                    ch.detail
                );
                for e in &ch.evidence {
                    let at = match (e.block, e.tx) {
                        (Some(b), Some(tx)) => format!(" [block {b}, tx {tx}]"),
                        (Some(b), None) => format!(" [block {b}]"),
                        _ => String::new(),
                    };
                    println!("        {}: {}{at}", e.what, e.value);
                }
            }
        }
        if let Some(p) = &reserve_problem {
            println!("PROBLEM  {p}");
        }
        println!(
            "{} task(s); {}",
            tasks.len(),
            if ok {
                "all checks pass"
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

    #[test]
    fn credits_come_from_the_events_own_values_with_remainders_to_the_first_winner() {
        let mut t = TaskAudit {
            reward: U256::from(100),
            settlement: Some(Settlement {
                finalized: true,
                winners: vec![a(1), a(2), a(3)],
                reward_each: U256::from(33),
                slash_share_each: U256::from(66),
                slashed: U256::from(200),
                publisher: a(7),
                fee: U256::from(5),
                ..Settlement::default()
            }),
            ..TaskAudit::default()
        };
        fill_credits(&mut t);
        assert_eq!(t.credits[&a(1)], U256::from(33 + 66 + 1 + 2));
        assert_eq!(t.credits[&a(2)], U256::from(99));
        assert_eq!(t.credits[&a(7)], U256::from(5));
        let total: U256 = t.credits.values().copied().sum();
        assert_eq!(total, U256::from(305));
    }

    #[test]
    fn an_expiry_refunds_the_requester_and_puts_the_slashed_stake_in_the_reserve() {
        let mut t = TaskAudit {
            requester: a(9),
            settlement: Some(Settlement {
                refund: U256::from(100),
                slashed: U256::from(300),
                ..Settlement::default()
            }),
            ..TaskAudit::default()
        };
        fill_credits(&mut t);
        assert_eq!(t.credits.get(&a(9)), Some(&U256::from(100)));
        assert_eq!(t.to_reserve, U256::from(300));
    }
}
