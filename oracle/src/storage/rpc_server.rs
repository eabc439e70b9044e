//! A Kubo-compatible RPC endpoint in front of any [`Storage`], so that several processes share one
//! IPFS node: `maskoracle ipfs serve` runs the embedded node behind it on a devnet, and workers,
//! requesters and auditors talk to it with `ipfs.backend = "kubo"` exactly as they would to a
//! Kubo daemon. It implements the four endpoints the Kubo backend uses (see `kubo.rs`), with
//! Kubo's parameter names, defaults and error shape, plus a trustless gateway route
//! (`GET /ipfs/{cid}?format=raw`). Everything it stores goes through the backend, which computes
//! and verifies CIDs itself.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;

use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;

use super::{cid, Cid, ImportParams, SharedStorage};

/// Largest upload accepted.
const MAX_UPLOAD: usize = 1024 * 1024 * 1024;

fn rpc_error(msg: impl std::fmt::Display) -> Response {
    // Kubo answers errors with 500 and {"Message","Code","Type":"error"}.
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(serde_json::json!({"Message": msg.to_string(), "Code": 0, "Type": "error"})),
    )
        .into_response()
}

async fn first_part(mut mp: Multipart) -> Option<Bytes> {
    let field = mp.next_field().await.ok()??;
    field.bytes().await.ok()
}

type Q = Query<HashMap<String, String>>;

/// The import parameters of a Kubo `/api/v0/add` query: `cid-version` (default 0),
/// `raw-leaves` (default: true with CIDv1), `chunker=size-N` (default 256 KiB).
pub fn import_params(q: &HashMap<String, String>) -> Result<ImportParams, &'static str> {
    let cid_version: u8 = q
        .get("cid-version")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let raw_leaves = q
        .get("raw-leaves")
        .map(|v| v == "true")
        .unwrap_or(cid_version == 1);
    let chunk_size = match q.get("chunker").map(String::as_str) {
        None => cid::DEFAULT_CHUNK_SIZE,
        Some(c) => c
            .strip_prefix("size-")
            .and_then(|n| n.parse().ok())
            .ok_or("unsupported chunker")?,
    };
    Ok(ImportParams {
        cid_version,
        raw_leaves,
        chunk_size,
        max_links: cid::DEFAULT_MAX_LINKS,
    })
}

async fn add(State(st): State<SharedStorage>, Query(q): Q, mp: Multipart) -> Response {
    let Some(data) = first_part(mp).await else {
        return rpc_error("file argument 'path' is required");
    };
    let params = match import_params(&q) {
        Ok(p) => p,
        Err(e) => return rpc_error(e),
    };
    let len = data.len();
    match st.put(data, params).await {
        Ok(root) => Json(serde_json::json!({"Name": root.to_string(), "Hash": root.to_string(), "Size": len.to_string()}))
            .into_response(),
        Err(e) => rpc_error(e),
    }
}

async fn block_put(State(st): State<SharedStorage>, Query(q): Q, mp: Multipart) -> Response {
    let Some(data) = first_part(mp).await else {
        return rpc_error("data argument is required");
    };
    if q.get("cid-codec").is_some_and(|c| c != "raw") || q.contains_key("format") {
        return rpc_error("only raw blocks are accepted here");
    }
    if q.get("mhtype").is_some_and(|m| m != "sha2-256") {
        return rpc_error("unsupported mhtype");
    }
    let len = data.len();
    match st.put_raw(data).await {
        Ok(c) => Json(serde_json::json!({"Key": c.to_string(), "Size": len})).into_response(),
        Err(e) => rpc_error(e),
    }
}

fn arg_cid(q: &HashMap<String, String>) -> Result<Cid, Response> {
    let arg = q
        .get("arg")
        .ok_or_else(|| rpc_error("argument is required"))?;
    let text = arg.strip_prefix("/ipfs/").unwrap_or(arg);
    Cid::from_str(text).map_err(|_| rpc_error("invalid CID"))
}

async fn block_get(State(st): State<SharedStorage>, Query(q): Q) -> Response {
    let c = match arg_cid(&q) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match st.get_block(&c).await {
        Ok(b) => ([(header::CONTENT_TYPE, "application/octet-stream")], b).into_response(),
        Err(e) => rpc_error(e),
    }
}

async fn pin_add(State(st): State<SharedStorage>, Query(q): Q) -> Response {
    let c = match arg_cid(&q) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match st.pin(&c).await {
        Ok(()) => Json(serde_json::json!({"Pins": [c.to_string()]})).into_response(),
        Err(e) => rpc_error(e),
    }
}

async fn gateway(State(st): State<SharedStorage>, Path(c): Path<String>) -> Response {
    let Ok(c) = Cid::from_str(&c) else {
        return (StatusCode::BAD_REQUEST, "invalid CID").into_response();
    };
    match st.get_block(&c).await {
        Ok(b) => ([(header::CONTENT_TYPE, "application/vnd.ipld.raw")], b).into_response(),
        Err(e) => (StatusCode::NOT_FOUND, e.to_string()).into_response(),
    }
}

/// The routes, over `storage`.
pub fn router(storage: SharedStorage) -> Router {
    Router::new()
        .route("/api/v0/add", post(add))
        .route("/api/v0/block/put", post(block_put))
        .route("/api/v0/block/get", post(block_get))
        .route("/api/v0/pin/add", post(pin_add))
        .route("/ipfs/{cid}", get(gateway))
        .layer(DefaultBodyLimit::max(MAX_UPLOAD))
        .with_state(storage)
}

/// Binds `addr` and serves until `shutdown` resolves; returns the bound address at once.
pub async fn serve(
    storage: SharedStorage,
    addr: SocketAddr,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let handle = tokio::spawn(async move {
        axum::serve(listener, router(storage))
            .with_graceful_shutdown(shutdown)
            .await
    });
    Ok((local, handle))
}
