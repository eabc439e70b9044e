//! Prometheus metrics, the health endpoint and the status endpoint of a worker.
//!
//! - `GET /metrics`: the OpenMetrics text format (every metric under the `maskoracle_` prefix).
//! - `GET /health`: a JSON report of two components, `sync` (seconds since the event loop last
//!   made progress, lag of the processed cursor behind the head) and `signer` (age of the oldest
//!   queued transaction, gas balance of the signing account); 200 when every check passes, 503
//!   otherwise (so an orchestrator restarts a worker whose RPC died silently, and an alert fires
//!   before the key runs out of gas). A figure the daemon has not reported yet is `null` and
//!   does not fail its check.
//! - `GET /status`: the daemon's [`StatusSnapshot`] with the live figures and the health report,
//!   read by `maskoracle worker status` while the daemon holds the state file.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};

use crate::config::WorkerConfig;

/// Label of the tasks counter: how a task ended for this worker.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `revealed`, `lost-consensus`, `expired`, `not-drawn`, `error`...
    pub outcome: String,
}

/// Label of the transactions counter: what happened to the signer's transactions.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TxEventLabel {
    /// `sent`, `replaced` (re-sent with higher fees), `mined`, `reverted`, `expired` (given up).
    pub event: &'static str,
}

/// Label of the open-tasks gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabel {
    /// A [`crate::state::TaskPhase`] in kebab case (`seen`, `computed`, `commit-sent`...).
    pub phase: String,
}

/// Cumulative and current figures of the signer task, as plain numbers (the signer keeps them
/// in atomics; the daemon copies them here with [`Metrics::set_signer`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignerFigures {
    /// Transactions handed to the RPC (first copies).
    pub sent: u64,
    /// Copies re-sent with raised fees.
    pub replaced: u64,
    /// Transactions mined successfully.
    pub mined: u64,
    /// Transactions mined but reverted.
    pub reverted: u64,
    /// Transactions given up (fee raises exhausted, or RPC errors).
    pub expired: u64,
    /// Gas used by mined transactions (successful or reverted).
    pub gas_used: u64,
    /// Fees paid for mined transactions, in wei.
    pub fees_paid_wei: u128,
    /// Jobs waiting in the signer's queue.
    pub queue_len: u64,
    /// Transactions sent and not yet mined.
    pub in_flight: u64,
    /// Seconds the oldest queued or in-flight job has waited (0 when none).
    pub oldest_job_age_s: u64,
}

/// What the daemon reports about itself for `/status` (set with [`Metrics::set_status`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusSnapshot {
    /// The worker's address.
    pub address: Option<String>,
    /// `worker` or `keeper`.
    pub role: Option<String>,
    /// Whether the daemon is draining (takes no new task).
    pub drain: bool,
    /// Local task records by phase (`seen`, `computed`, `commit-sent`, `reveal-sent`, `done`).
    pub tasks_by_phase: BTreeMap<String, u64>,
    /// Models the worker serves on chain.
    pub served_models: Vec<u32>,
    /// Bonded stake, wei (decimal string).
    pub stake_wei: Option<String>,
    /// Free balance in the hub, wei (decimal string).
    pub hub_balance_wei: Option<String>,
    /// Unix seconds of the nearest reveal deadline among tasks committed to and not revealed.
    pub next_reveal_deadline_unix: Option<u64>,
    /// The task with that deadline (decimal id).
    pub next_reveal_task: Option<String>,
}

/// What `/status` answers: the daemon's snapshot, the live figures and the health report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonStatus {
    /// The snapshot the daemon set last (default until the first one).
    pub snapshot: StatusSnapshot,
    /// Unix seconds of that snapshot (0: never set).
    pub snapshot_unix: u64,
    /// Last block whose logs were processed.
    pub cursor_block: Option<u64>,
    /// Chain head seen last.
    pub head_block: Option<u64>,
    /// The signer's figures.
    pub signer: SignerFigures,
    /// Gas balance of the signing account, wei (decimal string).
    pub gas_balance_wei: Option<String>,
    /// Seconds to the nearest pending reveal deadline (negative: passed).
    pub seconds_to_reveal_deadline: Option<i64>,
    /// The health report (same as `/health`).
    pub health: HealthReport,
}

