//! `maskoracle worker` and `maskoracle keeper`: the long-running node.
//!
//! One event loop owns the state. Each turn it
//! 1. checks that the cursor block is still canonical (a reorg rewinds the cursor; every step is
//!    idempotent by task id, so logs seen twice change nothing);
//! 2. ingests the hub's logs from the cursor to `head - confirmations + 1` in chunks of
//!    `log_chunk_blocks`, creating a durable record for every task and marking tasks with news
//!    as dirty;
//! 3. drives every dirty task from the contract's views (events only say *where to look*; the
//!    views say what is true), spawning computations and transactions that report back through a
//!    channel;
//! 4. every few seconds marks every open task dirty (reconciliation: events can be missed, and
//!    deadlines pass without events).
//!
//! The result is written to the state store, durably, *before* the commit transaction is sent:
//! a worker killed between commit and reveal finds its record on restart and reveals.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::{SolCall, SolEvent};
use anyhow::Context as _;
use bytes::Bytes;
use maskoracle_inference::summary::{result_hash, result_seal};
use maskoracle_inference::{CanonicalResult, Segmenter, Status};
use tokio::sync::{mpsc, Semaphore};

use crate::bindings::{status, TaskHub, WorkerRegistry};
use crate::chain::{task_key, Contracts, Mined, TxError, TxSender};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::models::ModelStore;
use crate::state::{StateStore, TaskPhase, TaskRecord};
use crate::storage::{fetch_input, HttpFetcher, SharedStorage};

/// What the process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Computes, commits, reveals (and keeps, when `worker.keeper` is set).
    Worker,
    /// Only finalizes and expires tasks.
    Keeper,
}

/// Seconds between full reconciliations of every open task.
const RECONCILE_EVERY: Duration = Duration::from_secs(5);
/// Blocks the cursor moves back when its block was reorganised away.
const REORG_REWIND: u64 = 64;
/// How long after its seed became available a task's draw is left to the first drawn worker
/// before any other participant (another drawn worker, a keeper) sends `draw` itself.
const DRAW_BACKUP_AFTER: Duration = Duration::from_secs(2);
/// Pause before a commit refused for want of free stake is tried again.
const NO_FREE_STAKE_RETRY: Duration = Duration::from_secs(5);

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
    inference_ms: u64,
    status: Status,
    overlay_png: Option<Vec<u8>>,
}

