//! `maskoracle worker` and `maskoracle keeper`: the long-running node.
//!
//! Three parts, one owner of the state:
//! - the [`follower`] reads the protocol's events up to the confirmed head and detects reorgs by
//!   block hash; confirmed `TaskRequested` logs create the durable task records;
//! - [`decide`](decide::decide) is a pure function from a record and the task's on-chain views to
//!   the next actions (unit-tested phase by phase, reorg case by reorg case);
//! - the executor (this module) reads the views, runs the actions (computations, transactions) in
//!   the background, and schedules when to look at a task again: on its events, at its deadlines
//!   (the keeper's queue), and every few seconds for tasks this worker takes part in.
//!
//! The result is written to the state store, durably, *before* the commit transaction is sent:
//! a worker killed between commit and reveal finds its record on restart and reveals. A failure
//! of one task (an RPC error while reading its views, a transaction that fails) never holds back
//! the others.

pub mod decide;
pub mod follower;
pub mod tolerant;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::{SolCall, SolEvent};
use anyhow::Context as _;
use bytes::Bytes;
use maskoracle_inference::summary::{result_hash, result_seal};
use maskoracle_inference::{CanonicalResult, Segmenter, Status};
use tokio::sync::{mpsc, Semaphore};

use crate::bindings::{TaskHub, WorkerRegistry};
use crate::chain::{task_key, Contracts, Mined, TxError, TxJob, TxPriority, TxSender};
use crate::config::Config;
use crate::events::{EventLog, OracleEvent, Sources};
use crate::metrics::Metrics;
use crate::models::ModelStore;
use crate::state::{StateStore, TaskPhase, TaskRecord};
use crate::storage::{fetch_input_with_policy, loggable, HttpFetcher, SharedStorage};
use decide::{
    Action, Contribution, Ctx, Draw, InFlight, TaskStatus, TaskView, WaitReason, Waiting,
};

/// What the process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Computes, commits, reveals (and keeps, when `worker.keeper` is set).
    Worker,
    /// Only finalizes and expires tasks (and backs up draws).
    Keeper,
}

/// Seconds between looks at every task this worker takes part in (events can be missed, a reorg
/// above the confirmed head can remove a transaction of ours).
const RECONCILE_EVERY: Duration = Duration::from_secs(5);
/// Pause before a commit refused for want of free stake is tried again.
const NO_FREE_STAKE_RETRY: Duration = Duration::from_secs(5);
/// Pause before a computation that could not fetch its input for a transient reason (timeout,
/// transport, content not found yet) is tried again.
const TRANSIENT_FETCH_RETRY: Duration = Duration::from_secs(5);
/// Chunks of logs read per turn at most (a long backfill does not hold back the tasks).
const CHUNKS_PER_TURN: usize = 8;
/// How often closed records older than `worker.prune_after_s` are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// Records closed within this many blocks of a reorg's fork point are reopened (their draw or
/// settlement may have changed).
const REOPEN_DEPTH: u64 = 10_000;