/// Limits `/health` checks against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthLimits {
    /// Longest time without progress of the event loop.
    pub stale_after: Duration,
    /// Largest lag of the processed cursor behind the head, in blocks.
    pub max_head_lag_blocks: u64,
    /// Smallest gas balance of the signing account, in wei.
    pub min_gas_balance_wei: u128,
    /// Longest wait of the signer's oldest job.
    pub max_signer_job_age: Duration,
}

impl Default for HealthLimits {
    fn default() -> Self {
        Self::from_config(&WorkerConfig::default(), Duration::from_secs(60))
    }
}

impl HealthLimits {
    /// The limits of a worker configuration (`worker.max_head_lag_blocks`,
    /// `worker.min_gas_balance_wei`, `worker.max_signer_job_age_s`) and a staleness limit.
    pub fn from_config(w: &WorkerConfig, stale_after: Duration) -> Self {
        Self {
            stale_after,
            max_head_lag_blocks: w.max_head_lag_blocks,
            min_gas_balance_wei: u128::from(w.min_gas_balance_wei),
            max_signer_job_age: Duration::from_secs(w.max_signer_job_age_s),
        }
    }
}

/// The figures `/health` judges (see [`evaluate_health`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealthInputs {
    /// Seconds since the event loop last made progress.
    pub seconds_since_progress: u64,
    /// Processed cursor, if any.
    pub cursor_block: Option<u64>,
    /// Chain head, if reported.
    pub head_block: Option<u64>,
    /// Gas balance, if reported.
    pub gas_balance_wei: Option<u128>,
    /// Age of the signer's oldest job, if reported.
    pub oldest_job_age_s: Option<u64>,
}

/// The `sync` component of `/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncHealth {
    /// Every check passed.
    pub healthy: bool,
    /// Seconds since the event loop last made progress.
    pub seconds_since_progress: u64,
    /// Its limit.
    pub stale_after_s: u64,
    /// Processed cursor.
    pub cursor_block: Option<u64>,
    /// Head minus cursor (`null` until both are known).
    pub head_lag_blocks: Option<u64>,
    /// Its limit.
    pub max_head_lag_blocks: u64,
}

/// The `signer` component of `/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignerHealth {
    /// Every check passed.
    pub healthy: bool,
    /// Age of the oldest queued job (`null` until reported).
    pub oldest_job_age_s: Option<u64>,
    /// Its limit.
    pub max_job_age_s: u64,
    /// Gas balance of the signing account, wei (`null` until reported).
    pub gas_balance_wei: Option<String>,
    /// Its minimum, wei.
    pub min_gas_balance_wei: String,
}

/// The body of `/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReport {
    /// Both components healthy.
    pub healthy: bool,
    /// Event loop and chain sync.
    pub sync: SyncHealth,
    /// Signer queue and gas.
    pub signer: SignerHealth,
}

/// Judges `inputs` against `limits`. A figure not yet reported passes its check.
pub fn evaluate_health(inputs: &HealthInputs, limits: &HealthLimits) -> HealthReport {
    let head_lag = match (inputs.head_block, inputs.cursor_block) {
        (Some(h), Some(c)) => Some(h.saturating_sub(c)),
        _ => None,
    };
    let sync_ok = inputs.seconds_since_progress <= limits.stale_after.as_secs()
        && head_lag.is_none_or(|l| l <= limits.max_head_lag_blocks);
    let age_ok = inputs
        .oldest_job_age_s
        .is_none_or(|a| a <= limits.max_signer_job_age.as_secs());
    let gas_ok = inputs
        .gas_balance_wei
        .is_none_or(|g| g >= limits.min_gas_balance_wei);
    let sync = SyncHealth {
        healthy: sync_ok,
        seconds_since_progress: inputs.seconds_since_progress,
        stale_after_s: limits.stale_after.as_secs(),
        cursor_block: inputs.cursor_block,
        head_lag_blocks: head_lag,
        max_head_lag_blocks: limits.max_head_lag_blocks,
    };
    let signer = SignerHealth {
        healthy: age_ok && gas_ok,
        oldest_job_age_s: inputs.oldest_job_age_s,
        max_job_age_s: limits.max_signer_job_age.as_secs(),
        gas_balance_wei: inputs.gas_balance_wei.map(|g| g.to_string()),
        min_gas_balance_wei: limits.min_gas_balance_wei.to_string(),
    };
    HealthReport {
        healthy: sync.healthy && signer.healthy,
        sync,
        signer,
    }
}

