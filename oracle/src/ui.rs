//! `maskoracle ui`: the web app (`web/`, built into `web/dist` and embedded in this binary)
//! served against any chain, and the same server for `maskoracle devnet --keep`.
//!
//! One origin serves everything the app uses, so the browser needs no CORS grant from anyone:
//! - `/` and the app's files (embedded at build time; a debug build reads `web/dist` from disk);
//! - `/config.json`: the chain id, the deployment record and the routes below, read by the app at
//!   start-up, so one build of the app serves every chain;
//! - `/rpc`: a JSON-RPC pass-through to the configured node (the app's reads and the wallet's
//!   chain both point here);
//! - `/api/v0/*` and `/ipfs/{cid}`: the Kubo-compatible IPFS routes over the configured content
//!   store (uploads go to `/api/v0/add`);
//! - `/ui/cat/{cid}`: a whole file by CID (UnixFS DAGs of any number of blocks, every block
//!   verified by the store), for images and results;
//! - `/ui/audit/{task}`: `maskoracle audit --task N --json` for one task.
//!
//! The chain stays the source of truth: the server keeps no state of its own.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

use alloy::primitives::U256;
use anyhow::Context as _;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Args;
use rust_embed::RustEmbed;

use crate::chain::Contracts;
use crate::node_cli::NodeArgs;
use crate::storage::{Cid, SharedStorage};

/// The built app. In a debug build the files are read from the folder at run time.
#[derive(RustEmbed)]
#[folder = "../web/dist"]
#[allow_missing = true]
struct Assets;

/// Largest file `/ui/cat` returns (inputs are images: the workers' own fetch limit is lower).
const MAX_CAT: u64 = 64 * 1024 * 1024;

/// Largest JSON-RPC body forwarded.
const MAX_RPC_BODY: usize = 8 * 1024 * 1024;

/// The JSON-RPC methods `/rpc` forwards: reads, fee estimates and signed transactions. Anything
/// else (admin, debug, `anvil_*`, unsigned `eth_sendTransaction`) is refused here, so serving the
/// app does not expose the node's other methods.
const RPC_METHODS: &[&str] = &[
    "eth_blockNumber",
    "eth_call",
    "eth_chainId",
    "eth_estimateGas",
    "eth_feeHistory",
    "eth_gasPrice",
    "eth_getBalance",
    "eth_getBlockByHash",
    "eth_getBlockByNumber",
    "eth_getCode",
    "eth_getLogs",
    "eth_getStorageAt",
    "eth_getTransactionByHash",
    "eth_getTransactionCount",
    "eth_getTransactionReceipt",
    "eth_maxPriorityFeePerGas",
    "eth_sendRawTransaction",
    "net_version",
    "web3_clientVersion",
];

/// The first method of a JSON-RPC request or batch that `/rpc` does not forward, if any
/// (`Err` when the body is not JSON-RPC at all).
fn refused_method(body: &[u8]) -> Result<Option<String>, ()> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|_| ())?;
    let calls = match &v {
        serde_json::Value::Array(a) if !a.is_empty() => a.iter().collect::<Vec<_>>(),
        serde_json::Value::Object(_) => vec![&v],
        _ => return Err(()),
    };
    for c in calls {
        let m = c.get("method").and_then(|m| m.as_str()).ok_or(())?;
        if !RPC_METHODS.contains(&m) {
            return Ok(Some(m.to_owned()));
        }
    }
    Ok(None)
}

/// Errors of the UI server.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// The app was not built into this binary (`web/dist` was missing at build time).
    #[error("the web app is not in this build (run `npm run build` in web/ and rebuild)")]
    NotBuilt,
    /// The RPC upstream URL is not a valid URL.
    #[error("invalid RPC URL {0:?}")]
    BadRpcUrl(String),
    /// Binding the listen address failed.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// Arguments of `maskoracle ui`.
#[derive(Debug, Args)]
pub struct UiArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Address to serve the app on.
    #[arg(long, default_value = "127.0.0.1:8765")]
    pub listen: SocketAddr,
}

/// What the server needs: the chain, the contracts and the content store.
#[derive(Clone)]
pub struct Ui {
    rpc_url: reqwest::Url,
    contracts: Contracts,
    storage: SharedStorage,
    http: reqwest::Client,
}

impl Ui {
    /// A server for the contracts of `contracts` on `rpc_url`, with `storage` for IPFS.
    pub fn new(
        rpc_url: &str,
        contracts: Contracts,
        storage: SharedStorage,
    ) -> Result<Self, UiError> {
        let rpc_url =
            reqwest::Url::parse(rpc_url).map_err(|_| UiError::BadRpcUrl(rpc_url.to_owned()))?;
        Ok(Self {
            rpc_url,
            contracts,
            storage,
            http: reqwest::Client::new(),
        })
    }

    /// The routes.
    pub fn router(self) -> Router {
        let ipfs = crate::storage::rpc_server::router(self.storage.clone());
        let state = Arc::new(self);
        Router::new()
            .route("/config.json", get(config))
            .route("/rpc", post(rpc))
            .route("/ui/cat/{cid}", get(cat))
            .route("/ui/audit/{task}", get(audit))
            .with_state(state)
            .merge(ipfs)
            .fallback(get(asset))
    }
}

/// A running UI server.
pub struct Served {
    /// The app's URL.
    pub url: String,
    /// The server task.
    pub handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Binds `addr` and serves `ui` until `shutdown` resolves; returns as soon as it listens.
pub async fn serve(
    ui: Ui,
    addr: SocketAddr,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Served, UiError> {
    if Assets::get("index.html").is_none() {
        return Err(UiError::NotBuilt);
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| UiError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| UiError::Bind { addr, source })?;
    let router = ui.router();
    let handle = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
    });
    let url = format!("http://{local}/");
    tracing::info!(target: "maskoracle::ui", %url, "web app served");
    Ok(Served { url, handle })
}