/// The task's `bytes22 requestHash` as the `bytes32` a commit repeats (zero-padded on the right,
/// as Solidity's `bytes32(bytes22)`).
pub fn request_hash_word(h: alloy::primitives::FixedBytes<22>) -> B256 {
    let mut out = [0u8; 32];
    out[..22].copy_from_slice(h.as_slice());
    B256::from(out)
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// A finished computation.
struct Computed {
    /// The request it was computed for (see [`TaskRecord::request_hash`]).
    request_hash: Option<[u8; 32]>,
    canonical: Vec<u8>,
    result_sha256: B256,
    summary: Vec<u8>,
    digest: B256,
    /// The result's encoded sketch (bound by the seal; revealed in the tolerant fallback).
    sketch: Vec<u8>,
    inference_ms: u64,
    status: Status,
    overlay_png: Option<Vec<u8>>,
}

/// Why a computation produced no result to commit.
#[derive(Debug, thiserror::Error)]
enum ComputeFailure {
    /// The input could not be fetched for a reason that may pass (timeout, transport, content
    /// not found yet). Never committed as a failure: honest workers elsewhere may fetch it.
    #[error("input unreachable for now: {0}")]
    Transient(String),
    /// The model could not be fetched or loaded, or the computation failed.
    #[error("{0:#}")]
    Other(anyhow::Error),
}

enum Event {
    Computed(U256, Result<Computed, ComputeFailure>),
    Tx {
        id: U256,
        kind: TxKind,
        sent_unix_ms: Option<u64>,
        result: Box<Result<Mined, TxError>>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum TxKind {
    Draw,
    Commit,
    Reveal,
    Finalize,
    Expire,
}

/// The node.
pub struct Worker {
    cfg: Config,
    role: Role,
    c: Contracts,
    tx: TxSender,
    me: Address,
    state: StateStore,
    models: Arc<ModelStore>,
    storage: SharedStorage,
    http: Arc<HttpFetcher>,
    metrics: Metrics,
    compute_slots: Arc<Semaphore>,
    follower: follower::Follower,
    min_reward: U256,
    /// Records not closed, with what the reconciliation and `/status` need of them (kept in step
    /// with the state store by `put`, so neither reads the store).
    open: HashMap<U256, Brief>,
    /// Records in the store, open or closed (counted at start, kept up on creation and pruning).
    records: u64,
    computing: HashSet<U256>,
    acting: HashSet<(U256, TxKind)>,
    dirty: HashSet<U256>,
    /// When to look at a task again (deadlines, retries).
    wake: BTreeSet<(Instant, U256)>,
    served: HashSet<u32>,
    /// Tasks whose last transaction reverted: not retried before the instant (the views may lag
    /// the pending state the estimate saw).
    cooldown: HashMap<U256, Instant>,
    /// When each undrawn task was first seen with its seed available.
    seed_ready: HashMap<U256, Instant>,
    /// When each task was first seen missing on chain (its request reorged out).
    missing: HashMap<U256, Instant>,
    /// The latest block's timestamp and when it was read.
    chain_now: (u64, Instant),
    /// Each open task's commit and reveal deadlines as last read (the signer drops a transaction
    /// whose window closed before it could be sent).
    deadlines: HashMap<U256, (u64, u64)>,
    events: (mpsc::Sender<Event>, mpsc::Receiver<Event>),
    last_reconcile: Instant,
    last_prune: Instant,
    stopping: bool,
}

impl Worker {
    /// Opens the state store, the storage and the signer; refuses test switches off the devnet.
    pub async fn open(cfg: Config, role: Role, metrics: Metrics) -> anyhow::Result<Self> {
        let c = crate::node::contracts(&cfg).await?;
        let chain_id = c.deployment.chain_id;
        if cfg.worker.faulty && chain_id != crate::keys::DEVNET_CHAIN_ID {
            anyhow::bail!("worker.faulty is a devnet test switch; refused on chain {chain_id}");
        }
        if let Some(n) = cfg.worker.emulate_noise {
            if chain_id != crate::keys::DEVNET_CHAIN_ID {
                anyhow::bail!(
                    "worker.emulate_noise is a devnet test switch; refused on chain {chain_id}"
                );
            }
            if !(n.is_finite() && n > 0.0 && n <= 0.1) {
                anyhow::bail!("worker.emulate_noise must be in (0, 0.1]; got {n}");
            }
        }
        let tx = crate::node::signer(&cfg, chain_id)?;
        let me = tx.address();
        std::fs::create_dir_all(&cfg.data_dir)
            .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
        let state = StateStore::open(&cfg.data_dir.join("state.redb"), &c.deployment.identity())?;
        let storage = crate::node::open_storage(&cfg).await?;
        let http = Arc::new(crate::node::http_fetcher(&cfg)?);
        let models = Arc::new(ModelStore::new(
            c.models.clone(),
            storage.clone(),
            cfg.data_dir.join("models"),
        ));
        maskoracle_inference::set_intra_op_threads(cfg.worker.intra_op_threads);
        let numerics = maskoracle_inference::numerics::in_effect();
        anyhow::ensure!(
            !matches!(role, Role::Worker)
                || numerics == maskoracle_inference::numerics::Numerics::CpuAvx2,
            "the worker runs only on the pinned cpu-avx2 numerics profile (this process: {}); \
             unset {} or set it to cpu-avx2 (docs/determinism.md)",
            numerics.name(),
            maskoracle_inference::numerics::ENV
        );
        let min_reward = alloy::primitives::utils::parse_units(&cfg.worker.min_reward, 18)
            .map(|u| u.get_absolute())
            .with_context(|| {
                format!(
                    "worker.min_reward {:?} is not a token amount",
                    cfg.worker.min_reward
                )
            })?;
        let d = &c.deployment;
        let follower = follower::Follower::new(
            Sources {
                hub: d.task_hub,
                registry: d.worker_registry,
                ..Sources::default()
            },
            cfg.worker.confirmations,
            cfg.worker.log_chunk_blocks,
            d.deploy_block,
        );
        let (open, records) = index(&state)?;
        Ok(Self {
            compute_slots: Arc::new(Semaphore::new(cfg.worker.max_concurrent_tasks)),
            role,
            c,
            tx,
            me,
            state,
            models,
            storage,
            http,
            metrics,
            follower,
            min_reward,
            open,
            records,
            computing: HashSet::new(),
            acting: HashSet::new(),
            dirty: HashSet::new(),
            wake: BTreeSet::new(),
            served: HashSet::new(),
            cooldown: HashMap::new(),
            seed_ready: HashMap::new(),
            missing: HashMap::new(),
            chain_now: (0, Instant::now()),
            deadlines: HashMap::new(),
            events: mpsc::channel(1024),
            last_reconcile: Instant::now() - RECONCILE_EVERY,
            last_prune: Instant::now(),
            stopping: false,
            cfg,
        })
    }

    fn keeper(&self) -> bool {
        self.role == Role::Keeper || self.cfg.worker.keeper
    }

    /// Runs until `shutdown` resolves, then finishes or records in-flight work.
    pub async fn run(
        mut self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        tracing::info!(
            target: "maskoracle::worker",
            address = %self.me,
            role = ?self.role,
            hub = %self.c.deployment.task_hub,
            confirmations = self.cfg.worker.confirmations,
            faulty = self.cfg.worker.faulty,
            drain = self.cfg.worker.drain,
            "starting"
        );
        // Tasks left open by an earlier run are driven again from their records.
        self.dirty.extend(self.open.keys().copied());
        tokio::pin!(shutdown);
        let poll = Duration::from_millis(self.cfg.worker.poll_interval_ms);
        let mut backoff = poll;
        loop {
            match self.turn().await {
                Ok(()) => {
                    self.metrics.mark_progress();
                    backoff = poll;
                }
                Err(e) => {
                    self.metrics.rpc_error();
                    tracing::warn!(target: "maskoracle::worker", error = %format!("{e:#}"), "turn failed (RPC unavailable?); retrying");
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
            // Sleep until the poll interval, an event, or the next scheduled look.
            let next_wake = self
                .wake
                .first()
                .map(|(t, _)| t.saturating_duration_since(Instant::now()))
                .unwrap_or(backoff);
            let wait = tokio::time::sleep(backoff.min(next_wake.max(Duration::from_millis(20))));
            tokio::select! {
                () = &mut shutdown => break,
                () = wait => {}
                Some(ev) = self.events.1.recv() => self.on_event(ev)?,
            }
        }
        // Graceful shutdown: no new work; wait for what is running, recording its outcome. A
        // result computed now is recorded but not committed: the next run finds the record and
        // commits if the window is still open.
        self.stopping = true;
        let pending = self.computing.len() + self.acting.len();
        tracing::info!(target: "maskoracle::worker", pending, "stopping: finishing in-flight work");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !(self.computing.is_empty() && self.acting.is_empty()) {
            match tokio::time::timeout_at(deadline, self.events.1.recv()).await {
                Ok(Some(ev)) => self.on_event(ev)?,
                _ => break,
            }
        }
        tracing::info!(target: "maskoracle::worker", "stopped");
        Ok(())
    }

    /// One turn. An `Err` means the chain could not be read at all (the caller backs off); a
    /// failure of one task is logged and that task looked at again later.
    async fn turn(&mut self) -> anyhow::Result<()> {
        // The chain's time: when even this cannot be read, the endpoint is down (the caller backs
        // off). Anything else that fails is logged and the rest of the turn goes on.
        self.refresh_time().await?;
        if self.last_reconcile.elapsed() >= RECONCILE_EVERY {
            if let Err(e) = self.reconcile().await {
                tracing::warn!(target: "maskoracle::worker", error = %format!("{e:#}"), "reconciliation failed; the tasks are still driven");
            }
        }
        if let Err(e) = self.ingest().await {
            tracing::warn!(target: "maskoracle::worker", error = %format!("{e:#}"), "reading logs failed; the tasks are still driven");
        }
        while let Ok(ev) = self.events.1.try_recv() {
            self.on_event(ev)?;
        }
        let now = Instant::now();
        while let Some(&(t, id)) = self.wake.first() {
            if t > now {
                break;
            }
            self.wake.pop_first();
            self.dirty.insert(id);
        }
        let dirty: Vec<U256> = self.dirty.drain().collect();
        let mut failed = 0usize;
        for id in dirty {
            if let Err(e) = self.drive(id).await {
                failed += 1;
                tracing::warn!(target: "maskoracle::worker", task = %id, error = %format!("{e:#}"), "cannot drive the task now; looking again shortly");
                self.schedule(id, Duration::from_secs(2));
            }
        }
        if failed > 0 {
            self.metrics.task_outcome("drive-error");
        }
        Ok(())
    }

    fn schedule(&mut self, id: U256, after: Duration) {
        self.wake.insert((Instant::now() + after, id));
    }

    async fn refresh_time(&mut self) -> anyhow::Result<()> {
        let t = crate::chain::latest_timestamp(&self.c.provider).await?;
        self.chain_now = (t, Instant::now());
        Ok(())
    }

    /// The chain's time as of now (the latest block's timestamp plus the time since it was read).
    fn chain_time(&self) -> u64 {
        self.chain_now.0 + self.chain_now.1.elapsed().as_secs()
    }

    async fn reconcile(&mut self) -> anyhow::Result<()> {
        let models: HashSet<u32> = self
            .c
            .workers
            .modelsOf(self.me)
            .call()
            .await?
            .into_iter()
            .collect();
        // Load and warm newly served models now rather than inside their first task.
        if self.role == Role::Worker {
            for &id in models.difference(&self.served) {
                let store = self.models.clone();
                tokio::spawn(async move {
                    if let Err(e) = store.get(id).await {
                        tracing::warn!(target: "maskoracle::worker", model = id, error = %e, "model preload failed; retried by the first task");
                    }
                });
            }
        }
        self.served = models;
        let stake = self.c.workers.workerInfo(self.me).call().await?;
        self.metrics.stake.set(f64::from(stake.stake));
        let balance = self.c.hub.balanceOf(self.me).call().await?;
        self.metrics.balance.set(f64::from(balance));
        let gas = self.c.provider.get_balance(self.me).await?;
        self.metrics.set_gas_balance(gas.saturating_to::<u128>());
        self.report(U256::from(stake.stake), balance)?;
        // Tasks this worker takes part in are looked at again; tasks it only keeps wait for their
        // events and deadlines.
        if self.role == Role::Worker {
            let involved = self
                .open
                .iter()
                .filter(|(_, b)| b.drawn != Some(false) || b.phase >= TaskPhase::Computed)
                .map(|(id, _)| *id);
            self.dirty.extend(involved);
        }
        if self.last_prune.elapsed() >= PRUNE_EVERY {
            self.last_prune = Instant::now();
            let before = unix_ms().saturating_sub(self.cfg.worker.prune_after_s * 1000);
            match self.state.prune_done(before) {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(target: "maskoracle::worker", pruned = n, "closed task records pruned");
                    self.records = self.records.saturating_sub(n as u64);
                }
                Err(e) => {
                    tracing::warn!(target: "maskoracle::worker", error = %e, "pruning failed")
                }
            }
        }
        self.last_reconcile = Instant::now();
        Ok(())
    }

    /// The signer's figures and the `/status` snapshot, for the metrics endpoint.
    fn report(&self, stake: U256, balance: U256) -> anyhow::Result<()> {
        let st = self.tx.stats();
        let f = st.snapshot();
        self.metrics.set_signer(crate::metrics::SignerFigures {
            sent: f.sent,
            replaced: f.replaced,
            mined: f.mined,
            reverted: f.mined_reverted,
            expired: f.expired + f.cancelled,
            gas_used: f.gas_used,
            fees_paid_wei: f.fees_paid_wei,
            queue_len: f.queue_len,
            in_flight: f.in_flight,
            oldest_job_age_s: st.oldest_queued_age().map(|d| d.as_secs()).unwrap_or(0),
        });
        // The nearest reveal deadline among tasks committed to and not revealed.
        let next_reveal = self
            .open
            .iter()
            .filter(|(_, b)| b.phase == TaskPhase::CommitSent)
            .filter_map(|(id, _)| self.deadlines.get(id).map(|d| (d.1, *id)))
            .min();
        let mut phases: Vec<TaskPhase> = self.open.values().map(|b| b.phase).collect();
        let done = self.records.saturating_sub(self.open.len() as u64);
        phases.extend(std::iter::repeat_n(TaskPhase::Done, done as usize));
        let mut served: Vec<u32> = self.served.iter().copied().collect();
        served.sort_unstable();
        self.metrics.set_status(crate::metrics::StatusSnapshot {
            address: Some(format!("{:#x}", self.me)),
            role: Some(match self.role {
                Role::Worker => "worker".into(),
                Role::Keeper => "keeper".into(),
            }),
            drain: self.cfg.worker.drain,
            tasks_by_phase: crate::node_cli::tasks_by_phase(phases),
            served_models: served,
            stake_wei: Some(stake.to_string()),
            hub_balance_wei: Some(balance.to_string()),
            next_reveal_deadline_unix: next_reveal.map(|(t, _)| t),
            next_reveal_task: next_reveal.map(|(_, id)| id.to_string()),
        });
        Ok(())
    }

    /// Reads confirmed logs (a few chunks per turn) and handles reorgs below the confirmed head.
    async fn ingest(&mut self) -> anyhow::Result<()> {
        let p = self.c.provider.clone();
        for _ in 0..CHUNKS_PER_TURN {
            let cursor = match self.state.cursor()? {
                Some(c) => Some((c, self.state.cursor_hash()?.map(B256::from))),
                None => None,
            };
            match self.follower.step(&p, cursor).await? {
                follower::Step::Idle { head } => {
                    let at = cursor.map(|c| c.0).unwrap_or_default();
                    self.metrics.cursor_block.set(at as i64);
                    self.metrics.set_sync(head, at);
                    break;
                }
                follower::Step::Reorg {
                    fork,
                    fork_hash,
                    was,
                } => {
                    self.state.set_cursor_with_hash(fork, fork_hash.0)?;
                    self.reopen_after(fork)?;
                    tracing::warn!(target: "maskoracle::worker", fork, was, "reorg handled: tasks settled after the fork reopened");
                }
                follower::Step::Chunk {
                    to,
                    hash,
                    events,
                    head,
                    ..
                } => {
                    self.metrics.set_sync(head, to);
                    for e in &events {
                        self.on_log(e)?;
                    }
                    self.state.set_cursor_with_hash(to, hash.0)?;
                    self.metrics.cursor_block.set(to as i64);
                }
            }
        }
        Ok(())
    }

    /// After a reorg from `fork`: settlements read after it are forgotten, recent closed records
    /// reopen (their draw or settlement may have changed), and every open task is looked at.
    fn reopen_after(&mut self, fork: u64) -> anyhow::Result<()> {
        for (k, mut rec) in self.state.all_tasks()? {
            let id = U256::from_be_bytes(k);
            let settled_after = rec.settled_block.is_some_and(|b| b > fork);
            let recent = rec.request_block + REOPEN_DEPTH > fork;
            if settled_after {
                rec.settled_block = None;
            }
            if rec.phase == TaskPhase::Done && recent && rec.settled_block.is_none() {
                rec.phase = if rec.reveal_tx.is_some() {
                    TaskPhase::RevealSent
                } else if rec.commit_tx.is_some() {
                    TaskPhase::CommitSent
                } else if rec.digest.is_some() {
                    TaskPhase::Computed
                } else {
                    TaskPhase::Seen
                };
                rec.drawn = None;
                rec.note = Some("reopened after a reorg".into());
                rec.done_unix_ms = None;
                self.put(id, &rec, None)?;
            } else if settled_after {
                self.put(id, &rec, None)?;
            }
            if self.open.contains_key(&id) {
                self.dirty.insert(id);
            }
        }
        Ok(())
    }

    fn on_log(&mut self, e: &EventLog) -> anyhow::Result<()> {
        use TaskHub::TaskHubEvents as H;
        if let OracleEvent::Registry(WorkerRegistry::WorkerRegistryEvents::StakesReleased(r)) =
            &e.event
        {
            // Bit i of the mask: workers[i] lost amountEach.
            for (i, w) in r.workers.iter().enumerate() {
                if *w == self.me && i < 256 && r.slashMask.bit(i) {
                    tracing::warn!(target: "maskoracle::worker", task = %r.taskId, amount = %r.amountEach, "this worker was slashed");
                    self.metrics.slashed(r.amountEach.saturating_to::<u128>());
                }
            }
            return Ok(());
        }
        let OracleEvent::Hub(ev) = &e.event else {
            return Ok(());
        };
        match ev {
            H::TaskRequested(ev) => {
                let serves = self.served.contains(&ev.modelId);
                if self.role == Role::Worker && !self.keeper() && !serves {
                    // Not this worker's model (it cannot be drawn for it) and no keeper duty.
                    return Ok(());
                }
                let key = task_key(ev.taskId);
                let hash = request_hash_word(ev.task.requestHash).0;
                match self.state.task(&key)? {
                    None => {
                        let mut rec = TaskRecord::seen(e.block);
                        rec.model_id = ev.modelId;
                        rec.input = ev.input.clone();
                        rec.request_hash = Some(hash);
                        rec.seen_unix_ms = Some(unix_ms());
                        self.put(ev.taskId, &rec, None)?;
                        self.records += 1;
                        tracing::info!(target: "maskoracle::worker", task = %ev.taskId, model = ev.modelId, input = %loggable(&ev.input), request_hash = %B256::from(hash), "task requested");
                    }
                    Some(rec) if rec.request_hash.is_some_and(|h| h != hash) => {
                        // Read again after a reorg, and it is another request at the same id: what
                        // was computed for the old one must never be committed for this one.
                        tracing::warn!(target: "maskoracle::worker", task = %ev.taskId, model = ev.modelId, input = %loggable(&ev.input), "the task's request was replaced (reorg): starting again");
                        let rec = rec.for_new_request(e.block, ev.modelId, ev.input.clone(), hash);
                        self.put(ev.taskId, &rec, None)?;
                    }
                    Some(mut rec) if rec.request_hash.is_none() => {
                        rec.request_hash = Some(hash);
                        self.put(ev.taskId, &rec, None)?;
                    }
                    Some(_) => {}
                }
                self.dirty.insert(ev.taskId);
            }
            H::ResultRecorded(ev) => {
                if let Some(mut rec) = self.state.task(&task_key(ev.taskId))? {
                    rec.chain_summary = Some(ev.summary.to_vec());
                    self.put(ev.taskId, &rec, None)?;
                    self.dirty.insert(ev.taskId);
                }
            }
            H::TaskFinalized(_) | H::TaskExpired(_) => {
                let id = e.task_id().unwrap_or_default();
                if let Some(mut rec) = self.state.task(&task_key(id))? {
                    rec.settled_block = Some(e.block);
                    self.put(id, &rec, None)?;
                    self.dirty.insert(id);
                }
            }
            _ => {
                if let Some(id) = e.task_id() {
                    if self.open.contains_key(&id) {
                        self.dirty.insert(id);
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes the record and keeps the in-memory index in step with it.
    fn put(&mut self, id: U256, rec: &TaskRecord, canonical: Option<&[u8]>) -> anyhow::Result<()> {
        self.state.put_task(&task_key(id), rec, canonical)?;
        let brief = Brief {
            drawn: rec.drawn,
            phase: rec.phase,
        };
        if rec.phase == TaskPhase::Done {
            self.open.remove(&id);
        } else {
            self.open.insert(id, brief);
        }
        Ok(())
    }

    fn finish(
        &mut self,
        id: U256,
        mut rec: TaskRecord,
        outcome: decide::Outcome,
    ) -> anyhow::Result<()> {
        self.seed_ready.remove(&id);
        self.missing.remove(&id);
        self.cooldown.remove(&id);
        self.deadlines.remove(&id);
        rec.phase = TaskPhase::Done;
        rec.note = Some(outcome.name().to_owned());
        rec.done_unix_ms = Some(unix_ms());
        self.put(id, &rec, None)?;
        self.metrics.task_outcome(outcome.name());
        tracing::info!(target: "maskoracle::worker", task = %id, outcome = outcome.name(), "task done");
        Ok(())
    }

    /// The task as the chain's views show it now.
    async fn read_view(&self, id: U256, rec: &TaskRecord) -> anyhow::Result<TaskView> {
        let hub = &self.c.hub;
        let st = hub.taskState(id).call().await?;
        let status = TaskStatus::from(st.status);
        let reason = WaitReason::from(st.reason);
        let mut v = TaskView {
            status,
            reason,
            request_hash: [0; 32],
            model_id: rec.model_id,
            reward: U256::ZERO,
            replication: 0,
            commit_deadline: 0,
            reveal_deadline: 0,
            reveals: 0,
            commits: 0,
            mine: Contribution::None,
            draw: Draw::Unknown,
            winning: None,
            now: self.chain_time(),
        };
        if status == TaskStatus::None {
            return Ok(v);
        }
        let t = hub.task(id).call().await?;
        v.request_hash = request_hash_word(t.requestHash).0;
        v.model_id = t.modelId;
        v.reward = U256::from(t.reward);
        v.replication = t.replication;
        v.commit_deadline = t.commitDeadline.to::<u64>();
        v.reveal_deadline = t.revealDeadline.to::<u64>();
        v.reveals = t.reveals;
        v.commits = t.commits;
        if v.request_hash != rec.request_hash.unwrap_or_default() {
            // decide restarts the record; nothing else is needed.
            return Ok(v);
        }
        if reason == WaitReason::AwaitingCommits {
            let pd = hub.previewDraw(id).call().await?;
            v.draw = if pd.stored {
                Draw::Stored {
                    me: pd.workers.contains(&self.me),
                }
            } else if !pd.workers.is_empty() {
                Draw::Preview {
                    slot: pd.workers.iter().position(|w| *w == self.me),
                }
            } else {
                Draw::Unknown
            };
        }
        let may_be_in = rec.drawn != Some(false)
            || matches!(
                v.draw,
                Draw::Stored { me: true } | Draw::Preview { slot: Some(_) }
            );
        if self.role == Role::Worker
            && may_be_in
            && !matches!(v.draw, Draw::Preview { .. } | Draw::Unknown if reason == WaitReason::AwaitingCommits)
        {
            let cs = hub.contributions(id).call().await?;
            v.mine = cs
                .iter()
                .find(|c| c.worker == self.me)
                .map(|c| Contribution::from(c.state))
                .unwrap_or(Contribution::None);
        }
        if reason == WaitReason::AwaitingReveals && v.mine == Contribution::Committed {
            v.winning = Some(hub.result(id).call().await?.resultHash);
        }
        Ok(v)
    }

    async fn drive(&mut self, id: U256) -> anyhow::Result<()> {
        let key = task_key(id);
        let Some(mut rec) = self.state.task(&key)? else {
            self.open.remove(&id);
            return Ok(());
        };
        if rec.phase == TaskPhase::Done {
            self.open.remove(&id);
            return Ok(());
        }
        if let Some(until) = self.cooldown.get(&id).copied() {
            if Instant::now() < until {
                self.wake.insert((until, id));
                return Ok(());
            }
            self.cooldown.remove(&id);
        }
        let view = self.read_view(id, &rec).await?;
        if view.commit_deadline > 0 {
            self.deadlines
                .insert(id, (view.commit_deadline, view.reveal_deadline));
        }
        if view.status == TaskStatus::None {
            self.missing.entry(id).or_insert_with(Instant::now);
        } else {
            self.missing.remove(&id);
        }
        let seed_ready_for = match view.draw {
            Draw::Preview { .. } => {
                // Looked at again until the draw is stored.
                self.schedule(id, Duration::from_millis(500));
                self.seed_ready
                    .entry(id)
                    .or_insert_with(Instant::now)
                    .elapsed()
            }
            _ => {
                self.seed_ready.remove(&id);
                Duration::ZERO
            }
        };
        let in_flight = InFlight {
            compute: self.computing.contains(&id),
            commit: self.acting.contains(&(id, TxKind::Commit)),
            reveal: self.acting.contains(&(id, TxKind::Reveal)),
            draw: self.acting.contains(&(id, TxKind::Draw)),
            keeper: self.acting.contains(&(id, TxKind::Finalize))
                || self.acting.contains(&(id, TxKind::Expire)),
        };
        let cx = Ctx {
            role: self.role,
            keeper: self.keeper(),
            drain: self.cfg.worker.drain,
            serves_model: self.served.contains(&view.model_id),
            min_reward: self.min_reward,
            seed_ready_for,
            // Nothing waiting for a slot of the signer (a back-up draw would wait behind it).
            signer_idle: self.tx.stats().snapshot().queue_len == 0,
            in_flight,
            our_result_hash: rec.digest.map(|d| result_hash(id, B256::from(d))),
            settlement_confirmed: rec.settled_block.is_some(),
            missing_for: self.missing.get(&id).map(|t| t.elapsed()),
        };
        for action in decide::decide(&rec, &view, &cx) {
            if !self.apply(id, &mut rec, &view, action).await? {
                break;
            }
        }
        Ok(())
    }

    /// Carries out one action; `false` stops the task's remaining actions for this turn.
    async fn apply(
        &mut self,
        id: U256,
        rec: &mut TaskRecord,
        view: &TaskView,
        action: Action,
    ) -> anyhow::Result<bool> {
        match action {
            Action::Restart => {
                self.restart(id, rec, view.request_hash).await?;
                return Ok(false);
            }
            Action::RecordDrawn(me) => {
                rec.drawn = Some(me);
                self.put(id, rec, None)?;
                if me && self.role == Role::Worker {
                    tracing::info!(target: "maskoracle::worker", task = %id, "drawn for this task");
                }
            }
            Action::Compute if !self.stopping => self.spawn_compute(id, rec),
            Action::Commit if !self.stopping => {
                self.spawn_commit(id, rec, Some(view.commit_deadline))
            }
            Action::Reveal if !self.stopping => {
                self.spawn_reveal(id, rec, Some(view.reveal_deadline))
            }
            Action::RevealSketch if !self.stopping => {
                self.spawn_reveal_sketch(id, rec, Some(view.reveal_deadline))
            }
            Action::SettleTolerant if !self.stopping => self.settle_tolerant(id, rec, view).await?,
            Action::Draw if !self.stopping => {
                let input = TaskHub::drawCall { taskId: id }.abi_encode();
                self.spawn_tx(
                    id,
                    TxKind::Draw,
                    format!("draw #{id}"),
                    input,
                    None,
                    Some(view.commit_deadline),
                );
            }
            Action::Finalize | Action::Expire if !self.stopping => {
                let kind = if action == Action::Finalize {
                    TxKind::Finalize
                } else {
                    TxKind::Expire
                };
                self.spawn_keeper(id, kind, rec);
            }
            Action::Compute
            | Action::Commit
            | Action::Reveal
            | Action::RevealSketch
            | Action::SettleTolerant
            | Action::Draw
            | Action::Finalize
            | Action::Expire => {}
            Action::Advance(p) => {
                rec.phase = p;
                self.put(id, rec, None)?;
            }
            Action::LostConsensus => {
                tracing::warn!(target: "maskoracle::worker", task = %id, "the consensus is another result than ours: our stake will be slashed");
                rec.phase = rec.phase.max(TaskPhase::CommitSent);
                rec.note = Some(decide::LOST_NOTE.into());
                self.put(id, rec, None)?;
            }
            Action::Finish(o) => {
                self.finish(id, rec.clone(), o)?;
                return Ok(false);
            }
            Action::Wait(w) => match w {
                Waiting::Seed => self.schedule(id, Duration::from_millis(500)),
                Waiting::Request => self.schedule(id, Duration::from_secs(5)),
                Waiting::Deadline(t) => {
                    let secs = t.saturating_sub(self.chain_time());
                    self.schedule(id, Duration::from_secs(secs) + Duration::from_millis(500));
                }
                // An event (ours or the chain's) or the reconciliation brings the task back.
                Waiting::Compute
                | Waiting::Transaction
                | Waiting::Commits
                | Waiting::Reveals
                | Waiting::SettlementConfirmation
                | Waiting::Others => {}
            },
        }
        Ok(true)
    }

    /// The record's request is not the task's current one (reorg): starts the record again from
    /// the current request's confirmed `TaskRequested` log, or waits for it.
    async fn restart(
        &mut self,
        id: U256,
        rec: &mut TaskRecord,
        onchain: [u8; 32],
    ) -> anyhow::Result<()> {
        match self.find_request(id, onchain, rec.request_block).await? {
            Some((block, model_id, input)) => {
                if rec.request_hash.is_some() {
                    tracing::warn!(target: "maskoracle::worker", task = %id, model = model_id, input = %loggable(&input), "the task's request is not the one this record was made for (reorg): starting again from the current request");
                    *rec = rec.for_new_request(block, model_id, input, onchain);
                } else {
                    // A record from before v2: it learns its request hash.
                    rec.request_hash = Some(onchain);
                }
                self.put(id, rec, None)?;
                self.dirty.insert(id);
            }
            None => {
                tracing::info!(target: "maskoracle::worker", task = %id, "the task's current request is not in the confirmed logs yet; waiting");
                self.schedule(id, Duration::from_secs(1));
            }
        }
        Ok(())
    }

    /// The confirmed `TaskRequested` log of task `id` whose request hash is `hash`: (block,
    /// model, input).
    async fn find_request(
        &self,
        id: U256,
        hash: [u8; 32],
        near_block: u64,
    ) -> anyhow::Result<Option<(u64, u32, String)>> {
        let p = &self.c.provider;
        let head = p.get_block_number().await?;
        let confirmed = head.saturating_sub(self.cfg.worker.confirmations.max(1) - 1);
        let mut from = near_block
            .saturating_sub(follower::REORG_REWIND)
            .max(self.c.deployment.deploy_block);
        let mut found = None;
        while from <= confirmed {
            let to = confirmed.min(from + self.cfg.worker.log_chunk_blocks.max(1) - 1);
            let filter = Filter::new()
                .address(self.c.deployment.task_hub)
                .event_signature(TaskHub::TaskRequested::SIGNATURE_HASH)
                .topic1(B256::from(id.to_be_bytes::<32>()))
                .from_block(from)
                .to_block(to);
            for log in p.get_logs(&filter).await? {
                if log.removed {
                    continue;
                }
                let ev = log.log_decode::<TaskHub::TaskRequested>()?.inner.data;
                if request_hash_word(ev.task.requestHash).0 == hash {
                    found = Some((log.block_number.unwrap_or_default(), ev.modelId, ev.input));
                }
            }
            from = to + 1;
        }
        Ok(found)
    }

    fn spawn_compute(&mut self, id: U256, rec: &TaskRecord) {
        if !self.computing.insert(id) {
            return;
        }
        let job = ComputeJob {
            request_hash: rec.request_hash,
            model_id: rec.model_id,
            input: rec.input.clone(),
            models: self.models.clone(),
            storage: self.storage.clone(),
            http: self.http.clone(),
            slots: self.compute_slots.clone(),
            faulty: self.cfg.worker.faulty,
            emulate_noise: self.cfg.worker.emulate_noise.map(|rel| {
                // Another seed per worker and task: each worker "runs on another machine".
                let h = alloy::primitives::keccak256(alloy::sol_types::SolValue::abi_encode(&(
                    self.me, id,
                )));
                let seed = i64::from_be_bytes(h[..8].try_into().unwrap_or_default()) & i64::MAX;
                (rel, seed)
            }),
        };
        let events = self.events.0.clone();
        tokio::spawn(async move {
            let r = job.run(id).await;
            let _ = events.send(Event::Computed(id, r)).await;
        });
    }

    /// Sends a transaction to the hub for task `id` in the background. With `guard` (the request
    /// hash and model the transaction was made for), the task is read from the chain first and
    /// nothing is sent when its request is another one: the outcome is then a
    /// `TaskHubRequestHashMismatch` refusal, as the hub would answer.
    fn spawn_tx(
        &mut self,
        id: U256,
        kind: TxKind,
        label: String,
        input: Vec<u8>,
        guard: Option<(B256, u32)>,
        deadline_unix: Option<u64>,
    ) {
        if !self.acting.insert((id, kind)) {
            return;
        }
        let to = self.c.deployment.task_hub;
        let tx = self.tx.clone();
        let events = self.events.0.clone();
        let hub = self.c.hub.clone();
        tokio::spawn(async move {
            if let Some((expected, model)) = guard {
                let refused = match hub.task(id).call().await {
                    Ok(t) => {
                        let stored = request_hash_word(t.requestHash);
                        (stored != expected || t.modelId != model).then(|| {
                            let e = TaskHub::TaskHubErrors::TaskHubRequestHashMismatch(
                                TaskHub::TaskHubRequestHashMismatch {
                                    taskId: id,
                                    given: expected,
                                    stored,
                                },
                            );
                            TxError::Revert {
                                reason: format!("{e:?} (checked before sending)"),
                                data: alloy::sol_types::SolInterface::abi_encode(&e).into(),
                                label: label.clone(),
                            }
                        })
                    }
                    Err(e) => Some(TxError::Rpc {
                        label: label.clone(),
                        message: e.to_string(),
                    }),
                };
                if let Some(err) = refused {
                    let _ = events
                        .send(Event::Tx {
                            id,
                            kind,
                            sent_unix_ms: None,
                            result: Box::new(Err(err)),
                        })
                        .await;
                    return;
                }
            }
            let (sent_tx, sent_rx) = tokio::sync::oneshot::channel();
            let priority = match kind {
                TxKind::Reveal => TxPriority::Reveal,
                TxKind::Commit => TxPriority::Commit,
                TxKind::Draw => TxPriority::Draw,
                TxKind::Finalize | TxKind::Expire => TxPriority::Keeper,
            };
            let mut job = TxJob::new(label, to, input)
                .priority(priority)
                .notify(sent_tx);
            if let Some(d) = deadline_unix {
                job = job.deadline(d);
            }
            let send = tx.submit(job);
            tokio::pin!(send);
            let mut sent_unix_ms = None;
            let result = tokio::select! {
                r = &mut send => r,
                Ok(()) = sent_rx => {
                    sent_unix_ms = Some(unix_ms());
                    send.await
                }
            };
            let _ = events
                .send(Event::Tx {
                    id,
                    kind,
                    sent_unix_ms,
                    result: Box::new(result),
                })
                .await;
        });
    }

    fn spawn_commit(&mut self, id: U256, rec: &TaskRecord, deadline: Option<u64>) {
        let (Some(digest), Some(request_hash)) =
            (rec.digest.map(B256::from), rec.request_hash.map(B256::from))
        else {
            return;
        };
        let sketch_hash = alloy::primitives::keccak256(rec.sketch.as_deref().unwrap_or_default());
        let call = TaskHub::commitCall {
            taskId: id,
            requestHash: request_hash,
            resultHash: result_hash(id, digest),
            resultSeal: result_seal(self.me, id, digest, sketch_hash),
        };
        // Checked against the chain once more right before sending (reorg safety).
        self.spawn_tx(
            id,
            TxKind::Commit,
            format!("commit #{id}"),
            call.abi_encode(),
            Some((request_hash, rec.model_id)),
            deadline,
        );
    }

    fn spawn_reveal(&mut self, id: U256, rec: &TaskRecord, deadline: Option<u64>) {
        let (Some(sha), Some(summary)) = (rec.result_sha256, rec.summary.clone()) else {
            return;
        };
        let call = TaskHub::revealCall {
            taskId: id,
            resultSha256: B256::from(sha),
            sketchHash: alloy::primitives::keccak256(rec.sketch.as_deref().unwrap_or_default()),
            summary: summary.into(),
        };
        self.spawn_tx(
            id,
            TxKind::Reveal,
            format!("reveal #{id}"),
            call.abi_encode(),
            None,
            deadline,
        );
    }

    /// The tolerant fallback: reveals this worker's summary hash, result sha256 and sketch (the
    /// opening of its commit, whatever hash it committed).
    fn spawn_reveal_sketch(&mut self, id: U256, rec: &TaskRecord, deadline: Option<u64>) {
        let (Some(sha), Some(summary), Some(sketch)) =
            (rec.result_sha256, rec.summary.as_ref(), rec.sketch.clone())
        else {
            tracing::warn!(target: "maskoracle::worker", task = %id, "no sketch recorded for this task (a record from before seal v2): cannot reveal in the tolerant fallback");
            return;
        };
        let call = TaskHub::revealSketchCall {
            taskId: id,
            summaryHash: alloy::primitives::keccak256(summary),
            resultSha256: B256::from(sha),
            sketch: sketch.into(),
        };
        self.spawn_tx(
            id,
            TxKind::Reveal,
            format!("reveal sketch #{id}"),
            call.abi_encode(),
            None,
            deadline,
        );
    }

    /// The tolerant fallback's settlement (keeper duty): reads the revealed sketches, picks the
    /// representative (`tolerant::candidates`, first one whose published result checks out) and
    /// sends `settleTolerant`; with no such representative, `expire` once the hub allows it.
    async fn settle_tolerant(
        &mut self,
        id: U256,
        rec: &TaskRecord,
        view: &TaskView,
    ) -> anyhow::Result<()> {
        let hub = &self.c.hub;
        let t = hub.task(id).call().await?;
        let contributions = hub.contributions(id).call().await?;
        let mut revealed_by: HashMap<Address, tolerant::Revealed> = HashMap::new();
        let filter = Filter::new()
            .address(self.c.deployment.task_hub)
            .event_signature(TaskHub::SketchRevealed::SIGNATURE_HASH)
            .topic1(B256::from(id.to_be_bytes::<32>()))
            .from_block(rec.request_block);
        for log in self.c.provider.get_logs(&filter).await? {
            if log.removed {
                continue;
            }
            let ev = log.log_decode::<TaskHub::SketchRevealed>()?.inner.data;
            revealed_by.insert(
                ev.worker,
                tolerant::Revealed {
                    worker: ev.worker,
                    summary_hash: ev.summaryHash,
                    result_sha256: ev.resultSha256,
                    sketch: ev.sketch.to_vec(),
                },
            );
        }
        // The openings in slot order, one per Revealed contribution.
        let mut revealed = Vec::new();
        for c in contributions
            .iter()
            .filter(|c| Contribution::from(c.state) == Contribution::Revealed)
        {
            match revealed_by.remove(&c.worker) {
                Some(r) => revealed.push(r),
                None => {
                    // The log is not visible yet (a lagging endpoint): look again shortly.
                    tracing::debug!(target: "maskoracle::worker", task = %id, worker = %c.worker, "a sketch reveal's log is not visible yet");
                    self.schedule(id, Duration::from_secs(1));
                    return Ok(());
                }
            }
        }
        let tol = self.c.models.toleranceOf(t.modelId).call().await?;
        let kind = match self.c.models.model(t.modelId).call().await?.kind {
            1 => maskoracle_inference::ModelKind::Semantic,
            _ => maskoracle_inference::ModelKind::Instance,
        };
        let quorum = usize::from(t.quorum);
        let candidates = if tol.set {
            tolerant::candidates(&revealed, &tolerant::tolerance_of(&tol.tolerance), quorum)
        } else {
            Vec::new()
        };
        for cand in &candidates {
            let r = &revealed[cand.index];
            let cid = match crate::storage::cid::parse_cid(
                &maskoracle_inference::canonical::cid_of_sha256(&r.result_sha256.0),
            ) {
                Ok(c) => c,
                Err(e) => anyhow::bail!("cid of a sha256: {e}"),
            };
            let fetched = tokio::time::timeout(
                Duration::from_secs(20),
                self.storage
                    .get(&cid, crate::storage::cid::MAX_RESULT_SIZE as u64),
            )
            .await;
            let bytes = match fetched {
                Ok(Ok(b)) => b,
                Ok(Err(e)) => {
                    tracing::warn!(target: "maskoracle::worker", task = %id, worker = %r.worker, error = %e, "the candidate representative's result cannot be fetched; trying the next");
                    continue;
                }
                Err(_) => {
                    tracing::warn!(target: "maskoracle::worker", task = %id, worker = %r.worker, "the candidate representative's result did not arrive in 20 s; trying the next");
                    continue;
                }
            };
            match tolerant::check_result(r, &bytes, kind) {
                Ok(summary) => {
                    tracing::info!(target: "maskoracle::worker", task = %id, representative = %r.worker, members = cand.members.len(), revealed = revealed.len(), "settling the tolerant fallback");
                    let call = TaskHub::settleTolerantCall {
                        taskId: id,
                        // The hub's implementation leaves these two unnamed (it hands its
                        // calldata to the judge): representative, openings.
                        _1: U256::from(cand.index),
                        _2: revealed
                            .iter()
                            .map(|o| crate::bindings::hub::ITaskHub::Opening {
                                summaryHash: o.summary_hash,
                                resultSha256: o.result_sha256,
                                sketch: o.sketch.clone().into(),
                            })
                            .collect(),
                        summary: summary.into(),
                    };
                    self.spawn_tx(
                        id,
                        TxKind::Finalize,
                        format!("settle tolerant #{id}"),
                        call.abi_encode(),
                        None,
                        None,
                    );
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(target: "maskoracle::worker", task = %id, worker = %r.worker, error = %e, "the candidate representative's published result does not match what it revealed; trying the next");
                }
            }
        }
        // No representative: the task expires once the hub allows it (fewer than Q sketches
        // after the deadline, or the settlement grace passed).
        let grace = hub.SETTLE_GRACE().call().await?.to::<u64>();
        let past = view.now > view.reveal_deadline;
        if past && (usize::from(view.reveals) < quorum || view.now > view.reveal_deadline + grace) {
            self.spawn_keeper(id, TxKind::Expire, rec);
        } else {
            tracing::info!(target: "maskoracle::worker", task = %id, revealed = revealed.len(), candidates = candidates.len(), "no representative can settle the tolerant fallback yet");
            self.schedule(id, Duration::from_secs(if past { 30 } else { 2 }));
        }
        Ok(())
    }

    fn spawn_keeper(&mut self, id: U256, kind: TxKind, rec: &TaskRecord) {
        let (input, label) = match kind {
            TxKind::Finalize => (
                TaskHub::finalizeCall {
                    taskId: id,
                    summary: rec.chain_summary.clone().unwrap_or_default().into(),
                }
                .abi_encode(),
                format!("finalize #{id}"),
            ),
            _ => (
                TaskHub::expireCall { taskId: id }.abi_encode(),
                format!("expire #{id}"),
            ),
        };
        self.spawn_tx(id, kind, label, input, None, None);
    }

    fn on_event(&mut self, ev: Event) -> anyhow::Result<()> {
        match ev {
            Event::Computed(id, result) => self.on_computed(id, result),
            Event::Tx {
                id,
                kind,
                sent_unix_ms,
                result,
            } => self.on_tx(id, kind, sent_unix_ms, *result),
        }
    }

    fn on_computed(
        &mut self,
        id: U256,
        result: Result<Computed, ComputeFailure>,
    ) -> anyhow::Result<()> {
        self.computing.remove(&id);
        let Some(mut rec) = self.state.task(&task_key(id))? else {
            return Ok(());
        };
        match result {
            Ok(c) if c.request_hash != rec.request_hash || rec.phase != TaskPhase::Seen => {
                // The record moved to another request while this ran (reorg): the result answers
                // the old one and is dropped.
                tracing::warn!(target: "maskoracle::worker", task = %id, "computed for a request the task no longer has: dropped");
                self.dirty.insert(id);
            }
            Ok(c) => {
                self.metrics
                    .inference_seconds
                    .observe(c.inference_ms as f64 / 1000.0);
                rec.phase = TaskPhase::Computed;
                rec.digest = Some(c.digest.0);
                rec.result_sha256 = Some(c.result_sha256.0);
                rec.summary = Some(c.summary);
                rec.sketch = Some(c.sketch);
                rec.inference_ms = Some(c.inference_ms);
                rec.note = Some(format!("status {}", c.status.name()));
                // Durable before the commit is sent (see the module docs).
                self.put(id, &rec, Some(&c.canonical))?;
                tracing::info!(target: "maskoracle::worker", task = %id, status = c.status.name(), result_sha256 = %c.result_sha256, inference_ms = c.inference_ms, "computed");
                if !self.stopping {
                    // At once (the commit is checked against the task's request right before it
                    // is sent); decide() sees it in flight.
                    let deadline = self.deadlines.get(&id).map(|d| d.0);
                    self.spawn_commit(id, &rec, deadline);
                }
                self.publish(id, c.canonical, c.overlay_png);
            }
            Err(ComputeFailure::Transient(e)) => {
                tracing::warn!(target: "maskoracle::worker", task = %id, error = %e, "input unreachable for now; trying again while commits are open (a transient failure is never committed)");
                self.schedule(id, TRANSIENT_FETCH_RETRY);
            }
            Err(ComputeFailure::Other(e)) => {
                tracing::warn!(target: "maskoracle::worker", task = %id, error = %format!("{e:#}"), "cannot compute; will retry");
                self.schedule(id, TRANSIENT_FETCH_RETRY);
            }
        }
        Ok(())
    }

    /// Publishes the canonical result (one raw block: its CID follows from its sha256) and the
    /// overlay, after the commit is on its way. Consensus does not depend on them: a failure is
    /// logged, not fatal.
    fn publish(&self, id: U256, canonical: Vec<u8>, overlay: Option<Vec<u8>>) {
        let storage = self.storage.clone();
        tokio::spawn(async move {
            match storage.put_raw(Bytes::from(canonical)).await {
                Ok(cid) => {
                    tracing::info!(target: "maskoracle::worker", task = %id, %cid, "result published")
                }
                Err(e) => {
                    tracing::warn!(target: "maskoracle::worker", task = %id, error = %e, "cannot publish the result")
                }
            }
            if let Some(png) = overlay {
                match storage
                    .put(Bytes::from(png), crate::storage::ImportParams::default())
                    .await
                {
                    Ok(cid) => {
                        tracing::info!(target: "maskoracle::worker", task = %id, %cid, "overlay published")
                    }
                    Err(e) => {
                        tracing::warn!(target: "maskoracle::worker", task = %id, error = %e, "cannot publish the overlay")
                    }
                }
            }
        });
    }

    fn on_tx(
        &mut self,
        id: U256,
        kind: TxKind,
        sent_unix_ms: Option<u64>,
        result: Result<Mined, TxError>,
    ) -> anyhow::Result<()> {
        self.acting.remove(&(id, kind));
        let Some(mut rec) = self.state.task(&task_key(id))? else {
            return Ok(());
        };
        match (&result, kind) {
            (Ok(m), TxKind::Commit) => {
                rec.phase = rec.phase.max(TaskPhase::CommitSent);
                rec.commit_tx = Some(m.hash.0);
                rec.commit_sent_unix_ms = sent_unix_ms.or(rec.commit_sent_unix_ms);
                tracing::info!(target: "maskoracle::worker", task = %id, tx = %m.hash, gas = m.gas_used, "committed");
            }
            (Ok(m), TxKind::Reveal) => {
                rec.phase = rec.phase.max(TaskPhase::RevealSent);
                rec.reveal_tx = Some(m.hash.0);
                tracing::info!(target: "maskoracle::worker", task = %id, tx = %m.hash, gas = m.gas_used, "revealed");
            }
            (Ok(m), TxKind::Draw) => {
                tracing::info!(target: "maskoracle::worker", task = %id, tx = %m.hash, gas = m.gas_used, "workers drawn");
            }
            (Ok(m), _) => {
                tracing::info!(target: "maskoracle::worker", task = %id, action = ?kind, tx = %m.hash, gas = m.gas_used, "keeper transaction mined");
            }
            (Err(e), _) => {
                use TaskHub::TaskHubErrors as H;
                use WorkerRegistry::WorkerRegistryErrors as W;
                let mut pause = Some(Duration::from_millis(1500));
                match (kind, e.hub_error(), e.registry_error()) {
                    (TxKind::Commit, Some(H::TaskHubAlreadyCommitted(_)), _) => {
                        rec.phase = rec.phase.max(TaskPhase::CommitSent);
                        pause = None;
                    }
                    (TxKind::Reveal, Some(H::TaskHubNotCommitted(_)), _) => {
                        // Already revealed (or never committed): the views decide next time.
                        pause = None;
                    }
                    (TxKind::Commit, Some(H::TaskHubNotDrawn(_)), _) => {
                        // The draw stored differs from the prediction: look again.
                        rec.drawn = None;
                    }
                    (TxKind::Commit, Some(H::TaskHubRequestHashMismatch(m)), _) => {
                        // The next drive re-reads the request and starts again from it.
                        tracing::warn!(target: "maskoracle::worker", task = %id, ours = %m.given, stored = %m.stored, "commit refused: the task's request is another one than the result was computed for (reorg?)");
                        rec.drawn = None;
                    }
                    (TxKind::Commit, _, Some(W::WorkerRegistryInsufficientFreeStake(s))) => {
                        // Stake locked by other tasks: tried again while commits are open
                        // (another task's settlement may free it).
                        tracing::warn!(target: "maskoracle::worker", task = %id, free = %s.free, needed = %s.needed, "not enough free stake to commit: skipped for now");
                        pause = Some(NO_FREE_STAKE_RETRY);
                    }
                    (
                        TxKind::Draw,
                        Some(H::TaskHubAlreadyDrawn(_) | H::TaskHubSeedPending(_)),
                        _,
                    ) => {
                        // Someone else drew first, or the pending block is behind.
                        tracing::debug!(target: "maskoracle::worker", task = %id, "draw not needed");
                        pause = None;
                    }
                    (
                        TxKind::Finalize,
                        Some(
                            err @ (H::TaskHubSummaryContradictsSketch(_)
                            | H::TaskHubToleranceQuorumNotReached(_)
                            | H::TaskHubSealMismatch(_)
                            | H::TaskHubOpeningCount(_)
                            | H::TaskHubInvalidRepresentative(_)),
                        ),
                        _,
                    ) => {
                        // The hub disagrees with this keeper's tolerant settlement: the same
                        // answer comes back until something changes (a reveal, the deadline).
                        tracing::warn!(target: "maskoracle::worker", task = %id, error = ?err, "tolerant settlement refused; looking again in 30 s");
                        pause = Some(Duration::from_secs(30));
                    }
                    (_, Some(err), _) => {
                        tracing::info!(target: "maskoracle::worker", task = %id, action = ?kind, error = ?err, "transaction not needed or too late");
                    }
                    (_, _, Some(err)) => {
                        tracing::info!(target: "maskoracle::worker", task = %id, action = ?kind, error = ?err, "transaction refused by the registry");
                    }
                    _ => {
                        tracing::warn!(target: "maskoracle::worker", task = %id, action = ?kind, error = %e, "transaction failed; will retry");
                    }
                }
                if kind == TxKind::Draw {
                    // A failed draw never holds back the task's commit.
                    pause = None;
                } else {
                    rec.note = Some(e.to_string());
                }
                if let Some(p) = pause {
                    self.cooldown.insert(id, Instant::now() + p);
                    self.wake.insert((Instant::now() + p, id));
                }
            }
        }
        self.put(id, &rec, None)?;
        self.dirty.insert(id);
        Ok(())
    }
}

/// The open records' briefs and the number of records, from the store (once, at start).
fn index(state: &StateStore) -> anyhow::Result<(HashMap<U256, Brief>, u64)> {
    let all = state.all_tasks()?;
    let records = all.len() as u64;
    let open = all
        .into_iter()
        .filter(|(_, r)| r.phase != TaskPhase::Done)
        .map(|(k, r)| {
            let brief = Brief {
                drawn: r.drawn,
                phase: r.phase,
            };
            (U256::from_be_bytes(k), brief)
        })
        .collect();
    Ok((open, records))
}

/// What the node keeps in memory of an open record.
#[derive(Debug, Clone, Copy)]
struct Brief {
    drawn: Option<bool>,
    phase: TaskPhase,
}

struct ComputeJob {
    request_hash: Option<[u8; 32]>,
    model_id: u32,
    input: String,
    models: Arc<ModelStore>,
    storage: SharedStorage,
    http: Arc<HttpFetcher>,
    slots: Arc<Semaphore>,
    faulty: bool,
    /// Devnet switch: the model's raw outputs perturbed by this relative noise (of the output's
    /// scale), seeded per worker and task, to emulate another machine.
    emulate_noise: Option<(f64, i64)>,
}

impl ComputeJob {
    async fn run(self, id: U256) -> Result<Computed, ComputeFailure> {
        let segmenter: Arc<Segmenter> = self
            .models
            .get(self.model_id)
            .await
            .map_err(ComputeFailure::Other)?;
        // The pinned fetch policy (attempts, timeouts, limits): part of the execution profile,
        // the same for every worker. A transient failure after every attempt is never committed.
        let fetched =
            match fetch_input_with_policy(&self.input, self.storage.as_ref(), &self.http).await {
                Err(e) if e.is_transient() => {
                    return Err(ComputeFailure::Transient(format!(
                        "task {id}: {}",
                        loggable(&e.to_string())
                    )))
                }
                other => other,
            };
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| ComputeFailure::Other(e.into()))?;
        let seg = segmenter.clone();
        let kind = segmenter.model().manifest().kind;
        let noise = self.emulate_noise;
        let (result, inference_ms, overlay_png) = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            match fetched {
                Ok(bytes) => {
                    let started = Instant::now();
                    let s = match noise {
                        Some((rel, seed)) => seg.segment_perturbed(
                            &bytes,
                            maskoracle_inference::Noise::OfScale,
                            rel,
                            seed,
                        ),
                        None => seg.segment(&bytes),
                    };
                    let inference_ms = started.elapsed().as_millis() as u64;
                    // The overlay is encoded here, but published after the commit is sent.
                    let png = seg.overlay(&s).and_then(|img| {
                        let mut out = std::io::Cursor::new(Vec::new());
                        img.write_to(&mut out, maskoracle_inference::image::ImageFormat::Png)
                            .ok()
                            .map(|_| out.into_inner())
                    });
                    (s.result, inference_ms, png)
                }
                Err(e) => {
                    let status = Status::from_code(e.status()).unwrap_or(Status::FetchFailed);
                    (
                        CanonicalResult::error(status, seg.model().sha256(), [0; 32], (0, 0)),
                        0,
                        None,
                    )
                }
            }
        })
        .await
        .map_err(|e| ComputeFailure::Other(e.into()))?;
        let att = maskoracle_inference::Attestation::of(&result, kind);
        let mut canonical = result.encode();
        let (mut sha, mut digest, mut sketch) = (att.result_sha256, att.digest, att.sketch);
        if self.faulty {
            // Its sketch describes another result too (another model's, by its header), so in
            // the tolerant fallback it disagrees with every honest sketch.
            if let Some(model) = sketch.get_mut(1..33) {
                model.fill(0xfa);
            }
            // Devnet test switch: a result that differs from the honest one (its sha256 too).
            canonical.extend_from_slice(b"faulty");
            let s: [u8; 32] = sha2::Digest::finalize(sha2::Digest::chain_update(
                sha2::Sha256::default(),
                &canonical,
            ))
            .into();
            sha = B256::from(s);
            digest = maskoracle_inference::summary::digest(&att.summary_bytes, &s);
        }
        Ok(Computed {
            request_hash: self.request_hash,
            canonical,
            result_sha256: sha,
            summary: att.summary_bytes,
            digest,
            sketch,
            inference_ms,
            status: result.status,
            overlay_png,
        })
    }
}

/// Opens the node and runs it until SIGINT/SIGTERM.
pub async fn run(cfg: Config, role: Role) -> anyhow::Result<()> {
    let metrics = Metrics::with_limits(crate::metrics::HealthLimits::from_config(
        &cfg.worker,
        Duration::from_secs(60),
    ));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    if let Some(addr) = cfg.worker.metrics_listen {
        let m = metrics.clone();
        let mut rx = stop_rx.clone();
        tokio::spawn(async move {
            let stop = async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            if let Err(e) = m.serve(addr, Duration::from_secs(60), stop).await {
                tracing::warn!(target: "maskoracle::metrics", error = %e, "metrics endpoint failed");
            }
        });
    }
    let shutdown = crate::shutdown::signal();
    tokio::pin!(shutdown);
    // A daemon outlives its RPC endpoint's outages, including one at start-up: an endpoint that
    // cannot be reached is waited for (with a growing pause), anything else ends the process.
    let mut pause = Duration::from_secs(1);
    let worker = loop {
        match Worker::open(cfg.clone(), role, metrics.clone()).await {
            Ok(w) => break w,
            Err(e) if unreachable_endpoint(&e) => {
                metrics.rpc_error();
                tracing::warn!(target: "maskoracle::worker", error = %format!("{e:#}"), retry_in_s = pause.as_secs(), "the RPC endpoint cannot be reached; waiting for it");
                tokio::select! {
                    () = &mut shutdown => {
                        let _ = stop_tx.send(true);
                        return Ok(());
                    }
                    () = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(Duration::from_secs(30));
            }
            Err(e) => {
                let _ = stop_tx.send(true);
                return Err(e);
            }
        }
    };
    let r = worker.run(&mut shutdown).await;
    let _ = stop_tx.send(true);
    r
}

/// Whether `e` comes from the transport (connection refused, timeout, HTTP error status) rather
/// than from an answer: only those are worth waiting out.
fn unreachable_endpoint(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<alloy::transports::TransportError>()
            .is_some_and(|t| t.is_transport_error())
    })
}
