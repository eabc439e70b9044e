//! Local HTTP servers for the storage tests (loopback only; every loop bounded):
//! - a Kubo RPC stand-in implementing exactly the endpoints the Kubo backend uses, as Kubo's RPC
//!   reference documents them (Kubo itself cannot run on these machines);
//! - a trustless gateway (`GET /ipfs/{cid}?format=raw`) that can be told to corrupt blocks;
//! - URL-input endpoints for the fetcher's refusals.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use maskoracle::storage::cid::{self, ImportParams};
use maskoracle::storage::Cid;

/// Shared state of the stand-in servers.
#[derive(Default)]
pub struct Shared {
    pub blocks: Mutex<HashMap<Cid, Bytes>>,
    pub pins: Mutex<HashSet<Cid>>,
    /// Blocks the gateway serves with one byte flipped.
    pub corrupt: Mutex<HashSet<Cid>>,
    /// Make `/api/v0/add` report a wrong CID.
    pub lie_about_cid: Mutex<bool>,
    /// Bytes the streaming endpoints have sent.
    pub sent: AtomicU64,
    /// Requests per path, to see what a client asked for.
    pub calls: Mutex<Vec<String>>,
}

pub type St = Arc<Shared>;

impl Shared {
    pub fn insert_dag(&self, data: &[u8], params: &ImportParams) -> Cid {
        let dag = cid::import(data, params).expect("import");
        let mut blocks = self.blocks.lock().expect("lock");
        for b in dag.blocks {
            blocks.insert(b.cid, b.data);
        }
        dag.root
    }
}

fn log(st: &St, what: String) {
    st.calls.lock().expect("lock").push(what);
}

// ---- Kubo RPC (POST /api/v0/...) ---------------------------------------------------------------

fn rpc_error(msg: &str) -> Response {
    // Kubo answers errors with 500 and {"Message","Code","Type":"error"}.
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(serde_json::json!({"Message": msg, "Code": 0, "Type": "error"})),
    )
        .into_response()
}

async fn first_part(mut mp: Multipart) -> Option<Bytes> {
    let field = mp.next_field().await.ok()??;
    field.bytes().await.ok()
}

async fn kubo_add(
    State(st): State<St>,
    Query(q): Query<HashMap<String, String>>,
    mp: Multipart,
) -> Response {
    log(&st, format!("add {q:?}"));
    let Some(data) = first_part(mp).await else {
        return rpc_error("file argument 'path' is required");
    };
    let params = match maskoracle::storage::rpc_server::import_params(&q) {
        Ok(p) => p,
        Err(e) => return rpc_error(e),
    };
    let root = st.insert_dag(&data, &params);
    if q.get("pin").is_none_or(|v| v == "true") {
        st.pins.lock().expect("lock").insert(root);
    }
    let hash = if *st.lie_about_cid.lock().expect("lock") {
        cid::raw_cid(b"something else").to_string()
    } else {
        root.to_string()
    };
    Json(serde_json::json!({"Name": hash, "Hash": hash, "Size": data.len().to_string()}))
        .into_response()
}

async fn kubo_block_put(
    State(st): State<St>,
    Query(q): Query<HashMap<String, String>>,
    mp: Multipart,
) -> Response {
    log(&st, format!("block/put {q:?}"));
    let Some(data) = first_part(mp).await else {
        return rpc_error("data argument is required");
    };
    // Kubo's defaults: cid-codec=raw, mhtype=sha2-256, CIDv1.
    if q.get("cid-codec").is_some_and(|c| c != "raw") || q.contains_key("format") {
        return rpc_error("this stand-in only implements raw blocks");
    }
    if q.get("mhtype").is_some_and(|m| m != "sha2-256") {
        return rpc_error("unsupported mhtype");
    }
    let c = cid::raw_cid(&data);
    st.blocks.lock().expect("lock").insert(c, data.clone());
    if q.get("pin").is_some_and(|v| v == "true") {
        st.pins.lock().expect("lock").insert(c);
    }
    Json(serde_json::json!({"Key": c.to_string(), "Size": data.len()})).into_response()
}

async fn kubo_block_get(
    State(st): State<St>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    log(&st, format!("block/get {q:?}"));
    let Some(c) = q.get("arg").and_then(|a| Cid::try_from(a.as_str()).ok()) else {
        return rpc_error("invalid CID");
    };
    match st.blocks.lock().expect("lock").get(&c) {
        Some(b) => (
            [(header::CONTENT_TYPE, "application/octet-stream")],
            b.clone(),
        )
            .into_response(),
        None => rpc_error("block was not found locally (offline)"),
    }
}

async fn kubo_pin_add(State(st): State<St>, Query(q): Query<HashMap<String, String>>) -> Response {
    log(&st, format!("pin/add {q:?}"));
    let Some(arg) = q.get("arg") else {
        return rpc_error("argument \"ipfs-path\" is required");
    };
    let Ok(c) = Cid::try_from(arg.as_str()) else {
        return rpc_error("invalid path");
    };
    if !st.blocks.lock().expect("lock").contains_key(&c) {
        return rpc_error("block was not found locally (offline)");
    }
    st.pins.lock().expect("lock").insert(c);
    Json(serde_json::json!({"Pins": [arg]})).into_response()
}