/// Every metric the worker exports, and the state behind `/health` and `/status`. Cheap to
/// clone (shared handles).
#[derive(Clone)]
pub struct Metrics {
    /// Tasks by outcome.
    pub tasks: Family<OutcomeLabel, Counter>,
    /// Seconds spent in model inference per task.
    pub inference_seconds: Histogram,
    /// Worker stake (token base units, as f64).
    pub stake: Gauge<f64, AtomicU64>,
    /// Worker free balance in the hub (token base units, as f64).
    pub balance: Gauge<f64, AtomicU64>,
    /// Last block whose logs were processed.
    pub cursor_block: Gauge,
    /// Chain head seen last.
    pub head_block: Gauge,
    /// Head minus processed cursor, in blocks.
    pub head_lag_blocks: Gauge,
    /// Gas balance of the signing account, wei (as f64).
    pub gas_balance_wei: Gauge<f64, AtomicU64>,
    /// Signer transactions by event.
    pub txs: Family<TxEventLabel, Counter>,
    /// Gas used by mined transactions.
    pub gas_used: Counter,
    /// Fees paid, wei (as f64).
    pub fees_paid_wei: Counter<f64, AtomicU64>,
    /// Jobs waiting in the signer queue.
    pub signer_queue: Gauge,
    /// Transactions sent and not yet mined.
    pub signer_in_flight: Gauge,
    /// Age of the signer's oldest job, seconds.
    pub signer_oldest_job_seconds: Gauge,
    /// Failed RPC calls.
    pub rpc_errors: Counter,
    /// Seconds to the nearest pending reveal deadline (computed at each scrape; -1 when no
    /// reveal is pending).
    pub reveal_deadline_seconds: Gauge,
    /// Times this worker was slashed.
    pub slashes: Counter,
    /// Stake lost to slashes, wei (as f64).
    pub slashed_wei: Counter<f64, AtomicU64>,
    /// Local task records by phase.
    pub open_tasks: Family<PhaseLabel, Gauge>,
    /// 1 while the daemon drains.
    pub draining: Gauge,
    registry: Arc<Registry>,
    progress: Arc<AtomicU64>,
    shared: Arc<RwLock<Shared>>,
}

