//! Content storage: inputs, models and results by CID, and HTTP(S) inputs.
//!
//! One interface, [`Storage`] (put bytes → CID, get CID → verified bytes, pin), with backends:
//! - [`embedded::EmbeddedNode`] (feature `embedded-ipfs`, on by default): an IPFS node in the
//!   process (rust-ipfs: libp2p, Bitswap, a persistent flatfs repository);
//! - [`kubo::KuboStorage`]: Kubo's RPC API through the `ipfs-api` crate;
//! - [`gateway::GatewayStorage`]: read-only, trustless HTTP gateways (`?format=raw`).
//!
//! Whatever the backend, reads are trustless: the DAG is walked block by block
//! ([`cat_unixfs`]) and every block is checked against its CID ([`cid::verify_block`]) before
//! it is used. Writes compute the CID here ([`cid::import`], identical to Kubo's for the same
//! parameters) and refuse a backend that answers with a different one.
//!
//! URL inputs go through [`http::HttpFetcher`] (limits on size, time, redirects, content type);
//! [`fetch_input`] picks the path from the input's scheme. Models are cached by CID and verified
//! by sha256 in [`model_cache::ModelCache`].

// Errors carry the CIDs they are about (a CID holds its 64-byte multihash inline); they are on
// the failure path only, so their size is accepted rather than boxed.
#![allow(clippy::result_large_err)]

pub mod cid;
pub mod cli;
#[cfg(feature = "embedded-ipfs")]
pub mod embedded;
pub mod gateway;
pub mod http;
pub mod kubo;
pub mod model_cache;
pub mod rpc_server;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};

pub use self::cid::{Block, CidError, ImportParams};
pub use ::cid::Cid;
pub use http::{FetchError, FetchLimits, HttpFetcher};