// ---- trustless gateway -------------------------------------------------------------------------

async fn gateway_get(
    State(st): State<St>,
    Path(cid_text): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    log(&st, format!("gateway {cid_text} {q:?}"));
    if q.get("format").map(String::as_str) != Some("raw") {
        return (StatusCode::BAD_REQUEST, "only ?format=raw").into_response();
    }
    let Ok(c) = Cid::try_from(cid_text.as_str()) else {
        return (StatusCode::BAD_REQUEST, "bad cid").into_response();
    };
    let Some(block) = st.blocks.lock().expect("lock").get(&c).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let body = if st.corrupt.lock().expect("lock").contains(&c) {
        let mut v = block.to_vec();
        if let Some(x) = v.last_mut() {
            *x ^= 0x01;
        }
        Bytes::from(v)
    } else {
        block
    };
    ([(header::CONTENT_TYPE, "application/vnd.ipld.raw")], body).into_response()
}

// ---- URL inputs ----------------------------------------------------------------------------------

pub const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
];

async fn image(State(st): State<St>) -> Response {
    log(&st, "image".into());
    ([(header::CONTENT_TYPE, "image/png")], PNG_1X1).into_response()
}

async fn octet() -> Response {
    (
        [(header::CONTENT_TYPE, "application/octet-stream")],
        PNG_1X1,
    )
        .into_response()
}

async fn html() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<html>not an image</html>",
    )
        .into_response()
}

/// A body of `total` bytes in 64 KiB chunks, without Content-Length (chunked), counting what
/// left the server.
fn counted_stream(st: St, total: u64) -> Body {
    let chunk = Bytes::from(vec![0x5au8; 64 * 1024]);
    let n = total / chunk.len() as u64;
    let stream = futures::stream::iter(0..n).map(move |_| {
        st.sent.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        Ok::<_, std::io::Error>(chunk.clone())
    });
    Body::from_stream(stream)
}

use futures::StreamExt as _;

/// 256 MiB, chunked, no Content-Length.
async fn huge_chunked(State(st): State<St>) -> Response {
    let mut resp = Response::new(counted_stream(st, 256 * 1024 * 1024));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    resp
}

/// Declares 1 GiB: must be refused from the header alone.
async fn huge_declared(State(st): State<St>) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    let mut resp = Response::new(counted_stream(st, 1024 * 1024 * 1024));
    resp.headers_mut().extend(headers);
    resp.headers_mut().insert(
        header::CONTENT_LENGTH,
        HeaderValue::from_static("1073741824"),
    );
    resp
}

/// Answers only after 10 s.
async fn slow_headers() -> Response {
    tokio::time::sleep(Duration::from_secs(10)).await;
    image_plain()
}

fn image_plain() -> Response {
    ([(header::CONTENT_TYPE, "image/png")], PNG_1X1).into_response()
}

/// Headers at once, then one byte a second for 30 s.
async fn slow_body() -> Response {
    let stream = futures::stream::iter(0..30).then(|_| async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok::<_, std::io::Error>(Bytes::from_static(b"x"))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    resp
}

fn redirect(to: &str) -> Response {
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

async fn loop_a() -> Response {
    redirect("/loop-b")
}
async fn loop_b() -> Response {
    redirect("/loop-a")
}
/// `/chain/N` redirects to `/chain/N-1`, `/chain/0` is the image.
async fn chain(Path(n): Path<u32>) -> Response {
    if n == 0 {
        image_plain()
    } else {
        redirect(&format!("/chain/{}", n - 1))
    }
}
async fn to_ftp() -> Response {
    redirect("ftp://127.0.0.1/x.png")
}
async fn missing() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

/// Starts every endpoint on a random loopback port; the server lives until the runtime ends.
pub async fn start() -> (SocketAddr, St) {
    let st: St = Arc::new(Shared::default());
    let app = Router::new()
        .route("/api/v0/add", post(kubo_add))
        .route("/api/v0/block/put", post(kubo_block_put))
        .route("/api/v0/block/get", post(kubo_block_get))
        .route("/api/v0/pin/add", post(kubo_pin_add))
        .route("/ipfs/{cid}", get(gateway_get))
        .route("/image.png", get(image))
        .route("/octet", get(octet))
        .route("/page.html", get(html))
        .route("/huge-chunked", get(huge_chunked))
        .route("/huge-declared", get(huge_declared))
        .route("/slow-headers", get(slow_headers))
        .route("/slow-body", get(slow_body))
        .route("/loop-a", get(loop_a))
        .route("/loop-b", get(loop_b))
        .route("/chain/{n}", get(chain))
        .route("/to-ftp", get(to_ftp))
        .route("/missing", get(missing))
        .with_state(st.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, st)
}