#[derive(Default)]
struct Shared {
    limits: HealthLimits,
    snapshot: StatusSnapshot,
    snapshot_unix: u64,
    head: Option<u64>,
    cursor: Option<u64>,
    gas_balance: Option<u128>,
    signer: Option<SignerFigures>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric under the `maskoracle` prefix, with default health
    /// limits (see [`Metrics::with_limits`]).
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("maskoracle");
        let tasks = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "tasks",
            "Tasks handled by this worker, by outcome",
            tasks.clone(),
        );
        let inference_seconds = Histogram::new(exponential_buckets(0.01, 2.0, 14));
        registry.register(
            "inference_seconds",
            "Model inference time per task",
            inference_seconds.clone(),
        );
        let stake = Gauge::<f64, AtomicU64>::default();
        registry.register("stake", "Worker stake in token base units", stake.clone());
        let balance = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "balance",
            "Worker free balance in the hub, token base units",
            balance.clone(),
        );
        let cursor_block = Gauge::default();
        registry.register(
            "cursor_block",
            "Last block whose logs were processed",
            cursor_block.clone(),
        );
        let head_block = Gauge::default();
        registry.register("head_block", "Chain head seen last", head_block.clone());
        let head_lag_blocks = Gauge::default();
        registry.register(
            "head_lag_blocks",
            "Blocks between the chain head and the processed cursor",
            head_lag_blocks.clone(),
        );
        let gas_balance_wei = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "gas_balance_wei",
            "Native balance of the signing account, wei",
            gas_balance_wei.clone(),
        );
        let txs = Family::<TxEventLabel, Counter>::default();
        registry.register(
            "txs",
            "Signer transactions by event: sent, replaced, mined, reverted, expired",
            txs.clone(),
        );
        let gas_used = Counter::default();
        registry.register(
            "gas_used",
            "Gas used by the signer's mined transactions",
            gas_used.clone(),
        );
        let fees_paid_wei = Counter::<f64, AtomicU64>::default();
        registry.register(
            "fees_paid_wei",
            "Fees paid for the signer's mined transactions, wei",
            fees_paid_wei.clone(),
        );
        let signer_queue = Gauge::default();
        registry.register(
            "signer_queue",
            "Jobs waiting in the signer queue",
            signer_queue.clone(),
        );
        let signer_in_flight = Gauge::default();
        registry.register(
            "signer_in_flight",
            "Transactions sent and not yet mined",
            signer_in_flight.clone(),
        );
        let signer_oldest_job_seconds = Gauge::default();
        registry.register(
            "signer_oldest_job_seconds",
            "Age of the signer's oldest queued or in-flight job",
            signer_oldest_job_seconds.clone(),
        );
        let rpc_errors = Counter::default();
        registry.register("rpc_errors", "Failed RPC calls", rpc_errors.clone());
        let reveal_deadline_seconds = Gauge::default();
        registry.register(
            "reveal_deadline_seconds",
            "Seconds to the nearest pending reveal deadline, -1 when none is pending",
            reveal_deadline_seconds.clone(),
        );
        let slashes = Counter::default();
        registry.register("slashes", "Times this worker was slashed", slashes.clone());
        let slashed_wei = Counter::<f64, AtomicU64>::default();
        registry.register(
            "slashed_wei",
            "Stake this worker lost to slashes, wei",
            slashed_wei.clone(),
        );
        let open_tasks = Family::<PhaseLabel, Gauge>::default();
        registry.register(
            "task_records",
            "Local task records by phase",
            open_tasks.clone(),
        );
        let draining = Gauge::default();
        registry.register(
            "draining",
            "1 while the daemon takes no new task",
            draining.clone(),
        );
        reveal_deadline_seconds.set(-1);
        let metrics = Self {
            tasks,
            inference_seconds,
            stake,
            balance,
            cursor_block,
            head_block,
            head_lag_blocks,
            gas_balance_wei,
            txs,
            gas_used,
            fees_paid_wei,
            signer_queue,
            signer_in_flight,
            signer_oldest_job_seconds,
            rpc_errors,
            reveal_deadline_seconds,
            slashes,
            slashed_wei,
            open_tasks,
            draining,
            registry: Arc::new(registry),
            progress: Arc::new(AtomicU64::new(0)),
            shared: Arc::new(RwLock::new(Shared::default())),
        };
        metrics.mark_progress();
        metrics
    }

    /// [`Metrics::new`] with the health limits of the configuration.
    pub fn with_limits(limits: HealthLimits) -> Self {
        let m = Self::new();
        m.write().limits = limits;
        m
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Shared> {
        // A panic while holding the lock leaves plain data behind: keep serving it.
        self.shared.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Shared> {
        self.shared.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one task ending with `outcome`.
    pub fn task_outcome(&self, outcome: &str) {
        self.tasks
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Records that the event loop made progress now (feeds `/health`).
    pub fn mark_progress(&self) {
        self.progress.store(unix_now(), Ordering::Relaxed);
    }

    /// Records the chain head and the processed cursor (head lag for metrics and `/health`).
    pub fn set_sync(&self, head: u64, cursor: u64) {
        self.head_block.set(gauge_i64(head));
        self.cursor_block.set(gauge_i64(cursor));
        self.head_lag_blocks
            .set(gauge_i64(head.saturating_sub(cursor)));
        let mut s = self.write();
        s.head = Some(head);
        s.cursor = Some(cursor);
    }

    /// Records the native (gas) balance of the signing account.
    pub fn set_gas_balance(&self, wei: u128) {
        self.gas_balance_wei.set(wei as f64);
        self.write().gas_balance = Some(wei);
    }

    /// Copies the signer's figures: cumulative totals become counter increments (a total lower
    /// than the one already counted is ignored), the rest are gauges.
    pub fn set_signer(&self, f: SignerFigures) {
        for (event, total) in [
            ("sent", f.sent),
            ("replaced", f.replaced),
            ("mined", f.mined),
            ("reverted", f.reverted),
            ("expired", f.expired),
        ] {
            let c = self.txs.get_or_create(&TxEventLabel { event });
            c.inc_by(total.saturating_sub(c.get()));
        }
        self.gas_used
            .inc_by(f.gas_used.saturating_sub(self.gas_used.get()));
        let fees = f.fees_paid_wei as f64;
        let counted = self.fees_paid_wei.get();
        if fees > counted {
            self.fees_paid_wei.inc_by(fees - counted);
        }
        self.signer_queue.set(gauge_i64(f.queue_len));
        self.signer_in_flight.set(gauge_i64(f.in_flight));
        self.signer_oldest_job_seconds
            .set(gauge_i64(f.oldest_job_age_s));
        self.write().signer = Some(f);
    }

    /// Counts one failed RPC call.
    pub fn rpc_error(&self) {
        self.rpc_errors.inc();
    }

    /// Counts one slash of `wei` of this worker's stake.
    pub fn slashed(&self, wei: u128) {
        self.slashes.inc();
        self.slashed_wei.inc_by(wei as f64);
    }

    /// Replaces the daemon's status snapshot (`/status`), and the gauges derived from it
    /// (records by phase, draining, the reveal deadline).
    pub fn set_status(&self, snapshot: StatusSnapshot) {
        self.open_tasks.clear();
        for (phase, n) in &snapshot.tasks_by_phase {
            self.open_tasks
                .get_or_create(&PhaseLabel {
                    phase: phase.clone(),
                })
                .set(gauge_i64(*n));
        }
        self.draining.set(i64::from(snapshot.drain));
        let mut s = self.write();
        s.snapshot = snapshot;
        s.snapshot_unix = unix_now();
    }

    /// The metrics in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let deadline = self.read().snapshot.next_reveal_deadline_unix;
        self.reveal_deadline_seconds
            .set(deadline.map_or(-1, |d| seconds_to(d).max(0)));
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    /// Seconds since the event loop last made progress.
    pub fn seconds_since_progress(&self) -> u64 {
        unix_now().saturating_sub(self.progress.load(Ordering::Relaxed))
    }

    /// The health report with the current figures and limits.
    pub fn health(&self) -> HealthReport {
        let s = self.read();
        let inputs = HealthInputs {
            seconds_since_progress: self.seconds_since_progress(),
            cursor_block: s.cursor.or_else(|| {
                let c = self.cursor_block.get();
                (c > 0).then_some(c as u64)
            }),
            head_block: s.head,
            gas_balance_wei: s.gas_balance,
            oldest_job_age_s: s.signer.map(|f| f.oldest_job_age_s),
        };
        evaluate_health(&inputs, &s.limits)
    }

    /// What `/status` answers.
    pub fn status(&self) -> DaemonStatus {
        let health = self.health();
        let s = self.read();
        DaemonStatus {
            snapshot: s.snapshot.clone(),
            snapshot_unix: s.snapshot_unix,
            cursor_block: health.sync.cursor_block,
            head_block: s.head,
            signer: s.signer.unwrap_or_default(),
            gas_balance_wei: s.gas_balance.map(|g| g.to_string()),
            seconds_to_reveal_deadline: s.snapshot.next_reveal_deadline_unix.map(seconds_to),
            health,
        }
    }

    /// Serves `/metrics`, `/health` and `/status` on `addr` until `shutdown` resolves; `/health`
    /// reports sync unhealthy after `stale_after` without progress.
    pub async fn serve(
        self,
        addr: SocketAddr,
        stale_after: Duration,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        tracing::info!(target: "maskoracle::metrics", %addr, "metrics, health and status endpoint listening");
        axum::serve(listener, self.router(stale_after))
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// The HTTP routes (exposed for tests); sets the staleness limit of `/health`.
    pub fn router(self, stale_after: Duration) -> Router {
        self.write().limits.stale_after = stale_after;
        Router::new()
            .route("/metrics", get(metrics_handler))
            .route("/health", get(health_handler))
            .route("/status", get(status_handler))
            .with_state(self)
    }
}

async fn metrics_handler(State(m): State<Metrics>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.render(),
    )
}

fn code(healthy: bool) -> StatusCode {
    if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

async fn health_handler(State(m): State<Metrics>) -> impl IntoResponse {
    let report = m.health();
    (code(report.healthy), Json(report))
}

async fn status_handler(State(m): State<Metrics>) -> impl IntoResponse {
    Json(m.status())
}

fn gauge_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn seconds_to(unix: u64) -> i64 {
    gauge_i64(unix) - gauge_i64(unix_now())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        let code = out
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (code, out)
    }

    fn body_json(response: &str) -> serde_json::Value {
        let body = response.split("\r\n\r\n").nth(1).expect("body");
        serde_json::from_str(body).unwrap_or_else(|e| panic!("json body: {e}: {body}"))
    }

    async fn serve(m: &Metrics, stale_after: Duration) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = m.clone().router(stale_after);
        tokio::spawn(async move { axum::serve(listener, router).await });
        addr
    }

    #[tokio::test]
    async fn metrics_endpoint_exports_task_outcomes_and_health_turns_503_when_stale() {
        let m = Metrics::new();
        m.task_outcome("revealed");
        m.task_outcome("revealed");
        m.task_outcome("lost-consensus");
        m.inference_seconds.observe(0.25);
        m.cursor_block.set(77);

        let addr = serve(&m, Duration::from_secs(60)).await;
        let (code, body) = get(addr, "/metrics").await;
        assert_eq!(code, 200);
        assert!(
            body.contains("maskoracle_tasks_total{outcome=\"revealed\"} 2"),
            "{body}"
        );
        assert!(
            body.contains("maskoracle_tasks_total{outcome=\"lost-consensus\"} 1"),
            "{body}"
        );
        assert!(
            body.contains("maskoracle_inference_seconds_count 1"),
            "{body}"
        );
        let (code, body) = get(addr, "/health").await;
        assert_eq!(code, 200, "{body}");
        let v = body_json(&body);
        assert_eq!(v["sync"]["cursor_block"], 77, "{body}");
        assert_eq!(v["healthy"], true);

        // Progress recorded 2 s ago with a 1 s staleness limit: unhealthy.
        m.progress.store(unix_now() - 2, Ordering::Relaxed);
        let addr = serve(&m, Duration::from_secs(1)).await;
        let (code, body) = get(addr, "/health").await;
        assert_eq!(code, 503, "{body}");
        let v = body_json(&body);
        assert_eq!(v["sync"]["healthy"], false, "{body}");
        assert_eq!(v["signer"]["healthy"], true, "{body}");
    }

    #[tokio::test]
    async fn signer_figures_become_counters_and_gauges() {
        let m = Metrics::new();
        let mut f = SignerFigures {
            sent: 5,
            replaced: 2,
            mined: 4,
            reverted: 1,
            expired: 0,
            gas_used: 420_000,
            fees_paid_wei: 3_000_000_000_000_000,
            queue_len: 3,
            in_flight: 1,
            oldest_job_age_s: 12,
        };
        m.set_signer(f);
        // Totals move forward: counters follow; a lower total never makes them go back.
        f.sent = 7;
        f.queue_len = 0;
        m.set_signer(f);
        f.sent = 6;
        m.set_signer(f);
        m.set_gas_balance(2_500_000_000_000_000_000);
        m.set_sync(120, 100);
        m.rpc_error();
        m.slashed(10);
        let body = m.render();
        for line in [
            "maskoracle_txs_total{event=\"sent\"} 7",
            "maskoracle_txs_total{event=\"replaced\"} 2",
            "maskoracle_txs_total{event=\"mined\"} 4",
            "maskoracle_txs_total{event=\"reverted\"} 1",
            "maskoracle_txs_total{event=\"expired\"} 0",
            "maskoracle_gas_used_total 420000",
            "maskoracle_fees_paid_wei_total 3000000000000000",
            "maskoracle_signer_queue 0",
            "maskoracle_signer_in_flight 1",
            "maskoracle_signer_oldest_job_seconds 12",
            "maskoracle_gas_balance_wei 2500000000000000000",
            "maskoracle_head_lag_blocks 20",
            "maskoracle_rpc_errors_total 1",
            "maskoracle_slashes_total 1",
            "maskoracle_reveal_deadline_seconds -1",
        ] {
            assert!(body.contains(line), "missing {line:?} in\n{body}");
        }
    }

    #[tokio::test]
    async fn status_route_serves_the_snapshot_with_live_figures() {
        let m = Metrics::new();
        let deadline = unix_now() + 90;
        m.set_status(StatusSnapshot {
            address: Some("0xabc".into()),
            role: Some("worker".into()),
            drain: true,
            tasks_by_phase: BTreeMap::from([("commit-sent".into(), 2), ("done".into(), 5)]),
            served_models: vec![1],
            next_reveal_deadline_unix: Some(deadline),
            next_reveal_task: Some("7".into()),
            ..StatusSnapshot::default()
        });
        m.set_sync(50, 48);
        let addr = serve(&m, Duration::from_secs(60)).await;
        let (code, body) = get(addr, "/status").await;
        assert_eq!(code, 200, "{body}");
        let status: DaemonStatus = serde_json::from_value(body_json(&body)).expect("DaemonStatus");
        assert!(status.snapshot.drain);
        assert_eq!(status.snapshot.tasks_by_phase["commit-sent"], 2);
        assert_eq!(
            (status.head_block, status.cursor_block),
            (Some(50), Some(48))
        );
        let left = status.seconds_to_reveal_deadline.expect("deadline");
        assert!((85..=90).contains(&left), "{left}");
        assert!(status.snapshot_unix > 0);
        let metrics = m.render();
        assert!(
            metrics.contains("maskoracle_task_records{phase=\"commit-sent\"} 2"),
            "{metrics}"
        );
        assert!(metrics.contains("maskoracle_draining 1"), "{metrics}");
        assert!(
            !metrics.contains("maskoracle_reveal_deadline_seconds -1"),
            "{metrics}"
        );
    }

    fn limits() -> HealthLimits {
        HealthLimits {
            stale_after: Duration::from_secs(60),
            max_head_lag_blocks: 10,
            min_gas_balance_wei: 1_000,
            max_signer_job_age: Duration::from_secs(120),
        }
    }

    #[test]
    fn health_checks_each_component_against_its_limit() {
        let ok = HealthInputs {
            seconds_since_progress: 5,
            cursor_block: Some(100),
            head_block: Some(110),
            gas_balance_wei: Some(1_000),
            oldest_job_age_s: Some(120),
        };
        let r = evaluate_health(&ok, &limits());
        assert!(r.healthy, "{r:?}");
        assert_eq!(r.sync.head_lag_blocks, Some(10));

        let lagging = HealthInputs {
            head_block: Some(111),
            ..ok
        };
        let r = evaluate_health(&lagging, &limits());
        assert!(!r.healthy && !r.sync.healthy && r.signer.healthy, "{r:?}");

        let stale = HealthInputs {
            seconds_since_progress: 61,
            ..ok
        };
        assert!(!evaluate_health(&stale, &limits()).sync.healthy);

        let poor = HealthInputs {
            gas_balance_wei: Some(999),
            ..ok
        };
        let r = evaluate_health(&poor, &limits());
        assert!(!r.healthy && r.sync.healthy && !r.signer.healthy, "{r:?}");
        assert_eq!(r.signer.gas_balance_wei.as_deref(), Some("999"));

        let stuck = HealthInputs {
            oldest_job_age_s: Some(121),
            ..ok
        };
        assert!(!evaluate_health(&stuck, &limits()).signer.healthy);

        // Nothing reported yet (start-up): only the progress check applies.
        let unknown = HealthInputs {
            seconds_since_progress: 0,
            ..HealthInputs::default()
        };
        let r = evaluate_health(&unknown, &limits());
        assert!(r.healthy, "{r:?}");
        assert_eq!(r.sync.head_lag_blocks, None);
    }

    #[tokio::test]
    async fn health_is_503_when_gas_runs_below_the_configured_minimum() {
        let w = WorkerConfig {
            min_gas_balance_wei: 5_000,
            ..WorkerConfig::default()
        };
        let m = Metrics::with_limits(HealthLimits::from_config(&w, Duration::from_secs(60)));
        m.set_gas_balance(4_999);
        let addr = serve(&m, Duration::from_secs(60)).await;
        let (code, body) = get(addr, "/health").await;
        assert_eq!(code, 503, "{body}");
        let v = body_json(&body);
        assert_eq!(v["signer"]["min_gas_balance_wei"], "5000", "{body}");
        m.set_gas_balance(5_000);
        let (code, body) = get(addr, "/health").await;
        assert_eq!(code, 200, "{body}");
    }
}