/// Result status of an input that could not be fetched (interfaces point 1: `1 FetchFailed`).
pub const STATUS_FETCH_FAILED: u8 = 1;
/// Result status of an input that is declared not to be an image (`2 NotAnImage`).
pub const STATUS_NOT_AN_IMAGE: u8 = 2;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// CID parsing, verification or DAG structure problem.
    #[error(transparent)]
    Cid(#[from] CidError),
    /// No backend could provide the block.
    #[error("block {cid} not found")]
    NotFound {
        /// The missing block.
        cid: Cid,
    },
    /// The block or content did not arrive in time.
    #[error("timed out after {after:?} fetching {cid}")]
    Timeout {
        /// What was being fetched.
        cid: Cid,
        /// The deadline.
        after: Duration,
    },
    /// The content is larger than the caller's limit.
    #[error("content {cid} exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The content.
        cid: Cid,
        /// The limit.
        limit: u64,
    },
    /// A backend answered with a CID other than the one computed here.
    #[error("backend {backend} stored the content as {got}, expected {expected}")]
    CidDisagreement {
        /// Backend name.
        backend: &'static str,
        /// CID computed here.
        expected: Cid,
        /// CID the backend reported.
        got: String,
    },
    /// The backend cannot do this (e.g. writing through a gateway).
    #[error("backend {backend} does not support {operation}")]
    Unsupported {
        /// Backend name.
        backend: &'static str,
        /// The operation.
        operation: &'static str,
    },
    /// The backend failed (transport, server error, protocol).
    #[error("backend {backend}: {message}")]
    Backend {
        /// Backend name.
        backend: &'static str,
        /// What went wrong.
        message: String,
    },
    /// Local file system error (repository, cache).
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The path involved.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl StorageError {
    /// A backend failure with a message.
    pub fn backend(backend: &'static str, message: impl std::fmt::Display) -> Self {
        Self::Backend {
            backend,
            message: message.to_string(),
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

/// A source of blocks: every block it returns has been checked against its CID.
#[async_trait]
pub trait BlockSource: Send + Sync {
    /// The block named `cid`, verified.
    async fn get_block(&self, cid: &Cid) -> Result<Bytes, StorageError>;
}

/// The storage interface the worker and the CLI hold as `Arc<dyn Storage>`.
#[async_trait]
pub trait Storage: BlockSource {
    /// Backend name for logs and errors.
    fn name(&self) -> &'static str;

    /// Stores `data` as one UnixFS file with `params`; returns its root CID (Kubo's CID for the
    /// same parameters). The content is pinned.
    async fn put(&self, data: Bytes, params: ImportParams) -> Result<Cid, StorageError>;

    /// Stores `data` as one raw block (CIDv1, raw, sha2-256): canonical results and overlays.
    /// The CID follows from sha256(data). At most [`cid::MAX_RESULT_SIZE`] bytes. Pinned.
    async fn put_raw(&self, data: Bytes) -> Result<Cid, StorageError>;

    /// The file named `cid` (a raw block or a UnixFS file), every block verified, refusing
    /// content over `max_size` bytes.
    async fn get(&self, cid: &Cid, max_size: u64) -> Result<Bytes, StorageError> {
        cat_unixfs(self, cid, max_size).await
    }

    /// Pins `cid` and everything under it, fetching what is missing.
    async fn pin(&self, cid: &Cid) -> Result<(), StorageError>;
}

/// Shared handle to a storage backend.
pub type SharedStorage = Arc<dyn Storage>;

/// Deepest UnixFS file DAG followed (174^8 chunks of 256 KiB is far beyond any input).
const MAX_DAG_DEPTH: usize = 8;

/// Reads the file `root` from `source`: a raw block or a UnixFS file DAG of dag-pb nodes and
/// raw or dag-pb leaves. Every block is verified by the source; sizes declared by the DAG are
/// checked against `max_size` before children are fetched and against the bytes produced.
pub async fn cat_unixfs<S: BlockSource + ?Sized>(
    source: &S,
    root: &Cid,
    max_size: u64,
) -> Result<Bytes, StorageError> {
    let mut out = BytesMut::new();
    // Depth-first, in link order: a stack of (cid, depth), pushed in reverse.
    let mut stack: Vec<(Cid, usize)> = vec![(*root, 0)];
    let mut declared_root: Option<u64> = None;
    // A DAG of empty leaves adds no bytes: bound the number of blocks as well (a file of
    // `max_size` bytes in chunks of 256 bytes or more, plus its internal nodes).
    let max_blocks = max_size / 256 + 1024;
    let mut visited: u64 = 0;
    while let Some((cid, depth)) = stack.pop() {
        visited += 1;
        if visited > max_blocks {
            return Err(CidError::Malformed {
                cid: *root,
                reason: format!("more than {max_blocks} blocks for {max_size} bytes"),
            }
            .into());
        }
        if depth > MAX_DAG_DEPTH {
            return Err(CidError::Malformed {
                cid,
                reason: format!("DAG deeper than {MAX_DAG_DEPTH}"),
            }
            .into());
        }
        let block = source.get_block(&cid).await?;
        match cid.codec() {
            cid::RAW => {
                out.extend_from_slice(&block);
            }
            cid::DAG_PB => {
                let node = cid::decode_dag_pb(&cid, &block)?;
                let fs = cid::UnixfsNode::decode(&cid, node.data.as_deref().unwrap_or_default())?;
                if !fs.is_file() {
                    return Err(CidError::Malformed {
                        cid,
                        reason: format!("UnixFS type {} is not a file", fs.kind),
                    }
                    .into());
                }
                if depth == 0 {
                    let declared = fs.filesize.unwrap_or(fs.data.len() as u64);
                    if declared > max_size {
                        return Err(StorageError::TooLarge {
                            cid: *root,
                            limit: max_size,
                        });
                    }
                    declared_root = Some(declared);
                }
                if !node.links.is_empty() && fs.blocksizes.len() != node.links.len() {
                    return Err(CidError::Malformed {
                        cid,
                        reason: "blocksizes do not match links".into(),
                    }
                    .into());
                }
                out.extend_from_slice(&fs.data);
                for link in node.links.iter().rev() {
                    stack.push((link.cid, depth + 1));
                }
            }
            codec => return Err(CidError::UnsupportedCodec { cid, codec }.into()),
        }
        if out.len() as u64 > max_size {
            return Err(StorageError::TooLarge {
                cid: *root,
                limit: max_size,
            });
        }
    }
    if let Some(declared) = declared_root {
        if declared != out.len() as u64 {
            return Err(CidError::Malformed {
                cid: *root,
                reason: format!(
                    "declared file size {declared} but the DAG holds {} bytes",
                    out.len()
                ),
            }
            .into());
        }
    }
    Ok(out.freeze())
}

/// Fetches a task input: `ipfs://CID` through `storage`, `https://` (or `http://`) through
/// `http`. Errors are [`FetchError`]s, which map to result status codes.
pub async fn fetch_input(
    input: &str,
    storage: &dyn Storage,
    http: &HttpFetcher,
    timeout: Duration,
) -> Result<Bytes, FetchError> {
    let limits = http.limits();
    if input.starts_with("ipfs://") {
        let cid = cid::parse_cid(input).map_err(|e| FetchError::BadInput(e.to_string()))?;
        let got = tokio::time::timeout(timeout, storage.get(&cid, limits.max_bytes)).await;
        match got {
            Err(_) => Err(FetchError::Timeout(timeout)),
            Ok(Err(StorageError::TooLarge { limit, .. })) => {
                Err(FetchError::TooLarge { limit, seen: None })
            }
            Ok(Err(e)) => Err(FetchError::Ipfs(e.to_string())),
            Ok(Ok(bytes)) => Ok(bytes),
        }
    } else {
        http.fetch(input).await.map(|f| f.body)
    }
}
