//! A small HTTP JSON-RPC proxy in front of a real endpoint (anvil) that behaves like a public
//! provider when told to: it refuses `eth_getLogs` over more than a given number of blocks with
//! Infura's answer (`-32005 query returned more than 10000 results`), and it can be killed (its
//! listener closed, every later request answered 503 on connections still open).

#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

/// What the proxy counts.
#[derive(Debug, Default)]
pub struct ProxyCounts {
    /// Requests forwarded to the endpoint.
    pub forwarded: AtomicU64,
    /// `eth_getLogs` calls refused as too large.
    pub refused: AtomicU64,
    /// `eth_getLogs` calls forwarded.
    pub logs_forwarded: AtomicU64,
}

struct Inner {
    target: String,
    max_log_range: Option<u64>,
    dead: AtomicBool,
    counts: ProxyCounts,
    client: reqwest::Client,
}

/// The proxy; dropping it kills it.
pub struct RpcProxy {
    /// `http://127.0.0.1:port`.
    pub url: String,
    inner: Arc<Inner>,
    server: tokio::task::JoinHandle<()>,
}

impl RpcProxy {
    /// A proxy to `target` refusing `eth_getLogs` over more than `max_log_range` blocks (none:
    /// any range).
    pub async fn start(target: &str, max_log_range: Option<u64>) -> RpcProxy {
        let inner = Arc::new(Inner {
            target: target.to_owned(),
            max_log_range,
            dead: AtomicBool::new(false),
            counts: ProxyCounts::default(),
            client: reqwest::Client::new(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let app = Router::new()
            .route("/", post(handle))
            .with_state(inner.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RpcProxy { url, inner, server }
    }

    /// The counters.
    pub fn counts(&self) -> &ProxyCounts {
        &self.inner.counts
    }

    /// Kills the proxy: no new connection is accepted, open ones get 503.
    pub fn kill(&self) {
        self.inner.dead.store(true, Ordering::SeqCst);
        self.server.abort();
    }
}

impl Drop for RpcProxy {
    fn drop(&mut self) {
        self.kill();
    }
}

fn block_number(v: &Value) -> Option<u64> {
    u64::from_str_radix(v.as_str()?.strip_prefix("0x")?, 16).ok()
}

/// The refusal for a single `eth_getLogs` request over too many blocks, if it is one.
fn refusal(request: &Value, max: u64) -> Option<Value> {
    if request.get("method")?.as_str()? != "eth_getLogs" {
        return None;
    }
    let filter = request.get("params")?.get(0)?;
    let from = block_number(filter.get("fromBlock")?)?;
    let to = block_number(filter.get("toBlock")?)?;
    (to.saturating_sub(from) + 1 > max).then(|| {
        json!({
            "jsonrpc": "2.0",
            "id": request.get("id").cloned().unwrap_or(Value::Null),
            "error": {
                "code": -32005,
                "message": "query returned more than 10000 results",
                "data": { "from": format!("{from:#x}"), "to": format!("{:#x}", from + max - 1) }
            }
        })
    })
}

async fn handle(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    if inner.dead.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if let (Some(max), Ok(request)) = (inner.max_log_range, serde_json::from_slice::<Value>(&body))
    {
        if let Some(answer) = refusal(&request, max) {
            inner.counts.refused.fetch_add(1, Ordering::SeqCst);
            return axum::Json(answer).into_response();
        }
        if request.get("method").and_then(Value::as_str) == Some("eth_getLogs") {
            inner.counts.logs_forwarded.fetch_add(1, Ordering::SeqCst);
        }
    }
    inner.counts.forwarded.fetch_add(1, Ordering::SeqCst);
    let answer = inner
        .client
        .post(&inner.target)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    match answer {
        Ok(r) => {
            let status =
                StatusCode::from_u16(r.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let bytes = r.bytes().await.unwrap_or_default();
            (status, [("content-type", "application/json")], bytes).into_response()
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}