enum Event {
    Computed(U256, anyhow::Result<Computed>),
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
    computing: HashSet<U256>,
    acting: HashSet<(U256, TxKind)>,
    dirty: HashSet<U256>,
    served: HashSet<u32>,
    /// Tasks whose last transaction reverted: not retried before the instant (the views may lag
    /// the pending state the estimate saw).
    cooldown: HashMap<U256, Instant>,
    /// When each undrawn task was first seen with its seed available (for [`DRAW_BACKUP_AFTER`]).
    seed_ready: HashMap<U256, Instant>,
    events: (mpsc::Sender<Event>, mpsc::Receiver<Event>),
    last_reconcile: Instant,
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
            computing: HashSet::new(),
            acting: HashSet::new(),
            dirty: HashSet::new(),
            served: HashSet::new(),
            cooldown: HashMap::new(),
            seed_ready: HashMap::new(),
            events: mpsc::channel(1024),
            last_reconcile: Instant::now() - RECONCILE_EVERY,
            stopping: false,
            cfg,
        })
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
            faulty = self.cfg.worker.faulty,
            "starting"
        );
        // Tasks left open by an earlier run are driven again from their records.
        for (k, _) in self.state.open_tasks()? {
            self.dirty.insert(U256::from_be_bytes(k));
        }
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
                    tracing::warn!(target: "maskoracle::worker", error = %format!("{e:#}"), "turn failed (RPC unavailable?); retrying");
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
            let wait = tokio::time::sleep(backoff);
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

    async fn turn(&mut self) -> anyhow::Result<()> {
        self.ingest().await?;
        if self.last_reconcile.elapsed() >= RECONCILE_EVERY {
            self.reconcile().await?;
        }
        // Drain results that arrived meanwhile.
        while let Ok(ev) = self.events.1.try_recv() {
            self.on_event(ev)?;
        }
        let dirty: Vec<U256> = self.dirty.drain().collect();
        for id in dirty {
            if let Err(e) = self.drive(id).await {
                self.dirty.insert(id);
                return Err(e);
            }
        }
        Ok(())
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
        for &id in models.difference(&self.served) {
            let store = self.models.clone();
            tokio::spawn(async move {
                if let Err(e) = store.get(id).await {
                    tracing::warn!(target: "maskoracle::worker", model = id, error = %e, "model preload failed; retried by the first task");
                }
            });
        }
        self.served = models;
        let stake = self.c.workers.workerInfo(self.me).call().await?;
        self.metrics.stake.set(f64::from(stake.stake));
        let balance = self.c.hub.balanceOf(self.me).call().await?;
        self.metrics.balance.set(f64::from(balance));
        for (k, _) in self.state.open_tasks()? {
            self.dirty.insert(U256::from_be_bytes(k));
        }
        self.last_reconcile = Instant::now();
        Ok(())
    }

    /// Backfills and follows the hub's logs up to the confirmed head.
    async fn ingest(&mut self) -> anyhow::Result<()> {
        let p = self.c.provider.clone();
        let head = p.get_block_number().await?;
        let confirmed = head.saturating_sub(self.cfg.worker.confirmations.saturating_sub(1));
        let mut cursor = match self.state.cursor()? {
            Some(c) => c,
            None => self.c.deployment.deploy_block.saturating_sub(1),
        };
        // Reorg check: is the cursor block still the one we processed?
        if let Some(stored) = self.state.cursor_hash()? {
            let block = p
                .get_block_by_number(BlockNumberOrTag::Number(cursor))
                .await?;
            let now = block.map(|b| b.header.hash.0);
            if now != Some(stored) {
                let back = cursor
                    .saturating_sub(REORG_REWIND)
                    .max(self.c.deployment.deploy_block.saturating_sub(1));
                tracing::warn!(target: "maskoracle::worker", cursor, rewind_to = back, "cursor block reorganised away; re-reading logs");
                cursor = back;
            }
        }
        while cursor < confirmed {
            let from = cursor + 1;
            let to = confirmed.min(cursor + self.cfg.worker.log_chunk_blocks);
            let filter = Filter::new()
                .address(self.c.deployment.task_hub)
                .from_block(from)
                .to_block(to);
            let logs = p.get_logs(&filter).await?;
            for log in logs {
                if log.removed {
                    continue;
                }
                self.on_log(&log)?;
            }
            let hash = p
                .get_block_by_number(BlockNumberOrTag::Number(to))
                .await?
                .map(|b| b.header.hash.0)
                .unwrap_or_default();
            self.state.set_cursor_with_hash(to, hash)?;
            self.metrics.cursor_block.set(to as i64);
            cursor = to;
        }
        Ok(())
    }

    fn on_log(&mut self, log: &Log) -> anyhow::Result<()> {
        let Some(topic) = log.topic0() else {
            return Ok(());
        };
        let block = log.block_number.unwrap_or_default();
        if *topic == TaskHub::TaskRequested::SIGNATURE_HASH {
            let ev = log.log_decode::<TaskHub::TaskRequested>()?.inner.data;
            let key = task_key(ev.taskId);
            let hash = request_hash_word(ev.task.requestHash).0;
            match self.state.task(&key)? {
                None => {
                    let mut rec = TaskRecord::seen(block);
                    rec.model_id = ev.modelId;
                    rec.input = ev.input.clone();
                    rec.request_hash = Some(hash);
                    rec.seen_unix_ms = Some(unix_ms());
                    self.state.put_task(&key, &rec, None)?;
                    tracing::info!(target: "maskoracle::worker", task = %ev.taskId, model = ev.modelId, input = %ev.input, request_hash = %B256::from(hash), "task requested");
                }
                Some(rec) if rec.request_hash.is_some_and(|h| h != hash) => {
                    // Read again after a reorg, and it is another request at the same id: what
                    // was computed for the old one must never be committed for this one.
                    tracing::warn!(target: "maskoracle::worker", task = %ev.taskId, model = ev.modelId, input = %ev.input, "the task's request was replaced (reorg): starting again");
                    let rec = rec.for_new_request(block, ev.modelId, ev.input.clone(), hash);
                    self.state.put_task(&key, &rec, None)?;
                }
                Some(mut rec) if rec.request_hash.is_none() => {
                    rec.request_hash = Some(hash);
                    self.state.put_task(&key, &rec, None)?;
                }
                Some(_) => {}
            }
            self.dirty.insert(ev.taskId);
        } else if *topic == TaskHub::ResultRecorded::SIGNATURE_HASH {
            let ev = log.log_decode::<TaskHub::ResultRecorded>()?.inner.data;
            let key = task_key(ev.taskId);
            if let Some(mut rec) = self.state.task(&key)? {
                rec.chain_summary = Some(ev.summary.to_vec());
                self.state.put_task(&key, &rec, None)?;
            }
            self.dirty.insert(ev.taskId);
        } else if let Some(id) = log.topics().get(1) {
            // Every other hub event is indexed by task id first: look at that task again.
            let id = U256::from_be_bytes(id.0);
            if self.state.task(&task_key(id))?.is_some() {
                self.dirty.insert(id);
            }
        }
        Ok(())
    }

    fn put(&self, id: U256, rec: &TaskRecord, canonical: Option<&[u8]>) -> anyhow::Result<()> {
        self.state.put_task(&task_key(id), rec, canonical)?;
        Ok(())
    }

    fn finish(&mut self, id: U256, mut rec: TaskRecord, outcome: &str) -> anyhow::Result<()> {
        self.seed_ready.remove(&id);
        rec.phase = TaskPhase::Done;
        rec.note = Some(outcome.to_owned());
        self.put(id, &rec, None)?;
        self.metrics.task_outcome(outcome);
        tracing::info!(target: "maskoracle::worker", task = %id, outcome, "task done");
        Ok(())
    }

    async fn drive(&mut self, id: U256) -> anyhow::Result<()> {
        let key = task_key(id);
        let Some(mut rec) = self.state.task(&key)? else {
            return Ok(());
        };
        if rec.phase == TaskPhase::Done {
            return Ok(());
        }
        // A draw in flight does not hold back the computation (or, once computed, the commit).
        if self.computing.contains(&id)
            || self
                .acting
                .iter()
                .any(|(t, k)| *t == id && *k != TxKind::Draw)
        {
            // Its outcome arrives as an event, which marks the task dirty again.
            return Ok(());
        }
        if self
            .cooldown
            .get(&id)
            .is_some_and(|until| Instant::now() < *until)
        {
            self.dirty.insert(id);
            return Ok(());
        }
        let st = self.c.hub.taskState(id).call().await?;
        let (task_status, reason) = (st.status, st.reason);
        if task_status == status::FINALIZED || task_status == status::FAILED {
            let outcome = match (task_status, rec.phase) {
                (status::FAILED, _) => "expired",
                (_, TaskPhase::RevealSent) => "revealed",
                (_, TaskPhase::CommitSent) => "lost-consensus",
                // Drawn, but commits closed (all others, or the deadline) before its commit:
                // neither paid nor slashed.
                _ if rec.drawn == Some(true) => "not-committed",
                _ => "not-drawn",
            };
            return self.finish(id, rec, outcome);
        }
        let keeper = self.role == Role::Keeper || self.cfg.worker.keeper;
        match reason {
            // SeedPending: no event will announce the seed block; look again next turn.
            1 => {
                self.dirty.insert(id);
            }
            // AwaitingCommits: the seed is available (the draw may not be stored yet).
            2 => {
                // Since v2 the draw depends only on the seed and the pool as of the block before
                // the request, so `previewDraw` is what `draw` will store; it is remembered once
                // stored (a reorg can still replace the seed or the request).
                let preview = match rec.drawn {
                    Some(_) => None,
                    None => Some(self.c.hub.previewDraw(id).call().await?),
                };
                if let Some(p) = &preview {
                    if p.stored {
                        self.seed_ready.remove(&id);
                        let d = p.workers.contains(&self.me);
                        rec.drawn = Some(d);
                        self.put(id, &rec, None)?;
                        if d && self.role == Role::Worker {
                            tracing::info!(target: "maskoracle::worker", task = %id, "drawn for this task");
                        }
                    } else if !p.workers.is_empty() {
                        self.eager_draw(id, &p.workers, keeper, &rec);
                    }
                }
                if self.role != Role::Worker {
                    return Ok(());
                }
                let drawn = rec.drawn.unwrap_or_else(|| {
                    preview
                        .as_ref()
                        .is_some_and(|p| p.workers.contains(&self.me))
                });
                if !drawn {
                    return if keeper || rec.drawn.is_none() {
                        Ok(())
                    } else {
                        self.finish(id, rec, "not-drawn")
                    };
                }
                // Commits stay open until all R drawn workers committed or the deadline: a drawn
                // worker commits even when Q others already agree (it is paid).
                match rec.phase {
                    TaskPhase::Seen if !self.computing.contains(&id) => {
                        if !self.served.contains(&rec.model_id) {
                            // Drawn for a model this worker does not serve (opted out since).
                            return self.finish(id, rec, "model-not-served");
                        }
                        // Never compute for a request other than the task's current one.
                        if self.check_request(id, &mut rec).await? {
                            self.spawn_compute(id, &rec);
                        }
                    }
                    TaskPhase::Computed => {
                        // The same check once more inside the commit's task, right before sending.
                        let current = self.check_request(id, &mut rec).await?;
                        if current {
                            self.spawn_commit(id, &rec);
                        }
                    }
                    _ => {}
                }
            }
            // AwaitingReveals
            7 if self.role == Role::Worker => {
                if !matches!(rec.phase, TaskPhase::Computed | TaskPhase::CommitSent) {
                    return Ok(());
                }
                let contributions = self.c.hub.contributions(id).call().await?;
                let mine = contributions.iter().find(|c| c.worker == self.me);
                let committed = mine.is_some_and(|c| c.state >= 2);
                let revealed = mine.is_some_and(|c| c.state == 3);
                if revealed {
                    rec.phase = TaskPhase::RevealSent;
                    return self.put(id, &rec, None);
                }
                if !committed {
                    // Commits closed (the deadline) before this worker committed: neither paid
                    // nor slashed.
                    return self.finish(id, rec, "not-committed");
                }
                let winning = self.c.hub.result(id).call().await?.resultHash;
                let digest = rec.digest.map(B256::from).unwrap_or_default();
                if result_hash(id, digest) != winning {
                    tracing::warn!(target: "maskoracle::worker", task = %id, "the consensus is another result than ours: our stake will be slashed");
                    rec.phase = TaskPhase::CommitSent;
                    rec.note = Some("lost consensus".into());
                    return self.put(id, &rec, None);
                }
                self.spawn_reveal(id, &rec);
            }
            // NotEnoughWorkers, SeedExpired, NoQuorumPossible, CommitDeadlinePassed
            3..=6 if keeper => {
                if reason == 3 {
                    let t = self.c.hub.task(id).call().await?;
                    let now = crate::chain::latest_timestamp(&self.c.provider).await?;
                    if now <= t.commitDeadline.to::<u64>() {
                        return Ok(());
                    }
                }
                self.spawn_keeper(id, TxKind::Expire, &rec);
            }
            // RevealDeadlinePassed
            8 if keeper => {
                let t = self.c.hub.task(id).call().await?;
                let kind = if t.reveals > 0 {
                    TxKind::Finalize
                } else {
                    TxKind::Expire
                };
                self.spawn_keeper(id, kind, &rec);
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether `rec` belongs to the task's current request (reorg safety): reads the task from
    /// the chain and compares its `requestHash` (which covers the whole request calldata: model,
    /// input, params) and model with the record's. When they differ, the record starts again from
    /// the current request's `TaskRequested` log, and `false` is returned (the task is driven
    /// again next turn).
    async fn check_request(&mut self, id: U256, rec: &mut TaskRecord) -> anyhow::Result<bool> {
        let t = self.c.hub.task(id).call().await?;
        let onchain = request_hash_word(t.requestHash).0;
        if rec.request_hash == Some(onchain) && rec.model_id == t.modelId {
            return Ok(true);
        }
        self.dirty.insert(id);
        match self.find_request(id, onchain, rec.request_block).await? {
            Some((block, model_id, input)) => {
                if rec.request_hash.is_some() {
                    tracing::warn!(target: "maskoracle::worker", task = %id, model = model_id, %input, "the task's request is not the one this record was made for (reorg): starting again from the current request");
                    *rec = rec.for_new_request(block, model_id, input, onchain);
                } else {
                    // A record from before v2: it learns its request hash.
                    rec.request_hash = Some(onchain);
                }
                self.put(id, rec, None)?;
            }
            None => {
                tracing::info!(target: "maskoracle::worker", task = %id, "the task's current request is not in the logs yet; waiting");
            }
        }
        Ok(false)
    }

    /// The `TaskRequested` log of task `id` whose request hash is `hash`: (block, model, input).
    async fn find_request(
        &self,
        id: U256,
        hash: [u8; 32],
        near_block: u64,
    ) -> anyhow::Result<Option<(u64, u32, String)>> {
        let p = &self.c.provider;
        let head = p.get_block_number().await?;
        let mut from = near_block
            .saturating_sub(REORG_REWIND)
            .max(self.c.deployment.deploy_block);
        let mut found = None;
        while from <= head {
            let to = head.min(from + self.cfg.worker.log_chunk_blocks.max(1) - 1);
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

    /// Draws the task's workers as soon as its seed is available, instead of leaving it to the
    /// first commit: the first worker of the (deterministic) draw sends `draw` at once; anyone
    /// else (another drawn worker, a keeper) only when it is still not stored
    /// [`DRAW_BACKUP_AFTER`] later, so a task normally costs one draw transaction. A worker whose
    /// signer is busy (another transaction of this process in flight) does not add a draw to its
    /// queue: the first commit draws anyway, and under load the extra transaction only delayed
    /// commits and reveals (load run: p50 request → callback 5.1 s against 1.2 s idle).
    fn eager_draw(&mut self, id: U256, workers: &[Address], keeper: bool, rec: &TaskRecord) {
        let since = *self.seed_ready.entry(id).or_insert_with(Instant::now);
        // Driven every turn until the draw is stored.
        self.dirty.insert(id);
        let slot = workers.iter().position(|w| *w == self.me);
        let idle = self.role == Role::Keeper || self.acting.is_empty();
        let due = idle
            && match slot {
                Some(0) => self.role == Role::Worker,
                Some(_) => since.elapsed() >= DRAW_BACKUP_AFTER,
                None => keeper && since.elapsed() >= DRAW_BACKUP_AFTER,
            };
        if !due || self.stopping || rec.phase == TaskPhase::Done {
            return;
        }
        if self.cooldown.get(&id).is_some_and(|u| Instant::now() < *u) {
            return;
        }
        let input = TaskHub::drawCall { taskId: id }.abi_encode();
        self.spawn_tx(
            id,
            TxKind::Draw,
            format!("draw #{id}"),
            self.c.deployment.task_hub,
            input,
            None,
        );
    }

    fn spawn_compute(&mut self, id: U256, rec: &TaskRecord) {
        self.computing.insert(id);
        let job = ComputeJob {
            request_hash: rec.request_hash,
            model_id: rec.model_id,
            input: rec.input.clone(),
            models: self.models.clone(),
            storage: self.storage.clone(),
            http: self.http.clone(),
            slots: self.compute_slots.clone(),
            faulty: self.cfg.worker.faulty,
            attempts: crate::storage::FETCH_POLICY.attempts,
            fetch_timeout: crate::storage::FETCH_POLICY.attempt_timeout(),
        };
        let events = self.events.0.clone();
        tokio::spawn(async move {
            let r = job.run(id).await;
            let _ = events.send(Event::Computed(id, r)).await;
        });
    }

    /// Sends a transaction for task `id` in the background. With `guard` (the request hash and
    /// model the transaction was made for), the task is read from the chain first and nothing is
    /// sent when its request is another one: the outcome is then a `TaskHubRequestHashMismatch`
    /// refusal, as the hub would answer.
    fn spawn_tx(
        &mut self,
        id: U256,
        kind: TxKind,
        label: String,
        to: Address,
        input: Vec<u8>,
        guard: Option<(B256, u32)>,
    ) {
        if !self.acting.insert((id, kind)) {
            return;
        }
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
            let send = tx.send_notify(label, to, input, Some(sent_tx));
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

    fn spawn_commit(&mut self, id: U256, rec: &TaskRecord) {
        let (Some(digest), Some(request_hash)) =
            (rec.digest.map(B256::from), rec.request_hash.map(B256::from))
        else {
            return;
        };
        let call = TaskHub::commitCall {
            taskId: id,
            requestHash: request_hash,
            resultHash: result_hash(id, digest),
            resultSeal: result_seal(self.me, id, digest),
        };
        // Checked against the chain once more right before sending (reorg safety).
        self.spawn_tx(
            id,
            TxKind::Commit,
            format!("commit #{id}"),
            self.c.deployment.task_hub,
            call.abi_encode(),
            Some((request_hash, rec.model_id)),
        );
    }

    fn spawn_reveal(&mut self, id: U256, rec: &TaskRecord) {
        let (Some(sha), Some(summary)) = (rec.result_sha256, rec.summary.clone()) else {
            return;
        };
        let call = TaskHub::revealCall {
            taskId: id,
            resultSha256: B256::from(sha),
            summary: summary.into(),
        };
        self.spawn_tx(
            id,
            TxKind::Reveal,
            format!("reveal #{id}"),
            self.c.deployment.task_hub,
            call.abi_encode(),
            None,
        );
    }

    fn spawn_keeper(&mut self, id: U256, kind: TxKind, rec: &TaskRecord) {
        let input = match kind {
            TxKind::Finalize => TaskHub::finalizeCall {
                taskId: id,
                summary: rec.chain_summary.clone().unwrap_or_default().into(),
            }
            .abi_encode(),
            _ => TaskHub::expireCall { taskId: id }.abi_encode(),
        };
        let label = format!(
            "{} #{id}",
            if kind == TxKind::Finalize {
                "finalize"
            } else {
                "expire"
            }
        );
        self.spawn_tx(id, kind, label, self.c.deployment.task_hub, input, None);
    }

    fn on_event(&mut self, ev: Event) -> anyhow::Result<()> {
        match ev {
            Event::Computed(id, result) => {
                self.computing.remove(&id);
                let key = task_key(id);
                let Some(mut rec) = self.state.task(&key)? else {
                    return Ok(());
                };
                match result {
                    Ok(c) if c.request_hash != rec.request_hash => {
                        // The record moved to another request while this ran (reorg): the
                        // result answers the old one and is dropped.
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
                        rec.inference_ms = Some(c.inference_ms);
                        rec.note = Some(format!("status {}", c.status.name()));
                        // Durable before the commit is sent (see the module docs).
                        self.put(id, &rec, Some(&c.canonical))?;
                        tracing::info!(target: "maskoracle::worker", task = %id, status = c.status.name(), result_sha256 = %c.result_sha256, inference_ms = c.inference_ms, "computed");
                        if !self.stopping {
                            self.spawn_commit(id, &rec);
                        }
                        // Publish the canonical result (one raw block: its CID follows from its
                        // sha256) and the overlay, after the commit is on its way. Consensus
                        // does not depend on them: a failure is logged, not fatal.
                        let storage = self.storage.clone();
                        let (canonical, overlay) = (c.canonical, c.overlay_png);
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
                    Err(e) => {
                        // The model could not be fetched or loaded: retry at the next reconcile.
                        tracing::warn!(target: "maskoracle::worker", task = %id, error = %format!("{e:#}"), "cannot compute; will retry");
                    }
                }
            }
            Event::Tx {
                id,
                kind,
                sent_unix_ms,
                result,
            } => {
                self.acting.remove(&(id, kind));
                let key = task_key(id);
                let Some(mut rec) = self.state.task(&key)? else {
                    return Ok(());
                };
                match (result.as_ref(), kind) {
                    (Ok(m), TxKind::Commit) => {
                        rec.phase = rec.phase.max(TaskPhase::CommitSent);
                        rec.commit_tx = Some(m.hash.0);
                        rec.commit_sent_unix_ms = sent_unix_ms.or(rec.commit_sent_unix_ms);
                        tracing::info!(target: "maskoracle::worker", task = %id, tx = %m.hash, gas = m.gas_used, "committed");
                    }
                    (Ok(m), TxKind::Reveal) => {
                        rec.phase = TaskPhase::RevealSent;
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
                        let name = e.revert_reason().map(crate::chain::revert_name);
                        let mut pause = Some(Duration::from_millis(1500));
                        match (kind, e.hub_error(), e.registry_error()) {
                            (TxKind::Commit, Some(H::TaskHubAlreadyCommitted(_)), _) => {
                                rec.phase = rec.phase.max(TaskPhase::CommitSent);
                            }
                            (TxKind::Reveal, Some(H::TaskHubNotCommitted(_)), _) => {
                                rec.phase = TaskPhase::RevealSent;
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
                            (
                                TxKind::Commit,
                                _,
                                Some(W::WorkerRegistryInsufficientFreeStake(s)),
                            ) => {
                                // Stake locked by other tasks: skipped, tried again while commits
                                // are open (another task's settlement may free it).
                                tracing::warn!(target: "maskoracle::worker", task = %id, free = %s.free, needed = %s.needed, "not enough free stake to commit: skipped for now");
                                pause = Some(NO_FREE_STAKE_RETRY);
                            }
                            (
                                TxKind::Draw,
                                Some(H::TaskHubAlreadyDrawn(_) | H::TaskHubSeedPending(_)),
                                _,
                            ) => {
                                // Someone else drew first, or the pending block is behind.
                                tracing::debug!(target: "maskoracle::worker", task = %id, error = ?name, "draw not needed");
                                pause = None;
                            }
                            (_, Some(_), _) | (_, _, Some(_)) => {
                                tracing::info!(target: "maskoracle::worker", task = %id, action = ?kind, error = ?name, "transaction not needed or too late");
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
                        }
                    }
                }
                self.put(id, &rec, None)?;
                self.dirty.insert(id);
            }
        }
        Ok(())
    }
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
    attempts: u32,
    fetch_timeout: Duration,
}

impl ComputeJob {
    async fn run(self, id: U256) -> anyhow::Result<Computed> {
        let segmenter: Arc<Segmenter> = self.models.get(self.model_id).await?;
        let mut fetched = None;
        for attempt in 1..=self.attempts {
            match fetch_input(
                &self.input,
                self.storage.as_ref(),
                &self.http,
                self.fetch_timeout,
            )
            .await
            {
                Ok(b) => {
                    fetched = Some(Ok(b));
                    break;
                }
                Err(e) => {
                    tracing::warn!(target: "maskoracle::worker", task = %id, attempt, error = %e, "input fetch failed");
                    // A refusal by policy (size, type, address) will not change on retry.
                    let final_ = !matches!(
                        e,
                        crate::storage::FetchError::Timeout(_)
                            | crate::storage::FetchError::Transport(_)
                            | crate::storage::FetchError::Ipfs(_)
                    );
                    fetched = Some(Err(e));
                    if final_ {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
                }
            }
        }
        let fetched = fetched.context("no fetch attempt")?;
        let permit = self.slots.clone().acquire_owned().await?;
        let seg = segmenter.clone();
        let (result, inference_ms, overlay_png) = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            match fetched {
                Ok(bytes) => {
                    let started = Instant::now();
                    let s = seg.segment(&bytes);
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
        .await?;
        let att = maskoracle_inference::Attestation::of(&result);
        let mut canonical = result.encode();
        let (mut sha, mut digest) = (att.result_sha256, att.digest);
        if self.faulty {
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
            inference_ms,
            status: result.status,
            overlay_png,
        })
    }
}

/// Opens the node and runs it until SIGINT/SIGTERM.
pub async fn run(cfg: Config, role: Role) -> anyhow::Result<()> {
    let metrics = Metrics::new();
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
    let worker = Worker::open(cfg, role, metrics).await?;
    let r = worker.run(crate::shutdown::signal()).await;
    let _ = stop_tx.send(true);
    r
}

/// Keys of the tasks by phase, for `worker status`.
pub fn summarize(records: &[([u8; 32], TaskRecord)]) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for (_, r) in records {
        let name = match r.phase {
            TaskPhase::Done => r.note.clone().unwrap_or_else(|| "done".into()),
            p => format!("{p:?}").to_lowercase(),
        };
        *out.entry(name).or_insert(0) += 1;
    }
    out
}
