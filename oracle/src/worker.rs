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

use crate::bindings::{status, TaskHub};
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

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// A finished computation.
struct Computed {
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
            if self.state.task(&key)?.is_none() {
                let mut rec = TaskRecord::seen(block);
                rec.model_id = ev.modelId;
                rec.input = ev.input.clone();
                rec.seen_unix_ms = Some(unix_ms());
                self.state.put_task(&key, &rec, None)?;
                tracing::info!(target: "maskoracle::worker", task = %ev.taskId, model = ev.modelId, input = %ev.input, "task requested");
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
        if self.computing.contains(&id) || self.acting.iter().any(|(t, _)| *t == id) {
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
                _ if rec.drawn == Some(true) => "late",
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
            // AwaitingCommits
            2 if self.role == Role::Worker => {
                // Until the draw is stored (by the first commit), `previewDraw` only predicts
                // it: free stakes change as other tasks lock and release, so the prediction is
                // acted on but not remembered; the `WorkersDrawn` event brings the task back.
                let drawn = match rec.drawn {
                    Some(d) => d,
                    None => {
                        let preview = self.c.hub.previewDraw(id).call().await?;
                        let d = preview.workers.contains(&self.me);
                        if preview.stored {
                            rec.drawn = Some(d);
                            self.put(id, &rec, None)?;
                            if d {
                                tracing::info!(target: "maskoracle::worker", task = %id, "drawn for this task");
                            }
                        }
                        d
                    }
                };
                if !drawn {
                    return if keeper || rec.drawn.is_none() {
                        Ok(())
                    } else {
                        self.finish(id, rec, "not-drawn")
                    };
                }
                match rec.phase {
                    TaskPhase::Seen if !self.computing.contains(&id) => {
                        if !self.served.contains(&rec.model_id) {
                            // Drawn for a model this worker does not serve (opted out since).
                            return self.finish(id, rec, "model-not-served");
                        }
                        self.spawn_compute(id, &rec);
                    }
                    TaskPhase::Computed => self.spawn_commit(id, &rec),
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
                    // Consensus was reached before this worker's commit: not slashed, not paid.
                    return self.finish(id, rec, "late");
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

    fn spawn_compute(&mut self, id: U256, rec: &TaskRecord) {
        self.computing.insert(id);
        let job = ComputeJob {
            model_id: rec.model_id,
            input: rec.input.clone(),
            models: self.models.clone(),
            storage: self.storage.clone(),
            http: self.http.clone(),
            slots: self.compute_slots.clone(),
            faulty: self.cfg.worker.faulty,
            attempts: self.cfg.worker.fetch_attempts.max(1),
            fetch_timeout: Duration::from_secs(self.cfg.http.timeout_s),
        };
        let events = self.events.0.clone();
        tokio::spawn(async move {
            let r = job.run(id).await;
            let _ = events.send(Event::Computed(id, r)).await;
        });
    }

    fn spawn_tx(&mut self, id: U256, kind: TxKind, label: String, to: Address, input: Vec<u8>) {
        if !self.acting.insert((id, kind)) {
            return;
        }
        let tx = self.tx.clone();
        let events = self.events.0.clone();
        tokio::spawn(async move {
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
        let Some(digest) = rec.digest.map(B256::from) else {
            return;
        };
        let call = TaskHub::commitCall {
            taskId: id,
            resultHash: result_hash(id, digest),
            resultSeal: result_seal(self.me, id, digest),
        };
        self.spawn_tx(
            id,
            TxKind::Commit,
            format!("commit #{id}"),
            self.c.deployment.task_hub,
            call.abi_encode(),
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
        self.spawn_tx(id, kind, label, self.c.deployment.task_hub, input);
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
                    (Ok(m), _) => {
                        tracing::info!(target: "maskoracle::worker", task = %id, action = ?kind, tx = %m.hash, gas = m.gas_used, "keeper transaction mined");
                    }
                    (Err(e), _) => {
                        let reason = e
                            .revert_reason()
                            .map(|r| crate::chain::revert_name(r).to_owned());
                        match (kind, reason.as_deref()) {
                            (TxKind::Commit, Some("TaskHubAlreadyCommitted")) => {
                                rec.phase = rec.phase.max(TaskPhase::CommitSent);
                            }
                            (TxKind::Reveal, Some("TaskHubNotCommitted")) => {
                                rec.phase = TaskPhase::RevealSent;
                            }
                            (TxKind::Commit, Some("TaskHubNotDrawn")) => {
                                // The draw stored differs from the prediction: look again.
                                rec.drawn = None;
                            }
                            (_, Some(name)) => {
                                tracing::info!(target: "maskoracle::worker", task = %id, action = ?kind, error = name, "transaction not needed or too late");
                            }
                            _ => {
                                tracing::warn!(target: "maskoracle::worker", task = %id, action = ?kind, error = %e, "transaction failed; will retry");
                            }
                        }
                        rec.note = Some(e.to_string());
                        self.cooldown
                            .insert(id, Instant::now() + Duration::from_millis(1500));
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
