//! Prometheus metrics and the health endpoint of a worker.
//!
//! `GET /metrics` serves the OpenMetrics text format; `GET /health` answers 200 with a JSON body
//! while the event loop makes progress, and 503 once it has been stuck for longer than the
//! configured staleness (so an orchestrator restarts a worker whose RPC died silently).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
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
use serde::Serialize;

/// Label of the tasks counter: how a task ended for this worker.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `revealed`, `lost-consensus`, `expired`, `not-drawn`, `error`...
    pub outcome: String,
}

/// Every metric the worker exports.
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
    registry: Arc<Registry>,
    progress: Arc<AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric under the `maskoracle` prefix.
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
        let metrics = Self {
            tasks,
            inference_seconds,
            stake,
            balance,
            cursor_block,
            registry: Arc::new(registry),
            progress: Arc::new(AtomicU64::new(0)),
        };
        metrics.mark_progress();
        metrics
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

    /// The metrics in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    /// Seconds since the event loop last made progress.
    pub fn seconds_since_progress(&self) -> u64 {
        unix_now().saturating_sub(self.progress.load(Ordering::Relaxed))
    }

    /// Serves `/metrics` and `/health` on `addr` until `shutdown` resolves.
    pub async fn serve(
        self,
        addr: SocketAddr,
        stale_after: Duration,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        tracing::info!(target: "maskoracle::metrics", %addr, "metrics and health endpoint listening");
        axum::serve(listener, self.router(stale_after))
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// The HTTP routes (exposed for tests).
    pub fn router(self, stale_after: Duration) -> Router {
        Router::new()
            .route("/metrics", get(metrics_handler))
            .route("/health", get(health_handler))
            .with_state((self, stale_after))
    }
}

#[derive(Serialize)]
struct Health {
    healthy: bool,
    seconds_since_progress: u64,
    cursor_block: i64,
}

async fn metrics_handler(State((m, _)): State<(Metrics, Duration)>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.render(),
    )
}

async fn health_handler(State((m, stale_after)): State<(Metrics, Duration)>) -> impl IntoResponse {
    let since = m.seconds_since_progress();
    let healthy = since <= stale_after.as_secs();
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(Health {
            healthy,
            seconds_since_progress: since,
            cursor_block: m.cursor_block.get(),
        }),
    )
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

    #[tokio::test]
    async fn metrics_endpoint_exports_task_outcomes_and_health_turns_503_when_stale() {
        let m = Metrics::new();
        m.task_outcome("revealed");
        m.task_outcome("revealed");
        m.task_outcome("lost-consensus");
        m.inference_seconds.observe(0.25);
        m.cursor_block.set(77);

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let fresh = m.clone().router(Duration::from_secs(60));
        tokio::spawn(async move { axum::serve(listener, fresh).await });

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
        assert!(body.contains("\"cursor_block\":77"), "{body}");

        // Progress recorded 2 s ago with a 1 s staleness limit: unhealthy.
        m.progress.store(unix_now() - 2, Ordering::Relaxed);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stale = m.clone().router(Duration::from_secs(1));
        tokio::spawn(async move { axum::serve(listener, stale).await });
        let (code, body) = get(addr, "/health").await;
        assert_eq!(code, 503, "{body}");
    }
}