/// Serves the app on a free loopback port for the life of the process (`devnet --keep`);
/// returns its URL.
pub async fn serve_local(
    rpc_url: &str,
    contracts: &Contracts,
    storage: &SharedStorage,
) -> Result<String, UiError> {
    let ui = Ui::new(rpc_url, contracts.clone(), storage.clone())?;
    let served = serve(
        ui,
        SocketAddr::from(([127, 0, 0, 1], 0)),
        std::future::pending(),
    )
    .await?;
    Ok(served.url)
}

/// Runs `maskoracle ui`: serves the app until Ctrl-C.
pub async fn run(args: UiArgs) -> anyhow::Result<()> {
    let cfg = args.node.resolve()?;
    let contracts = crate::node::contracts(&cfg).await?;
    let storage = crate::node::open_storage(&cfg).await?;
    let ui = Ui::new(&cfg.rpc_url, contracts, storage)?;
    let served = serve(ui, args.listen, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    println!("{}", served.url);
    served.handle.await.context("the UI server task")??;
    Ok(())
}

async fn config(State(ui): State<Arc<Ui>>) -> Response {
    let d = &ui.contracts.deployment;
    let mut r = Json(serde_json::json!({
        "chainId": d.chain_id,
        "rpcUrl": "/rpc",
        "ipfsApi": "/api/v0",
        "catUrl": "/ui/cat/",
        "auditUrl": "/ui/audit/",
        "deployment": d,
    }))
    .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn rpc(State(ui): State<Arc<Ui>>, body: Bytes) -> Response {
    if body.len() > MAX_RPC_BODY {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request too large").into_response();
    }
    match refused_method(&body) {
        Err(()) => return (StatusCode::BAD_REQUEST, "not a JSON-RPC request").into_response(),
        Ok(Some(m)) => {
            return Json(serde_json::json!({
                "jsonrpc": "2.0",
                "id": null,
                "error": {"code": -32601, "message": format!("{m} is not served by the web app's RPC proxy")},
            }))
            .into_response()
        }
        Ok(None) => {}
    }
    let sent = ui
        .http
        .post(ui.rpc_url.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(target: "maskoracle::ui", error = %e, "RPC upstream unreachable");
            return (StatusCode::BAD_GATEWAY, format!("RPC upstream: {e}")).into_response();
        }
    };
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    match resp.bytes().await {
        Ok(b) => (status, [(header::CONTENT_TYPE, "application/json")], b).into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, format!("RPC upstream: {e}")).into_response(),
    }
}

async fn cat(State(ui): State<Arc<Ui>>, Path(cid): Path<String>) -> Response {
    let Ok(c) = Cid::from_str(&cid) else {
        return (StatusCode::BAD_REQUEST, "invalid CID").into_response();
    };
    match ui.storage.get(&c, MAX_CAT).await {
        Ok(b) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream"),
                // Content-addressed: the bytes behind a CID never change.
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            b,
        )
            .into_response(),
        Err(e) => (StatusCode::NOT_FOUND, e.to_string()).into_response(),
    }
}

async fn audit(State(ui): State<Arc<Ui>>, Path(task): Path<u64>) -> Response {
    let c = &ui.contracts;
    match crate::audit::rebuild(c, c.deployment.deploy_block, Some(U256::from(task))).await {
        Ok(tasks) => {
            let ok = tasks.iter().all(|t| t.problems.is_empty());
            Json(serde_json::json!({"ok": ok, "tasks": tasks})).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, format!("{e:#}")).into_response(),
    }
}

async fn asset(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    // Unknown paths get the app (its routes live in the URL fragment, but be lenient).
    let (path, file) = match Assets::get(path) {
        Some(f) => (path, f),
        None => match Assets::get("index.html") {
            Some(f) => ("index.html", f),
            None => return (StatusCode::NOT_FOUND, UiError::NotBuilt.to_string()).into_response(),
        },
    };
    let cache = if path.starts_with("assets/") {
        // Vite names these by content hash.
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    (
        [
            (header::CONTENT_TYPE, file.metadata.mimetype().to_owned()),
            (header::CACHE_CONTROL, cache.to_owned()),
        ],
        file.data,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::refused_method;

    #[test]
    fn the_rpc_proxy_forwards_reads_and_signed_transactions_only() {
        let one = |m: &str| format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{m}","params":[]}}"#);
        for m in [
            "eth_call",
            "eth_getLogs",
            "eth_sendRawTransaction",
            "eth_chainId",
        ] {
            assert_eq!(refused_method(one(m).as_bytes()), Ok(None), "{m}");
        }
        for m in [
            "anvil_setBalance",
            "eth_sendTransaction",
            "debug_traceCall",
            "admin_peers",
        ] {
            assert_eq!(
                refused_method(one(m).as_bytes()),
                Ok(Some(m.to_owned())),
                "{m}"
            );
        }
        let batch = format!("[{},{}]", one("eth_call"), one("anvil_mine"));
        assert_eq!(
            refused_method(batch.as_bytes()),
            Ok(Some("anvil_mine".into()))
        );
        assert_eq!(refused_method(b"[]"), Err(()));
        assert_eq!(refused_method(b"not json"), Err(()));
        assert_eq!(refused_method(br#"{"id":1}"#), Err(()));
    }
}
